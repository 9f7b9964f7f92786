//! Round trips, torn tails at every cut, and bit flips anywhere.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{FixedSizeBinaryArray, Int64Array, RecordBatch, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};

use super::record::{self, RecordHead};
use super::recover::{replay, RecoverError, Recovered};
use super::segment;
use crate::decode::ChangeBatch;

pub(super) fn batch(first: i64, n: usize, weighted: bool, updates: bool) -> ChangeBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let ids = Int64Array::from_iter_values(first..first + n as i64);
    let names = StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| format!("n{i}"))));
    let data = RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names)]).unwrap();
    let weights = weighted.then(|| Int64Array::from_iter_values((0..n as i64).map(|i| i - 1)));
    let updates = updates.then(|| {
        let valid = NullBuffer::from_iter((0..n).map(|i| i % 2 == 0));
        FixedSizeBinaryArray::new(1, vec![0b11u8; n].into(), Some(valid))
    });
    ChangeBatch {
        data,
        weights,
        updates,
    }
}

pub(super) fn head(i: u64) -> RecordHead {
    RecordHead {
        run: 77,
        pipeline: 1,
        table: (i % 3) as u32,
        lane: 2,
        end: 1000 + i,
    }
}

/// Segments `seqs` for shard 0, each with `per` records; returns the
/// records in order.
pub(super) fn write_log(dir: &Path, seqs: &[u64], per: u64) -> Vec<(RecordHead, ChangeBatch)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut all = Vec::new();
    let mut i = 0;
    for &seq in seqs {
        let mut bytes = segment::header(0, seq).to_vec();
        for _ in 0..per {
            let b = batch(i as i64 * 10, 1 + (i % 4) as usize, i % 2 == 1, i % 3 == 2);
            record::encode(head(i), &b, &mut bytes);
            all.push((head(i), b));
            i += 1;
        }
        std::fs::write(segment::path(dir, seq), bytes).unwrap();
    }
    all
}

pub(super) fn read(
    dir: &Path,
) -> (
    Result<Recovered, RecoverError>,
    Vec<(RecordHead, ChangeBatch)>,
) {
    let mut got = Vec::new();
    let r = replay(dir, 0, None, |h, b| got.push((h, b)));
    (r, got)
}

pub(super) fn same(a: &[(RecordHead, ChangeBatch)], b: &[(RecordHead, ChangeBatch)]) {
    assert_eq!(a.len(), b.len());
    for ((ha, ba), (hb, bb)) in a.iter().zip(b) {
        assert_eq!(ha, hb);
        assert_eq!(ba.data, bb.data);
        assert_eq!(ba.weights, bb.weights);
        assert_eq!(ba.updates, bb.updates);
    }
}

/// A fresh directory under the system's temp dir, removed when dropped
/// (each test's log files would otherwise stay behind, one set per run).
pub(super) struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("sluice-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TempDir(d)
}

#[test]
fn records_round_trip_across_segments() {
    let dir = tempdir("round");
    let wrote = write_log(&dir, &[3, 4, 7], 5);
    let (r, got) = read(&dir);
    let r = r.unwrap();
    same(&wrote, &got);
    assert_eq!((r.records, r.last_seq, r.truncated), (15, Some(7), None));
    // A record's payload is a plain Arrow IPC stream.
    let mut bytes = Vec::new();
    record::encode(head(0), &wrote[1].1, &mut bytes);
    let body = &bytes[record::FRAME_HEADER_BYTES + 27..];
    assert_eq!(record::FRAME_HEADER_BYTES, 12);
    let mut r = arrow_ipc::reader::StreamReader::try_new(body, None).unwrap();
    let rb = r.next().unwrap().unwrap();
    assert_eq!(rb.num_columns(), 3, "id, name, weight");
}

