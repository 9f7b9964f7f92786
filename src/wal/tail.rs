//! Reading a live shard's log while it serves: egress replay
//! (`from=earliest`). Unlike `recover`, which reads whole segments with
//! blocking calls before any shard runs, this reads through glommio in
//! windows of `WINDOW_BYTES`, so a replay of a 1 GiB log neither stalls its
//! core nor holds more than a window and one record in memory. It reads
//! only up to the end the log had when the replay began (`Snapshot`):
//! records after that reach the listener live.

use std::io;
use std::path::PathBuf;

use glommio::io::BufferedFile;

use super::record::{self, Frame, RecordHead};
use super::segment;
use crate::decode::ChangeBatch;

/// Bytes read from a segment at a time (more when one record is larger).
const WINDOW_BYTES: usize = 1 << 20;

/// The segments to read and where the last one ended when the replay
/// began (`None`: it was complete, from an earlier run).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub segments: Vec<(u64, PathBuf)>,
    /// (sequence number, end offset) of the segment being written.
    pub live: Option<(u64, u64)>,
}

impl Snapshot {
    /// The log of `dir` as it stands, its writer at `live`.
    pub fn take(dir: &std::path::Path, live: Option<(u64, u64)>) -> io::Result<Snapshot> {
        let mut segments = segment::list(dir)?;
        // A segment the writer started after `live` was taken is not ours.
        if let Some((seq, _)) = live {
            segments.retain(|(s, _)| *s <= seq);
        }
        Ok(Snapshot { segments, live })
    }
}

/// Reads one segment's records in order.
pub struct SegmentReader {
    file: BufferedFile,
    path: PathBuf,
    /// File offset of `buf[0]`.
    at: u64,
    /// Where the data to read ends.
    end: u64,
    buf: Vec<u8>,
    /// Consumed prefix of `buf`.
    used: usize,
}

fn corrupt(path: &std::path::Path, offset: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("log segment {} at byte {offset}: {why}", path.display()),
    )
}

impl SegmentReader {
    /// Open segment `seq`; read from byte `from` (a record boundary; 0:
    /// the first record) up to `end` (`None`: the whole file).
    pub async fn open(
        path: PathBuf,
        seq: u64,
        from: u64,
        end: Option<u64>,
    ) -> io::Result<SegmentReader> {
        let file = BufferedFile::open(&path).await?;
        let size = file.file_size().await?;
        let header = segment::HEADER_BYTES as u64;
        // Asked for nothing past the header (a segment the writer has just
        // begun): its header may not be written yet, and nothing is read.
        let empty = end.is_some_and(|e| e <= header);
        let end = end.map_or(size, |e| e.min(size)).max(header);
        if !empty {
            let head = file.read_at(0, segment::HEADER_BYTES).await?;
            // Either version reads the same way up to a known end.
            segment::check_header(&head, seq).map_err(|why| corrupt(&path, 0, &why))?;
        }
        Ok(SegmentReader {
            file,
            path,
            at: from.max(segment::HEADER_BYTES as u64),
            end,
            buf: Vec::new(),
            used: 0,
        })
    }

    /// The next record and the offset just after it; `None` at the end
    /// of the data.
    pub async fn next(&mut self) -> io::Result<Option<(RecordHead, ChangeBatch, u64)>> {
        loop {
            let offset = self.at + self.used as u64;
            match record::frame(&self.buf[self.used..]) {
                Frame::Good { body, len } => {
                    let (head, batch) =
                        record::decode(body).map_err(|w| corrupt(&self.path, offset, &w))?;
                    self.used += len;
                    return Ok(Some((head, batch, offset + len as u64)));
                }
                // Zeroed space ends the written data, once a whole frame
                // header's worth of it is seen (a shorter zero prefix may be
                // the start of a frame cut by the window).
                Frame::Zero if self.buf.len() - self.used >= record::FRAME_HEADER_BYTES => {
                    return Ok(None)
                }
                Frame::Bad => return Err(corrupt(&self.path, offset, "checksum mismatch")),
                Frame::Short | Frame::Zero => {
                    if !self.fill().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Read the next window after what `buf` holds; `false` at `end`.
    async fn fill(&mut self) -> io::Result<bool> {
        self.buf.drain(..self.used);
        self.at += self.used as u64;
        self.used = 0;
        let from = self.at + self.buf.len() as u64;
        if from >= self.end {
            return Ok(false);
        }
        // A record longer than the window: read the rest of it at once.
        let want = WINDOW_BYTES.max(self.buf.len());
        let n = want.min((self.end - from) as usize);
        let r = self.file.read_at(from, n).await?;
        if r.is_empty() {
            return Ok(false);
        }
        self.buf.extend_from_slice(&r);
        Ok(true)
    }

    pub async fn close(self) {
        let _ = self.file.close().await;
    }
}
