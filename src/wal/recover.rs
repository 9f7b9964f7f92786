//! Replaying a shard's log at start, before it serves anything.
//!
//! Rules: frames are read in segment order. Zeroed space ends the written
//! data of a segment; anything non-zero after it is corruption (the log
//! never leaves holes). In the LAST segment, a frame cut short by the end
//! of the file (its length checked by the header checksum, or its header
//! itself cut) is a torn tail: the write was in progress at the crash and
//! was never acknowledged. So is, in a segment of version 2, a frame whose
//! end lies in the zeros that run to the end of the file: a write torn
//! short in space the writer zeroed ahead (`torn_into_zeros`). A torn tail
//! is truncated (the caller logs it). Any other
//! bad frame is corruption: recovery stops with the segment and byte
//! offset, and the server refuses to start. So a flipped bit is never taken
//! for a torn tail and silently dropped; the price is that a power cut
//! that tears a write out of order (a never-written sector inside the last
//! record) is also reported as corruption, for the operator to decide.

use std::path::{Path, PathBuf};

use super::record::{self, Frame, RecordHead};
use super::segment;
use crate::decode::ChangeBatch;

/// Why the log cannot be replayed.
#[derive(Debug)]
pub enum RecoverError {
    Io(PathBuf, std::io::Error),
    Corrupt {
        segment: PathBuf,
        offset: u64,
        why: String,
    },
}

impl std::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoverError::Io(p, e) => write!(f, "reading {}: {e}", p.display()),
            RecoverError::Corrupt {
                segment,
                offset,
                why,
            } => write!(
                f,
                "log segment {} is corrupt at byte {offset}: {why}",
                segment.display()
            ),
        }
    }
}

/// How long recovery waits for a segment's writer to let go of it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What replay found besides the records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub records: u64,
    /// The last segment's sequence number (the next one to write is after).
    pub last_seq: Option<u64>,
    /// A torn tail cut off: segment and the offset it now ends at.
    pub truncated: Option<(PathBuf, u64)>,
    /// Corrupt segments moved aside (`--quarantine-corrupt`): where each
    /// went and why it was corrupt. Their records were not replayed.
    pub quarantined: Vec<(PathBuf, String)>,
}

/// Replay every record of the segments in `dir` through `apply`, in order.
/// With `quarantine`, a corrupt segment is moved into that directory and
/// skipped whole (none of its records applied) instead of stopping.
pub fn replay(
    dir: &Path,
    shard: u16,
    quarantine: Option<&Path>,
    apply: impl FnMut(RecordHead, ChangeBatch),
) -> Result<Recovered, RecoverError> {
    scan(dir, shard, Mode::Repair { quarantine }, apply)
}

#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Read only (a live log may be behind it).
    Read,
    /// Startup: cut torn tails, maybe quarantine corrupt segments.
    Repair { quarantine: Option<&'a Path> },
}

/// Read every record like `replay`, changing nothing (a torn tail or an
/// empty last segment is left as it is): for readers of a log that may be
/// live, such as `sluice export`.
pub fn read(
    dir: &Path,
    shard: u16,
    apply: impl FnMut(RecordHead, ChangeBatch),
) -> Result<Recovered, RecoverError> {
    scan(dir, shard, Mode::Read, apply)
}

fn scan(
    dir: &Path,
    shard: u16,
    mode: Mode,
    mut apply: impl FnMut(RecordHead, ChangeBatch),
) -> Result<Recovered, RecoverError> {
    let repair = matches!(mode, Mode::Repair { .. });
    let mut out = Recovered::default();
    let segments = segment::list(dir).map_err(|e| RecoverError::Io(dir.into(), e))?;
    for (i, (seq, path)) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        // Repairing: wait out any writer still holding the segment (held
        // until this iteration ends, truncation included).
        let _lock = if repair {
            let l = segment::open_locked(path, LOCK_WAIT);
            Some(l.map_err(|e| RecoverError::Io(path.clone(), e))?)
        } else {
            None
        };
        let bytes = std::fs::read(path).map_err(|e| RecoverError::Io(path.clone(), e))?;
        out.last_seq = Some(*seq);
        if last && is_zero(&bytes) {
            // Created but never written (a crash right after a rotation):
            // nothing in it was ever acknowledged.
            if repair {
                std::fs::remove_file(path).map_err(|e| RecoverError::Io(path.clone(), e))?;
            }
            continue;
        }
        // A segment's records are applied only once all of them read well,
        // so a quarantined segment contributes nothing.
        let mut records = Vec::new();
        let read = check_segment(&bytes, *seq, shard, last, &mut records);
        let end = match (read, mode) {
            (Ok(end), _) => end,
            // The last segment keeps what precedes its damage: that may be
            // all that was acknowledged before a power cut tore the write
            // in flight. The rest is moved aside, as a file of its own.
            (
                Err((offset, why)),
                Mode::Repair {
                    quarantine: Some(q),
                },
            ) if last && offset > 0 => {
                let to = move_tail_aside(path, &bytes[offset..], offset, q, shard)?;
                for (head, batch) in records {
                    apply(head, batch);
                    out.records += 1;
                }
                out.quarantined.push((
                    to,
                    format!("corrupt at byte {offset}: {why} (the records before it were kept)"),
                ));
                continue;
            }
            (
                Err((offset, why)),
                Mode::Repair {
                    quarantine: Some(q),
                },
            ) => {
                let to = move_aside(path, q, shard)?;
                out.quarantined
                    .push((to, format!("corrupt at byte {offset}: {why}")));
                continue;
            }
            // Reading a live log (`sluice export` beside a running server),
            // the last segment may end in a write in progress, seen half
            // done where it overwrites zeros: the records before it are
            // whole, and `truncated` says where reading stopped.
            (Err((offset, _)), Mode::Read) if last => offset,
            (Err((offset, why)), _) => {
                return Err(RecoverError::Corrupt {
                    segment: path.clone(),
                    offset: offset as u64,
                    why,
                })
            }
        };
        for (head, batch) in records {
            apply(head, batch);
            out.records += 1;
        }
        if end < bytes.len() && last && !is_zero(&bytes[end..]) {
            if repair {
                truncate(path, end as u64)?;
            }
            out.truncated = Some((path.clone(), end as u64));
        }
    }
    Ok(out)
}

