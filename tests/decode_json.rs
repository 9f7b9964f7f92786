//! JSON decoder: exact batch contents, update formats, array mode, errors,
//! limits, and properties (split invariance, agreement with serde_json).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use proptest::prelude::*;
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

fn opts(update_format: UpdateFormat, array: bool) -> DecodeOptions {
    DecodeOptions {
        update_format,
        array,
        ..options(Format::Json)
    }
}

fn raw() -> DecodeOptions {
    opts(UpdateFormat::Raw, false)
}

fn run(t: &Arc<Table>, o: &DecodeOptions, body: &str) -> Out {
    run_chunks(t, o, &[body.as_bytes()])
}

fn one(out: &Out) -> RecordBatch {
    assert_eq!(out.batches.len(), 1, "errors: {:?}", out.errors);
    out.batches[0].data.clone()
}

fn mixed() -> Arc<Table> {
    table(vec![
        col("id", SqlType::Int, false, None),
        col("flag", SqlType::Boolean, true, None),
        col("tiny", SqlType::TinyInt, true, None),
        col("big", SqlType::BigInt, true, None),
        col("r", SqlType::Real, true, None),
        col("d", SqlType::Double, true, None),
        col(
            "amount",
            SqlType::Decimal {
                precision: 38,
                scale: 9,
            },
            true,
            None,
        ),
        col("name", SqlType::Varchar(Some(5)), true, None),
        col("\"Code\"", SqlType::Char(3), true, Some("zzz")),
        col("day", SqlType::Date, true, None),
        col("t", SqlType::Time, true, None),
        col("ts", SqlType::Timestamp, true, None),
    ])
}

#[test]
fn mixed_table_exact_contents() {
    let body = r#"{"ID": 1, "flag": true, "tiny": -128, "big": -9223372036854775808, "r": 1.5,
      "d": 3, "amount": 12345678901234567890.123456789, "name": "h\u00e9\"\n",
      "\"Code\"": "abc", "day": "2024-02-29", "t": "23:59:59.999999",
      "ts": "2024-02-29T12:00:00.5Z", "unknown": {"x": [1, 2.5]}}
    {"id": 2, "amount": "-0.000000001", "ts": "1970-01-01 01:00:00", "code": "no"}
    [3, false, 127, 42, 2, -0.5, 7, "", "xy", "1970-01-01", "00:00:00", "1970-01-01t00:00:00-01:00", "extra"]"#;
    let out = run(&mixed(), &raw(), body);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records, 3);
    let b = one(&out);
    assert!(out.batches[0].weights.is_none());
    let c = |i: usize| b.column(i).clone();
    assert_eq!(
        c(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 2, 3]
    );
    let flag = c(1);
    let flag = flag.as_boolean();
    assert!(flag.value(0) && flag.is_null(1) && !flag.value(2));
    assert_eq!(c(2).as_primitive::<Int8Type>().value(2), 127);
    assert_eq!(c(3).as_primitive::<Int64Type>().value(0), i64::MIN);
    assert_eq!(c(4).as_primitive::<Float32Type>().value(0), 1.5);
    assert_eq!(c(5).as_primitive::<Float64Type>().value(0), 3.0);
    let amount = c(6);
    let amount = amount.as_primitive::<Decimal128Type>();
    assert_eq!(amount.value(0), 12345678901234567890123456789);
    assert_eq!(amount.value(1), -1);
    assert_eq!(amount.value(2), 7_000_000_000);
    let name = c(7);
    let name = name.as_string::<i32>();
    assert_eq!(name.value(0), "hé\"\n");
    assert!(name.is_null(1));
    assert_eq!(name.value(2), "");
    // `"Code"` is quoted: only the key `"Code"` (quotes included) matches;
    // `code` folds to lower case and is unknown, so row 2 gets the DEFAULT.
    let code = c(8);
    let code = code.as_string::<i32>();
    assert_eq!(
        (code.value(0), code.value(1), code.value(2)),
        ("abc", "zzz", "xy")
    );
    assert_eq!(c(9).as_primitive::<Date32Type>().value(0), 19782);
    assert_eq!(
        c(10).as_primitive::<Time64MicrosecondType>().value(0),
        86_399_999_999
    );
    let ts = c(11);
    let ts = ts.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        ts.value(0),
        19782 * 86_400_000_000 + 12 * 3_600_000_000 + 500_000
    );
    assert_eq!(ts.value(1), 3_600_000_000);
    assert_eq!(ts.value(2), 3_600_000_000);
}

