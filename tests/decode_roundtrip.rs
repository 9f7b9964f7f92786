//! Round trips per type: typed rows of a table with every supported SQL
//! type are generated, written by serde_json (JSON) and the `csv` crate
//! (CSV), decoded, and every value of the batches is compared with the
//! generated one: floats bit for bit (-0.0 included), decimals, dates and
//! times exactly, strings and bytes byte for byte, NULLs where written.
//! JSON has no NaN or infinities (serde_json writes them as `null`), so
//! only CSV draws them (`NaN`, `inf`, `Infinity`); a NaN compares as NaN.
//! Then differential properties: scalar texts are accepted exactly when
//! the reference accepts them (Rust's `str::parse` for CSV, as
//! `fields.rs` documents; serde_json, which Feldera's JSON parser is, for
//! JSON), with the same value.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use proptest::prelude::*;
use serde_json::Value;
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

#[path = "decode_roundtrip/values.rs"]
mod values;
use values::*;

const SQL: &str = "CREATE TABLE t (b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INT, \
    i64 BIGINT, u8 TINYINT UNSIGNED, u16 SMALLINT UNSIGNED, u32 INT UNSIGNED, \
    u64 BIGINT UNSIGNED, r REAL, d DOUBLE, dec DECIMAL(12, 3), big DECIMAL(38, 10), \
    c CHAR(4), vc VARCHAR(10), s VARCHAR, bin BINARY(4), vb VARBINARY, dt DATE, \
    tm TIME, ts TIMESTAMP, id UUID, a INT ARRAY, m MAP<VARCHAR, INT>, \
    rw ROW(x INT, y VARCHAR), v VARIANT)";

/// The kind of each column of `SQL`, in order.
const KINDS: [K; 26] = [
    K::Bool,
    K::I8,
    K::I16,
    K::I32,
    K::I64,
    K::U8,
    K::U16,
    K::U32,
    K::U64,
    K::F32,
    K::F64,
    K::Dec(12, 3),
    K::Dec(38, 10),
    K::Str(Some(4)),
    K::Str(Some(10)),
    K::Str(None),
    K::Binary(4),
    K::Varbinary,
    K::Date,
    K::Time,
    K::Ts,
    K::Uuid,
    K::Arr,
    K::Map,
    K::Row,
    K::Variant,
];

fn the_table() -> Arc<Table> {
    let t = Arc::new(parse_program(SQL).unwrap().remove(0));
    assert_eq!(t.columns.len(), KINDS.len());
    t
}

/// A row: one value per column, and bits choosing among each value's
/// equivalent written forms (`alt`).
fn rows(finite: bool) -> impl Strategy<Value = Vec<(Vec<V>, u64)>> {
    let row: Vec<BoxedStrategy<V>> = KINDS.iter().map(|&k| nullable(k, finite)).collect();
    prop::collection::vec((row, any::<u64>()), 0..6)
}

/// The JSON body of `rows`: one object per line, every value written by
/// serde_json.
fn json_body(rows: &[(Vec<V>, u64)]) -> Vec<u8> {
    let t = the_table();
    let mut body = String::new();
    for (vals, alts) in rows {
        let fields: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let name = serde_json::to_string(&t.columns[c].ident.name).unwrap();
                format!("{name}: {}", json_text(KINDS[c], v, Alt::of(*alts, c)))
            })
            .collect();
        body.push_str(&format!("{{{}}}\n", fields.join(", ")));
    }
    body.into_bytes()
}

