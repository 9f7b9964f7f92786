//! Writes torn into space zeroed ahead (format version 2), the same rules
//! for version 1 segments, and the writer's zeros ahead of its appends.

use super::faults::{FaultPlan, Faults};
use super::record::{self, RecordHead};
use super::recover::RecoverError;
use super::segment;
use super::tests::{batch, head, read, same, tempdir, write_log};
use crate::decode::ChangeBatch;

const SECTOR: usize = 512;

/// Segments 1 and 2 (3 records each), then a big last record of several
/// sectors in segment 2; returns the records, the last segment's bytes and
/// where its last frame starts.
fn log_with_big_last(dir: &std::path::Path) -> (Vec<(RecordHead, ChangeBatch)>, Vec<u8>, usize) {
    let mut wrote = write_log(dir, &[1, 2], 3);
    let path = segment::path(dir, 2);
    let mut bytes = std::fs::read(&path).unwrap();
    let start = bytes.len();
    let big = batch(5000, 300, true, true);
    record::encode(head(99), &big, &mut bytes);
    wrote.push((head(99), big));
    assert!(
        bytes.len() - start > 8 * SECTOR,
        "the last frame spans many sectors"
    );
    (wrote, bytes, start)
}

/// Write to `path` the segment `full` as a power cut may leave its last
/// write, the frame from `start` on: its third sector never landed, later
/// ones did, zeros after. Returns the bytes written.
fn write_torn_out_of_order(path: &std::path::Path, full: &[u8], start: usize) -> Vec<u8> {
    let hole = (start / SECTOR + 2) * SECTOR;
    let mut bytes = full.to_vec();
    bytes[hole..hole + SECTOR].fill(0);
    bytes.resize(full.len().next_multiple_of(4096) + 4096, 0);
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// A crash inside a write into zeroed space leaves the write's first
/// sectors and zeros after them: at every sector, the last record is cut
/// (and the partial frame truncated), never reported as corruption.
#[test]
fn a_write_torn_into_zeroed_space_is_cut_at_every_sector() {
    let dir = tempdir("torn-zeros");
    let (wrote, full, start) = log_with_big_last(&dir);
    let path = segment::path(&dir, 2);
    let zeroed_len = full.len().next_multiple_of(4096) + (64 << 10);
    // The write began at its block's start, but rewrote the bytes before
    // the frame unchanged: only the frame's own sectors can be missing.
    let sectors = ((start / SECTOR + 1) * SECTOR..full.len()).step_by(SECTOR);
    for s in std::iter::once(start).chain(sectors) {
        let mut bytes = full[..s].to_vec();
        bytes.resize(zeroed_len, 0);
        std::fs::write(&path, &bytes).unwrap();
        let (r, got) = read(&dir);
        let r = r.unwrap_or_else(|e| panic!("torn at {s}: {e}"));
        same(&wrote[..6], &got);
        if s > start {
            assert_eq!(
                r.truncated,
                Some((path.clone(), start as u64)),
                "torn at {s}"
            );
        } else {
            assert_eq!(r.truncated, None, "nothing of the frame landed at {s}");
        }
        let (again, got) = read(&dir);
        assert_eq!(again.unwrap().truncated, None, "second replay is clean");
        same(&wrote[..6], &got);
    }
    // The whole write landed, zeros after it: every record.
    let mut bytes = full.clone();
    bytes.resize(zeroed_len, 0);
    std::fs::write(&path, &bytes).unwrap();
    let (r, got) = read(&dir);
    assert_eq!(r.unwrap().truncated, None);
    same(&wrote, &got);
}

/// Sectors that landed out of order (the last one, not one before it) are
/// corruption, as is any flipped bit of the last frame with zeros after
/// it: the end marker is still there, so it is no torn write.
#[test]
fn out_of_order_sectors_and_flipped_bits_before_zeros_are_corruption() {
    let dir = tempdir("torn-zeros-bad");
    let (_, full, start) = log_with_big_last(&dir);
    let path = segment::path(&dir, 2);
    let zeroed_len = full.len().next_multiple_of(4096) + 4096;
    write_torn_out_of_order(&path, &full, start);
    let (r, _) = read(&dir);
    assert!(matches!(r, Err(RecoverError::Corrupt { .. })), "{r:?}");
    // Every bit of the frame's header and its last 600 bytes, one at a time.
    let tail = (full.len() - 600)..full.len();
    for at in (start..start + record::FRAME_HEADER_BYTES).chain(tail) {
        for bit in [0, 5, 7] {
            let mut bytes = full.clone();
            bytes[at] ^= 1 << bit;
            bytes.resize(zeroed_len, 0);
            std::fs::write(&path, &bytes).unwrap();
            let (r, got) = read(&dir);
            assert!(
                matches!(r, Err(RecoverError::Corrupt { .. })),
                "flip of bit {bit} at {at}: {r:?}, {} records",
                got.len()
            );
        }
    }
}

/// The same frames in a version 1 segment (no end marker) read as before,
/// and a frame cut by zeros there stays corruption: without the marker,
/// zeros cannot be told from a frame's own trailing zeros.
#[test]
fn a_version_1_segment_reads_and_keeps_its_rules() {
    let dir = tempdir("v1");
    let (wrote, full, start) = log_with_big_last(&dir);
    let path = segment::path(&dir, 2);
    let mut v1 = header_v1(0, 2);
    let mut at = segment::HEADER_BYTES;
    let mut last_start = 0;
    while at < full.len() {
        let len = record::frame_len(&full[at..]).unwrap();
        last_start = v1.len();
        v1.extend_from_slice(&frame_v1(&full[at..at + len]));
        at += len;
    }
    assert_eq!(at, full.len());
    std::fs::write(&path, &v1).unwrap();
    let (r, got) = read(&dir);
    assert_eq!(r.unwrap().records, 7);
    same(&wrote, &got);
    let cut = (last_start / SECTOR + 3) * SECTOR;
    assert!(start > 0 && cut < v1.len());
    let mut torn = v1[..cut].to_vec();
    torn.resize(v1.len().next_multiple_of(4096) + 4096, 0);
    std::fs::write(&path, &torn).unwrap();
    let (r, _) = read(&dir);
    assert!(matches!(r, Err(RecoverError::Corrupt { .. })), "{r:?}");
}

/// A version 1 segment header (as `segment::header` wrote before 2).
fn header_v1(shard: u16, seq: u64) -> Vec<u8> {
    let mut h = segment::header(shard, seq).to_vec();
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A version 2 frame as version 1 wrote it: the same, without the mark.
fn frame_v1(v2: &[u8]) -> Vec<u8> {
    let body = &v2[record::FRAME_HEADER_BYTES..v2.len() - 1];
    assert_eq!(v2[v2.len() - 1], record::END_MARK);
    let mut f = Vec::new();
    f.extend_from_slice(&(body.len() as u32).to_le_bytes());
    f.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    let head_crc = crc32c::crc32c(&f[..8]);
    f.extend_from_slice(&head_crc.to_le_bytes());
    f.extend_from_slice(body);
    f
}

/// How `append_groups` writes.
#[derive(Clone, Copy)]
struct Appends {
    groups: u64,
    /// Records per group...
    per: u64,
    /// ...of this many rows.
    rows: usize,
    dsync: bool,
    /// Injected `fill_delay_ms`.
    fill_delay_ms: u64,
}

const SMALL_GROUPS: Appends = Appends {
    groups: 200,
    per: 3,
    rows: 200,
    dsync: true,
    fill_delay_ms: 0,
};

/// Appends groups of records to a 16 MiB segment; returns where the data
/// ends and the segment's bytes.
fn append_groups(dir: &std::path::Path, a: Appends) -> (u64, Vec<u8>) {
    let Appends {
        groups, per, rows, ..
    } = a;
    std::fs::create_dir_all(dir).unwrap();
    let d = dir.to_path_buf();
    let end = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let limits = super::writer::Limits {
                segment_bytes_max: 16 << 20,
                retain_bytes_max: 1 << 30,
                retain_age_s: 0,
                dsync: a.dsync,
            };
            let plan = FaultPlan::parse(&format!("fill_delay_ms={}", a.fill_delay_ms)).unwrap();
            let mut w = super::writer::LogWriter::create(&d, 0, 1, limits)
                .await
                .unwrap()
                .with_faults(Some(std::rc::Rc::new(Faults::new(plan))));
            for g in 0..groups {
                let mut group = Vec::new();
                for i in g * per..(g + 1) * per {
                    record::encode(head(i), &batch(i as i64, rows, false, false), &mut group);
                }
                w.append(&group, true).await.unwrap();
            }
            let end = w.position().1;
            w.close().await.unwrap();
            end
        })
        .unwrap()
        .join()
        .unwrap();
    (end, std::fs::read(segment::path(dir, 1)).unwrap())
}

