use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::*;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]))
}

/// A batch with values `from..from + n`, weights given or all +1.
fn batch(from: i64, n: usize, weights: Option<i64>) -> ChangeBatch {
    let values = Int64Array::from_iter_values(from..from + n as i64);
    ChangeBatch {
        data: RecordBatch::try_new(schema(), vec![Arc::new(values)]).unwrap(),
        weights: weights.map(|w| Int64Array::from(vec![w; n])),
        updates: None,
    }
}

/// Every row held, oldest first, with its weight.
fn contents(s: &TableStore) -> Vec<(i64, i64)> {
    let all = s.batches.iter().chain(s.tail.iter());
    all.flat_map(|b| {
        let x = b
            .data
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        (0..b.num_rows()).map(move |i| {
            let w = b.weights.as_ref().map_or(1, |w| w.value(i));
            (x.value(i), w)
        })
    })
    .collect()
}

#[test]
fn small_batches_coalesce_in_order() {
    let mut s = TableStore::new(usize::MAX);
    let mut expect = Vec::new();
    for i in 0..1000 {
        let w = (i % 3 == 0).then_some(-1);
        s.append(batch(i * 2, 2, w));
        expect.extend((i * 2..i * 2 + 2).map(|x| (x, w.unwrap_or(1))));
    }
    assert_eq!(s.rows(), 2000);
    assert_eq!(contents(&s), expect);
    // 1000 batches: three merges of 256 and 232 still waiting.
    assert_eq!(s.batches.len(), 3);
    assert_eq!(s.tail.len(), 232);
    assert_eq!(s.len(), 235);
}

#[test]
fn large_batch_goes_after_the_waiting_tail() {
    let mut s = TableStore::new(usize::MAX);
    s.append(batch(0, 3, None));
    s.append(batch(3, 2, Some(-1)));
    s.append(batch(5, SMALL_ROWS, None));
    s.append(batch(5 + SMALL_ROWS as i64, 1, None));
    let xs: Vec<i64> = contents(&s).iter().map(|p| p.0).collect();
    assert_eq!(xs, (0..6 + SMALL_ROWS as i64).collect::<Vec<_>>());
    assert_eq!((s.batches.len(), s.tail.len()), (2, 1));
    assert_eq!(contents(&s)[3..5], [(3, -1), (4, -1)]);
}

#[test]
fn bytes_stay_bounded_and_count_matches() {
    let budget = 64 << 10;
    let mut s = TableStore::new(budget);
    let (mut evicted, mut next) = (0, 0);
    for i in 0..20_000 {
        let n = 1 + (i % 7);
        evicted += s.append(batch(next, n, None)).evicted_batches;
        next += n as i64;
        assert!(s.bytes() <= budget || s.len() == 1, "over budget at {i}");
    }
    assert!(evicted > 0);
    let held: usize = s.batches.iter().chain(s.tail.iter()).map(batch_bytes).sum();
    assert_eq!(s.bytes(), held, "the byte count is exact");
    let rows: usize = s
        .batches
        .iter()
        .chain(s.tail.iter())
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(s.rows(), rows);
    // What is held is the newest rows, in order, none missing.
    let xs: Vec<i64> = contents(&s).iter().map(|p| p.0).collect();
    assert_eq!(xs, (next - rows as i64..next).collect::<Vec<_>>());
}

#[test]
fn budget_smaller_than_the_tail_evicts_from_it() {
    let mut s = TableStore::new(1);
    for i in 0..10 {
        s.append(batch(i, 1, None));
        assert_eq!(s.len(), 1, "only the newest batch is kept");
        assert_eq!(s.rows(), 1);
    }
    assert_eq!(contents(&s), vec![(9, 1)]);
}