/// The CSV body of `rows`: each field quoted (or not) by the `csv` crate's
/// writer; NULL is an empty unquoted field, or the null text when one is
/// set (and then a value spelled like it is quoted).
fn csv_body(rows: &[(Vec<V>, u64)], null_text: Option<&str>, crlf: bool) -> Vec<u8> {
    let mut body = Vec::new();
    for (vals, alts) in rows {
        for (c, v) in vals.iter().enumerate() {
            if c > 0 {
                body.push(b',');
            }
            match (csv_text(KINDS[c], v, Alt::of(*alts, c)), null_text) {
                (None, None) => {}
                (None, Some(n)) => body.extend_from_slice(n.as_bytes()),
                (Some(t), n) => body.extend(csv_field(&t, n == Some(t.as_str()))),
            }
        }
        body.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    body
}

/// One field as the `csv` crate writes it (a lone empty field is quoted).
fn csv_field(text: &str, always_quote: bool) -> Vec<u8> {
    let style = if always_quote {
        csv::QuoteStyle::Always
    } else {
        csv::QuoteStyle::Necessary
    };
    let mut w = csv::WriterBuilder::new()
        .quote_style(style)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(vec![]);
    w.write_record([text]).unwrap();
    let mut out = w.into_inner().unwrap();
    assert_eq!(out.pop(), Some(b'\n'));
    out
}

/// Decode and compare every value with what was written.
fn assert_round_trip(out: &Out, rows: &[(Vec<V>, u64)]) {
    assert!(out.errors.is_empty(), "{:?}", out.errors.listed);
    let got: usize = out.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(got, rows.len());
    let mut r0 = 0;
    for b in &out.batches {
        for r in 0..b.num_rows() {
            for (c, &k) in KINDS.iter().enumerate() {
                let want = &rows[r0 + r].0[c];
                let col = b.data.column(c);
                assert!(
                    same(k, col, r, want),
                    "row {} column {c}: {want:?} != {col:?}",
                    r0 + r
                );
            }
        }
        r0 += b.num_rows();
    }
}

/// Is row `r` of `a` the value `v` of a column of kind `k`?
fn same(k: K, a: &ArrayRef, r: usize, v: &V) -> bool {
    if matches!(v, V::Null | V::Json(Value::Null)) {
        return a.is_null(r);
    }
    if a.is_null(r) {
        return false;
    }
    match (k, v) {
        (K::Bool, V::Bool(x)) => a.as_boolean().value(r) == *x,
        (K::I8, V::Int(x)) => a.as_primitive::<Int8Type>().value(r) as i128 == *x,
        (K::I16, V::Int(x)) => a.as_primitive::<Int16Type>().value(r) as i128 == *x,
        (K::I32, V::Int(x)) => a.as_primitive::<Int32Type>().value(r) as i128 == *x,
        (K::I64, V::Int(x)) => a.as_primitive::<Int64Type>().value(r) as i128 == *x,
        (K::U8, V::Int(x)) => a.as_primitive::<UInt8Type>().value(r) as i128 == *x,
        (K::U16, V::Int(x)) => a.as_primitive::<UInt16Type>().value(r) as i128 == *x,
        (K::U32, V::Int(x)) => a.as_primitive::<UInt32Type>().value(r) as i128 == *x,
        (K::U64, V::Int(x)) => a.as_primitive::<UInt64Type>().value(r) as i128 == *x,
        (K::F32, V::F32(x)) => same_f64(a.as_primitive::<Float32Type>().value(r) as f64, *x as f64),
        (K::F64, V::F64(x)) => same_f64(a.as_primitive::<Float64Type>().value(r), *x),
        (K::Dec(..), V::Dec(x)) => a.as_primitive::<Decimal128Type>().value(r) == *x,
        (K::Str(_), V::Str(x)) => a.as_string::<i32>().value(r) == x,
        (K::Binary(n), V::Bytes(x)) => {
            let mut padded = x.clone();
            padded.resize(n, 0);
            a.as_fixed_size_binary().value(r) == padded
        }
        (K::Varbinary, V::Bytes(x)) => a.as_binary::<i32>().value(r) == x,
        (K::Date, V::Date(x)) => a.as_primitive::<Date32Type>().value(r) == *x,
        (K::Time, V::Time(x)) => a.as_primitive::<Time64MicrosecondType>().value(r) == *x,
        (K::Ts, V::Ts(x)) => a.as_primitive::<TimestampMicrosecondType>().value(r) == *x,
        (K::Uuid, V::Uuid(x)) => a.as_fixed_size_binary().value(r) == x,
        (K::Arr, V::Arr(x)) => ints(&a.as_list::<i32>().value(r)) == *x,
        (K::Map, V::Map(x)) => {
            let e = a.as_map().value(r);
            let keys = e
                .column(0)
                .as_string::<i32>()
                .iter()
                .map(|k| k.unwrap().to_string());
            let got: Vec<(String, Option<i32>)> = keys.zip(ints(e.column(1))).collect();
            got == x.clone().into_iter().collect::<Vec<_>>()
        }
        (K::Row, V::Row(x, y)) => {
            let s = a.as_struct();
            let (sx, sy) = (
                s.column(0).as_primitive::<Int32Type>(),
                s.column(1).as_string::<i32>(),
            );
            (
                sx.is_valid(r).then(|| sx.value(r)),
                sy.is_valid(r).then(|| sy.value(r)),
            ) == (*x, y.as_deref())
        }
        (K::Variant, V::Json(x)) => {
            a.as_string::<i32>().value(r) == serde_json::to_string(x).unwrap()
        }
        _ => panic!("value {v:?} generated for a column of kind {k:?}"),
    }
}

fn ints(a: &ArrayRef) -> Vec<Option<i32>> {
    a.as_primitive::<Int32Type>().iter().collect()
}

/// Bit for bit, except that any NaN is a NaN.
fn same_f64(got: f64, want: f64) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn json_round_trips_every_type(rows in rows(true), cut in 0usize..4096) {
        let t = the_table();
        let body = json_body(&rows);
        let o = options(Format::Json);
        let whole = run_chunks(&t, &o, &[&body]);
        assert_round_trip(&whole, &rows);
        let cut = cut % (body.len() + 1);
        assert_same(&whole, &run_chunks(&t, &o, &[&body[..cut], &body[cut..]]));
    }

    #[test]
    fn csv_round_trips_every_type(
        rows in rows(false),
        null in prop::option::of(prop::sample::select(vec!["NULL", "\\N", "1", "true"])),
        crlf in any::<bool>(),
    ) {
        let t = the_table();
        let body = csv_body(&rows, null, crlf);
        let mut o = options(Format::Csv);
        if let Some(n) = null {
            o.csv.null_text = NullText::new(n.as_bytes(), b',').unwrap();
        }
        let whole = run_chunks(&t, &o, &[&body]);
        assert_round_trip(&whole, &rows);
        // One-byte chunks: the state machine, not the structural index.
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_same(&whole, &run_chunks(&t, &o, &bytes));
    }
}

