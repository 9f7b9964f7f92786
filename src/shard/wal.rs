//! The owner side of the log: group commit.
//!
//! `log` adds an applied batch (a cheap clone: Arrow buffers are shared)
//! to the current group. One task per shard (`sync_loop`) takes the whole
//! group, encodes it (Arrow's `StreamEncoder`, which shares the batches'
//! buffers), lays the records out straight into the aligned block it
//! writes (each byte copied once), appends that to the segment with one
//! durable write (O_DSYNC, plus an fdatasync when the write extended the
//! file: `wal/writer.rs`), and only then publishes the watermarks of every batch in it:
//! a token completes once its rows are on disk. Runs of small batches of
//! one lane (one-row requests) are concatenated into one record first: a
//! record per batch would cost an Arrow IPC schema per row. Batches applied during a
//! sync go to the next group, so a sync serves every request that arrived
//! while the previous one ran. A group is bounded (`wal.buffer_bytes_max`):
//! past it, `log` waits, which stops the owner taking batches and, through
//! the bounded channels, the senders reading their sockets.
//!
//! A failed write or sync is final: the shard stops acknowledging (any
//! ingress answers 503), and the process exits non-zero after a short
//! drain. A sync is never retried: after a failed fdatasync the kernel may
//! have dropped the dirty pages, so a later success would prove nothing.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::sync::Semaphore;

use super::concat::{batch_bytes, concat};
use super::Registry;
use crate::config::{FsyncPolicy, WalConfig};
use crate::decode::ChangeBatch;
use crate::egress::{Committed, Hubs};
use crate::shard::metrics::ShardMetrics;
use crate::wal::encoders::Encoders;
use crate::wal::faults::{FaultPlan, Faults};
use crate::wal::record::{Encoded, RecordHead};
use crate::wal::writer::{Limits, LogWriter};

/// A batch in a group, and where its watermark goes once it is synced.
struct Item {
    head: RecordHead,
    batch: ChangeBatch,
    /// (pipeline, table, lane) indices.
    at: (usize, usize, usize),
}

#[derive(Default)]
struct Group {
    items: Vec<Item>,
    /// Memory the items' batches hold.
    bytes: usize,
}

/// A batch this small is merged with its lane's neighbours in a group...
const SMALL_ROWS: usize = 256;
/// ...into records of at most this many rows and about this many bytes.
const MERGED_ROWS_MAX: usize = 4096;
const MERGED_BYTES_MAX: usize = 8 << 20;

/// Where and how a shard's sync task writes.
pub struct LogAt {
    pub cfg: WalConfig,
    pub dir: PathBuf,
    pub shard: usize,
    /// Sequence number of the next segment.
    pub seq: u64,
    /// Injected storage faults (tests only).
    pub faults: Option<FaultPlan>,
}

pub struct ShardWal {
    group: RefCell<Group>,
    bytes_max: usize,
    /// Rings the sync task when a group starts.
    bell: LocalSender<()>,
    bell_rx: RefCell<Option<LocalReceiver<()>>>,
    /// `log` callers waiting for the group to be taken.
    waiting: Cell<u64>,
    drained: Semaphore,
    /// Held through `log`, so batches enter groups in the order their
    /// positions were assigned even when some wait for space (FIFO).
    entry: Semaphore,
    /// The sync task is writing or syncing, or has written without a sync.
    busy: Cell<bool>,
    /// Where `/metrics` reads the group's size: (registry, this shard).
    gauge: (Arc<Registry>, usize),
    /// Where the log's committed data ends (segment, offset): egress replay
    /// reads up to here, and what follows reaches listeners live.
    end: Cell<Option<(u64, u64)>>,
}

impl ShardWal {
    pub fn new(cfg: &WalConfig, reg: Arc<Registry>, shard: usize) -> ShardWal {
        let (bell, bell_rx) = local_channel::new_bounded(1);
        ShardWal {
            group: RefCell::new(Group::default()),
            bytes_max: cfg.buffer_bytes_max,
            bell,
            bell_rx: RefCell::new(Some(bell_rx)),
            waiting: Cell::new(0),
            drained: Semaphore::new(0),
            entry: Semaphore::new(1),
            end: Cell::new(None),
            busy: Cell::new(false),
            gauge: (reg, shard),
        }
    }

