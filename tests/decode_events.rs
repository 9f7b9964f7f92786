//! JSON change events: weighted, debezium, several ops in one
//! insert_delete object, partial updates, and the flavors' integer dates.
//! Every body is also decoded byte by byte, which must agree.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

fn opts(update_format: UpdateFormat, array: bool, json_flavor: JsonFlavor) -> DecodeOptions {
    DecodeOptions {
        update_format,
        array,
        json_flavor,
        ..options(Format::Json)
    }
}

/// `id INT PRIMARY KEY, name VARCHAR NOT NULL, n BIGINT`.
fn keyed() -> std::sync::Arc<Table> {
    let sql = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR NOT NULL, n BIGINT)";
    std::sync::Arc::new(parse_program(sql).unwrap().remove(0))
}

fn run(t: &std::sync::Arc<Table>, o: &DecodeOptions, body: &str) -> Out {
    let whole = run_chunks(t, o, &[body.as_bytes()]);
    let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
    assert_same(&whole, &run_chunks(t, o, &bytes));
    whole
}

/// (id, weight) of every row.
fn ids_weights(out: &Out) -> Vec<(i32, i64)> {
    let mut v = Vec::new();
    for b in &out.batches {
        let ids = b.data.column(0).as_primitive::<Int32Type>();
        for i in 0..b.num_rows() {
            let w = b.weights.as_ref().map_or(1, |w| w.value(i));
            v.push((ids.value(i), w));
        }
    }
    v
}

fn descriptions(out: &Out) -> Vec<(u64, String)> {
    let e = &out.errors.listed;
    e.iter()
        .map(|e| (e.event_number, e.description.clone()))
        .collect()
}

#[test]
fn weighted_takes_any_signed_weight() {
    let o = opts(UpdateFormat::Weighted, false, JsonFlavor::Default);
    let body = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        r#"{"weight": 2, "data": {"id": 1, "name": "a"}}"#,
        r#"{"data": {"id": 2, "name": "b"}, "weight": -3}"#,
        format_args!(r#"{{"weight": {}, "data": [3, "c"]}}"#, i64::MIN),
        r#"{"weight": 1.5, "data": {"id": 4, "name": "d"}}"#,
        r#"{"weight": 9223372036854775808, "data": {"id": 5, "name": "e"}}"#,
        r#"{"data": {"id": 6, "name": "f"}}"#,
    );
    let out = run(&keyed(), &o, &body);
    assert_eq!(ids_weights(&out), [(1, 2), (2, -3), (3, i64::MIN)]);
    let d = descriptions(&out);
    assert_eq!(d.iter().map(|e| e.0).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(d[0].1, "expected {\"weight\": integer, \"data\": row}");
}

#[test]
fn debezium_ops_and_atomic_updates() {
    let o = opts(UpdateFormat::Debezium, false, JsonFlavor::Default);
    let body = [
        r#"{"payload": {"op": "c", "before": null, "after": {"id": 1, "name": "a"}}}"#,
        r#"{"payload": {"op": "r", "after": {"id": 2, "name": "b"}}}"#,
        r#"{"payload": {"op": "u", "before": {"id": 1, "name": "a"}, "after": {"id": 1, "name": "z"}}}"#,
        r#"{"op": "d", "before": {"id": 2, "name": "b"}, "after": null}"#,
        // `after` fails: the `before` delete must not stay either.
        r#"{"payload": {"op": "u", "before": {"id": 7, "name": "x"}, "after": {"id": "bad"}}}"#,
        r#"{"payload": {"op": "u", "after": {"id": 8, "name": "y"}}}"#,
        r#"{"payload": {"op": "x", "after": {"id": 9, "name": "y"}}}"#,
    ]
    .join("\n");
    let out = run(&keyed(), &o, &body);
    assert_eq!(
        ids_weights(&out),
        [(1, 1), (2, 1), (1, -1), (1, 1), (2, -1)]
    );
    let d = descriptions(&out);
    assert_eq!(d.iter().map(|e| e.0).collect::<Vec<_>>(), [5, 6, 7]);
    assert!(d[1].1.contains("needs 'before'"), "{}", d[1].1);

    // In array mode a failing event drops its whole array.
    let o = opts(UpdateFormat::Debezium, true, JsonFlavor::Default);
    let body = r#"[{"op": "c", "after": {"id": 1, "name": "a"}}, {"op": "d", "before": {"id": 1, "name": "a"}}]
[{"op": "c", "after": {"id": 2, "name": "b"}}, {"op": "u"}]"#;
    let out = run(&keyed(), &o, body);
    assert_eq!(ids_weights(&out), [(1, 1), (1, -1)]);
}

#[test]
fn insert_delete_applies_delete_then_insert_then_update() {
    let o = opts(UpdateFormat::InsertDelete, false, JsonFlavor::Default);
    let body = [
        r#"{"insert": {"id": 2, "name": "new"}, "delete": {"id": 1, "name": "old"}}"#,
        r#"{"insert": {"id": 3, "name": "c"}, "bogus": 1}"#,
        r#"{}"#,
        r#"{"update": {"id": 2, "n": 5}, "insert": {"id": 4, "name": "d"}}"#,
    ]
    .join("\n");
    let out = run(&keyed(), &o, &body);
    assert_eq!(ids_weights(&out), [(1, -1), (2, 1), (4, 1), (2, 0)]);
    assert_eq!(
        descriptions(&out).iter().map(|e| e.0).collect::<Vec<_>>(),
        [2, 3]
    );
    // The update row's mask gives id and n; name holds a placeholder.
    let b = &out.batches[0];
    let u = b.updates.as_ref().expect("the batch has an update");
    assert_eq!(u.value_length(), 1);
    assert!(u.is_null(0) && u.is_null(2) && !u.is_null(3));
    assert_eq!(u.value(3), &[0b101]);
    assert_eq!(b.data.column(2).as_primitive::<Int64Type>().value(3), 5);
}

#[test]
fn updates_need_the_whole_key_and_a_keyed_table() {
    let o = opts(UpdateFormat::InsertDelete, false, JsonFlavor::Default);
    let body = "{\"update\": {\"name\": \"x\"}}\n{\"update\": {\"id\": 1}}\n";
    let out = run(&keyed(), &o, body);
    assert_eq!(ids_weights(&out), [(1, 0)]);
    let d = descriptions(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].1,
        "an update must give every PRIMARY KEY column (this one is INTEGER)"
    );
    // NOT NULL `name`, not given, holds a valid placeholder: the batch is
    // valid Arrow (RecordBatch refuses NULLs in a NOT NULL column).
    assert_eq!(out.batches[0].data.column(1).null_count(), 0);

    let unkeyed = table(vec![col("id", SqlType::Int, true, None)]);
    let out = run(&unkeyed, &o, "{\"update\": {\"id\": 1}}\n");
    assert!(out.batches.is_empty());
    assert_eq!(
        descriptions(&out)[0].1,
        "'update' needs a PRIMARY KEY on the table"
    );
}