/// A one-column table of `sql_type`, decoding `body`: the value, or None
/// when the record was refused.
fn one_value(sql_type: &str, format: Format, body: &str) -> Option<ArrayRef> {
    let sql = format!("CREATE TABLE t (x {sql_type})");
    let t = Arc::new(parse_program(&sql).unwrap().remove(0));
    let out = run_chunks(&t, &options(format), &[body.as_bytes()]);
    assert_eq!(out.records, 1, "{body:?}");
    match out.batches.first() {
        Some(b) if out.errors.is_empty() => Some(b.data.column(0).clone()),
        _ => None,
    }
}

/// Texts near the edges of numbers: signs, zeros, widths, fractions,
/// exponents, spaces.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9]{1,21}",
        "[+-]?(0|[1-9][0-9]{0,3})(\\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?",
        prop::sample::select(vec![
            "-0",
            "+0",
            "00",
            "-",
            "+",
            "",
            " 1",
            "1 ",
            "0x10",
            "1_000",
            "1.",
            ".5",
            "1e",
            "-0.0",
            "127",
            "128",
            "-128",
            "-129",
            "255",
            "256",
            "65535",
            "65536",
            "4294967296",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "1e308",
            "1e309",
            "-1e309",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1e-400",
            "3.4028235e38",
            "3.4028236e38",
            "1.17549435e-38",
            "1.4e-45",
            "7e-46",
        ])
        .prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// CSV numbers: accepted exactly when `str::parse` accepts them, with
    /// its value (`fields.rs`: integers are an optional sign and digits,
    /// floats are `str::parse`).
    #[test]
    fn csv_numbers_agree_with_str_parse(text in number_text()) {
        // An empty field is NULL, not a number.
        prop_assume!(!text.is_empty());
        let field = String::from_utf8(csv_field(&text, false)).unwrap();
        let body = format!("{field}\n");
        let got = |t: &str| one_value(t, Format::Csv, &body);
        check_ints(&text, got, |t| t.parse::<i128>().ok().filter(|_| t.trim() == t))?;
        let r = got("REAL").map(|a| a.as_primitive::<Float32Type>().value(0));
        prop_assert!(opt_same_f32(r, text.parse::<f32>().ok()), "REAL {text:?}: {r:?}");
        let d = got("DOUBLE").map(|a| a.as_primitive::<Float64Type>().value(0));
        prop_assert!(opt_same_f64(d, text.parse::<f64>().ok()), "DOUBLE {text:?}: {d:?}");
    }

    /// JSON numbers: accepted exactly when serde_json accepts them as the
    /// column's Rust type, with its value.
    #[test]
    fn json_numbers_agree_with_serde_json(text in number_text()) {
        // Only texts that are JSON at all (the rest is a syntax error in
        // both, not a number question).
        prop_assume!(serde_json::from_str::<Value>(&text).is_ok());
        let body = format!("{{\"x\": {text}}}\n");
        let got = |t: &str| one_value(t, Format::Json, &body);
        let as_int = |t: &str| -> Option<i128> {
            // The one deliberate difference: serde_json reads `-0` as the
            // float -0.0 (to keep the sign) and so refuses it for integers;
            // sluice takes the integer 0 (README, JSON).
            if t == "-0" {
                return Some(0);
            }
            let v: Value = serde_json::from_str(t).ok()?;
            v.as_i64().map(i128::from).or_else(|| v.as_u64().map(i128::from))
        };
        check_ints(&text, got, as_int)?;
        let r = got("REAL").map(|a| a.as_primitive::<Float32Type>().value(0));
        let want_r = serde_json::from_str::<f32>(&text).ok();
        prop_assert!(opt_same_f32(r, want_r), "REAL {text:?}: {r:?} want {want_r:?}");
        let d = got("DOUBLE").map(|a| a.as_primitive::<Float64Type>().value(0));
        let want_d = serde_json::from_str::<f64>(&text).ok();
        prop_assert!(opt_same_f64(d, want_d), "DOUBLE {text:?}: {d:?} want {want_d:?}");
    }
}

