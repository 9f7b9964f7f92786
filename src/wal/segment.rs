//! Segment files: `<dir>/<seq as 20 digits>.wal`, each starting with a
//! 32-byte header, then frames (`record.rs`) back to back.
//!
//! Header (little-endian): magic `SLUICEWL` | u32 version | u16 shard |
//! u16 reserved (0) | u64 seq | u32 reserved (0) | u32 crc32c of the 28
//! bytes before it. The names sort in sequence order; `seq` in the header
//! must match the name, so a renamed or copied file is noticed.
//!
//! Versions: 1 wrote frames by extending the file; 2 ends every frame with
//! a marker byte (`record::END_MARK`) and may write into space zeroed ahead
//! of time (`writer.rs`), where a torn write shows as zeros inside the
//! last frame (`recover.rs`). This build writes 2 and reads both.

use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const HEADER_BYTES: usize = 32;
const MAGIC: &[u8; 8] = b"SLUICEWL";
const VERSION: u32 = 2;
/// The oldest version this build reads.
const VERSION_MIN: u32 = 1;

/// The header of segment `seq` of `shard`.
pub fn header(shard: u16, seq: u64) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..14].copy_from_slice(&shard.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Check a header read from the file named for `seq`; returns its shard
/// and format version.
pub fn check_header(h: &[u8], seq: u64) -> Result<(u16, u32), String> {
    if h.len() < HEADER_BYTES {
        return Err(format!("header is {} bytes, not {HEADER_BYTES}", h.len()));
    }
    if &h[0..8] != MAGIC {
        return Err("not a sluice log segment (bad magic)".into());
    }
    let crc = u32::from_le_bytes(h[28..32].try_into().expect("4 bytes"));
    if crc32c::crc32c(&h[..28]) != crc {
        return Err("header checksum mismatch".into());
    }
    let version = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes"));
    if !(VERSION_MIN..=VERSION).contains(&version) {
        return Err(format!(
            "log format version {version}, this build reads {VERSION_MIN} to {VERSION}"
        ));
    }
    let in_header = u64::from_le_bytes(h[16..24].try_into().expect("8 bytes"));
    if in_header != seq {
        return Err(format!(
            "header says segment {in_header}, the name says {seq}"
        ));
    }
    Ok((u16::from_le_bytes([h[12], h[13]]), version))
}

pub fn path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// The segments in `dir`, in sequence order. Other files are ignored.
pub fn list(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let seq = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .filter(|s| s.len() == 20)
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, p));
        }
    }
    out.sort();
    Ok(out)
}

/// Hold an exclusive `flock` on an open segment, for as long as the file
/// is open. A writer takes it when it creates the segment. Why: the kernel
/// keeps an open file (and its flock) alive while io_uring writes on it
/// are in flight, even after the writing process was killed; recovery
/// takes the same lock before reading or truncating a segment, so such a
/// late write can never land after recovery looked. It also stops two
/// servers from sharing a data directory.
pub fn lock(file: &impl AsRawFd) -> std::io::Result<bool> {
    // SAFETY: flock on a valid, open descriptor; no memory is involved.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Open `path` and lock it, waiting up to `wait` for a dead writer's
/// in-flight writes to drain.
pub fn open_locked(path: &Path, wait: Duration) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let deadline = Instant::now() + wait;
    while !lock(&f)? {
        if Instant::now() >= deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the segment is locked by a writer (is another sluice running on this data_dir?)",
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(f)
}