/// Writes of MiBs pay the worker hand-off once for many bytes: after
/// writes over 256 KiB no zeros are written ahead, so bodies of MiBs do
/// not write the disk twice.
#[test]
fn big_writes_zero_nothing_ahead() {
    let dir = tempdir("big-writes");
    let big = Appends {
        groups: 6,
        per: 12,
        rows: 2000,
        ..SMALL_GROUPS
    };
    let end = append_with_no_zeros_ahead(&dir, big, 72);
    assert!(end > 6 * (256 << 10), "groups of {} bytes", end / 6);
}

/// The writer keeps zeros written ahead of its appends (some MiB of a
/// 16 MiB segment) and never over data: 2.6 MB of records in small groups
/// run into the first fill, which starts 400 ms late so that appends
/// reach it while it is in flight and must wait for it; every record
/// reads back.
#[test]
fn the_writer_zeroes_ahead_and_appends_over_the_zeros() {
    let dir = tempdir("zeros-ahead");
    let late = Appends {
        fill_delay_ms: 400,
        ..SMALL_GROUPS
    };
    let (data_end, bytes) = append_groups(&dir, late);
    assert!(data_end > 2 << 20, "{data_end} bytes of records");
    assert!(
        bytes.len() as u64 >= data_end + (1 << 20),
        "zeros ahead: the file is {} bytes, the data {data_end}",
        bytes.len()
    );
    assert!(bytes[data_end as usize..].iter().all(|&b| b == 0));
    let (r, got) = read(&dir);
    assert_eq!(r.unwrap().records, 600);
    let wrote: Vec<_> = (0..600)
        .map(|i| (head(i), batch(i as i64, 200, false, false)))
        .collect();
    same(&wrote, &got);
}