/// Every integer type takes `text` exactly when `reference` gives a value
/// in its range, and then that value.
fn check_ints(
    text: &str,
    got: impl Fn(&str) -> Option<ArrayRef>,
    reference: impl Fn(&str) -> Option<i128>,
) -> Result<(), TestCaseError> {
    let want = reference(text);
    let types: [(&str, i128, i128); 8] = [
        ("TINYINT", i8::MIN.into(), i8::MAX.into()),
        ("SMALLINT", i16::MIN.into(), i16::MAX.into()),
        ("INT", i32::MIN.into(), i32::MAX.into()),
        ("BIGINT", i64::MIN.into(), i64::MAX.into()),
        ("TINYINT UNSIGNED", 0, u8::MAX.into()),
        ("SMALLINT UNSIGNED", 0, u16::MAX.into()),
        ("INT UNSIGNED", 0, u32::MAX.into()),
        ("BIGINT UNSIGNED", 0, u64::MAX.into()),
    ];
    for (t, lo, hi) in types {
        // Rust's unsigned parsers refuse a `-` even on zero; so does sluice.
        let unsigned_minus = lo == 0 && text.starts_with('-');
        let want = want.filter(|w| (lo..=hi).contains(w) && !unsigned_minus);
        let got = got(t).map(|a| int_at(&a));
        prop_assert_eq!(got, want, "{} {:?}", t, text);
    }
    Ok(())
}

