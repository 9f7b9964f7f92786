//! Start-up replay of every shard's log, before any executor serves.
//!
//! Done once, centrally, so that a table whose owner changed (another
//! shard count) still gets all its records. Records name their pipeline
//! and table by name hashes, not by position in the config; records of a
//! table no longer declared, or declared with other columns, stay in the
//! log but are not loaded (counted as skipped). Each lane's watermark is
//! set to the end of what was recovered, so positions continue where the
//! log ends and tokens of earlier runs resolve against it (`PastRuns`).
//!
//! Each run writes a manifest (`wal/runs/`) of the lane positions it
//! starts from, synced before it serves. Positions only grow, and a run
//! starts where the durable rows of the runs before it end, so a token of
//! run R is complete iff its position is within where the run after R
//! started; past it, its rows never reached the log. This holds whether
//! or not R logged anything on that lane, and after old segments are
//! deleted (a lane's start is also never below the last manifest's). The
//! last `RUNS_KEPT` manifests are kept; tokens of older runs are 410.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::registry::{add, Registry};
use super::TableStore;
use crate::config::Validated;
use crate::token::pipeline_id;
use crate::wal::recover;

/// Per earlier run: the durable end of each (pipeline id, table, lane)
/// when it stopped (where the next run started).
pub type PastRuns = HashMap<u64, HashMap<(u32, u16, u16), u64>>;

/// Run manifests kept, so tokens of that many earlier runs resolve.
const RUNS_KEPT: usize = 64;

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    run: u64,
    /// (pipeline id, table key, lane, start position).
    lanes: Vec<(u32, u32, u16, u64)>,
}

pub struct Recovered {
    /// [pipeline][table] stores of every table (handed to their owners).
    pub stores: Vec<Vec<Option<TableStore>>>,
    pub past_runs: PastRuns,
    /// Per shard: the sequence number of its next segment.
    pub next_seq: Vec<u64>,
    pub records: u64,
    pub skipped: u64,
    pub truncated: Vec<(PathBuf, u64)>,
}

/// The log directory of shard `id`.
pub fn shard_dir(data_dir: &Path, id: usize) -> PathBuf {
    data_dir.join("wal").join(format!("shard-{id:03}"))
}

/// A table's identity in log records: a hash of its canonical name.
pub fn table_key(canonical: &str) -> u32 {
    pipeline_id(canonical)
}

