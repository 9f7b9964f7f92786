//! Several bodies in one batch (`end_body` then `next_body`, as the server
//! coalesces small requests): each body's errors and record count are what
//! decoding it alone gives, and the shared batches hold exactly the rows of
//! the separate ones, in order.

mod decode_support;

use arrow_array::RecordBatch;
use decode_support::*;
use proptest::prelude::*;
use sluice::decode::*;
use sluice::table::SqlType;

fn rows(batches: &[ChangeBatch]) -> Option<(RecordBatch, Vec<i64>)> {
    let first = batches.first()?;
    let data: Vec<RecordBatch> = batches.iter().map(|b| b.data.clone()).collect();
    let all = arrow_select::concat::concat_batches(&first.data.schema(), &data).unwrap();
    let weights = batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(|i| b.weights.as_ref().map_or(1, |w| w.value(i))))
        .collect();
    Some((all, weights))
}

/// Decode `bodies` one after another into one decoder without sealing
/// between them; per body, its errors and records.
fn coalesced(
    d: &mut dyn Decoder,
    bodies: &[Vec<u8>],
    chunk: usize,
) -> (Vec<ChangeBatch>, Vec<(ParseErrors, u64)>) {
    let (mut batches, mut per_body) = (Vec::new(), Vec::new());
    d.reset();
    for body in bodies {
        d.next_body();
        for piece in body.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let n = d.decode(rest);
                rest = &rest[n..];
                if d.batch_full() {
                    batches.extend(d.flush());
                }
            }
        }
        d.end_body();
        if d.batch_full() {
            batches.extend(d.flush());
        }
        per_body.push((d.errors().clone(), d.records()));
    }
    batches.extend(d.flush());
    (batches, per_body)
}

fn check(
    t: &std::sync::Arc<sluice::table::Table>,
    o: &DecodeOptions,
    bodies: &[Vec<u8>],
    chunk: usize,
) {
    let mut alone = Vec::new();
    let mut want = Vec::new();
    for body in bodies {
        let out = run_chunks(t, o, &[body]);
        want.push((out.errors.clone(), out.records));
        alone.extend(out.batches);
    }
    let mut d = new_decoder(t.clone(), o.clone());
    let (shared, got) = coalesced(&mut *d, bodies, chunk);
    assert_eq!(got, want, "per-body errors and records");
    assert_eq!(rows(&shared), rows(&alone), "the same rows, in order");
    // Fewer batches (or as many): that is the point.
    assert!(shared.len() <= alone.len().max(1));
}

fn table3() -> std::sync::Arc<sluice::table::Table> {
    table(vec![
        col("a", SqlType::BigInt, true, None),
        col("b", SqlType::Varchar(None), true, None),
        col("c", SqlType::Date, false, Some("2020-01-01")),
    ])
}

fn csv_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (any::<i32>(), "[a-z ]{0,6}", 1u8..29).prop_map(|(a, b, d)| format!("{a},{b},2026-02-{d:02}\n").into_bytes()),
        1 => Just(b"1,\"q \"\" x\",2026-01-01\n".to_vec()),
        1 => Just(b"x,bad int,2026-01-01\n".to_vec()),
        1 => Just(b"5,no newline at the end,2026-01-02".to_vec()),
        1 => Just(b"\"unterminated,2026-01-01\n".to_vec()),
        1 => Just(b"\xEF\xBB\xBF7,bom,2026-01-03\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
    ]
}

fn json_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (any::<i32>(), "[a-z ]{0,6}", 1u8..29).prop_map(|(a, b, d)|
            format!("{{\"insert\":{{\"a\":{a},\"b\":\"{b}\",\"c\":\"2026-02-{d:02}\"}}}}\n").into_bytes()),
        1 => Just(b"{\"delete\":{\"a\":1,\"b\":\"x\",\"c\":\"2026-01-01\"}}\n".to_vec()),
        1 => Just(b"{\"insert\":{\"a\":\"not a number\"}}\n".to_vec()),
        1 => Just(b"{\"insert\":{\"a\":3,\"c\":\"2026-01-01\"}}".to_vec()),
        1 => Just(b"{\"insert\":{\"a\":4,".to_vec()),
    ]
}

fn bodies(line: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop::collection::vec(line, 0..4).prop_map(|ls| ls.concat()),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn csv_bodies_share_a_batch(bodies in bodies(csv_line()), chunk in 1usize..40, rows_max in 2usize..9) {
        let o = DecodeOptions { batch_rows: rows_max, ..options(Format::Csv) };
        check(&table3(), &o, &bodies, chunk);
    }

    #[test]
    fn csv_with_header_bodies_share_a_batch(bodies in bodies(csv_line()), chunk in 1usize..40) {
        let o = DecodeOptions {
            csv: CsvOptions { header: true, ..CsvOptions::default() },
            ..options(Format::Csv)
        };
        let bodies: Vec<Vec<u8>> = bodies.into_iter().map(|b| [&b"c,a,b\n"[..], &b].concat()).collect();
        check(&table3(), &o, &bodies, chunk);
    }

    #[test]
    fn json_bodies_share_a_batch(bodies in bodies(json_line()), chunk in 1usize..40, rows_max in 2usize..9) {
        let o = DecodeOptions {
            batch_rows: rows_max,
            update_format: UpdateFormat::InsertDelete,
            ..options(Format::Json)
        };
        check(&table3(), &o, &bodies, chunk);
    }
}