fn int_at(a: &ArrayRef) -> i128 {
    use arrow_schema::DataType as D;
    match a.data_type() {
        D::Int8 => a.as_primitive::<Int8Type>().value(0).into(),
        D::Int16 => a.as_primitive::<Int16Type>().value(0).into(),
        D::Int32 => a.as_primitive::<Int32Type>().value(0).into(),
        D::Int64 => a.as_primitive::<Int64Type>().value(0).into(),
        D::UInt8 => a.as_primitive::<UInt8Type>().value(0).into(),
        D::UInt16 => a.as_primitive::<UInt16Type>().value(0).into(),
        D::UInt32 => a.as_primitive::<UInt32Type>().value(0).into(),
        D::UInt64 => a.as_primitive::<UInt64Type>().value(0).into(),
        other => panic!("not an integer column: {other}"),
    }
}

fn opt_same_f64(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => same_f64(x, y),
        (x, y) => x.is_none() && y.is_none(),
    }
}

fn opt_same_f32(a: Option<f32>, b: Option<f32>) -> bool {
    opt_same_f64(a.map(f64::from), b.map(f64::from))
}

/// What egress writes for `batches`: the stream's lines, as text (a
/// `serde_json::Value` would round 38-digit decimals through f64).
fn egress_lines(
    t: &Arc<Table>,
    format: sluice::egress::Format,
    batches: &[ChangeBatch],
) -> Vec<String> {
    let mut enc = sluice::egress::ChunkEncoder::new(format, t.clone());
    let mut out = Vec::new();
    for (step, b) in batches.iter().enumerate() {
        let mut cur = sluice::egress::chunk::Cursor::default();
        while !enc.batch_part(0, step as u64 + 1, b, &mut cur, None, &mut out) {}
    }
    let text = String::from_utf8(out).expect("egress writes UTF-8");
    text.lines().map(String::from).collect()
}

/// The `json_data` array of a JSON line, as written.
fn json_data(line: &str) -> &str {
    let from = line.find("\"json_data\":").expect("a data line") + "\"json_data\":".len();
    let to = line
        .rfind(",\"processed_steps\"")
        .expect("one step per batch");
    &line[from..to]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Egress writes values in forms ingress reads back to the same value:
    /// rows decoded, streamed as JSON `insert` items, posted back with
    /// `insert_delete`, give every generated value again.
    #[test]
    fn egress_json_reads_back_as_every_value(rows in rows(true)) {
        let t = the_table();
        let first = run_chunks(&t, &options(Format::Json), &[&json_body(&rows)]);
        assert_round_trip(&first, &rows);
        // Each line's `json_data` is an array of `{"insert": row}` items:
        // posted back as `array=true&update_format=insert_delete`.
        let mut body = String::new();
        for line in egress_lines(&t, sluice::egress::Format::Json, &first.batches) {
            body.push_str(json_data(&line));
            body.push('\n');
        }
        let o = DecodeOptions {
            update_format: UpdateFormat::InsertDelete,
            array: true,
            ..options(Format::Json)
        };
        let body = body.into_bytes();
        assert_round_trip(&run_chunks(&t, &o, &[&body]), &rows);
    }

    /// The same through CSV `text_data` (NaN and infinities included; the
    /// trailing weight field is ignored on the way back in).
    #[test]
    fn egress_csv_reads_back_as_every_value(rows in rows(false)) {
        let t = the_table();
        let first = run_chunks(&t, &options(Format::Csv), &[&csv_body(&rows, None, false)]);
        assert_round_trip(&first, &rows);
        let mut body = String::new();
        for line in egress_lines(&t, sluice::egress::Format::Csv, &first.batches) {
            let line: Value = serde_json::from_str(&line).unwrap();
            body.push_str(line["text_data"].as_str().unwrap());
        }
        assert_round_trip(&run_chunks(&t, &options(Format::Csv), &[body.as_bytes()]), &rows);
    }
}