#[test]
fn coercion_errors() {
    let t = table(vec![
        col("i", SqlType::Int, true, None),
        col("f", SqlType::Double, true, None),
        col("b", SqlType::Boolean, true, None),
        col("s", SqlType::Varchar(None), true, None),
        col("tiny", SqlType::TinyInt, true, None),
        col(
            "dec",
            SqlType::Decimal {
                precision: 5,
                scale: 2,
            },
            true,
            None,
        ),
    ]);
    let cases = [
        (r#"{"i": 1.0}"#, "i", "expected INTEGER, found float"),
        (r#"{"i": 1e3}"#, "i", "expected INTEGER, found float"),
        (r#"{"i": "1"}"#, "i", "expected INTEGER, found string"),
        (r#"{"f": "1.5"}"#, "f", "expected DOUBLE, found string"),
        (r#"{"b": 1}"#, "b", "expected BOOLEAN, found integer"),
        (r#"{"b": "true"}"#, "b", "expected BOOLEAN, found string"),
        (r#"{"s": 5}"#, "s", "expected VARCHAR, found integer"),
        (r#"{"s": {}}"#, "s", "expected VARCHAR, found object"),
        (r#"{"tiny": 300}"#, "tiny", "value out of range for TINYINT"),
        (
            r#"{"dec": 1.234}"#,
            "dec",
            "more fractional digits than the scale of DECIMAL(5, 2)",
        ),
        (
            r#"{"dec": 1000}"#,
            "dec",
            "too many digits for DECIMAL(5, 2)",
        ),
    ];
    for (body, field, desc) in cases {
        let out = run(&t, &raw(), body);
        assert_eq!(out.errors.total, 1, "{body}");
        let e = &out.errors.listed[0];
        assert_eq!(e.field.as_deref(), Some(field), "{body}");
        assert_eq!(e.description, desc, "{body}");
        assert!(out.batches.is_empty());
    }
    let ok = run(
        &t,
        &raw(),
        r#"{"f": 1, "dec": "999.99", "i": null} {"dec": -1.5e2}"#,
    );
    assert!(ok.errors.is_empty(), "{:?}", ok.errors);
    let b = one(&ok);
    let dec = b.column(5).as_primitive::<Decimal128Type>().clone();
    assert_eq!(dec.values().to_vec(), vec![99999, -15000]);
}

#[test]
fn error_details_event_offset_and_text() {
    let t = table(vec![
        col("a", SqlType::Int, false, None),
        col("b", SqlType::Int, true, None),
    ]);
    let body = "{\"a\": 1}\n{\"a\": 2, \"b\": \"x\"}\n{\"b\": 3}\n{\"a\": null}\n{bad json}\n\"str\"\n{\"a\": 9}";
    let out = run(&t, &raw(), body);
    let got: Vec<_> = out
        .errors
        .listed
        .iter()
        .map(|e| (e.event_number, e.field.as_deref(), e.offset))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, Some("b"), 9),
            (3, Some("a"), 28),
            (4, Some("a"), 37),
            (5, None, 49),
            (6, None, 60),
        ]
    );
    let e = &out.errors.listed;
    assert_eq!(e[0].invalid_text.as_deref(), Some("x"));
    assert!(e[1].description.contains("without DEFAULT"));
    assert!(e[2].description.contains("NOT NULL"));
    assert!(e[3].description.starts_with("invalid JSON"));
    assert!(e[4].description.contains("object or array"));
    assert!(!out.errors.fatal);
    assert_eq!(out.records, 7);
    let b = one(&out);
    assert_eq!(
        b.column(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 9]
    );
}

#[test]
fn insert_delete_weights() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    let o = opts(UpdateFormat::InsertDelete, false);
    let body = r#"{"insert": {"a": 1}} {"delete": {"a": 2}} {"update": {"a": 3}} {"upsert": {}} {"insert": {"a": 4}}"#;
    let out = run(&t, &o, body);
    assert_eq!(out.errors.total, 2);
    // `update` needs a PRIMARY KEY (tests/decode_events.rs has the rest).
    assert_eq!(
        out.errors.listed[0].description,
        "'update' needs a PRIMARY KEY on the table"
    );
    assert_eq!(out.errors.listed[1].event_number, 4);
    let w = out.batches[0].weights.as_ref().unwrap();
    assert_eq!(w.values().to_vec(), vec![1, -1, 1]);
    // All inserts: no weights at all.
    let out = run(&t, &o, r#"{"insert": {"a": 1}}"#);
    assert!(out.batches[0].weights.is_none());
}

#[test]
fn array_mode_drops_whole_array_on_failure() {
    let t = table(vec![col("a", SqlType::Int, false, None)]);
    let o = opts(UpdateFormat::Raw, true);
    let body = r#"[{"a": 1}, {"a": 2}] [{"a": 3}, {"a": "x"}, {"a": 5}, {"b": 1}] [[6]] {"a": 7}"#;
    let out = run(&t, &o, body);
    let got: Vec<_> = out.errors.listed.iter().map(|e| e.event_number).collect();
    // Events 4 and 6 are bad; event 8 is not an array.
    assert_eq!(got, vec![4, 6, 8]);
    assert_eq!(out.errors.listed[0].offset, 21);
    assert_eq!(out.records, 8);
    let b = one(&out);
    assert_eq!(
        b.column(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 2, 6]
    );
}

#[test]
fn depth_limit_is_a_record_error_not_a_crash() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    // Deep enough to overflow a recursive parser's stack, within
    // record_bytes_max so that the depth check is what rejects it.
    let deep = format!("{{\"x\": {}1{}}}", "[".repeat(30_000), "]".repeat(30_000));
    // Depth 9 (one over), then depth 8 (accepted).
    let nine = format!("{{\"a\": 2, \"n\": {}1{}}}", "[".repeat(8), "]".repeat(8));
    let eight = format!("{{\"a\": 3, \"n\": {}1{}}}", "[".repeat(7), "]".repeat(7));
    let body = format!("{{\"a\": 1}}\n{deep}\n{nine}\n{eight}");
    let out = run(&t, &raw(), &body);
    assert_eq!(out.errors.total, 2);
    assert!(out.errors.listed[0].description.contains("deeper than 8"));
    assert_eq!(out.errors.listed[0].event_number, 2);
    let b = one(&out);
    assert_eq!(
        b.column(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 3]
    );
}

#[test]
fn record_bytes_max_and_incomplete_values() {
    let t = table(vec![col("a", SqlType::Varchar(None), true, None)]);
    let mut o = raw();
    o.record_bytes_max = 16;
    let body = r#"{"a": "short"} {"a": "this one is much too long"} {"a": "ok"} {"a": "#;
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(5).collect();
    let out = run_chunks(&t, &o, &chunks);
    let got: Vec<_> = out
        .errors
        .listed
        .iter()
        .map(|e| (e.event_number, e.offset))
        .collect();
    assert_eq!(got, vec![(2, 15), (4, 62)]);
    assert!(out.errors.listed[0].description.contains("longer than 16"));
    assert!(out.errors.listed[1].description.contains("incomplete"));
    assert_eq!(one(&out).num_rows(), 2);
}

#[test]
fn unrecoverable_stream_is_fatal() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    let out = run(&t, &raw(), r#"{"a": 1}, {"a": 2}"#);
    assert!(out.errors.fatal);
    assert_eq!(out.errors.total, 1);
    assert_eq!(one(&out).num_rows(), 1);
}

#[test]
fn batches_seal_and_decode_returns_early() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    let mut o = raw();
    o.batch_rows = 2;
    let mut d = new_decoder(t, o);
    let body = br#"{"a":1} {"a":2} {"a":3}"#;
    let n = d.decode(body);
    assert_eq!(n, 15);
    assert!(d.batch_full());
    assert_eq!(d.decode(&body[n..]), 0);
    assert_eq!(d.flush().unwrap().num_rows(), 2);
    assert_eq!(d.decode(&body[n..]), body.len() - n);
    assert_eq!(d.finish().unwrap().num_rows(), 1);
}

fn prop_table() -> Arc<Table> {
    table(vec![
        col("i", SqlType::BigInt, true, None),
        col("f", SqlType::Double, true, None),
        col("s", SqlType::Varchar(None), true, None),
    ])
}

/// One generated row: `(i, f, s)`, any of them absent.
fn row() -> impl Strategy<Value = (Option<i64>, Option<f64>, Option<String>)> {
    (
        prop::option::of(any::<i64>()),
        prop::option::of(any::<f64>().prop_filter("finite", |f| f.is_finite())),
        prop::option::of("[a-z\"\\\\/\n\t\u{0}-\u{1f}é😀\u{2028}]{0,8}"),
    )
}

fn to_json(r: &(Option<i64>, Option<f64>, Option<String>)) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Some(i) = r.0 {
        m.insert("i".into(), i.into());
    }
    if let Some(f) = r.1 {
        m.insert("F".into(), f.into());
    }
    if let Some(s) = &r.2 {
        m.insert("s".into(), s.clone().into());
    }
    serde_json::Value::Object(m)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Decoded values equal what serde_json reads from the same text
    /// (floats bit for bit), whatever the chunking.
    #[test]
    fn agrees_with_serde_json(
        rows in prop::collection::vec(row(), 0..10),
        cuts in prop::collection::vec(0usize..2000, 0..5),
        array in any::<bool>(),
    ) {
        let values: Vec<serde_json::Value> = rows.iter().map(to_json).collect();
        let body = if array {
            serde_json::to_string(&values).unwrap()
        } else {
            values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
        };
        let back: Vec<serde_json::Value> = if array {
            serde_json::from_str(&body).unwrap()
        } else {
            serde_json::Deserializer::from_str(&body).into_iter().map(|v| v.unwrap()).collect()
        };
        let parts = split_at(body.as_bytes(), &cuts);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let o = opts(UpdateFormat::Raw, array);
        let out = run_chunks(&prop_table(), &o, &parts);
        prop_assert!(out.errors.is_empty(), "{:?}", out.errors);
        let mut got = Vec::new();
        for b in &out.batches {
            let (i, f, s) = (b.data.column(0), b.data.column(1), b.data.column(2));
            let (i, f, s) = (i.as_primitive::<Int64Type>(), f.as_primitive::<Float64Type>(), s.as_string::<i32>());
            for r in 0..b.num_rows() {
                got.push((
                    i.is_valid(r).then(|| i.value(r)),
                    f.is_valid(r).then(|| f.value(r).to_bits()),
                    s.is_valid(r).then(|| s.value(r).to_string()),
                ));
            }
        }
        let want: Vec<_> = back
            .iter()
            .map(|v| (
                v.get("i").and_then(|x| x.as_i64()),
                v.get("F").and_then(|x| x.as_f64()).map(f64::to_bits),
                v.get("s").and_then(|x| x.as_str()).map(str::to_string),
            ))
            .collect();
        prop_assert_eq!(&got, &want);
        // And both hold the generated value exactly.
        let orig: Vec<_> = rows.iter().map(|r| r.1.map(f64::to_bits)).collect();
        let floats: Vec<_> = got.iter().map(|g| g.1).collect();
        prop_assert_eq!(floats, orig);
    }

    /// Any split (1-byte chunks included) gives the same batches and
    /// errors, with small batches, bad records and array mode.
    #[test]
    fn split_invariance(
        events in prop::collection::vec(prop_oneof![
            r#"\{"i": -?[0-9]{1,3}, "s": "[a-z\\\\"]{0,3}"\}"#,
            r#"\{"insert": \{"i": [0-9]\}\}"#,
            r#"\{"delete": \{"f": 1\.5, "i": [0-9]\}\}"#,
            r#"\[[0-9], 2, "x"\]"#,
            r#"\{"i": "bad"\}"#,
            r#"\{"i": \[\[\[\[\[\[\[\[\[1\]\]\]\]\]\]\]\]\]\}"#,
            r#"\{"s": "unterminated"#,
            "[0-9tfnul\"]{1,4}",
        ], 0..10),
        cuts in prop::collection::vec(0usize..1000, 0..6),
        insert_delete in any::<bool>(),
        array in any::<bool>(),
    ) {
        let body = if array {
            events.chunks(3).map(|c| format!("[{}]", c.join(","))).collect::<Vec<_>>().join(" ")
        } else {
            events.join("\n")
        };
        let fmt = if insert_delete { UpdateFormat::InsertDelete } else { UpdateFormat::Raw };
        let mut o = opts(fmt, array);
        o.batch_rows = 3;
        o.record_bytes_max = 64;
        let t = prop_table();
        let whole = run_chunks(&t, &o, &[body.as_bytes()]);
        let parts = split_at(body.as_bytes(), &cuts);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        assert_same(&whole, &run_chunks(&t, &o, &parts));
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_same(&whole, &run_chunks(&t, &o, &bytes));
    }
}

/// Policies where JSON parsers differ (hardening notes): duplicate keys,
/// integers beyond u64/i64, `-0`, lone surrogates, NaN.
#[test]
fn parser_edge_policies() {
    let t = table(vec![
        col("i", SqlType::BigInt, true, None),
        col("f", SqlType::Double, true, None),
        col("s", SqlType::Varchar(None), true, None),
    ]);
    // Duplicate key: the last one wins. `-0` is integer 0; `-0.0` keeps
    // its sign in a DOUBLE.
    let out = run(
        &t,
        &raw(),
        r#"{"i": 1, "i": 2, "f": -0.0} {"i": -0, "f": -0}"#,
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let b = one(&out);
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![2, 0]
    );
    let f = b.column(1).as_primitive::<Float64Type>().clone();
    assert_eq!(f.value(0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(f.value(1), 0.0);
    // Beyond i64 (u64 range) is out of range for BIGINT; beyond u64 is a
    // float to simd-json, so not an integer.
    let out = run(
        &t,
        &raw(),
        r#"{"i": 18446744073709551615} {"i": 18446744073709551616} {"s": "\ud800"} {"f": NaN}"#,
    );
    let d: Vec<_> = out
        .errors
        .listed
        .iter()
        .map(|e| e.description.as_str())
        .collect();
    assert_eq!(d[0], "value out of range for BIGINT");
    assert_eq!(d[1], "expected BIGINT, found float");
    assert!(d[2].starts_with("invalid JSON"), "{}", d[2]);
    assert!(d[3].starts_with("invalid JSON"), "{}", d[3]);
    assert_eq!(out.errors.total, 4);
}

#[test]
fn big_integers_into_decimal_are_exact() {
    let t = table(vec![col(
        "d",
        SqlType::Decimal {
            precision: 38,
            scale: 0,
        },
        true,
        None,
    )]);
    let body = r#"{"d": 99999999999999999999999999999999999999} {"d": -12345678901234567890123} {"d": 100000000000000000000000000000000000000}"#;
    let out = run(&t, &raw(), body);
    assert_eq!(out.errors.total, 1);
    assert_eq!(out.errors.listed[0].event_number, 3);
    let b = one(&out);
    let d = b.column(0).as_primitive::<Decimal128Type>().clone();
    assert_eq!(
        d.value(0),
        99_999_999_999_999_999_999_999_999_999_999_999_999
    );
    assert_eq!(d.value(1), -12_345_678_901_234_567_890_123);
}

#[test]
fn array_mode_with_insert_delete_and_positional_rows() {
    let t = table(vec![
        col("a", SqlType::Int, false, None),
        col("b", SqlType::Varchar(None), true, Some("dflt")),
    ]);
    let o = opts(UpdateFormat::InsertDelete, true);
    let body = r#"[{"insert": [1, "x"]}, {"delete": [2]}, {"insert": {"A": 3}}]
        [{"delete": [4, "y", "ignored"]}, {"update": {"a": 5}}]
        [{"insert": [6, null]}]"#;
    let out = run(&t, &o, body);
    assert_eq!(out.records, 6);
    assert_eq!(out.errors.total, 1);
    assert_eq!(out.errors.listed[0].event_number, 5);
    let b = one(&out);
    assert_eq!(
        b.column(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 2, 3, 6]
    );
    let s = b.column(1).as_string::<i32>().clone();
    assert_eq!((s.value(0), s.value(1), s.value(2)), ("x", "dflt", "dflt"));
    assert!(s.is_null(3));
    let w = out.batches[0].weights.as_ref().unwrap();
    assert_eq!(w.values().to_vec(), vec![1, -1, 1, 1]);
}

/// A reset decoder gives exactly what a fresh one gives, whatever the
/// previous body left behind: errors, a partial value, a fatal stop, an
/// unflushed full batch.
#[test]
fn reset_is_like_new() {
    let t = table(vec![
        col("a", SqlType::Int, false, None),
        col("b", SqlType::Varchar(Some(4)), true, Some("d")),
        col(
            "c",
            SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            true,
            None,
        ),
    ]);
    for o in [
        raw(),
        opts(UpdateFormat::InsertDelete, false),
        opts(UpdateFormat::Raw, true),
    ] {
        let mut o = o;
        o.batch_rows = 2;
        o.record_bytes_max = 60;
        let bodies: [&str; 8] = [
            "{\"a\": 1, \"b\": \"x\", \"c\": 1.5}\n{\"a\": \"bad\"}\n{\"a\": 3}",
            "[{\"a\": 1}, {\"a\": 2}] [{\"a\": 3, \"c\": 2.25}]",
            "{\"insert\": {\"a\": 1}} {\"delete\": {\"a\": 2}}",
            "{\"a\": 1, \"b\": \"unterminated",
            "} fatal {\"a\": 1}",
            "{\"a\": 1} {\"a\": 2} {\"a\": 3} {\"a\": 4} {\"a\": 5}",
            "[[[[[[[[[[[[1]]]]]]]]]]]] {\"a\": 7, \"b\": \"long string value here........................\"}",
            "12 {\"a\": 1",
        ];
        let mut d = new_decoder(t.clone(), o.clone());
        for a in bodies {
            for b in bodies {
                let (a, b) = (a.as_bytes(), b.as_bytes());
                for cut in [0, 1, 7, a.len()] {
                    let cut = cut.min(a.len());
                    d.reset();
                    let _ = d.decode(&a[..cut]);
                    if cut == a.len() {
                        let _ = run_on(&mut *d, &[]);
                    }
                    d.reset();
                    let fresh = run_chunks(&t, &o, &[b]);
                    let got = run_on(&mut *d, &[b]);
                    assert_eq!(got.errors, fresh.errors);
                    assert_eq!(got.records, fresh.records);
                    assert_eq!(got.batches.len(), fresh.batches.len());
                    for (x, y) in got.batches.iter().zip(&fresh.batches) {
                        assert_eq!(x.data, y.data);
                        assert_eq!(x.weights, y.weights);
                    }
                }
            }
        }
    }
}

/// DECIMALs are read from the number's source text however the member is
/// written: spaces around `:`, positional rows, strings holding escapes,
/// `:` or digits before it.
#[test]
fn decimal_source_text_found_in_every_layout() {
    let t = table(vec![
        col("s", SqlType::Varchar(None), true, None),
        col(
            "amount",
            SqlType::Decimal {
                precision: 38,
                scale: 9,
            },
            true,
            None,
        ),
    ]);
    let body = concat!(
        "{\"s\": \"a:1.5\", \"amount\": 1.000000001}\n",
        "{\"s\": \"a\\\"b:\\u0041\", \"amount\" :\t2.25e1}\n",
        "[\"1.5, 7.75\", 3.125]\n",
        "{\"amount\"  :  -4.5, \"s\": \"\\\"amount\\\": 9.5\"}\n",
        "{\"s\": \"q\", \"amount\": 123456789012345678901234567.5}\n",
    );
    let out = run(&t, &raw(), body);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let b = one(&out);
    let a = b.column(1).as_primitive::<Decimal128Type>();
    assert_eq!(a.null_count(), 0, "{a:?}");
    let want: Vec<i128> = vec![
        1_000_000_001,
        22_500_000_000,
        3_125_000_000,
        -4_500_000_000,
        123_456_789_012_345_678_901_234_567_500_000_000,
    ];
    assert_eq!(a.values().to_vec(), want);
}

#[test]
fn escaped_keys_match_their_columns() {
    let t = table(vec![
        col("amount", SqlType::BigInt, true, None),
        col("note", SqlType::Varchar(None), true, None),
    ]);
    // The same keys written plainly and with escapes, on one line and split.
    let body = "{\"am\\u006funt\": 5, \"n\\u006fte\": \"x\"}\n{\"amount\": 6, \"note\": \"y\"}\n";
    for out in [
        run(&t, &raw(), body),
        run_chunks(&t, &raw(), &[&body.as_bytes()[..7], &body.as_bytes()[7..]]),
    ] {
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let b = one(&out);
        let a = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![Some(5), Some(6)]);
    }
}

/// Lines a group may meet: good rows (plain, reordered, nested, escaped or
/// spaced keys, CRLF, trailing blanks), bad rows, non-objects, two values
/// on a line, and the pair that only parses as one value across the
/// newline (`{"i": [1` then `{"f": 2}]}`), with a line of two values
/// (`{},{}`) that would keep the element count equal.
const GROUP_LINES: &[&str] = &[
    r#"{"i": 1, "f": 2.5, "s": "ab"}"#,
    r#"{"i": 1, "f": 2.5, "s": "ab"}"#,
    r#"{"s": "cd", "i": -7, "f": 1e2}"#,
    r#"{"i": 2, "f": null, "s": "x", "zz": {"q": [1, {"r": 2}]}}"#,
    r#"{ "i" : 3 , "s" : "y" , "f" : 0.5 }  "#,
    "{\"i\": 4, \"f\": 1, \"s\": \"z\"}\r",
    r#"{"\u0069": 5, "f": 2, "s": "w"}"#,
    r#"{"i": "bad", "f": 2, "s": "v"}"#,
    r#"{"i": 6, "f": "bad", "s": 7}"#,
    r#"{"i": 8, "i": 9, "f": 3, "s": "u"}"#,
    r#"{}"#,
    r#"{"i": 10}"#,
    r#"{bad json"#,
    r#"[11, 4.5, "t"]"#,
    r#""just a string""#,
    r#"{"i": 12, "f": 1, "s": "a"} {"i": 13, "f": 1, "s": "b"}"#,
    "{\"i\": [1\n{\"f\": 2}]}",
    r#"{"i": 14, "f": 1, "s": "c"},{"i": 15}"#,
    "",
    "   ",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Groups of lines parsed in one call give exactly what the value by
    /// value path gives (1-byte chunks never hold a whole line, so they
    /// never form a group), whatever the chunking, batch limits and bad
    /// lines among them.
    #[test]
    fn groups_match_the_value_by_value_path(
        // Mostly one good row, so that whole groups go column by column.
        picks in prop::collection::vec(prop_oneof![3 => Just(0), 1 => 0..GROUP_LINES.len()], 0..300),
        cuts in prop::collection::vec(0usize..20_000, 0..6),
        small_batches in any::<bool>(),
    ) {
        let lines: Vec<&str> = picks.iter().map(|&k| GROUP_LINES[k]).collect();
        let body = lines.join("\n");
        let mut o = raw();
        o.record_bytes_max = 60;
        if small_batches {
            o.batch_rows = 7;
            o.batch_bytes = 100;
        }
        let t = prop_table();
        let whole = run_chunks(&t, &o, &[body.as_bytes()]);
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_same(&whole, &run_chunks(&t, &o, &bytes));
        let parts = split_at(body.as_bytes(), &cuts);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        assert_same(&whole, &run_chunks(&t, &o, &parts));
    }
}

/// In a group the lines `{"i": [1` and `{"f": 2}]}` parse as one element
/// (the newline becomes a comma) and `{...},{...}` as two, so the element
/// count alone would match; the value by value path reads the first two
/// lines as one invalid value and stops at the `,` (fatal). The group must
/// notice and agree.
#[test]
fn group_elements_must_start_on_their_lines() {
    let t = prop_table();
    let good = r#"{"i": 1, "f": 2.5, "s": "ab"}"#;
    let body = [
        good,
        r#"{"i": [1"#,
        r#"{"f": 2}]}"#,
        good,
        r#"{"i": 3},{"i": 4}"#,
        good,
    ]
    .join("\n");
    let out = run(&t, &raw(), &body);
    assert!(out.errors.fatal);
    let got: Vec<_> = out
        .errors
        .listed
        .iter()
        .map(|e| (e.event_number, e.field.as_deref()))
        .collect();
    assert_eq!(got, vec![(2, None), (5, None)]);
    assert_eq!(one(&out).num_rows(), 3);
}

/// A group with one bad record: the others are kept, and the bad one is
/// reported with its own event number and offset.
#[test]
fn one_bad_record_in_a_group() {
    let t = prop_table();
    let good = r#"{"i": 1, "f": 2.5, "s": "ab"}"#;
    let mut lines = vec![good; 50];
    // Both as long as `good`: a type error and a syntax error.
    lines[20] = r#"{"i": 1, "f": 2.5, "s": 3333}"#;
    lines[30] = r#"{"i": 1, "f": 2.5, "s": "a"]"#;
    let body = lines.join("\n");
    let out = run(&t, &raw(), &body);
    let got: Vec<_> = out
        .errors
        .listed
        .iter()
        .map(|e| (e.event_number, e.field.as_deref(), e.offset))
        .collect();
    let stride = good.len() as u64 + 1;
    assert_eq!(
        got,
        vec![(21, Some("s"), 20 * stride), (31, None, 30 * stride)]
    );
    assert_eq!(out.records, 50);
    assert_eq!(one(&out).num_rows(), 48);
}

fn order_table() -> Arc<Table> {
    table(vec![
        col("a", SqlType::BigInt, false, None),
        col("b", SqlType::Varchar(Some(3)), true, Some("dft")),
        col("c", SqlType::Double, true, None),
        col(
            "d",
            SqlType::Decimal {
                precision: 6,
                scale: 2,
            },
            true,
            None,
        ),
    ])
}

/// One member: `(key, value text)`. Keys `A` (folds to `a`) and `zz`
/// (unknown) included; some values are bad for their column.
fn member() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop_oneof![
        4 => Just(("a", "1")),
        1 => Just(("a", "\"x\"")),
        1 => Just(("A", "2")),
        4 => Just(("b", "\"abc\"")),
        1 => Just(("b", "\"toolong\"")),
        4 => Just(("c", "1.5")),
        1 => Just(("c", "null")),
        4 => Just(("d", "12.25")),
        1 => Just(("d", "1.234")),
        1 => Just(("zz", "[1]")),
    ]
}

/// A row shape: every column once, in any order, usually valid, sometimes
/// with an extra (duplicate or unknown) member or one member dropped.
fn shape() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    (
        prop_oneof![4 => Just(("a", "1")), 1 => Just(("A", "2")), 1 => Just(("a", "\"x\""))],
        prop_oneof![4 => Just(("b", "\"abc\"")), 1 => Just(("b", "\"toolong\""))],
        prop_oneof![4 => Just(("c", "1.5")), 1 => Just(("c", "null"))],
        prop_oneof![4 => Just(("d", "12.25")), 1 => Just(("d", "1.234"))],
        prop::collection::vec(member(), 0..2),
        any::<bool>(),
    )
        .prop_flat_map(|(a, b, c, d, extra, drop)| {
            let mut v = vec![a, b, c, d];
            v.extend(extra);
            if drop {
                v.pop();
            }
            Just(v).prop_shuffle()
        })
}

/// What the table should hold for one row, or the first failing column in
/// column order: the policies of the module doc, written out.
type Expect = Result<(i64, Option<String>, Option<f64>, Option<i128>), &'static str>;

fn expect(row: &[(&str, &str)]) -> Expect {
    let last = |k: &[&str]| {
        row.iter()
            .rev()
            .find(|(key, _)| k.contains(key))
            .map(|(_, v)| *v)
    };
    let a = match last(&["a", "A"]) {
        Some("1") => 1,
        Some("2") => 2,
        _ => return Err("a"),
    };
    let b = match last(&["b"]) {
        None => Some("dft".to_string()),
        Some("\"abc\"") => Some("abc".to_string()),
        _ => return Err("b"),
    };
    let c = match last(&["c"]) {
        Some("1.5") => Some(1.5),
        _ => None,
    };
    let d = match last(&["d"]) {
        None => None,
        Some("12.25") => Some(1225),
        _ => return Err("d"),
    };
    Ok((a, b, c, d))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Rows that repeat a few key orders (the key-order cache, the in-order
    /// row path and column-by-column groups) and rows that change order,
    /// repeat or omit keys: values and errors follow the policies, the
    /// reported field of a bad row being the first bad column in column
    /// order, whichever key came first.
    #[test]
    fn key_orders_changing_and_repeating(
        shapes in prop::collection::vec(shape(), 1..4),
        picks in prop::collection::vec(0usize..4, 0..200),
        cuts in prop::collection::vec(0usize..20_000, 0..6),
        one_byte in any::<bool>(),
        insert_delete in any::<bool>(),
    ) {
        let rows: Vec<&Vec<(&str, &str)>> = picks.iter().map(|&p| &shapes[p % shapes.len()]).collect();
        let body: Vec<String> = rows
            .iter()
            .map(|r| {
                let m: Vec<String> = r.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                let row = format!("{{{}}}", m.join(", "));
                if insert_delete {
                    format!("{{\"insert\": {row}}}")
                } else {
                    row
                }
            })
            .collect();
        let body = body.join("\n");
        let t = order_table();
        let o = opts(if insert_delete { UpdateFormat::InsertDelete } else { UpdateFormat::Raw }, false);
        let out = if one_byte {
            let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
            run_chunks(&t, &o, &bytes)
        } else {
            // Earlier chunks prime the key cache for groups in later ones.
            let parts = split_at(body.as_bytes(), &cuts);
            let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            run_chunks(&t, &o, &parts)
        };
        let want: Vec<Expect> = rows.iter().map(|r| expect(r)).collect();
        let want_errors: Vec<(u64, Option<String>)> = want
            .iter()
            .enumerate()
            .filter_map(|(n, e)| e.as_ref().err().map(|f| (n as u64 + 1, Some(f.to_string()))))
            .take(ERRORS_LISTED_MAX)
            .collect();
        let got_errors: Vec<(u64, Option<String>)> =
            out.errors.listed.iter().map(|e| (e.event_number, e.field.clone())).collect();
        prop_assert_eq!(got_errors, want_errors);
        let mut got = Vec::new();
        for b in &out.batches {
            let d = &b.data;
            let (a, bs, c, dec) = (
                d.column(0).as_primitive::<Int64Type>(),
                d.column(1).as_string::<i32>(),
                d.column(2).as_primitive::<Float64Type>(),
                d.column(3).as_primitive::<Decimal128Type>(),
            );
            for r in 0..b.num_rows() {
                got.push((
                    a.value(r),
                    bs.is_valid(r).then(|| bs.value(r).to_string()),
                    c.is_valid(r).then(|| c.value(r)),
                    dec.is_valid(r).then(|| dec.value(r)),
                ));
            }
        }
        let want_rows: Vec<_> = want.into_iter().filter_map(Result::ok).collect();
        prop_assert_eq!(got, want_rows);
    }
}

/// Two key orders whose values fit either column: only comparing the keys
/// can tell them apart, in rows alone or in a group.
#[test]
fn swapped_keys_with_compatible_values() {
    let t = order_table();
    let first = r#"{"a": 1, "b": "abc", "c": 1.5, "d": 12.25}"#;
    let swapped = r#"{"a": 2, "b": "abc", "d": 1.5, "c": 12.25}"#;
    // The lone first row primes the key cache (a group needs two lines);
    // the positional row ends it, so the next four form a group.
    let body = [
        first,
        r#"[1, "abc", 1.5, 12.25]"#,
        first,
        swapped,
        swapped,
        first,
    ]
    .join("\n");
    for out in [
        run(&t, &raw(), &body),
        run_chunks(&t, &raw(), &body.as_bytes().chunks(1).collect::<Vec<_>>()),
    ] {
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let b = one(&out);
        let c = b.column(2).as_primitive::<Float64Type>().values().to_vec();
        let d = b
            .column(3)
            .as_primitive::<Decimal128Type>()
            .values()
            .to_vec();
        assert_eq!(c, vec![1.5, 1.5, 1.5, 12.25, 12.25, 1.5]);
        assert_eq!(d, vec![1225, 1225, 1225, 150, 150, 1225]);
    }
}

/// insert_delete groups: `{"insert": row}` events go column by column, a
/// `{"delete": row}` among them keeps its weight.
#[test]
fn insert_delete_groups_keep_weights() {
    let t = order_table();
    let o = opts(UpdateFormat::InsertDelete, false);
    let row = r#"{"a": 1, "b": "abc", "c": 1.5, "d": 12.25}"#;
    let ins = format!("{{\"insert\": {row}}}\n");
    let del = format!("{{\"delete\": {row}}}\n");
    // A lone line in the first chunk primes the key cache (a group needs
    // two lines); the second chunk is one group.
    let rest = [&ins, &ins, &del, &ins].map(|s| s.as_str()).concat();
    let out = run_chunks(&t, &o, &[ins.as_bytes(), rest.as_bytes()]);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let w = out.batches[0].weights.as_ref().expect("a delete");
    assert_eq!(w.values().to_vec(), vec![1, 1, 1, -1, 1]);
    // All inserts: no weights.
    let rest = [&ins, &ins, &ins].map(|s| s.as_str()).concat();
    let out = run_chunks(&t, &o, &[ins.as_bytes(), rest.as_bytes()]);
    assert!(out.batches[0].weights.is_none());
    assert_eq!(out.batches[0].num_rows(), 4);
}