/// With `dsync` a segment is open O_DSYNC (its writes are durable when
/// they complete, so the writer skips fdatasync), without it not; both
/// O_DIRECT. Read from the kernel's own view of the descriptor.
#[test]
fn dsync_opens_the_segment_o_dsync() {
    for dsync in [true, false] {
        let dir = tempdir(&format!("dsync-{dsync}"));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_path_buf();
        let flags = glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let limits = super::writer::Limits {
                    segment_bytes_max: 1 << 20,
                    retain_bytes_max: 1 << 30,
                    retain_age_s: 0,
                    dsync,
                };
                let w = super::writer::LogWriter::create(&d, 0, 3, limits)
                    .await
                    .unwrap();
                let flags = open_flags(&segment::path(&d, 3));
                w.close().await.unwrap();
                flags
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(flags & libc::O_DSYNC != 0, dsync, "flags {flags:o}");
        assert!(flags & libc::O_DIRECT != 0, "flags {flags:o}");
    }
}

/// The open flags of this process's descriptor for `path` (/proc).
fn open_flags(path: &std::path::Path) -> i32 {
    let want = std::fs::canonicalize(path).unwrap();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap() {
        let fd = fd.unwrap();
        if std::fs::read_link(fd.path()).ok() != Some(want.clone()) {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap();
        let line = info.lines().find(|l| l.starts_with("flags:")).unwrap();
        return i32::from_str_radix(line["flags:".len()..].trim(), 8).unwrap();
    }
    panic!("{} is not open", path.display())
}

/// With `fsync = "interval"` (no O_DSYNC) nothing is zeroed ahead:
/// unsynced overwrites could reach the disk out of order.
#[test]
fn without_dsync_nothing_is_zeroed_ahead() {
    let dir = tempdir("no-dsync");
    let plain = Appends {
        dsync: false,
        ..SMALL_GROUPS
    };
    append_with_no_zeros_ahead(&dir, plain, 600);
}

/// Reading a live log (`sluice export`), a write in progress over zeros
/// can be seen half done, out of order: the records before it are read
/// and reading stops there, where a server's start would refuse.
#[test]
fn a_live_read_stops_at_a_write_in_progress() {
    let dir = tempdir("live-read");
    let (wrote, full, start) = log_with_big_last(&dir);
    let path = segment::path(&dir, 2);
    let bytes = write_torn_out_of_order(&path, &full, start);
    let mut got = Vec::new();
    let r = super::recover::read(&dir, 0, |h, b| got.push((h, b))).unwrap();
    same(&wrote[..6], &got);
    assert_eq!(r.truncated, Some((path.clone(), start as u64)));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a live read changes nothing"
    );
    let (r, _) = read(&dir);
    assert!(matches!(r, Err(RecoverError::Corrupt { .. })), "{r:?}");
}

/// Append `a`, check the file ends where the data does (padded to at most
/// a 4 KiB block: no zeros ahead) and that all `records` read back; the
/// data's end.
fn append_with_no_zeros_ahead(dir: &std::path::Path, a: Appends, records: u64) -> u64 {
    let (data_end, bytes) = append_groups(dir, a);
    let len = bytes.len() as u64;
    assert!(
        len >= data_end && len - data_end < 4096,
        "{len} bytes for {data_end} of data"
    );
    let (r, _) = read(dir);
    assert_eq!(r.unwrap().records, records);
    data_end
}

/// With `--quarantine-corrupt`, damage in the last segment (here a write
/// torn out of order over zeros) moves only the damaged rest aside: the
/// records before it, which may be all that was acknowledged, are kept.
#[test]
fn quarantine_keeps_the_last_segments_records_before_the_damage() {
    let dir = tempdir("quarantine-tail");
    let (wrote, full, start) = log_with_big_last(&dir);
    let path = segment::path(&dir, 2);
    let bytes = write_torn_out_of_order(&path, &full, start);
    let q = dir.join("quarantine");
    let mut got = Vec::new();
    let r = super::recover::replay(&dir, 0, Some(&q), |h, b| got.push((h, b))).unwrap();
    same(&wrote[..6], &got);
    assert_eq!(r.records, 6);
    assert_eq!(r.quarantined.len(), 1, "{:?}", r.quarantined);
    let (moved, why) = &r.quarantined[0];
    assert!(why.contains("records before it were kept"), "{why}");
    assert_eq!(
        std::fs::read(moved).unwrap(),
        bytes[start..],
        "the damaged rest, as it was"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        full[..start],
        "the segment is cut there"
    );
    let (again, got) = read(&dir);
    let again = again.unwrap();
    assert_eq!((again.truncated, again.quarantined.len()), (None, 0));
    same(&wrote[..6], &got);
}
