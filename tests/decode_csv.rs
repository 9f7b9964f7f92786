//! CSV decoder: exact batch contents, error details, policies, and
//! properties (split invariance, agreement with the `csv` crate).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use proptest::prelude::*;
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

fn opts() -> DecodeOptions {
    DecodeOptions {
        json_depth_max: 32,
        ..options(Format::Csv)
    }
}

fn run(t: &Arc<Table>, body: &[u8]) -> Out {
    run_chunks(t, &opts(), &[body])
}

/// The single batch of a small body.
fn rows(out: &Out) -> RecordBatch {
    assert_eq!(out.batches.len(), 1, "test expects a single batch");
    out.batches[0].data.clone()
}

fn mixed() -> Arc<Table> {
    table(vec![
        col("id", SqlType::Int, false, None),
        col("flag", SqlType::Boolean, true, None),
        col("tiny", SqlType::TinyInt, true, None),
        col("small", SqlType::SmallInt, true, None),
        col("big", SqlType::BigInt, true, None),
        col("r", SqlType::Real, true, None),
        col("d", SqlType::Double, true, None),
        col(
            "amount",
            SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            true,
            None,
        ),
        col("name", SqlType::Varchar(Some(5)), true, None),
        col("code", SqlType::Char(3), true, None),
        col("day", SqlType::Date, true, None),
        col("t", SqlType::Time, true, None),
        col("ts", SqlType::Timestamp, true, None),
    ])
}

fn nulls(a: &ArrayRef) -> Vec<bool> {
    (0..a.len()).map(|i| a.is_null(i)).collect()
}

#[test]
fn mixed_table_exact_contents() {
    let body = b"1,true,-128,32767,-9223372036854775808,1.5,-2.25,12345678.90,abc,xyz,2024-02-29,23:59:59.999999,2024-02-29 12:00:00.5\n\
2,FALSE,127,-1,42,NaN,inf,-0.01,\"a,\"\"b\",\"\",1970-01-01,00:00:00,1970-01-01T01:00:00+01:00\r\n\
3,,,,,,,,,,,,\n";
    let out = run(&mixed(), body);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records, 3);
    let b = rows(&out);
    assert_eq!(b.num_rows(), 3);
    assert!(out.batches[0].weights.is_none());
    let c = |i: usize| b.column(i).clone();
    assert_eq!(
        c(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 2, 3]
    );
    let flag = c(1);
    let flag = flag.as_boolean();
    assert!(flag.value(0) && !flag.value(1) && flag.is_null(2));
    assert_eq!(c(2).as_primitive::<Int8Type>().values()[..2], [-128, 127]);
    assert_eq!(c(3).as_primitive::<Int16Type>().values()[..2], [32767, -1]);
    assert_eq!(
        c(4).as_primitive::<Int64Type>().values()[..2],
        [i64::MIN, 42]
    );
    assert_eq!(c(5).as_primitive::<Float32Type>().value(0), 1.5);
    assert!(c(5).as_primitive::<Float32Type>().value(1).is_nan());
    assert_eq!(
        c(6).as_primitive::<Float64Type>().values()[..2],
        [-2.25, f64::INFINITY]
    );
    let amount = c(7);
    let amount = amount.as_primitive::<Decimal128Type>();
    assert_eq!(amount.values()[..2], [1234567890, -1]);
    assert_eq!(amount.precision(), 10);
    assert_eq!(amount.scale(), 2);
    let name = c(8);
    let name = name.as_string::<i32>();
    assert_eq!((name.value(0), name.value(1)), ("abc", "a,\"b"));
    let code = c(9);
    let code = code.as_string::<i32>();
    // `""` is the empty string in a string column, not NULL.
    assert_eq!(code.value(0), "xyz");
    assert!(code.is_valid(1) && code.value(1).is_empty());
    assert_eq!(c(10).as_primitive::<Date32Type>().values()[..2], [19782, 0]);
    assert_eq!(
        c(11).as_primitive::<Time64MicrosecondType>().values()[..2],
        [86_399_999_999, 0]
    );
    assert_eq!(
        c(12).as_primitive::<TimestampMicrosecondType>().values()[..2],
        [19782 * 86_400_000_000 + 12 * 3_600_000_000 + 500_000, 0]
    );
    // Row 3: every nullable column empty -> NULL.
    for i in 1..13 {
        assert_eq!(nulls(&c(i)), vec![false, false, true], "column {i}");
    }
    assert_eq!(b.schema(), mixed().schema);
}