pub fn recover(cfg: &Validated, reg: &Registry) -> Result<Recovered, String> {
    let mut out = Recovered {
        stores: reg
            .pipelines
            .iter()
            .map(|p| {
                let budget = cfg.ingest.table_memory_bytes_max;
                p.tables
                    .iter()
                    .map(|_| Some(TableStore::new(budget)))
                    .collect()
            })
            .collect(),
        past_runs: HashMap::new(),
        next_seq: vec![0; cfg.shards],
        records: 0,
        skipped: 0,
        truncated: Vec::new(),
    };
    if !cfg.wal.enabled {
        return Ok(out);
    }
    let runs_dir = cfg.data_dir.join("wal").join("runs");
    let manifests = load_manifests(&runs_dir)?;
    let mut ends: HashMap<(usize, usize, usize), u64> = HashMap::new();
    for (id, dir) in shard_dirs(&cfg.data_dir)? {
        let r = recover::replay(&dir, id as u16, |head, batch| {
            let found = reg
                .pipelines
                .iter()
                .enumerate()
                .find(|(_, p)| p.id == head.pipeline);
            let table = found.and_then(|(pi, p)| {
                let ti = p
                    .tables
                    .iter()
                    .position(|t| table_key(&t.table.ident.canonical) == head.table)?;
                let same = p.tables[ti].table.schema.fields() == batch.data.schema().fields();
                same.then_some((pi, ti))
            });
            let Some((pi, ti)) = table else {
                out.skipped += 1;
                return;
            };
            let t = &reg.pipelines[pi].tables[ti];
            add(&t.owner_stats.batches_applied, 1);
            add(&t.owner_stats.records_applied, batch.num_rows() as u64);
            let end = ends.entry((pi, ti, head.lane as usize)).or_insert(0);
            *end = (*end).max(head.end);
            let store = out.stores[pi][ti]
                .as_mut()
                .expect("every table has a store");
            store.append(batch);
        })
        .map_err(|e| {
            format!(
                "{e} (the log under {} cannot be replayed)",
                cfg.data_dir.display()
            )
        })?;
        out.records += r.records;
        out.truncated.extend(r.truncated);
        if id < cfg.shards {
            out.next_seq[id] = r.last_seq.map_or(0, |s| s + 1);
        }
    }
    // Never below where the last run started, whatever was deleted since.
    for (pid, tkey, lane, start) in manifests.last().map_or(&[][..], |(_, m)| &m.lanes) {
        if let Some((pi, ti)) = table_index(reg, *pid, *tkey) {
            let end = ends.entry((pi, ti, *lane as usize)).or_insert(0);
            *end = (*end).max(*start);
        }
    }
    for ((pi, ti, lane), end) in ends {
        let t = &reg.pipelines[pi].tables[ti];
        if lane < t.lanes.len() {
            t.lanes.publish(lane, end);
        }
    }
    let current = write_manifest(&runs_dir, reg, &manifests)?;
    out.past_runs = past_runs(reg, &manifests, &current);
    for (pi, p) in reg.pipelines.iter().enumerate() {
        for (ti, t) in p.tables.iter().enumerate() {
            let s = out.stores[pi][ti]
                .as_ref()
                .expect("every table has a store");
            t.owner_stats
                .stored_bytes
                .store(s.bytes() as u64, std::sync::atomic::Ordering::Relaxed);
            t.owner_stats
                .stored_batches
                .store(s.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
    Ok(out)
}

/// `wal/shard-NNN` directories (any shard count), created for this run's
/// shards.
pub fn shard_dirs(data_dir: &Path) -> Result<Vec<(usize, PathBuf)>, String> {
    let wal = data_dir.join("wal");
    std::fs::create_dir_all(&wal).map_err(|e| format!("cannot create {}: {e}", wal.display()))?;
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&wal).map_err(|e| format!("cannot read {}: {e}", wal.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("shard-"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(id) = id {
            out.push((id, path));
        }
    }
    out.sort();
    Ok(out)
}

/// (pipeline, table) indices of a pipeline id and table key.
fn table_index(reg: &Registry, pid: u32, tkey: u32) -> Option<(usize, usize)> {
    let pi = reg.pipelines.iter().position(|p| p.id == pid)?;
    let ti = reg.pipelines[pi]
        .tables
        .iter()
        .position(|t| table_key(&t.table.ident.canonical) == tkey)?;
    Some((pi, ti))
}

/// Each earlier run's durable ends: the starts of the run after it.
fn past_runs(reg: &Registry, old: &[(u64, Manifest)], current: &Manifest) -> PastRuns {
    let runs: Vec<&Manifest> = old.iter().map(|(_, m)| m).chain([current]).collect();
    let mut out = PastRuns::new();
    for pair in runs.windows(2) {
        let ends = out.entry(pair[0].run).or_default();
        for &(pid, tkey, lane, start) in &pair[1].lanes {
            if let Some((_, ti)) = table_index(reg, pid, tkey) {
                ends.insert((pid, ti as u16, lane), start);
            }
        }
    }
    out
}

/// Manifests in `dir`, oldest first, by their sequence number.
fn load_manifests(dir: &Path) -> Result<Vec<(u64, Manifest)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(n) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let text =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let m: Manifest = serde_json::from_slice(&text)
            .map_err(|e| format!("run manifest {} is damaged: {e}", path.display()))?;
        out.push((n, m));
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// Record where this run starts (synced before it serves) and drop
/// manifests beyond `RUNS_KEPT`.
fn write_manifest(dir: &Path, reg: &Registry, old: &[(u64, Manifest)]) -> Result<Manifest, String> {
    let mut lanes = Vec::new();
    for p in &reg.pipelines {
        for t in &p.tables {
            let key = table_key(&t.table.ident.canonical);
            for lane in 0..t.lanes.len() {
                lanes.push((p.id, key, lane as u16, t.lanes.applied(lane)));
            }
        }
    }
    let m = Manifest {
        run: reg.run_id,
        lanes,
    };
    let n = old.last().map_or(0, |(n, _)| n + 1);
    let io = |e: std::io::Error| format!("cannot write a run manifest in {}: {e}", dir.display());
    let tmp = dir.join(format!("{n:020}.tmp"));
    let path = dir.join(format!("{n:020}.json"));
    let f = std::fs::File::create(&tmp).map_err(io)?;
    serde_json::to_writer(&f, &m).map_err(|e| e.to_string())?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    let excess = (old.len() + 1).saturating_sub(RUNS_KEPT);
    for (n, _) in &old[..excess] {
        let _ = std::fs::remove_file(dir.join(format!("{n:020}.json")));
    }
    Ok(m)
}