/// The header and frames of one segment, decoded into `records`; where
/// its data ends, or the offset and reason of the first damage.
fn check_segment(
    bytes: &[u8],
    seq: u64,
    shard: u16,
    last: bool,
    records: &mut Vec<(RecordHead, ChangeBatch)>,
) -> Result<usize, (usize, String)> {
    let (owner, version) = segment::check_header(bytes, seq).map_err(|why| (0, why))?;
    if owner != shard {
        return Err((0, format!("written by shard {owner}, not {shard}")));
    }
    replay_segment(bytes, last, version >= 2, records)
}

/// Move a corrupt segment into `quarantine` (made if need be), durably.
fn move_aside(path: &Path, quarantine: &Path, shard: u16) -> Result<PathBuf, RecoverError> {
    let io = |e| RecoverError::Io(path.into(), e);
    let to = quarantine_name(path, quarantine, shard, "")?;
    std::fs::rename(path, &to).map_err(io)?;
    for dir in [quarantine, path.parent().expect("in a directory")] {
        sync_dir(dir).map_err(io)?;
    }
    Ok(to)
}

/// Move the damaged `tail` of the last segment, from byte `offset` on, into
/// `quarantine` (durably, before the segment is cut there).
fn move_tail_aside(
    path: &Path,
    tail: &[u8],
    offset: usize,
    quarantine: &Path,
    shard: u16,
) -> Result<PathBuf, RecoverError> {
    let io = |e| RecoverError::Io(path.into(), e);
    let to = quarantine_name(path, quarantine, shard, &format!(".from-{offset}"))?;
    let f = std::fs::File::create(&to).map_err(io)?;
    std::io::Write::write_all(&mut &f, tail).map_err(io)?;
    f.sync_all().map_err(io)?;
    sync_dir(quarantine).map_err(io)?;
    truncate(path, offset as u64)?;
    Ok(to)
}

/// Where segment `path` (or a part of it, `suffix`) goes in `quarantine`,
/// which is made if need be: `shard-NNN-<segment><suffix>`.
fn quarantine_name(
    path: &Path,
    quarantine: &Path,
    shard: u16,
    suffix: &str,
) -> Result<PathBuf, RecoverError> {
    std::fs::create_dir_all(quarantine).map_err(|e| RecoverError::Io(path.into(), e))?;
    let name = path.file_name().expect("a segment file").to_string_lossy();
    Ok(quarantine.join(format!("shard-{shard:03}-{name}{suffix}")))
}

/// Make a directory's entries durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Decode the frames of one segment into `records`; returns where its
/// data ends. `marked`: its frames end with `record::END_MARK` (version 2).
fn replay_segment(
    bytes: &[u8],
    last: bool,
    marked: bool,
    records: &mut Vec<(RecordHead, ChangeBatch)>,
) -> Result<usize, (usize, String)> {
    let mut at = segment::HEADER_BYTES;
    while at < bytes.len() {
        match record::frame(&bytes[at..]) {
            Frame::Good { body, len } => {
                records.push(record::decode(body).map_err(|w| (at, w))?);
                at += len;
            }
            Frame::Zero => {
                return if is_zero(&bytes[at..]) {
                    Ok(at)
                } else {
                    Err((at, "data after zeroed space".into()))
                };
            }
            Frame::Short if last => return Ok(at),
            Frame::Short => return Err((at, "record cut short before a later segment".into())),
            Frame::Bad if last && marked && torn_into_zeros(bytes, at) => return Ok(at),
            Frame::Bad => return Err((at, "record checksum mismatch".into())),
        }
    }
    Ok(at)
}

/// The smallest unit a disk writes whole: a torn write leaves some of its
/// sectors written and the rest as they were.
const SECTOR_BYTES: usize = 512;

/// Is the bad frame at `at` a write a crash tore short in space zeroed
/// ahead of time (`writer.rs`)? Such a write leaves its first sectors
/// and zeros after them. A frame's last byte is `END_MARK`, never zero, so
/// the frame is torn exactly when the sector holding its last byte (or,
/// when its header is damaged, the header's last byte) lies in the zeros
/// that run to the end of the file. A flipped bit anywhere else leaves the
/// mark in place and is still corruption.
fn torn_into_zeros(bytes: &[u8], at: usize) -> bool {
    let data_end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let zeros_from = data_end.next_multiple_of(SECTOR_BYTES);
    let needs = record::frame_len(&bytes[at..]).unwrap_or(record::FRAME_HEADER_BYTES);
    at + needs > zeros_from
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

fn truncate(path: &Path, len: u64) -> Result<(), RecoverError> {
    let io = |e| RecoverError::Io(path.into(), e);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.set_len(len).map_err(io)?;
    f.sync_all().map_err(io)
}