#[test]
fn flavors_read_integer_dates_and_times() {
    let t = table(vec![
        col("d", SqlType::Date, true, None),
        col("ts", SqlType::Timestamp, true, None),
        col("tm", SqlType::Time, true, None),
    ]);
    let day_ms = 86_400_000i64;
    let body = format!(
        "{{\"d\": {}, \"ts\": 1500, \"tm\": \"01:00:00\"}}\n",
        3 * day_ms
    );
    let pandas = opts(UpdateFormat::Raw, false, JsonFlavor::Pandas);
    let out = run(&t, &pandas, &body);
    let b = &out.batches[0].data;
    assert_eq!(b.column(0).as_primitive::<Date32Type>().value(0), 3);
    assert_eq!(
        b.column(1)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_500_000
    );
    // A DATE with a time of day is refused, not truncated.
    let out = run(&t, &pandas, &format!("{{\"d\": {}}}\n", day_ms + 1));
    assert_eq!(
        descriptions(&out)[0].1,
        "expected DATE, found a time of day"
    );

    let pg = opts(UpdateFormat::Raw, false, JsonFlavor::DebeziumPostgres);
    let out = run(&t, &pg, "{\"d\": 3, \"ts\": 1500, \"tm\": 3600000000}\n");
    let b = &out.batches[0].data;
    assert_eq!(b.column(0).as_primitive::<Date32Type>().value(0), 3);
    assert_eq!(
        b.column(1)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1500
    );
    assert_eq!(
        b.column(2).as_primitive::<Time64MicrosecondType>().value(0),
        3_600_000_000
    );
    let my = opts(UpdateFormat::Raw, false, JsonFlavor::DebeziumMysql);
    let out = run(&t, &my, "{\"ts\": 1500, \"tm\": 86400000000}\n");
    assert_eq!(descriptions(&out)[0].1, "value out of range for TIME");

    // The default flavor takes text only.
    let default = opts(UpdateFormat::Raw, false, JsonFlavor::Default);
    let out = run(&t, &default, "{\"ts\": 1500}\n");
    assert_eq!(descriptions(&out)[0].1, "expected TIMESTAMP, found integer");
}
