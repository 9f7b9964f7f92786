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
    /// (pipeline id, table key, table index in this run's config or
    /// `u16::MAX`, lane, start position): every lane ever logged, whatever
    /// the config declares now, so positions never go back.
    #[serde(default)]
    starts: Vec<(u32, u32, u16, u16, u64)>,
}

/// A lane, independent of the config: (pipeline id, table key, lane).
type LaneKey = (u32, u32, u16);

pub struct Recovered {
    /// [pipeline][table] stores of every table (handed to their owners).
    pub stores: Vec<Vec<Option<TableStore>>>,
    pub past_runs: PastRuns,
    /// Per shard: the sequence number of its next segment.
    pub next_seq: Vec<u64>,
    pub records: u64,
    pub skipped: u64,
    pub truncated: Vec<(PathBuf, u64)>,
    /// Corrupt segments moved aside, and why.
    pub quarantined: Vec<(PathBuf, String)>,
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
                let keys = cfg.ingest.idempotency_keys_max;
                p.tables
                    .iter()
                    .map(|_| Some(TableStore::new(budget).with_keys(keys)))
                    .collect()
            })
            .collect(),
        past_runs: HashMap::new(),
        next_seq: vec![0; cfg.shards],
        records: 0,
        skipped: 0,
        truncated: Vec::new(),
        quarantined: Vec::new(),
    };
    if !cfg.wal.enabled {
        return Ok(out);
    }
    let runs_dir = cfg.data_dir.join("wal").join("runs");
    let manifests = load_manifests(&runs_dir)?;
    lock_data_dir(&cfg.data_dir)?;
    let mut ends: HashMap<LaneKey, u64> = HashMap::new();
    for (id, dir) in shard_dirs(&cfg.data_dir)? {
        let quarantine = cfg.data_dir.join("wal").join("quarantine");
        let quarantine = cfg.quarantine_corrupt.then_some(quarantine.as_path());
        let r = recover::replay(&dir, id as u16, quarantine, |head, batch| {
            // Positions count whether or not the record is loaded.
            let end = ends
                .entry((head.pipeline, head.table, head.lane))
                .or_insert(0);
            *end = (*end).max(head.end);
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
            add(&t.owner_stats.batches_recovered, 1);
            add(&t.owner_stats.records_applied, batch.num_rows() as u64);
            let store = out.stores[pi][ti]
                .as_mut()
                .expect("every table has a store");
            if let Some(key) = super::idem::key_of(&batch) {
                let (run, lane, end) = (head.run, head.lane, head.end);
                store
                    .keys
                    .insert(key, super::idem::Origin { run, lane, end });
            }
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
        out.quarantined.extend(r.quarantined);
        if id < cfg.shards {
            out.next_seq[id] = r.last_seq.map_or(0, |s| s + 1);
        }
    }
    // Never below where the last run started, nor below what a shard had
    // logged before retention deleted it (its floor), whatever the config.
    for &(pid, tkey, _, lane, start) in manifests.last().map_or(&[][..], |(_, m)| &m.starts) {
        let end = ends.entry((pid, tkey, lane)).or_insert(0);
        *end = (*end).max(start);
    }
    for (key, floor) in read_floors(&cfg.data_dir)? {
        let end = ends.entry(key).or_insert(0);
        *end = (*end).max(floor);
    }
    for (&(pid, tkey, lane), &end) in &ends {
        if let Some((pi, ti)) = table_index(reg, pid, tkey) {
            let t = &reg.pipelines[pi].tables[ti];
            if (lane as usize) < t.lanes.len() {
                t.lanes.publish(lane as usize, end);
            }
        }
    }
    let current = write_manifest(&runs_dir, reg, &manifests, &ends)?;
    out.past_runs = past_runs(&manifests, &current);
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

/// Each earlier run's durable ends, keyed as its tokens name them (its own
/// table indices): where the run after it started on the same lane.
fn past_runs(old: &[(u64, Manifest)], current: &Manifest) -> PastRuns {
    let runs: Vec<&Manifest> = old.iter().map(|(_, m)| m).chain([current]).collect();
    let mut out = PastRuns::new();
    for pair in runs.windows(2) {
        let next: HashMap<LaneKey, u64> = pair[1]
            .starts
            .iter()
            .map(|&(pid, tkey, _, lane, start)| ((pid, tkey, lane), start))
            .collect();
        let ends = out.entry(pair[0].run).or_default();
        for &(pid, tkey, tidx, lane, start) in &pair[0].starts {
            if tidx != u16::MAX {
                let end = next.get(&(pid, tkey, lane)).copied().unwrap_or(start);
                ends.insert((pid, tidx, lane), end);
            }
        }
    }
    out
}

/// Hold `data_dir/wal/LOCK` for the life of the process: a second server
/// on the same data directory stops here, before it touches any segment.
fn lock_data_dir(data_dir: &Path) -> Result<(), String> {
    static HELD: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    let path = data_dir.join("wal").join("LOCK");
    let io = |e: std::io::Error| format!("cannot lock {}: {e}", path.display());
    std::fs::create_dir_all(data_dir.join("wal")).map_err(io)?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    if !crate::wal::segment::lock(&f).map_err(io)? {
        return Err(format!(
            "{} is locked: another sluice is running on this data_dir",
            data_dir.display()
        ));
    }
    let _ = HELD.set(f);
    Ok(())
}

/// The retention floors of every shard directory (`shard/wal.rs` writes
/// one before deleting segments): the ends their deleted records reached.
fn read_floors(data_dir: &Path) -> Result<Vec<(LaneKey, u64)>, String> {
    let mut out = Vec::new();
    for (_, dir) in shard_dirs(data_dir)? {
        let path = dir.join(FLOOR_FILE);
        match std::fs::read(&path) {
            Ok(text) => {
                let f: Vec<(u32, u32, u16, u64)> = serde_json::from_slice(&text)
                    .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
                out.extend(f.into_iter().map(|(p, t, l, e)| ((p, t, l), e)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
    }
    Ok(out)
}

/// A shard's retention floor, in its log directory.
pub const FLOOR_FILE: &str = "floor.json";

/// Write a shard's floor (atomically, synced) before segments are deleted.
pub fn write_floor(dir: &Path, ends: &HashMap<LaneKey, u64>) -> std::io::Result<()> {
    let list: Vec<(u32, u32, u16, u64)> =
        ends.iter().map(|(&(p, t, l), &e)| (p, t, l, e)).collect();
    let tmp = dir.join("floor.tmp");
    let f = std::fs::File::create(&tmp)?;
    serde_json::to_writer(&f, &list).map_err(std::io::Error::other)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FLOOR_FILE))?;
    std::fs::File::open(dir)?.sync_all()
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
fn write_manifest(
    dir: &Path,
    reg: &Registry,
    old: &[(u64, Manifest)],
    ends: &HashMap<LaneKey, u64>,
) -> Result<Manifest, String> {
    let mut starts = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &reg.pipelines {
        for (ti, t) in p.tables.iter().enumerate() {
            let key = table_key(&t.table.ident.canonical);
            for lane in 0..t.lanes.len() {
                starts.push((p.id, key, ti as u16, lane as u16, t.lanes.applied(lane)));
                seen.insert((p.id, key, lane as u16));
            }
        }
    }
    // Lanes this config does not have (other tables, more shards) keep
    // their ends for later runs.
    for (&(pid, tkey, lane), &end) in ends {
        if !seen.contains(&(pid, tkey, lane)) {
            starts.push((pid, tkey, u16::MAX, lane, end));
        }
    }
    let m = Manifest {
        run: reg.run_id,
        starts,
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
