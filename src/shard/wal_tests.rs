//! The group path (encode, stage, lay out, commit) through ENOSPC
//! retries, block boundaries and rotations.
use super::*;
use crate::wal::record;
use crate::wal::{recover, segment};
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

fn batch(first: i64, n: usize, pad: usize) -> ChangeBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let ids = Int64Array::from_iter_values(first..first + n as i64);
    let names = StringArray::from_iter((0..n).map(|i| {
        (i % 3 != 0).then(|| format!("n{i}{}", "x".repeat(if i == 1 { pad } else { 0 })))
    }));
    let data = RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names)]).unwrap();
    ChangeBatch {
        data,
        weights: None,
        updates: None,
    }
}

fn item(end: u64, n: usize, lane: usize, pad: usize) -> Item {
    Item {
        head: RecordHead {
            run: 1,
            pipeline: 2,
            table: 3,
            lane: lane as u16,
            end,
        },
        batch: batch(end as i64 * 1000, n, pad),
        at: (0, 0, lane),
    }
}

/// Where the frames of a segment file end, and the file's length.
fn frames_end(dir: &std::path::Path, seq: u64) -> (u64, u64) {
    let bytes = std::fs::read(segment::path(dir, seq)).unwrap();
    let mut at = segment::HEADER_BYTES;
    while let record::Frame::Good { len, .. } = record::frame(&bytes[at..]) {
        at += len;
    }
    assert!(
        bytes[at..].iter().all(|&b| b == 0),
        "zeros after the frames"
    );
    (at as u64, bytes.len() as u64)
}

fn check_position(log: &Log) {
    let (seq, pos) = log.writer.as_ref().unwrap().position();
    let (end, len) = frames_end(&log.dir, seq);
    assert_eq!(pos, end, "position() is where the frames end");
    assert!(
        len.is_multiple_of(512) && len >= pos && len - pos < 4096,
        "{len} {pos}"
    );
}

/// Shard 0's log in `dir`, from segment 1, not yet written.
fn log_at(
    dir: PathBuf,
    segment_bytes_max: u64,
    retain_age_s: u64,
    faults: Option<FaultPlan>,
) -> Log {
    let limits = Limits {
        segment_bytes_max,
        retain_bytes_max: 1 << 30,
        retain_age_s,
        dsync: true,
    };
    Log::new(dir, 0, 1, limits, faults)
}

#[test]
fn a_refused_group_is_written_once_and_blocks_rotations_and_positions_hold() {
    let dir = std::env::temp_dir().join(format!("sluice-wal-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.clone();
    let wrote = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let plan = FaultPlan::parse("write_enospc_after_bytes=1,enospc_ms=300").unwrap();
            let mut log = log_at(d, 48 << 10, 0, Some(plan));
            // Record heads expected in the log, in order (merged runs
            // appear as their last head).
            let mut want: Vec<RecordHead> = Vec::new();
            let mut end = 0u64;
            let mut next = |n: usize, lane: usize, pad: usize| {
                end += 1;
                item(end, n, lane, pad)
            };
            // A: written (the fault starts after the first byte).
            let a = vec![next(1, 0, 0), next(2, 0, 0), next(300, 1, 0)];
            log.write(&a, true).await.unwrap();
            want.extend([a[1].head, a[2].head]);
            check_position(&log);
            let before = log.writer.as_ref().unwrap().position();
            // B: refused twice, then written, once.
            let b = vec![next(300, 1, 5), next(1, 0, 0), next(1, 0, 0)];
            for _ in 0..2 {
                let e = log.write(&b, true).await.unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
                let w = log.writer.as_ref().unwrap();
                assert!(w.is_staged() && log.records.is_empty());
                assert_eq!(w.position(), before);
            }
            glommio::timer::sleep(Duration::from_millis(350)).await;
            log.write(&b, true).await.unwrap();
            assert!(!log.writer.as_ref().unwrap().is_staged());
            want.extend([b[0].head, b[2].head]);
            check_position(&log);
            // A group ending exactly on a 4 KiB boundary (the tail is
            // then empty), then more groups, through rotations.
            let tail = log.writer.as_ref().unwrap().position().1 % 4096;
            let base =
                record::Encoded::new(item(0, 300, 1, 0).head, &batch(0, 300, 0)).frame_bytes();
            let sizes: Vec<usize> = (0..8192)
                .map(|p| {
                    record::Encoded::new(item(0, 300, 1, 0).head, &batch(0, 300, p)).frame_bytes()
                })
                .collect();
            let (k, p) = (1..=64usize)
                .find_map(|k| {
                    (0..8192)
                        .find(|&p| (tail as usize + (k - 1) * base + sizes[p]).is_multiple_of(4096))
                        .map(|p| (k, p))
                })
                .expect("some group ends on a block boundary");
            let mut c: Vec<Item> = (1..k).map(|_| next(300, 1, 0)).collect();
            c.push(next(300, 1, p));
            log.write(&c, false).await.unwrap();
            want.extend(c.iter().map(|it| it.head));
            check_position(&log);
            assert_eq!(
                log.writer.as_ref().unwrap().position().1 % 4096,
                0,
                "k {k} p {p}"
            );
            for g in 0..40 {
                let mut items = vec![next(300, 1, g * 37)];
                for _ in 0..(g % 5) {
                    items.push(next(1, 0, 0));
                }
                log.write(&items, g % 3 == 0).await.unwrap();
                want.push(items[0].head);
                if items.len() > 1 {
                    want.push(items.last().unwrap().head);
                }
                check_position(&log);
            }
            log.writer.take().unwrap().close().await.unwrap();
            want
        })
        .unwrap()
        .join()
        .unwrap();
    let segments = segment::list(&dir).unwrap();
    assert!(segments.len() > 2, "rotated: {segments:?}");
    let mut got = Vec::new();
    let r = recover::replay(&dir, 0, None, |h, _| got.push(h)).unwrap();
    assert_eq!(r.records as usize, wrote.len());
    assert_eq!(got, wrote, "every record once, in order");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deleting aged segments is housekeeping after a group is written: when it
/// fails (here the floor's temporary file cannot be created), the write
/// still succeeds, so `write_retrying` does not log the group again.
#[test]
fn a_failed_prune_after_a_written_group_is_not_a_failed_write() {
    let dir = std::env::temp_dir().join(format!("sluice-wal-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("floor.tmp")).unwrap();
    let d = dir.clone();
    let wrote = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let mut log = log_at(d, 64 << 20, 1, None);
            let a = [item(1, 3, 0, 0)];
            log.write(&a, true).await.expect("the group is written");
            // The next prune is a minute away; this write is a plain one.
            let b = [item(2, 3, 0, 0)];
            log.write(&b, true).await.unwrap();
            log.writer.take().unwrap().close().await.unwrap();
            vec![a[0].head, b[0].head]
        })
        .unwrap()
        .join()
        .unwrap();
    let mut got = Vec::new();
    recover::replay(&dir, 0, None, |h, _| got.push(h)).unwrap();
    assert_eq!(got, wrote, "each group once");
    let _ = std::fs::remove_dir_all(&dir);
}