#[test]
fn bad_records_are_reported_and_skipped() {
    let t = table(vec![
        col("id", SqlType::Int, false, None),
        col("tiny", SqlType::TinyInt, true, None),
        col("name", SqlType::Varchar(Some(3)), true, None),
    ]);
    let body = b"1,1,a\n2,300,b\n3,1.0,c\n\n4,2,toolong\n5,x,\xff\n6,3,ok\n";
    let out = run(&t, body);
    let e = &out.errors.listed;
    assert_eq!(out.errors.total, 4);
    assert_eq!(out.records, 6);
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.event_number, e.field.as_deref(), e.line, e.offset))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, Some("tiny"), Some(2), 6),
            (3, Some("tiny"), Some(3), 14),
            (4, Some("name"), Some(5), 23),
            // Two bad fields: the first column is reported.
            (5, Some("tiny"), Some(6), 35),
        ]
    );
    assert_eq!(e[0].description, "value out of range for TINYINT");
    assert_eq!(e[0].invalid_text.as_deref(), Some("300"));
    assert_eq!(e[1].description, "expected TINYINT, found invalid text");
    assert_eq!(e[2].description, "string longer than VARCHAR(3)");
    assert_eq!(e[2].invalid_text.as_deref(), Some("toolong"));
    let b = rows(&out);
    assert_eq!(
        b.column(0).as_primitive::<Int32Type>().values().to_vec(),
        vec![1, 6]
    );
}

#[test]
fn invalid_utf8_in_string_is_an_error() {
    let t = table(vec![col("s", SqlType::Varchar(None), true, None)]);
    let out = run(&t, b"ok\n\xff\xfe\nfine\n");
    assert_eq!(out.errors.total, 1);
    assert_eq!(out.errors.listed[0].event_number, 2);
    assert!(out.errors.listed[0].description.contains("UTF-8"));
    assert_eq!(rows(&out).num_rows(), 2);
}

#[test]
fn not_null_default_missing_and_extra_fields() {
    let t = table(vec![
        col("a", SqlType::Int, false, None),
        col("b", SqlType::Int, true, Some("7")),
        col("c", SqlType::Varchar(None), false, Some("dflt")),
        col("d", SqlType::Int, true, None),
        col("e", SqlType::Int, false, None),
    ]);
    // 1: missing b..e: e is NOT NULL without default -> error.
    // 2: all given plus extras (ignored).
    // 3: empty a in NOT NULL INT -> error.
    // 4: only e missing -> error; 5: explicit empty d -> NULL.
    let body = b"1\n1,2,x,4,5,extra,more\n,2,x,4,5\n1,2,x,4\n9,,,,8\n";
    let out = run(&t, body);
    let got: Vec<_> = out
        .errors
        .listed
        .iter()
        .map(|e| (e.event_number, e.field.clone().unwrap()))
        .collect();
    assert_eq!(got, vec![(1, "e".into()), (3, "a".into()), (4, "e".into())]);
    assert!(out.errors.listed[0].description.contains("without DEFAULT"));
    assert!(out.errors.listed[1].description.contains("NOT NULL"));
    let b = rows(&out);
    assert_eq!(b.num_rows(), 2);
    let bcol = b.column(1).as_primitive::<Int32Type>().clone();
    assert_eq!(bcol.value(0), 2);
    // An empty field is NULL even when the column has a DEFAULT: the
    // DEFAULT is for missing fields only.
    assert!(bcol.is_null(1));
    let c = b.column(2).as_string::<i32>().clone();
    // Empty unquoted field in a NOT NULL string column: the empty string.
    assert_eq!((c.value(0), c.value(1)), ("x", ""));
    assert!(b.column(3).is_null(1));
}

#[test]
fn defaults_fill_missing_trailing_fields() {
    let t = table(vec![
        col("a", SqlType::Int, false, None),
        col("b", SqlType::Int, true, Some("7")),
        col("c", SqlType::Varchar(None), false, Some("dflt")),
        col("d", SqlType::Int, true, None),
    ]);
    let out = run(&t, b"1\n2,3\n");
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let b = rows(&out);
    let bcol = b.column(1).as_primitive::<Int32Type>().clone();
    assert_eq!(bcol.values().to_vec(), vec![7, 3]);
    let c = b.column(2).as_string::<i32>().clone();
    assert_eq!((c.value(0), c.value(1)), ("dflt", "dflt"));
    assert!(b.column(3).is_null(0) && b.column(3).is_null(1));
}

