//! Segment files: `<dir>/<seq as 20 digits>.wal`, each starting with a
//! 32-byte header, then frames (`record.rs`) back to back.
//!
//! Header (little-endian): magic `SLUICEWL` | u32 version | u16 shard |
//! u16 reserved (0) | u64 seq | u32 reserved (0) | u32 crc32c of the 28
//! bytes before it. The names sort in sequence order; `seq` in the header
//! must match the name, so a renamed or copied file is noticed.

use std::path::{Path, PathBuf};

pub const HEADER_BYTES: usize = 32;
const MAGIC: &[u8; 8] = b"SLUICEWL";
const VERSION: u32 = 1;

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

/// Check a header read from the file named for `seq`; returns its shard.
pub fn check_header(h: &[u8], seq: u64) -> Result<u16, String> {
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
    if version != VERSION {
        return Err(format!(
            "log format version {version}, this build reads {VERSION}"
        ));
    }
    let in_header = u64::from_le_bytes(h[16..24].try_into().expect("8 bytes"));
    if in_header != seq {
        return Err(format!(
            "header says segment {in_header}, the name says {seq}"
        ));
    }
    Ok(u16::from_le_bytes([h[12], h[13]]))
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
