//! Appending to a shard's log: glommio DMA (O_DIRECT) writes of whole
//! aligned blocks, then fdatasync.
//!
//! O_DIRECT wants aligned offsets and lengths, so the last, partial block
//! is kept in memory (`tail`) and written again, zero-padded, with the next
//! append. The rewrite carries the same bytes for the records already in
//! that block, so a torn rewrite cannot damage them. One write is in flight
//! at a time and nothing is preallocated: a crash leaves a prefix of what
//! was written plus zero padding, which is what recovery expects.

use std::io;
use std::path::{Path, PathBuf};

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
}

/// Segment size and retention, bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Start a new segment past this size.
    pub segment_bytes_max: u64,
    /// Delete the oldest segments while the shard's log is larger.
    pub retain_bytes_max: u64,
    /// ...or while they are older than this, seconds (0: no age limit).
    pub retain_age_s: u64,
}

impl LogWriter {
    /// Start segment `seq` (a new file) in `dir`.
    pub async fn create(dir: &Path, shard: u16, seq: u64, limits: Limits) -> io::Result<LogWriter> {
        let path = segment::path(dir, seq);
        // A segment is never reused: O_EXCL, so nothing can truncate one.
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .create_new(true)
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
            self.file
                .fdatasync()
                .await
                .map_err(|e| sync_err(io_err(e)))?;
        }
        // Keep only the partial last block for the next append.
        let keep_from = self.file.align_down(end as u64) as usize;
        self.tail.clear();
        self.tail.extend_from_slice(&buf.as_bytes()[keep_from..end]);
        self.tail_at += keep_from as u64;
        self.pending = None;
        Ok(())
    }

    /// The segment being written and where its data ends.
    pub fn position(&self) -> (u64, u64) {
        (self.seq, self.tail_at + self.tail.len() as u64)
    }

    /// Sync and close the segment (and release its lock).
    pub async fn close(self) -> io::Result<()> {
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
        let next = LogWriter::create(&self.dir, self.shard, self.seq + 1, self.limits).await?;
        let old = std::mem::replace(self, next.with_faults(self.faults.clone()));
        old.fault_sync()?;
        old.file
            .fdatasync()
            .await
            .map_err(|e| sync_err(io_err(e)))?;
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