    /// Add a batch to the current group; its lane watermark is published
    /// once the group is synced.
    pub async fn log(&self, head: RecordHead, batch: &ChangeBatch, at: (usize, usize, usize)) {
        let _turn = self.entry.acquire_permit(1).await.expect("never closed");
        while self.group.borrow().bytes >= self.bytes_max {
            self.waiting.set(self.waiting.get() + 1);
            let _ = self.drained.acquire(1).await;
        }
        let mut g = self.group.borrow_mut();
        g.bytes += batch_bytes(batch);
        let (reg, shard) = &self.gauge;
        ShardMetrics::set(&reg.shard_metrics[*shard].log_buffer_bytes, g.bytes as u64);
        g.items.push(Item {
            head,
            batch: batch.clone(),
            at,
        });
        drop(g);
        // Full means the task is already due to look: nothing lost.
        let _ = self.bell.try_send(());
    }

    /// Would `log` take a batch now without waiting for the disk?
    pub fn has_room(&self) -> bool {
        self.group.borrow().bytes < self.bytes_max
    }

    /// Nothing waits to be written or synced (a graceful stop may end).
    pub fn is_idle(&self) -> bool {
        self.group.borrow().items.is_empty() && !self.busy.get()
    }

    /// Where committed data ends (`None` until `begin_at`).
    pub fn end(&self) -> Option<(u64, u64)> {
        self.end.get()
    }

    /// This run writes from segment `seq` on. Until the first write the
    /// log ends right after that segment's header, so an egress replay
    /// reads every older segment and nothing of this one: the writer may
    /// have created it without its header yet (a replay used to fail on
    /// that empty file), and what it writes there reaches listeners live.
    pub fn begin_at(&self, seq: u64) {
        self.end
            .set(Some((seq, crate::wal::segment::HEADER_BYTES as u64)));
    }

    /// Take the current group (waking `log` callers waiting for space).
    fn take(&self, spare: &mut Group) {
        std::mem::swap(&mut *self.group.borrow_mut(), spare);
        let waiting = self.waiting.replace(0);
        if waiting > 0 {
            self.drained.signal(waiting);
        }
    }

    /// The shard's sync task: runs until the process exits.
    pub async fn sync_loop(self: Rc<Self>, reg: Arc<Registry>, hubs: Rc<Hubs>, at: LogAt) {
        let LogAt {
            cfg,
            dir,
            shard,
            seq,
            faults,
        } = at;
        let bell = self
            .bell_rx
            .borrow_mut()
            .take()
            .expect("one sync loop per shard");
        let limits = Limits {
            segment_bytes_max: cfg.segment_bytes_max,
            retain_bytes_max: cfg.retain_bytes_max,
            retain_age_s: cfg.retain_age_s,
            // Every group is synced: let each write be durable itself.
            dsync: cfg.fsync == FsyncPolicy::Always,
        };
        let mut log = Log::new(dir, shard, seq, limits, faults);
        let mut spare = Group::default();
        let mut last_of_table: HashMap<(usize, usize), usize> = HashMap::new();
        let interval = Duration::from_millis(cfg.fsync_interval_ms);
        let mut last_sync = Instant::now();
        let mut dirty = false;
        loop {
            if self.group.borrow().items.is_empty() {
                if !dirty {
                    if bell.recv().await.is_none() {
                        return;
                    }
                    continue;
                }
                // `interval` policy: sync what was written one interval
                // after the last sync at the latest.
                let wait = interval.saturating_sub(last_sync.elapsed());
                let rang = futures_lite::future::or(async { bell.recv().await.is_some() }, async {
                    glommio::timer::sleep(wait).await;
                    false
                })
                .await;
                if !rang {
                    if let Err(e) = log.sync().await {
                        return fail_stop(&reg, shard, e);
                    }
                    (dirty, last_sync) = (false, Instant::now());
                    self.busy.set(false);
                }
                continue;
            }
            self.busy.set(true);
            self.take(&mut spare);
            let metrics = &reg.shard_metrics[shard];
            ShardMetrics::set(&metrics.log_buffer_bytes, 0);
            let sync = cfg.fsync == FsyncPolicy::Always || last_sync.elapsed() >= interval;
            let began = Instant::now();
            if let Err(e) = write_retrying(&mut log, &spare.items, sync, &reg, shard).await {
                return fail_stop(&reg, shard, e);
            }
            metrics
                .log_write_latency
                .record(began.elapsed().as_micros() as u64);
            if sync {
                last_sync = Instant::now();
            }
            dirty = !sync;
            self.busy.set(dirty);
            let end = log.writer.as_ref().map(LogWriter::position);
            self.end.set(end);
            // The group's end is a resume position for the last batch of
            // each table in it (earlier ones would skip the rest).
            last_of_table.clear();
            for (i, it) in spare.items.iter().enumerate().rev() {
                last_of_table.entry((it.at.0, it.at.1)).or_insert(i);
            }
            for (i, it) in spare.items.drain(..).enumerate() {
                let (p, t, lane) = it.at;
                let table = &reg.pipelines[p].tables[t];
                let last = last_of_table.get(&(p, t)) == Some(&i);
                let c = Committed {
                    lane,
                    end: it.head.end,
                    batch: &it.batch,
                    position: end.filter(|_| last),
                };
                hubs.commit((p, t), table, c);
            }
            spare.bytes = 0;
        }
    }
}