#[test]
fn quoting_crlf_bom_and_blank_lines() {
    let t = table(vec![
        col("a", SqlType::Varchar(None), true, None),
        col("b", SqlType::Int, true, None),
    ]);
    let body = b"\xEF\xBB\xBF\"x\r\ny\",1\r\n\r\n\n\"\",\"\"\r\nplain,2";
    let out = run(&t, body);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.records, 3);
    let b = rows(&out);
    let a = b.column(0).as_string::<i32>().clone();
    assert_eq!(a.value(0), "x\r\ny");
    assert!(a.is_valid(1) && a.value(1).is_empty());
    assert_eq!(a.value(2), "plain");
    // `""` in a non-string column is NULL.
    assert!(b.column(1).is_null(1));
    assert_eq!(b.column(1).as_primitive::<Int32Type>().value(2), 2);
}

#[test]
fn line_numbers_count_newlines_inside_quotes() {
    let t = table(vec![
        col("a", SqlType::Varchar(None), true, None),
        col("b", SqlType::Int, true, None),
    ]);
    let out = run(&t, b"\"1\n2\n3\",1\nx,bad\n");
    assert_eq!(out.errors.listed[0].line, Some(4));
    assert_eq!(out.errors.listed[0].offset, 10);
    assert_eq!(out.errors.listed[0].event_number, 2);
}

#[test]
fn unterminated_quote_is_an_error_at_its_record() {
    let t = table(vec![col("a", SqlType::Varchar(None), true, None)]);
    let out = run(&t, b"ok\n\"never closed\nmore\n");
    assert_eq!(out.errors.total, 1);
    let e = &out.errors.listed[0];
    assert_eq!((e.event_number, e.line, e.offset), (2, Some(2), 3));
    assert!(e.description.contains("not terminated"));
    assert_eq!(rows(&out).num_rows(), 1);
}

#[test]
fn record_bytes_max_rejects_long_records_only() {
    let t = table(vec![col("a", SqlType::Varchar(None), true, None)]);
    let mut o = opts();
    o.record_bytes_max = 8;
    let body = b"short\nthis one is far too long\nok\n";
    let out = run_chunks(&t, &o, &[body]);
    assert_eq!(out.errors.total, 1);
    assert_eq!(out.errors.listed[0].event_number, 2);
    assert_eq!(out.errors.listed[0].offset, 6);
    let b = rows(&out);
    let a = b.column(0).as_string::<i32>().clone();
    assert_eq!((a.value(0), a.value(1)), ("short", "ok"));
}

#[test]
fn batches_seal_at_batch_rows_and_batch_bytes() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    let mut o = opts();
    o.batch_rows = 3;
    let out = run_chunks(&t, &o, &[b"1\n2\nx\n3\n4\n5\n6\n7\n"]);
    let sizes: Vec<_> = out.batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let mut o = opts();
    o.batch_bytes = 4;
    let out = run_chunks(&t, &o, &[b"1\n2\n3\n4\n5\n"]);
    let sizes: Vec<_> = out.batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
}

#[test]
fn decode_returns_early_when_full() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    let mut o = opts();
    o.batch_rows = 2;
    let mut d = new_decoder(t, o);
    let body = b"1\n2\n3\n";
    let n = d.decode(body);
    assert_eq!(n, 4);
    assert!(d.batch_full());
    assert_eq!(d.decode(&body[n..]), 0);
    assert_eq!(d.flush().unwrap().num_rows(), 2);
    assert!(!d.batch_full());
    assert_eq!(d.decode(&body[n..]), 2);
    assert_eq!(d.finish().unwrap().num_rows(), 1);
}

/// Values of a VARCHAR-only batch list, NULL as None.
fn strings(out: &Out) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for b in &out.batches {
        for r in 0..b.num_rows() {
            let row = (0..b.data.num_columns())
                .map(|c| {
                    let a = b.data.column(c).as_string::<i32>();
                    a.is_valid(r).then(|| a.value(r).to_string())
                })
                .collect();
            rows.push(row);
        }
    }
    rows
}

