//! The owner side of the log: group commit.
//!
//! `log` encodes an applied batch into the current group (memory) and
//! notes the lane position it ends at. One task per shard (`sync_loop`)
//! takes the whole group, appends it to the segment with one write and one
//! fdatasync, and only then publishes the watermarks of every batch in it:
//! a token completes once its rows are on disk. Batches applied during a
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
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::sync::Semaphore;

use super::Registry;
use crate::config::{FsyncPolicy, WalConfig};
use crate::decode::ChangeBatch;
use crate::wal::record::{self, RecordHead};
use crate::wal::writer::LogWriter;

/// A batch in a group: which watermark to publish once it is synced.
struct Mark {
    pipeline: usize,
    table: usize,
    lane: usize,
    end: u64,
}

#[derive(Default)]
struct Group {
    bytes: Vec<u8>,
    marks: Vec<Mark>,
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
}

impl ShardWal {
    pub fn new(cfg: &WalConfig) -> ShardWal {
        let (bell, bell_rx) = local_channel::new_bounded(1);
        ShardWal {
            group: RefCell::new(Group::default()),
            bytes_max: cfg.buffer_bytes_max,
            bell,
            bell_rx: RefCell::new(Some(bell_rx)),
            waiting: Cell::new(0),
            drained: Semaphore::new(0),
            entry: Semaphore::new(1),
        }
    }

    /// Add a batch to the current group; its lane watermark is published
    /// once the group is synced.
    pub async fn log(&self, head: RecordHead, batch: &ChangeBatch, at: (usize, usize, usize)) {
        let _turn = self.entry.acquire_permit(1).await.expect("never closed");
        while self.group.borrow().bytes.len() >= self.bytes_max {
            self.waiting.set(self.waiting.get() + 1);
            let _ = self.drained.acquire(1).await;
        }
        let mut g = self.group.borrow_mut();
        record::encode(head, batch, &mut g.bytes);
        g.marks.push(Mark {
            pipeline: at.0,
            table: at.1,
            lane: at.2,
            end: head.end,
        });
        drop(g);
        // Full means the task is already due to look: nothing lost.
        let _ = self.bell.try_send(());
    }

    /// The shard's sync task: runs until the process exits.
    pub async fn sync_loop(
        self: Rc<Self>,
        reg: Arc<Registry>,
        cfg: WalConfig,
        dir: PathBuf,
        shard: usize,
        seq: u64,
    ) {
        let bell = self
            .bell_rx
            .borrow_mut()
            .take()
            .expect("one sync loop per shard");
        let mut writer: Option<LogWriter> = None;
        let mut spare = Group::default();
        let interval = Duration::from_millis(cfg.fsync_interval_ms);
        let mut last_sync = Instant::now();
        let mut dirty = false;
        loop {
            if self.group.borrow().bytes.is_empty() {
                if dirty {
                    // `interval` policy: sync what was written, at the latest
                    // one interval after the last sync.
                    let wait = interval.saturating_sub(last_sync.elapsed());
                    let rang =
                        futures_lite::future::or(async { bell.recv().await.is_some() }, async {
                            glommio::timer::sleep(wait).await;
                            false
                        })
                        .await;
                    if !rang {
                        let w = writer.as_ref().expect("dirty means a writer");
                        if let Err(e) = w.sync().await {
                            return fail_stop(&reg, shard, e);
                        }
                        dirty = false;
                        last_sync = Instant::now();
                    }
                } else if bell.recv().await.is_none() {
                    return;
                }
                continue;
            }
            std::mem::swap(&mut *self.group.borrow_mut(), &mut spare);
            let waiting = self.waiting.replace(0);
            if waiting > 0 {
                self.drained.signal(waiting);
            }
            let sync = cfg.fsync == FsyncPolicy::Always || last_sync.elapsed() >= interval;
            let wrote = async {
                if writer.is_none() {
                    writer = Some(
                        LogWriter::create(&dir, shard as u16, seq, cfg.segment_bytes_max).await?,
                    );
                }
                writer
                    .as_mut()
                    .expect("created")
                    .append(&spare.bytes, sync)
                    .await
            }
            .await;
            if let Err(e) = wrote {
                return fail_stop(&reg, shard, e);
            }
            if sync {
                last_sync = Instant::now();
            }
            dirty = !sync;
            for m in spare.marks.drain(..) {
                reg.pipelines[m.pipeline].tables[m.table]
                    .lanes
                    .publish(m.lane, m.end);
            }
            spare.bytes.clear();
        }
    }
}

/// Stop acknowledging; exit after giving open requests a moment.
fn fail_stop(reg: &Registry, shard: usize, e: std::io::Error) {
    reg.log_failed.store(true, Ordering::Release);
    eprintln!("sluice: shard {shard}: log write or sync failed: {e}; no more rows are acknowledged, exiting");
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        std::process::exit(70);
    });
}
