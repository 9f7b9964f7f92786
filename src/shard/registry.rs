//! What shards share: the catalog (read-only), per-lane watermarks and
//! per-lane counters. Every atomic here has exactly one writing shard (the
//! owner for applied figures, the sender for its own lane's counters), so
//! there is no contention, only cache-line transfers to readers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::config::Validated;
use crate::error::ApiError;
use crate::table::Table;
use crate::token::{pipeline_id, Lanes};

/// Counters of one lane (table, sending shard), written by that shard.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct LaneStats {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    pub records: AtomicU64,
    pub parse_errors: AtomicU64,
    pub batches_sent: AtomicU64,
}

/// Counters of a table's owner, written by the owner.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct OwnerStats {
    pub batches_applied: AtomicU64,
    pub records_applied: AtomicU64,
    pub stored_bytes: AtomicU64,
    pub stored_batches: AtomicU64,
    pub evicted_batches: AtomicU64,
    /// Of `batches_applied`, those replayed from the log at start.
    pub batches_recovered: AtomicU64,
    /// Batches committed in this run: the table's step counter, which
    /// completion_status reports and egress streams count in.
    pub steps: AtomicU64,
}

pub struct TableRt {
    pub table: Arc<Table>,
    /// The shard that applies this table's batches.
    pub owner: usize,
    pub lanes: Lanes,
    pub lane_stats: Box<[LaneStats]>,
    pub owner_stats: OwnerStats,
}

pub struct PipelineRt {
    pub name: String,
    pub id: u32,
    pub tables: Vec<TableRt>,
    /// Running, Paused or Stopped (`lifecycle`).
    pub state: super::lifecycle::StateCell,
    /// Batches being handed over right now, per shard (`lifecycle`).
    pub senders: super::lifecycle::Senders,
}

impl PipelineRt {
    /// The table a URL names (`%22Quoted%22` already percent-decoded).
    pub fn table_index(&self, name: &str) -> Option<usize> {
        let (name, quoted) = crate::table::unquote(name);
        self.tables
            .iter()
            .position(|t| t.table.ident.matches(name, quoted))
    }
}

pub struct Registry {
    /// Random per run; tokens carry it so earlier runs' tokens are known.
    pub run_id: u64,
    pub shards: usize,
    pub pipelines: Vec<PipelineRt>,
    /// What earlier runs logged (set once, by recovery, before serving).
    pub past_runs: OnceLock<super::recovery::PastRuns>,
    /// A log write or sync failed: nothing more is acknowledged.
    pub log_failed: AtomicBool,
    /// Per shard: its log's disk is full; tables it owns refuse new rows.
    pub disk_full: Box<[AtomicBool]>,
    /// A graceful stop began (SIGTERM/SIGINT): stop accepting, finish what
    /// is in flight, sync the log.
    pub stopping: AtomicBool,
    /// Per shard, during a stop: nothing in flight and the log synced.
    pub drained: Box<[AtomicBool]>,
    /// Per shard: how many times `drained` was recomputed, so the main
    /// thread can tell a fresh flag from one a busy shard left behind.
    pub drain_ticks: Box<[AtomicU64]>,
    /// Serialises pipeline state changes (`lifecycle::change`).
    pub state_lock: std::sync::Mutex<()>,
    /// Per shard, written by that shard (`/metrics`).
    pub shard_metrics: Box<[super::metrics::ShardMetrics]>,
}

pub fn add(counter: &AtomicU64, n: u64) {
    // Single writer: a load and a store are enough and cheaper than an RMW.
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Registry {
    /// Tables are assigned to owners round-robin in declaration order
    /// (pipeline by pipeline): stable for a given config, and balanced.
    pub fn new(cfg: &Validated) -> Registry {
        let mut run = [0u8; 8];
        getrandom::fill(&mut run).expect("the OS random source is available");
        let mut next_owner = 0;
        let pipelines = cfg
            .pipelines
            .iter()
            .map(|(name, tables)| PipelineRt {
                name: name.clone(),
                id: pipeline_id(name),
                tables: tables
                    .iter()
                    .map(|t| {
                        let owner = next_owner % cfg.shards;
                        next_owner += 1;
                        TableRt {
                            table: Arc::new(t.clone()),
                            owner,
                            lanes: Lanes::new(cfg.shards),
                            lane_stats: (0..cfg.shards).map(|_| LaneStats::default()).collect(),
                            owner_stats: OwnerStats::default(),
                        }
                    })
                    .collect(),
                state: Default::default(),
                senders: super::lifecycle::Senders::new(cfg.shards),
            })
            .collect();
        Registry {
            run_id: u64::from_le_bytes(run),
            shards: cfg.shards,
            pipelines,
            past_runs: OnceLock::new(),
            log_failed: AtomicBool::new(false),
            disk_full: (0..cfg.shards).map(|_| AtomicBool::new(false)).collect(),
            stopping: AtomicBool::new(false),
            drained: (0..cfg.shards).map(|_| AtomicBool::new(false)).collect(),
            drain_ticks: (0..cfg.shards).map(|_| AtomicU64::new(0)).collect(),
            state_lock: std::sync::Mutex::new(()),
            shard_metrics: (0..cfg.shards).map(|_| Default::default()).collect(),
        }
    }

    pub fn pipeline_index(&self, name: &str) -> Option<usize> {
        self.pipelines.iter().position(|p| p.name == name)
    }

    /// The (pipeline, table) indices a URL names, or the 404 to answer.
    pub fn resolve(&self, pipeline: &str, table: &str) -> Result<(usize, usize), ApiError> {
        let pi = self
            .pipeline_index(pipeline)
            .ok_or_else(|| ApiError::UnknownPipeline {
                pipeline: pipeline.into(),
            })?;
        let ti = self.pipelines[pi]
            .table_index(table)
            .ok_or_else(|| ApiError::UnknownTable {
                pipeline: pipeline.into(),
                table: table.into(),
            })?;
        Ok((pi, ti))
    }
}