fn error_keys(e: &ParseErrors) -> Vec<(u64, Option<String>, u64, Option<u64>)> {
    e.listed
        .iter()
        .map(|e| (e.event_number, e.field.clone(), e.offset, e.line))
        .collect()
}

fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{0,6}",
        // Null texts of `null_text()`, whole or in part.
        prop::sample::select(vec!["NULL", "NUL", "NULLx", "ab", "1", "\\N"]).prop_map(String::from),
        "[a-z ,\"\r\n]{0,6}",
        "-?[0-9]{1,4}",
        Just(String::new()),
        "[é😀a\"]{0,3}",
    ]
}

/// No null text, or one the generated fields sometimes equal.
fn null_text() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec!["NULL", "ab", "1", "\\N"]))
}

fn with_null_text(mut o: DecodeOptions, text: Option<&str>) -> DecodeOptions {
    if let Some(t) = text {
        o.csv.null_text = NullText::new(t.as_bytes(), o.csv.delimiter).unwrap();
    }
    o
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any split of a body (1-byte chunks included) gives the same batches
    /// and errors; small batches exercise the early return.
    #[test]
    fn split_invariance(
        recs in prop::collection::vec(prop::collection::vec(field_text(), 0..5), 0..12),
        cuts in prop::collection::vec(0usize..1000, 0..6),
        junk in prop::collection::vec(any::<u8>(), 0..20),
        crlf in any::<bool>(),
        prefix in prop::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"\xEF", b"\xEF\xBB", b"\xEF\xBBx"]),
        null in null_text(),
        batch_bytes in prop::sample::select(vec![1usize << 20, 1, 6, 13, 40]),
    ) {
        let t = table(vec![
            col("a", SqlType::Int, true, None),
            col("b", SqlType::Varchar(Some(4)), false, Some("d")),
            col("c", SqlType::Varchar(None), true, None),
        ]);
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .from_writer(vec![]);
        for r in &recs {
            w.write_record(r).unwrap();
        }
        let mut body = prefix.to_vec();
        body.extend_from_slice(&w.into_inner().unwrap());
        body.extend_from_slice(&junk);
        let mut o = with_null_text(opts(), null);
        o.batch_rows = 3;
        // Small byte limits with bad records: sealing must not depend on
        // when records were converted.
        o.batch_bytes = batch_bytes;
        o.record_bytes_max = 24;
        let whole = run_chunks(&t, &o, &[&body]);
        let parts = split_at(&body, &cuts);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        assert_same(&whole, &run_chunks(&t, &o, &parts));
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_same(&whole, &run_chunks(&t, &o, &bytes));
    }

    /// A VARCHAR-only table holds exactly what the `csv` crate reads.
    #[test]
    fn agrees_with_csv_crate(
        recs in prop::collection::vec(prop::collection::vec("[a-z\"\r\n, é]{0,5}", 1..5), 0..12),
        cuts in prop::collection::vec(0usize..1000, 0..4),
    ) {
        let t = table((0..4).map(|i| col(&format!("c{i}"), SqlType::Varchar(None), false, Some(""))).collect());
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(vec![]);
        for r in &recs {
            w.write_record(r).unwrap();
        }
        let body = w.into_inner().unwrap();
        let mut rd = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&body[..]);
        let want: Vec<Vec<Option<String>>> = rd
            .records()
            .map(|r| {
                let r = r.unwrap();
                (0..4).map(|i| Some(r.get(i).unwrap_or("").to_string())).collect()
            })
            .collect();
        let parts = split_at(&body, &cuts);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let out = run_chunks(&t, &opts(), &parts);
        prop_assert!(out.errors.is_empty());
        prop_assert_eq!(strings(&out), want);
    }
}

#[test]
fn partial_bom_is_data() {
    let t = table(vec![col("a", SqlType::Varchar(None), true, None)]);
    let whole = run(&t, b"\xEF\xBB\xBFa\n\xEF\xBBb\n");
    let b = rows(&whole);
    let a = b.column(0).as_string::<i32>().clone();
    assert_eq!(a.value(0), "a");
    // Not at body start, and not a whole BOM: invalid UTF-8 data.
    assert_eq!(whole.errors.total, 1);
    let bytes: Vec<&[u8]> = [&b"\xEF"[..], b"\xBB", b"\xBF", b"a\n"].to_vec();
    assert_eq!(rows(&run_chunks(&t, &opts(), &bytes)).num_rows(), 1);
    let out = run(&t, b"\xEF\xBBx\n");
    assert_eq!(out.errors.total, 1);
    assert_eq!(out.errors.listed[0].offset, 0);
}

