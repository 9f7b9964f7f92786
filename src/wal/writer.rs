//! Appending to a shard's log: glommio DMA (O_DIRECT) writes of whole
//! aligned blocks, then fdatasync.
//!
//! O_DIRECT wants aligned offsets and lengths, so the last, partial block
//! is kept in memory (`tail`) and written again, zero-padded, with the next
//! append. The rewrite carries the same bytes for the records already in
//! that block, so a torn rewrite cannot damage them. One write is in flight
//! at a time: a crash leaves a prefix of what was written plus zeros, which
//! is what recovery expects (`mod.rs` says what the write in flight may
//! leave).
//!
//! Zeros ahead (`fill_ahead`): a blocking thread writes zeros a few MiB
//! past the data and syncs them, so appends overwrite blocks that exist.
//! Why: ext4 takes an O_DIRECT write that extends the file, or fills
//! unwritten (merely fallocated) blocks, only on an io_uring worker thread
//! (it cannot promise not to block), and its fdatasync must then write the
//! inode too. Measured on one shard with one-row requests, those workers
//! and their context switches were ~14% of the shard's core. An overwrite
//! is issued inline, and with `Limits::dsync` (O_DSYNC) the write itself
//! is durable when it completes: no fdatasync, no worker at all. The zeros
//! are synced before any append lands on them, so the file's size and
//! blocks are durable first and an O_DSYNC overwrite needs nothing else.
//! A crash inside a write leaves zeros where the rest of its frame should
//! be; frames end with a marker byte (version 2) so recovery tells that
//! from damage.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile};

use super::faults::Faults;
use super::segment;

pub struct LogWriter {
    dir: PathBuf,
    shard: u16,
    seq: u64,
    file: DmaFile,
    /// Aligned file offset where `tail` starts.
    tail_at: u64,
    /// The bytes from `tail_at` on that are written: the partial last
    /// block, shorter than a block.
    tail: Vec<u8>,
    /// A block `staged` for the next write, and where its data ends.
    pending: Option<(Rc<DmaBuffer>, usize)>,
    limits: Limits,
    /// Injected faults (tests only: `wal::faults`).
    faults: Option<Rc<Faults>>,
    /// Zeros written and synced ahead of the data: `zeroed_from..zeroed_to`,
    /// one run (a fill either extends it or, once the data has passed its
    /// end, starts a new one)...
    zeroed_from: u64,
    zeroed_to: u64,
    /// ...and more being written, if so.
    filling: Option<Filling>,
    /// A fill failed (a full disk, say): appends extend the file instead.
    fill_failed: bool,
}

/// Zeros being written to `from..to` of the segment by a blocking thread.
struct Filling {
    from: u64,
    to: u64,
    done: Pin<Box<dyn Future<Output = io::Result<()>>>>,
}

/// Zeros are written this far ahead of the data at most...
const AHEAD_BYTES: u64 = 8 << 20;
/// ...this much at a time...
const FILL_BYTES: u64 = 4 << 20;
/// ...starting this far past the data at first, so that the first fill and
/// the appends that follow it do not meet...
const LEAD_BYTES: u64 = 1 << 20;
/// ...after writes of at most this many bytes.
const SMALL_WRITE_BYTES: usize = 256 << 10;

/// Segment size and retention, bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Start a new segment past this size.
    pub segment_bytes_max: u64,
    /// Delete the oldest segments while the shard's log is larger.
    pub retain_bytes_max: u64,
    /// ...or while they are older than this, seconds (0: no age limit).
    pub retain_age_s: u64,
    /// Open segments O_DSYNC: a write is durable when it completes, so
    /// `commit(true)` needs no fdatasync (`fsync = "always"`).
    pub dsync: bool,
}