/// How long a full disk is left alone before the write is tried again.
const DISK_FULL_RETRY_MS: u64 = 500;

/// Write a group; while the disk is full (ENOSPC), tell ingress to refuse
/// new rows (503, `StorageFull`) and try again, since nothing of the group
/// is acknowledged yet and a failed write changed nothing that a rewrite
/// of the same bytes does not set right. Any other error is final.
async fn write_retrying(
    log: &mut Log,
    items: &[Item],
    sync: bool,
    reg: &Registry,
    shard: usize,
) -> std::io::Result<()> {
    let full = &reg.disk_full[shard];
    loop {
        match log.write(items, sync).await {
            Ok(()) => {
                if full.swap(false, Ordering::AcqRel) {
                    tracing::info!(shard, "the log writes again; taking rows");
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                if !full.swap(true, Ordering::AcqRel) {
                    tracing::error!(
                        shard,
                        error = %e,
                        retry_ms = DISK_FULL_RETRY_MS,
                        "disk full: refusing new rows with 503 and retrying the write"
                    );
                }
                glommio::timer::sleep(Duration::from_millis(DISK_FULL_RETRY_MS)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The sync task's file and scratch.
struct Log {
    writer: Option<LogWriter>,
    dir: PathBuf,
    shard: usize,
    /// The first segment's sequence number (the writer counts on from it).
    seq: u64,
    limits: Limits,
    parts: Vec<ChangeBatch>,
    /// Schema messages reused across a table's records.
    encoders: Encoders,
    /// The group's records, encoded, before they are laid out to write.
    records: Vec<Encoded>,
    /// The end of every lane this shard has logged, written to the
    /// retention floor before old segments are deleted.
    floor: HashMap<(u32, u32, u16), u64>,
    faults: Option<Rc<Faults>>,
    /// When segments were last pruned by age.
    pruned: Option<Instant>,
}

impl Log {
    fn new(dir: PathBuf, shard: usize, seq: u64, limits: Limits, faults: Option<FaultPlan>) -> Log {
        Log {
            writer: None,
            dir,
            shard,
            seq,
            limits,
            parts: Vec::new(),
            encoders: Encoders::default(),
            records: Vec::new(),
            floor: HashMap::new(),
            faults: faults.map(|plan| Rc::new(Faults::new(plan))),
            pruned: None,
        }
    }

    /// Encode `items` and append them; fdatasync when `sync`.
    async fn write(&mut self, items: &[Item], sync: bool) -> std::io::Result<()> {
        if self.writer.is_none() {
            let w = LogWriter::create(&self.dir, self.shard as u16, self.seq, self.limits);
            self.writer = Some(w.await?.with_faults(self.faults.clone()));
        }
        let w = self.writer.as_mut().expect("created above");
        if !w.is_staged() {
            if w.will_rotate() {
                // Segments may be deleted next: keep the ends they reached.
                super::recovery::write_floor(&self.dir, &self.floor)?;
            }
            w.rotate_if_full().await?;
            self.records.clear();
            encode(
                items,
                &mut self.parts,
                &mut self.encoders,
                &mut self.records,
            )
            .await;
            let len = self.records.iter().map(Encoded::frame_bytes).sum();
            let mut block = w.stage(len);
            for r in self.records.drain(..) {
                // Copying a big group takes a while: let the shard's
                // connections run between records (glommio is cooperative).
                glommio::yield_if_needed().await;
                r.write_to(block.next(r.frame_bytes()));
            }
            w.staged(block);
        }
        w.commit(sync).await?;
        // Retention by age is housekeeping, and the group is written: its
        // failure (a full disk while saving the floor, say) must not fail
        // the write, which `write_retrying` would then repeat, logging the
        // group twice. It is tried again a minute later.
        if let Err(e) = self.prune_aged() {
            tracing::warn!(shard = self.shard, error = %e, "deleting aged log segments failed");
        }
        for it in items {
            let h = it.head;
            let end = self.floor.entry((h.pipeline, h.table, h.lane)).or_insert(0);
            *end = (*end).max(h.end);
        }
        Ok(())
    }

    /// With an age limit, at most once a minute: record the floor, then
    /// delete segments past the age.
    fn prune_aged(&mut self) -> std::io::Result<()> {
        const EVERY: Duration = Duration::from_secs(60);
        let due = self.pruned.is_none_or(|at| at.elapsed() >= EVERY);
        if self.limits.retain_age_s == 0 || !due {
            return Ok(());
        }
        self.pruned = Some(Instant::now());
        super::recovery::write_floor(&self.dir, &self.floor)?;
        let w = self.writer.as_ref().expect("written just now");
        w.prune_aged()
    }

    async fn sync(&self) -> std::io::Result<()> {
        match &self.writer {
            Some(w) => w.sync().await,
            None => Ok(()),
        }
    }
}

/// Encode a group's items into `records`, one per batch, except that
/// consecutive small batches of one lane become one record (their rows in
/// order, the last one's end). `parts` is scratch. Encoding shares the
/// batches' buffers; the bytes are copied once, by `Encoded::write_to`.
async fn encode(
    items: &[Item],
    parts: &mut Vec<ChangeBatch>,
    encoders: &mut Encoders,
    records: &mut Vec<Encoded>,
) {
    let mut i = 0;
    while i < items.len() {
        // Merging small batches copies them: yield between records.
        glommio::yield_if_needed().await;
        let first = &items[i];
        let mut j = i + 1;
        let mut rows = first.batch.num_rows();
        let mut bytes = batch_bytes(&first.batch);
        // A keyed batch stays one record of its own: its key is its
        // schema's, and the record must hold all of its rows or none.
        let keyed = |b: &ChangeBatch| crate::shard::idem::key_of(b).is_some();
        if rows < SMALL_ROWS && !keyed(&first.batch) {
            while let Some(next) = items.get(j) {
                let (n, b) = (next.batch.num_rows(), batch_bytes(&next.batch));
                let same = next.at == first.at && next.head.run == first.head.run;
                let same = same && !keyed(&next.batch);
                let big = rows + n > MERGED_ROWS_MAX || bytes + b > MERGED_BYTES_MAX;
                if !same || n >= SMALL_ROWS || big {
                    break;
                }
                (rows, bytes) = (rows + n, bytes + b);
                j += 1;
            }
        }
        let last = items[j - 1].head;
        if j - i == 1 {
            records.push(encoders.encode(last, &first.batch));
        } else {
            parts.clear();
            parts.extend(items[i..j].iter().map(|it| it.batch.clone()));
            records.push(encoders.encode(last, &concat(parts)));
            parts.clear();
        }
        i = j;
    }
}

/// Stop acknowledging; exit after giving open requests a moment.
fn fail_stop(reg: &Registry, shard: usize, e: std::io::Error) {
    reg.log_failed.store(true, Ordering::Release);
    tracing::error!(
        shard,
        error = %e,
        "log write or sync failed: no more rows are acknowledged; exiting with status 70"
    );
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        std::process::exit(70);
    });
}

#[cfg(test)]
#[path = "wal_tests.rs"]
mod tests;