#[test]
fn errors_are_split_invariant_too() {
    let t = table(vec![col("a", SqlType::Int, false, None)]);
    let body = b"1\nx\n\"3\n4,\n";
    let whole = run(&t, body);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    let split = run_chunks(&t, &opts(), &bytes);
    assert_eq!(error_keys(&whole.errors), error_keys(&split.errors));
    assert_eq!(whole.errors.total, 2);
}

/// A reset decoder gives exactly what a fresh one gives, whatever the
/// previous body left behind: errors, a partial record, a quoted field or
/// half a BOM, an unflushed full batch.
#[test]
fn reset_is_like_new() {
    let t = table(vec![
        col("a", SqlType::Int, false, None),
        col("b", SqlType::Varchar(Some(4)), true, Some("d")),
        col("c", SqlType::Double, true, None),
    ]);
    let mut o = opts();
    o.batch_rows = 2;
    o.record_bytes_max = 40;
    let bodies: [&[u8]; 8] = [
        b"1,ab,1.5\n2,,\nx,1\n3,\"q\"\"q\",2\n",
        b"\xEF\xBB\xBF1,a\n2,bbbbbb\n",
        b"1,a,1\n2,b,2\n3,c,3\n4,d,4\n5,e,5\n",
        b"7,\"unterminated\n8,9",
        b"\xEF\xBB",
        b"1,abc,1.5\n2,partial",
        b"5,\"quoted, with \"\"escapes\"\"\r\nand lines\",3\r\n\r\n6\r",
        b"\n\n,,,\n1,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,2\n3\n",
    ];
    let mut d = new_decoder(t.clone(), o.clone());
    for a in bodies {
        for b in bodies {
            for cut in [0, 1, 5, a.len()] {
                // Body A, possibly abandoned mid-way (no finish, no flush).
                let cut = cut.min(a.len());
                d.reset();
                let _ = d.decode(&a[..cut]);
                if cut == a.len() {
                    let _ = run_on(&mut *d, &[]);
                }
                d.reset();
                let got = run_on(&mut *d, &[b]);
                assert_same(&got, &run_chunks(&t, &o, &[b]));
                d.reset();
                let bytes: Vec<&[u8]> = b.chunks(1).collect();
                assert_same(&run_on(&mut *d, &bytes), &run_chunks(&t, &o, &[b]));
            }
        }
    }
}

/// Records with quoted fields take a fast path when whole in a chunk; the
/// byte-by-byte state machine must agree on every shape of quoting.
#[test]
fn quoted_fields_fast_path_agrees_with_state_machine() {
    let t = table(vec![
        col("a", SqlType::Varchar(None), true, None),
        col("b", SqlType::Varchar(None), true, None),
        col("c", SqlType::Varchar(None), true, None),
    ]);
    let body: &[u8] =
        b"\"a,b\",x,\"\"\n\"\",,\"q\"\r\n\"a\"\"b\",\"ab\"c,z\n\"multi\nline\",\"y\",\n,\"only\"\n";
    let whole = run_chunks(&t, &opts(), &[body]);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_same(&whole, &run_chunks(&t, &opts(), &bytes));
    assert!(whole.errors.is_empty(), "{:?}", whole.errors);
    let b = &whole.batches[0].data;
    let col = |i: usize| {
        let a = b
            .column(i)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        a.iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>()
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        col(0),
        vec![s("a,b"), s(""), s("a\"b"), s("multi\nline"), None]
    );
    assert_eq!(col(1), vec![s("x"), None, s("abc"), s("y"), s("only")]);
    assert_eq!(col(2), vec![s(""), s("q"), s("z"), None, None]);
}