impl LogWriter {
    /// Start segment `seq` (a new file) in `dir`.
    pub async fn create(dir: &Path, shard: u16, seq: u64, limits: Limits) -> io::Result<LogWriter> {
        let path = segment::path(dir, seq);
        // A segment is never reused: O_EXCL, so nothing can truncate one.
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(if limits.dsync { libc::O_DSYNC } else { 0 })
            .dma_open(&path)
            .await
            .map_err(io_err)?;
        if !segment::lock(&file)? {
            return Err(io::Error::other(format!(
                "{} is locked by another writer",
                path.display()
            )));
        }
        sync_dir(dir)?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            shard,
            seq,
            file,
            tail_at: 0,
            tail: segment::header(shard, seq).to_vec(),
            pending: None,
            limits,
            faults: None,
            zeroed_from: 0,
            zeroed_to: 0,
            filling: None,
            fill_failed: false,
        })
    }

    /// Consult `faults` before every write and sync.
    pub fn with_faults(mut self, faults: Option<Rc<Faults>>) -> LogWriter {
        self.faults = faults;
        self
    }

    fn fault_write(&self, len: usize) -> io::Result<()> {
        self.faults.as_ref().map_or(Ok(()), |f| f.write(len as u64))
    }

    fn fault_sync(&self) -> io::Result<()> {
        self.faults.as_ref().map_or(Ok(()), |f| f.sync())
    }

    /// Append `data` (whole frames), write it and, when `sync`, fdatasync.
    pub async fn append(&mut self, data: &[u8], sync: bool) -> io::Result<()> {
        self.rotate_if_full().await?;
        let mut staged = self.stage(data.len());
        staged.next(data.len()).copy_from_slice(data);
        self.staged(staged);
        self.commit(sync).await
    }

    /// Will the next `rotate_if_full` start a new segment (and prune old ones)?
    pub fn will_rotate(&self) -> bool {
        self.tail_at + self.tail.len() as u64 >= self.limits.segment_bytes_max
    }

    /// Start a new segment when this one is full: before a group is staged,
    /// so that a group never spans two segments.
    pub async fn rotate_if_full(&mut self) -> io::Result<()> {
        debug_assert!(self.pending.is_none(), "a staged block is written first");
        if self.will_rotate() {
            self.rotate().await?;
        }
        Ok(())
    }

    /// An aligned block for the next write: the partial last block already
    /// written, then room for `len` bytes of whole frames, which the caller
    /// fills (`Staged::next`) and hands back with `staged`. Frames are laid
    /// out straight into the block that goes to disk: no copy of a group
    /// is made on the way.
    pub fn stage(&self, len: usize) -> Staged {
        debug_assert!(self.pending.is_none(), "a staged block is written first");
        let end = self.tail.len() + len;
        let mut buf = self
            .file
            .alloc_dma_buffer(self.file.align_up(end as u64) as usize);
        buf.as_bytes_mut()[..self.tail.len()].copy_from_slice(&self.tail);
        Staged {
            buf,
            at: self.tail.len(),
            end,
        }
    }

    /// The filled block of `stage`: the next `commit` writes it.
    pub fn staged(&mut self, mut staged: Staged) {
        assert_eq!(staged.at, staged.end, "a staged block is filled exactly");
        staged.buf.as_bytes_mut()[staged.end..].fill(0);
        self.pending = Some((Rc::new(staged.buf), staged.end));
    }

    /// Is a block staged and not yet written?
    pub fn is_staged(&self) -> bool {
        self.pending.is_some()
    }

    /// Write the staged block and, when `sync`, fdatasync. After an error the
    /// block stays staged, so the same bytes can be written again.
    pub async fn commit(&mut self, sync: bool) -> io::Result<()> {
        let (buf, end) = self.pending.clone().expect("a block is staged");
        let len = buf.len();
        self.fill_wait(self.tail_at + len as u64).await;
        self.fault_write(len)?;
        if let Some(d) = self.faults.as_ref().and_then(|f| f.write_delay()) {
            glommio::timer::sleep(d).await;
        }
        let wrote = self
            .file
            .write_rc_at(buf.clone(), self.tail_at)
            .await
            .map_err(io_err)?;
        if wrote != len {
            // A short O_DIRECT write is how a full disk often shows: retry
            // it as one (rewriting the same bytes at the same offset is
            // safe, nothing of it is acknowledged).
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "short log write",
            ));
        }
        if sync {
            self.fault_sync()?;
            // O_DSYNC alone is trusted only for an overwrite of synced
            // zeros: before Linux 6.7 ("ext4: properly sync file size
            // update after O_SYNC direct IO") a write that extended the
            // file could complete before its new size was durable.
            let zeros = self.zeroed_from..self.zeroed_to;
            let overwrite = zeros.contains(&self.tail_at) && self.tail_at + len as u64 <= zeros.end;
            if !(self.limits.dsync && overwrite) {
                self.file
                    .fdatasync()
                    .await
                    .map_err(|e| sync_err(io_err(e)))?;
            }
        }
        // Keep only the partial last block for the next append.
        let keep_from = self.file.align_down(end as u64) as usize;
        self.tail.clear();
        self.tail.extend_from_slice(&buf.as_bytes()[keep_from..end]);
        self.tail_at += keep_from as u64;
        self.pending = None;
        self.fill_ahead(len);
        Ok(())
    }

    /// Start writing zeros past the data when those ahead run short
    /// (module doc), after a write of `wrote` bytes. Only while writes are
    /// small: a big one pays the worker hand-off once for many bytes, and
    /// zeros written first would double the disk traffic that bodies of
    /// MiBs already make the limit. Never past the segment's size limit;
    /// never again on this segment after a failure (appends then extend
    /// the file, as they always may).
    fn fill_ahead(&mut self, wrote: usize) {
        let data_end = self.file.align_up(self.tail_at + self.tail.len() as u64);
        let limit = self.file.align_up(self.limits.segment_bytes_max);
        let enough = self.zeroed_to >= data_end + AHEAD_BYTES;
        // Only with O_DSYNC: unsynced overwrites (`fsync = "interval"`)
        // could reach the disk in any order and leave a hole at a crash;
        // unsynced appends only become visible with the size a sync makes
        // durable after them.
        let wanted = self.limits.dsync && !self.fill_failed && wrote <= SMALL_WRITE_BYTES;
        if self.filling.is_some() || enough || !wanted {
            return;
        }
        let from = if self.zeroed_to >= data_end {
            self.zeroed_to
        } else {
            data_end + LEAD_BYTES
        };
        let to = (from + FILL_BYTES).min(limit);
        if from >= to {
            return;
        }
        let path = segment::path(&self.dir, self.seq);
        let delay = self.faults.as_ref().and_then(|f| f.fill_delay());
        let done = glommio::executor().spawn_blocking(move || {
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            write_zeros(&path, from, to)
        });
        self.filling = Some(Filling {
            from,
            to,
            done: Box::pin(done),
        });
    }

    /// Wait for a fill in progress if a write up to `end` would reach it
    /// (two writes to one block at once could land in either order), or
    /// if `end` is `u64::MAX` (closing the segment).
    async fn fill_wait(&mut self, end: u64) {
        let Some(f) = self.filling.as_mut() else {
            return;
        };
        if end <= f.from {
            // Collect a fill that is done without waiting for it.
            if let Some(r) = futures_lite::future::poll_once(&mut f.done).await {
                self.fill_done(r);
            }
            return;
        }
        let r = (&mut f.done).await;
        self.fill_done(r);
    }

    fn fill_done(&mut self, r: io::Result<()>) {
        let f = self.filling.take().expect("a fill was in progress");
        match r {
            Ok(()) => {
                if f.from != self.zeroed_to {
                    self.zeroed_from = f.from;
                }
                self.zeroed_to = f.to;
            }
            Err(e) => {
                tracing::warn!(
                    segment = self.seq,
                    error = %e,
                    "writing zeros ahead of the log failed; appends extend the segment instead"
                );
                self.fill_failed = true;
            }
        }
    }

    /// The segment being written and where its data ends.
    pub fn position(&self) -> (u64, u64) {
        (self.seq, self.tail_at + self.tail.len() as u64)
    }

    /// Sync and close the segment (and release its lock).
    pub async fn close(mut self) -> io::Result<()> {
        self.fill_wait(u64::MAX).await;
        self.fault_sync()?;
        self.file
            .fdatasync()
            .await
            .map_err(|e| sync_err(io_err(e)))?;
        self.file.close().await.map_err(io_err)
    }

    /// Make what was appended without `sync` durable.
    pub async fn sync(&self) -> io::Result<()> {
        self.fault_sync()?;
        self.file.fdatasync().await.map_err(|e| sync_err(io_err(e)))
    }

    async fn rotate(&mut self) -> io::Result<()> {
        self.fill_wait(u64::MAX).await;
        // The old segment is synced before the next exists: a crash in
        // between must find the old one last, where a torn tail is cut
        // rather than taken for damage before a later segment.
        self.sync().await?;
        let next = LogWriter::create(&self.dir, self.shard, self.seq + 1, self.limits).await?;
        let old = std::mem::replace(self, next.with_faults(self.faults.clone()));
        old.file.close().await.map_err(io_err)?;
        prune(&self.dir, self.seq, self.limits)
    }

    /// Delete whole segments older than `retain_age_s` (never the current
    /// one); the caller writes the retention floor first.
    pub fn prune_aged(&self) -> io::Result<()> {
        prune(&self.dir, self.seq, self.limits)
    }
}