#[test]
fn a_torn_tail_is_cut_at_every_length() {
    let dir = tempdir("torn");
    let wrote = write_log(&dir, &[1, 2], 3);
    let last = segment::path(&dir, 2);
    let full = std::fs::read(&last).unwrap();
    let mut start_of_last = segment::HEADER_BYTES;
    for _ in 0..2 {
        let record::Frame::Good { len, .. } = record::frame(&full[start_of_last..]) else {
            panic!()
        };
        start_of_last += len;
    }
    for cut in start_of_last + 1..full.len() {
        // Cut short; or cut at a record boundary and zero-padded to a block,
        // as a DMA write of the last complete record leaves the file.
        let boundary = cut == start_of_last + 1;
        for zeroed in [false, true].into_iter().filter(|&z| !z || boundary) {
            let mut bytes = full[..cut].to_vec();
            if zeroed {
                bytes.truncate(start_of_last);
                bytes.resize(start_of_last.div_ceil(4096) * 4096 + 4096, 0);
            }
            std::fs::write(&last, &bytes).unwrap();
            let (r, got) = read(&dir);
            let r = r.unwrap_or_else(|e| panic!("cut {cut} zeroed {zeroed}: {e}"));
            same(&wrote[..5], &got);
            assert_eq!(r.records, 5);
            // Only a non-zero tail needs cutting; zeros read as "no data".
            let len = std::fs::metadata(&last).unwrap().len() as usize;
            if r.truncated.is_some() {
                assert_eq!(len, start_of_last, "cut {cut}");
            }
            let (again, got) = read(&dir);
            assert_eq!(again.unwrap().truncated, None, "second replay is clean");
            same(&wrote[..5], &got);
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_is_corruption_never_a_silent_drop() {
    let dir = tempdir("flip");
    let wrote = write_log(&dir, &[1, 2], 2);
    for seq in [1, 2] {
        let p = segment::path(&dir, seq);
        let good = std::fs::read(&p).unwrap();
        for at in 0..good.len() {
            let mut bytes = good.clone();
            bytes[at] ^= 1 << (at % 8);
            std::fs::write(&p, &bytes).unwrap();
            let (r, got) = read(&dir);
            match r {
                Err(RecoverError::Corrupt {
                    segment, offset, ..
                }) => {
                    assert_eq!(segment, p);
                    assert!(
                        offset as usize <= at,
                        "offset {offset} past the flip at {at}"
                    );
                }
                other => panic!(
                    "flip at {at} of segment {seq}: {other:?}, {} records",
                    got.len()
                ),
            }
        }
        std::fs::write(&p, &good).unwrap();
    }
    let (r, got) = read(&dir);
    assert!(r.is_ok());
    same(&wrote, &got);
}

#[test]
fn zeros_then_data_is_corruption() {
    let dir = tempdir("hole");
    write_log(&dir, &[1], 2);
    let p = segment::path(&dir, 1);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(&[0; 100]);
    bytes.extend_from_slice(b"junk");
    std::fs::write(&p, &bytes).unwrap();
    let (r, _) = read(&dir);
    assert!(matches!(r, Err(RecoverError::Corrupt { .. })), "{r:?}");
}

#[test]
fn the_writer_appends_rotates_and_recovery_reads_it_back() {
    let dir = tempdir("writer");
    std::fs::create_dir_all(&dir).unwrap();
    let records: Vec<(RecordHead, ChangeBatch)> = (0..40)
        .map(|i| {
            (
                head(i),
                batch(i as i64, 1 + (i % 5) as usize, i % 2 == 0, false),
            )
        })
        .collect();
    let (d, rs) = (dir.to_path_buf(), records.clone());
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            // Small segments: several rotations.
            let limits = super::writer::Limits {
                segment_bytes_max: 8 << 10,
                retain_bytes_max: 1 << 30,
                retain_age_s: 0,
                dsync: true,
            };
            let mut w = super::writer::LogWriter::create(&d, 0, 5, limits)
                .await
                .unwrap();
            let mut group = Vec::new();
            for (i, (h, b)) in rs.iter().enumerate() {
                record::encode(*h, b, &mut group);
                if i % 3 == 2 {
                    w.append(&group, i % 2 == 0).await.unwrap();
                    group.clear();
                }
            }
            w.append(&group, true).await.unwrap();
            w.sync().await.unwrap();
            w.close().await.unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    let segments = segment::list(&dir).unwrap();
    assert!(segments.len() > 2, "{segments:?}");
    assert_eq!(segments[0].0, 5);
    let (r, got) = read(&dir);
    assert_eq!(r.unwrap().records, 40);
    same(&records, &got);
    // A new, never written segment after a crash is dropped, not an error.
    std::fs::write(segment::path(&dir, 99), b"").unwrap();
    let (r, got) = read(&dir);
    assert_eq!(r.unwrap().last_seq, Some(99));
    same(&records, &got);
    assert!(!segment::path(&dir, 99).exists());
}

#[test]
fn retention_deletes_the_oldest_segments() {
    let dir = tempdir("retain");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_path_buf();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let limits = super::writer::Limits {
                segment_bytes_max: 8 << 10,
                retain_bytes_max: 32 << 10,
                retain_age_s: 0,
                dsync: true,
            };
            let mut w = super::writer::LogWriter::create(&d, 0, 0, limits)
                .await
                .unwrap();
            for i in 0..200 {
                let mut group = Vec::new();
                record::encode(head(i), &batch(i as i64, 4, false, false), &mut group);
                w.append(&group, true).await.unwrap();
            }
            w.close().await.unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    let segments = segment::list(&dir).unwrap();
    let total: u64 = segments
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(segments[0].0 > 0, "the oldest went");
    assert!(total <= (32 + 8 + 4) << 10, "{total} bytes kept");
    // What is left still replays, from its first record on, in order.
    let (r, got) = read(&dir);
    assert!(r.unwrap().records > 0);
    let ends: Vec<u64> = got.iter().map(|(h, _)| h.end).collect();
    assert!(ends.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(*ends.last().unwrap(), 1000 + 199);
}

#[test]
fn padding_shorter_than_a_header_ends_a_segment_that_is_not_the_last() {
    let dir = tempdir("shortpad");
    let wrote = write_log(&dir, &[1, 2], 2);
    for pad in 1..record::FRAME_HEADER_BYTES + 2 {
        let p = segment::path(&dir, 1);
        // The segment's frames, then `pad` zeros.
        let full = std::fs::read(&p).unwrap();
        let mut end = segment::HEADER_BYTES;
        while let record::Frame::Good { len, .. } = record::frame(&full[end..]) {
            end += len;
        }
        let mut bytes = full[..end].to_vec();
        bytes.resize(end + pad, 0);
        std::fs::write(&p, &bytes).unwrap();
        let (r, got) = read(&dir);
        assert!(r.is_ok(), "pad {pad}: {r:?}");
        same(&wrote, &got);
    }
}

#[test]
fn quarantine_moves_a_corrupt_segment_aside_and_skips_it_whole() {
    let dir = tempdir("quarantine");
    let wrote = write_log(&dir, &[1, 2, 3], 2);
    let p = segment::path(&dir, 2);
    let mut bytes = std::fs::read(&p).unwrap();
    // Damage the second record: the first, though intact, is skipped too
    // (a segment is taken whole or not at all).
    let record::Frame::Good { len, .. } = record::frame(&bytes[segment::HEADER_BYTES..]) else {
        panic!()
    };
    bytes[segment::HEADER_BYTES + len + 40] ^= 4;
    std::fs::write(&p, &bytes).unwrap();
    let q = dir.join("quarantine");
    let mut got = Vec::new();
    let r = replay(&dir, 0, Some(&q), |h, b| got.push((h, b))).unwrap();
    assert_eq!(r.records, 4);
    let kept: Vec<_> = wrote[..2].iter().chain(&wrote[4..]).cloned().collect();
    same(&kept, &got);
    assert_eq!(r.quarantined.len(), 1, "{:?}", r.quarantined);
    assert!(
        r.quarantined[0].1.contains("checksum"),
        "{:?}",
        r.quarantined
    );
    assert!(!p.exists() && r.quarantined[0].0.exists());
    assert_eq!(r.last_seq, Some(3));
    // After the move, a replay without quarantine is clean.
    let (again, got) = read(&dir);
    assert!(again.unwrap().quarantined.is_empty());
    same(&kept, &got);
}

#[test]
fn retention_by_age_deletes_old_segments_but_never_the_current_one() {
    let dir = tempdir("age");
    write_log(&dir, &[1, 2, 3], 2);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for seq in [1, 2] {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(segment::path(&dir, seq))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    let d = dir.to_path_buf();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let limits = super::writer::Limits {
                segment_bytes_max: 1 << 20,
                retain_bytes_max: 1 << 30,
                retain_age_s: 3600,
                dsync: true,
            };
            let w = super::writer::LogWriter::create(&d, 0, 4, limits)
                .await
                .unwrap();
            w.prune_aged().unwrap();
            w.close().await.unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    let left: Vec<u64> = segment::list(&dir)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        left,
        vec![3, 4],
        "two old segments went; the young and the current stay"
    );
}

/// An egress replay taken before this run's first write: the log ends
/// right after the header of the segment the writer begins with
/// (`ShardWal::begin_at`), which may still be an empty file. Reading up to
/// there yields nothing; reading past it still checks the header.
#[test]
fn a_segment_read_up_to_its_header_needs_no_header_yet() {
    let dir = tempdir("begun");
    std::fs::create_dir_all(&dir).unwrap();
    let path = segment::path(&dir, 7);
    std::fs::write(&path, b"").unwrap();
    let header = segment::HEADER_BYTES as u64;
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let mut r = super::tail::SegmentReader::open(path.clone(), 7, 0, Some(header))
                .await
                .unwrap();
            assert!(r.next().await.unwrap().is_none());
            r.close().await;
            // The whole file: an empty segment is still no segment.
            let whole = super::tail::SegmentReader::open(path, 7, 0, None).await;
            assert!(whole.is_err());
        })
        .unwrap()
        .join()
        .unwrap();
}