/// Raw bodies, not written by a CSV writer: stray quotes, `""` escapes,
/// text after closing quotes, lone `\r`, blank lines, records crossing the
/// index's 64-byte blocks.
fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => "[a-z0-9]{1,12}".prop_map(String::into_bytes),
        3 => Just(b",".to_vec()),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\"".to_vec()),
        1 => Just(b"\"\"".to_vec()),
        2 => "\"[a-z ,]{0,70}\"".prop_map(String::into_bytes),
        1 => "\"[a-z\n\r,]{0,8}\"".prop_map(String::into_bytes),
        1 => Just("é😀".as_bytes().to_vec()),
        1 => prop::sample::select(vec![&b"NULL"[..], b"\"NULL\"", b"\\N", b"1"]).prop_map(<[u8]>::to_vec),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// One-byte chunks never hold a whole record, so they are decoded by
    /// the state machine alone: the reference for the structural index,
    /// which takes whole records of larger chunks.
    #[test]
    fn index_agrees_with_state_machine(
        body in raw_body(),
        cuts in prop::collection::vec(0usize..2000, 0..4),
        small in any::<bool>(),
        reps in prop_oneof![4 => Just(1usize), 1 => 2usize..40],
        null in null_text(),
    ) {
        // Repeated, a body has hundreds of records: the index converts
        // them in groups, which must not change batches or errors.
        let body = body.repeat(reps);
        let t = table(vec![
            col("a", SqlType::Varchar(None), true, None),
            col("b", SqlType::Varchar(None), false, Some("d")),
            col("c", SqlType::Int, true, None),
        ]);
        let mut o = with_null_text(opts(), null);
        if small {
            o.batch_rows = 3 + reps * 7;
            o.record_bytes_max = 40;
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        let reference = run_chunks(&t, &o, &bytes);
        assert_same(&run_chunks(&t, &o, &[&body]), &reference);
        let parts = split_at(&body, &cuts);
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        assert_same(&run_chunks(&t, &o, &parts), &reference);
    }
}

/// Batches seal by the bytes of their good records only, whatever the
/// chunking: a bad record's bytes once counted until a conversion found
/// the batch empty, and when that happened depended on where chunks ended.
#[test]
fn byte_limit_ignores_bad_records_under_any_split() {
    let t = table(vec![col("a", SqlType::Int, true, None)]);
    let mut o = opts();
    (o.batch_rows, o.batch_bytes) = (2, 6);
    let body = b"x\ny\n1\n2\n";
    let whole = run_chunks(&t, &o, &[body]);
    for cut in 1..body.len() {
        let (a, b) = body.split_at(cut);
        assert_same(&whole, &run_chunks(&t, &o, &[a, b]));
    }
    // Four bytes of good rows: under the limit, so one batch.
    assert_eq!(whole.batches.len(), 1);
    assert_eq!(whole.errors.total, 2);
}

/// Records of many short fields: the index gathers a record's fields in a
/// buffer that it empties before a block that might not fit (hundreds of
/// fields per record), with a `""` escape among them so some fields are
/// copied out and the rest stay in the chunk.
#[test]
fn records_of_many_fields_agree_with_the_state_machine() {
    let t = table(vec![
        col("a", SqlType::Varchar(None), true, None),
        col("b", SqlType::Int, true, None),
        col("c", SqlType::Varchar(None), true, None),
    ]);
    let mut body = Vec::new();
    for width in [190usize, 193, 250, 700, 2000] {
        for r in 0..3 {
            let mut fields: Vec<String> = (0..width).map(|k| format!("{}", (k + r) % 10)).collect();
            fields[0] = format!("\"q\"\"{r}\"");
            fields[2] = format!("w{width}");
            body.extend(fields.join(",").as_bytes());
            body.push(b'\n');
        }
    }
    let o = opts();
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    let reference = run_chunks(&t, &o, &bytes);
    let whole = run_chunks(&t, &o, &[&body]);
    assert_same(&whole, &reference);
    assert_eq!(whole.records, 15);
    assert!(whole.errors.is_empty());
    let rows: usize = whole.batches.iter().map(|b| b.data.num_rows()).sum();
    assert_eq!(rows, 15);
}