/// Delete the oldest segments before `current` while the log in `dir` is
/// larger than `retain_bytes_max`, or while they were last written more
/// than `retain_age_s` ago (0: no age limit). What they held is no longer
/// replayed at start: retention is how far back the log reaches.
fn prune(dir: &Path, current: u64, limits: Limits) -> io::Result<()> {
    let mut segments = Vec::new();
    let mut total = 0;
    for (seq, path) in segment::list(dir)? {
        let meta = std::fs::metadata(&path)?;
        total += meta.len();
        let age = meta.modified()?.elapsed().unwrap_or_default();
        segments.push((seq, path, meta.len(), age));
    }
    let age_max = std::time::Duration::from_secs(limits.retain_age_s);
    for (seq, path, len, age) in segments {
        let too_big = total > limits.retain_bytes_max;
        let too_old = limits.retain_age_s > 0 && age > age_max;
        if seq >= current || !(too_big || too_old) {
            break;
        }
        std::fs::remove_file(&path)?;
        total -= len;
    }
    sync_dir(dir)
}

/// Write zeros to `from..to` of the segment at `path` and sync them
/// (blocking: run on glommio's blocking thread). O_DIRECT, so 4 MiB of
/// zeros neither passes through nor evicts the page cache; `from` and `to`
/// are multiples of the file's alignment.
fn write_zeros(path: &Path, from: u64, to: u64) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    const ALIGN: usize = 4096;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    // An aligned run of zeros, without unsafe: a larger buffer, cut at
    // an aligned address.
    let raw = vec![0u8; CHUNK + ALIGN];
    let skip = raw.as_ptr().align_offset(ALIGN);
    let zeros = &raw[skip..skip + CHUNK];
    let mut at = from;
    while at < to {
        let n = (to - at).min(CHUNK as u64) as usize;
        f.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    // The size and blocks must be durable before an O_DSYNC overwrite,
    // which syncs only its data, lands here.
    f.sync_data()
}

/// Make a new file's directory entry durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A failed fdatasync is never retried (the kernel may have dropped the
/// dirty pages), so none may look like a retryable ENOSPC.
fn sync_err(e: io::Error) -> io::Error {
    io::Error::other(format!("fdatasync failed: {e}"))
}

/// Keep the kind (ENOSPC is `StorageFull`, which the log treats apart).
fn io_err(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::IoError(e) => e,
        glommio::GlommioError::EnhancedIoError {
            source, op, path, ..
        } => io::Error::new(source.kind(), format!("{op} {path:?}: {source}")),
        other => io::Error::other(other.to_string()),
    }
}

/// A block being filled with frames (`LogWriter::stage`).
pub struct Staged {
    buf: DmaBuffer,
    /// Filled up to here...
    at: usize,
    /// ...of this much.
    end: usize,
}

impl Staged {
    /// The next `len` bytes of the block, to write a frame into.
    pub fn next(&mut self, len: usize) -> &mut [u8] {
        let at = self.at;
        assert!(at + len <= self.end, "frames beyond what was staged");
        self.at += len;
        &mut self.buf.as_bytes_mut()[at..at + len]
    }
}