/// Records whose escaped fields are copied out while the rest stay in the
/// chunk agree with the state machine (1-byte chunks) and with two-way
/// splits, under a header that maps columns to other fields, null texts,
/// other delimiters, more than 63 fields (the last bit of `data_cols`
/// stands for all of them) and small batches (conversions mid-chunk).
/// Cuts step by 5 bytes to keep the debug build's run short.
#[test]
fn mixed_field_sources_agree_under_splits() {
    let ncols = 70;
    let mut cols = Vec::new();
    for c in 0..ncols {
        let t = match c % 5 {
            0 => SqlType::Varchar(None),
            1 => SqlType::Int,
            2 => SqlType::Varchar(Some(4)),
            3 => SqlType::Timestamp,
            _ => SqlType::Varchar(None),
        };
        cols.push(col(&format!("c{c}"), t, true, None));
    }
    let t = table(cols);
    for &(delim, header, null, rows_max) in &[
        (b',', false, None, 1024usize),
        (b';', true, Some("NULL"), 3),
        (b'\t', true, None, 2),
        (b',', true, Some("\\N"), 1),
    ] {
        let mut body = Vec::new();
        let d = delim as char;
        if header {
            // Reversed order: column c is field ncols-1-c.
            let names: Vec<String> = (0..ncols)
                .rev()
                .map(|c| {
                    if c % 7 == 0 {
                        format!("\"c{c}\"")
                    } else {
                        format!("c{c}")
                    }
                })
                .collect();
            body.extend(names.join(&d.to_string()).as_bytes());
            body.push(b'\n');
        }
        for r in 0..9usize {
            let fields: Vec<String> = (0..ncols)
                .map(|f| {
                    let c = if header { ncols - 1 - f } else { f };
                    let v = match c % 5 {
                        0 => match (r + f) % 4 {
                            0 => format!("\"é\"\"{r}{f}\"\"x\""),
                            1 => "\"\"".to_string(),
                            2 => format!("plain{r}"),
                            _ => "\"\"\"\"".to_string(),
                        },
                        1 => format!("{}", (r * 31 + f) as i64 - 50),
                        2 => {
                            if (r + f) % 3 == 0 {
                                "\"a\"\"b\"".into()
                            } else {
                                "\"ab\"".into()
                            }
                        }
                        3 => format!("2024-02-29 12:00:0{}.{}", r % 10, r),
                        _ => match (r + f) % 3 {
                            0 => null.unwrap_or("").to_string(),
                            1 => format!("\"{}\"", null.unwrap_or("q")),
                            _ => format!("\"\"\"x{r}\""),
                        },
                    };
                    v
                })
                .collect();
            body.extend(fields.join(&d.to_string()).as_bytes());
            body.extend(if r % 2 == 0 { &b"\n"[..] } else { &b"\r\n"[..] });
        }
        let mut o = DecodeOptions {
            batch_rows: rows_max,
            ..opts()
        };
        o.csv.delimiter = delim;
        o.csv.header = header;
        if let Some(n) = null {
            o.csv.null_text = NullText::new(n.as_bytes(), delim).unwrap();
        }
        let ones: Vec<&[u8]> = body.chunks(1).collect();
        let reference = run_chunks(&t, &o, &ones);
        assert_eq!(reference.records, 9);
        let whole = run_chunks(&t, &o, &[&body]);
        assert_same(&whole, &reference);
        for cut in (0..=body.len()).step_by(5) {
            let out = run_chunks(&t, &o, &[&body[..cut], &body[cut..]]);
            assert_same(&out, &reference);
        }
    }
}

/// Faulty records (too long, unterminated) among escaped and plain ones
/// agree with the state machine under any split and small batches.
#[test]
fn faults_among_escaped_records_agree_under_splits() {
    let t = table(vec![
        col("a", SqlType::Varchar(None), true, None),
        col("b", SqlType::Int, true, None),
        col("c", SqlType::Varchar(Some(3)), true, None),
    ]);
    let mut body = Vec::new();
    body.extend(b"\xEF\xBB\xBF\"x\"\"y\",1,ab\n");
    body.extend(b"\"a\"\"b\",2,\"\"\"\"\n");
    body.extend(b"\"long long long long long long long long\"\"\",3,z\n");
    body.extend(b"p,\"4\",\"\"\"x\"\n");
    body.extend(b"p,x5,abcd\n");
    body.extend(b"\"q\"\"\",6,\"\"\r\n");
    body.extend(b"r,7,\"unterminated \"\" , x");
    for rows in [1usize, 2, 1024] {
        let o = DecodeOptions {
            batch_rows: rows,
            record_bytes_max: 30,
            ..opts()
        };
        let ones: Vec<&[u8]> = body.chunks(1).collect();
        let reference = run_chunks(&t, &o, &ones);
        let whole = run_chunks(&t, &o, &[&body]);
        assert_same(&whole, &reference);
        for cut in 0..=body.len() {
            let out = run_chunks(&t, &o, &[&body[..cut], &body[cut..]]);
            assert_same(&out, &reference);
        }
        assert_eq!(whole.records, 7);
    }
}
