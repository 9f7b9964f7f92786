//! The direct path against the general path: same batches, records and
//! errors for any body and any chunking, with the direct path taken where
//! it can be and refused elsewhere.

use std::sync::Arc;

use proptest::prelude::*;

use super::super::JsonDecoder;
use super::{classify_bytes, number, Index, BLOCK};
use crate::decode::{
    ChangeBatch, CsvOptions, DecodeOptions, Decoder, Format, JsonFlavor, ParseErrors, UpdateFormat,
};
use crate::table::{parse_program, Table};

const SQL: &str = "CREATE TABLE t (c0 BIGINT, c1 VARCHAR, c2 DOUBLE, c3 BOOLEAN, \
    c4 DATE, c5 TIMESTAMP, c6 INT, c7 DECIMAL(10, 2), c8 VARCHAR(4) NOT NULL, \
    c9 SMALLINT, c10 REAL, c11 TINYINT UNSIGNED, c12 TIME, c13 BIGINT UNSIGNED, \
    c14 INT DEFAULT 7, c15 UUID, c16 VARBINARY, c17 INT ARRAY, c18 VARIANT, \
    c19 INT NOT NULL DEFAULT 3)";

fn table() -> Arc<Table> {
    Arc::new(parse_program(SQL).unwrap().remove(0))
}

fn opts(batch_rows: usize, batch_bytes: usize, depth: usize) -> DecodeOptions {
    DecodeOptions {
        format: Format::Json,
        update_format: UpdateFormat::Raw,
        array: false,
        batch_rows,
        batch_bytes,
        record_bytes_max: 1 << 20,
        json_depth_max: depth,
        json_flavor: JsonFlavor::Default,
        csv: CsvOptions::default(),
    }
}

/// Everything a decode produces.
#[derive(Debug, PartialEq)]
struct Outcome {
    batches: Vec<(arrow_array::RecordBatch, Option<arrow_array::Int64Array>)>,
    records: u64,
    errors: ParseErrors,
}

fn take(b: Option<ChangeBatch>, out: &mut Outcome) {
    if let Some(b) = b {
        out.batches.push((b.data, b.weights));
    }
}

/// Decode `body` cut at `cuts`, with the direct path on or off; also
/// returns the rows the direct path wrote.
fn decode(body: &[u8], cuts: &[usize], o: &DecodeOptions, direct: bool) -> (Outcome, u64) {
    let mut d = JsonDecoder::new(table(), o.clone());
    d.direct_enabled = direct;
    let mut out = Outcome {
        batches: Vec::new(),
        records: 0,
        errors: ParseErrors::default(),
    };
    let mut points: Vec<usize> = cuts.iter().map(|&c| c % (body.len() + 1)).collect();
    points.push(0);
    points.push(body.len());
    points.sort_unstable();
    for w in points.windows(2) {
        let mut rest = &body[w[0]..w[1]];
        while !rest.is_empty() {
            let n = d.decode(rest);
            rest = &rest[n..];
            if d.batch_full() {
                let b = d.flush();
                take(b, &mut out);
            }
        }
    }
    let b = d.finish();
    take(b, &mut out);
    out.records = d.records();
    out.errors = d.errors().clone();
    (out, d.direct_rows)
}

/// Where two outcomes differ, readably.
fn diff(a: &Outcome, b: &Outcome) -> String {
    let mut out = format!("records {} {}\n", a.records, b.records);
    if a.errors != b.errors {
        out += &format!("errors\n{:#?}\n{:#?}\n", a.errors, b.errors);
    }
    out += &format!("batches {} {}\n", a.batches.len(), b.batches.len());
    for (k, (x, y)) in a.batches.iter().zip(&b.batches).enumerate() {
        for c in 0..x.0.num_columns() {
            if x.0.column(c) != y.0.column(c) {
                out += &format!(
                    "batch {k} col {c}:\n{:?}\n{:?}\n",
                    x.0.column(c),
                    y.0.column(c)
                );
            }
        }
    }
    out
}

/// Values, valid and not, for any column: the property mixes them.
const VALUES: &[&str] = &[
    "0",
    "-0",
    "1",
    "-17",
    "255",
    "256",
    "32768",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "123456789012345678901",
    "1.5",
    "-2.25",
    "0.1",
    "12.50",
    "12.345",
    "1e3",
    "1E-2",
    "-0.0",
    "3.4028236e38",
    "1e400",
    "1234567890.123456789",
    "01",
    "1.",
    "-",
    ".5",
    "1x",
    "true",
    "false",
    "null",
    "nul",
    "tru",
    "[1, 2]",
    "[]",
    "{\"a\": 1}",
    "\"abc\"",
    "\"abcde\"",
    "\"\"",
    "\"a\\\"b\"",
    "\"a\\\\\"",
    "\"\\u00e9t\\u00e9\"",
    "\"été\"",
    "\"日本\"",
    "\"a\u{1}b\"",
    "\"a\tb\"",
    "\"2026-01-05\"",
    "\"2026-02-30\"",
    "\"2026-01-05 10:11:12\"",
    "\"2026-01-05T10:11:12.123456789Z\"",
    "\"10:11:12.5\"",
    "\"25:00:00\"",
    "\"NaN\"",
    "\"Infinity\"",
    "\"-Infinity\"",
    "\"12.5\"",
    "\"550e8400-e29b-41d4-a716-446655440000\"",
    "\"AQID\"",
    "\"true\"",
    "\"1\"",
];

/// Keys: mostly the columns in order (so the key cache hits), sometimes
/// other spellings, unknown keys and escaped keys.
fn key(c: usize, variant: u8) -> String {
    match variant {
        0 => format!("C{c}"),
        1 => "zz".into(),
        2 => format!("c\\u0030{c}"),
        3 => format!("\"c{c}\""),
        _ => format!("c{c}"),
    }
}

/// One line of the body from its parts.
fn line(fields: &[(usize, u8, &str)], ws: u8, broken: u8) -> Vec<u8> {
    let sp = match ws % 4 {
        0 => "",
        1 => " ",
        2 => "\t",
        _ => " \r ",
    };
    let mut s = format!("{sp}{{{sp}");
    for (k, &(c, kv, v)) in fields.iter().enumerate() {
        if k > 0 {
            s.push_str(&format!(",{sp}"));
        }
        let key = key(c, kv);
        let key = if key.starts_with('"') {
            key
        } else {
            format!("\"{key}\"")
        };
        s.push_str(&format!("{key}{sp}:{sp}{v}"));
    }
    s.push_str(&format!("{sp}}}{sp}"));
    let mut b = s.into_bytes();
    match broken {
        1 => {
            b.pop();
            b.pop();
        }
        2 => b.extend_from_slice(b" {\"c0\": 1}"),
        3 => b.insert(0, b'['),
        4 => b.extend_from_slice(b"\xff"),
        5 => {
            // Invalid UTF-8 inside a string of a known column.
            b = b"{\"c1\": \"a\xff\", \"c0\": 1}".to_vec();
        }
        6 => b = b"{\"c0\": 1,}".to_vec(),
        7 => b = b"[1, \"a\"]".to_vec(),
        _ => {}
    }
    b
}

/// A field: (column, key spelling, value index).
fn field() -> impl Strategy<Value = (usize, u8, usize)> {
    (
        0usize..20,
        prop_oneof![8 => Just(9u8), 1 => 0u8..4],
        prop_oneof![
            // The value a column most likely takes, so rows pass.
            3 => Just(usize::MAX),
            2 => 0usize..VALUES.len(),
        ],
    )
}

/// Mostly valid values per column, so most rows take the direct path.
fn good_value(c: usize, seed: usize) -> &'static str {
    const GOOD: [&[&str]; 20] = [
        &["1", "-17", "9223372036854775807", "null"],
        &["\"abc\"", "\"été\"", "\"\"", "null"],
        &["1.5", "-0", "0.1", "7", "\"NaN\""],
        &["true", "false"],
        &["\"2026-01-05\""],
        &["\"2026-01-05 10:11:12\"", "\"2026-01-05T10:11:12Z\""],
        &["5", "-2147483648"],
        &["12.50", "\"12.5\"", "7", "1e2"],
        &["\"ab\"", "\"日本\""],
        &["300", "-32768"],
        &["1.25", "3"],
        &["255", "0"],
        &["\"10:11:12.5\""],
        &["18446744073709551615"],
        &["42", "null"],
        &["\"550e8400-e29b-41d4-a716-446655440000\""],
        &["\"AQID\""],
        &["null"],
        &["null"],
        &["9"],
    ];
    let g = GOOD[c];
    g[seed % g.len()]
}

/// A generated row: its fields, whitespace style, breakage, and whether a
/// blank line follows.
type GenRow = (Vec<(usize, u8, usize)>, u8, u8, bool);

fn body_of(rows: &[GenRow]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, (fields, ws, broken, blank)) in rows.iter().enumerate() {
        let fields: Vec<(usize, u8, &str)> = fields
            .iter()
            .map(|&(c, kv, v)| {
                let v = match v {
                    usize::MAX => good_value(c, k),
                    v => VALUES[v % VALUES.len()],
                };
                (c, kv, v)
            })
            .collect();
        body.extend(line(&fields, *ws, *broken));
        body.push(b'\n');
        if *blank {
            body.extend_from_slice(b"  \n");
        }
    }
    body
}

/// The usual row: every column in order, well-formed.
fn plain_row() -> Vec<(usize, u8, usize)> {
    (0..20).map(|c| (c, 9, usize::MAX)).collect()
}

fn rows() -> impl Strategy<Value = Vec<GenRow>> {
    let row = (
        prop_oneof![
            3 => Just(plain_row()),
            2 => (Just(plain_row()), 0usize..20, field()).prop_map(|(mut r, at, f)| {
                r[at] = f;
                r
            }),
            // A key left out (its DEFAULT, NULL or an error), or two
            // swapped (the key cache misses, the slow walk takes it).
            2 => (Just(plain_row()), 0usize..20).prop_map(|(mut r, at)| {
                r.remove(at);
                r
            }),
            1 => (Just(plain_row()), 0usize..20, 0usize..20).prop_map(|(mut r, a, b)| {
                r.swap(a, b);
                r
            }),
            1 => proptest::collection::vec(field(), 0..24),
        ],
        prop_oneof![3 => Just(0u8), 1 => 0u8..4],
        prop_oneof![12 => Just(0u8), 1 => 0u8..8],
        prop_oneof![9 => Just(false), 1 => Just(true)],
    );
    proptest::collection::vec(row, 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any body, any chunking: the direct path gives what the general path
    /// gives (batches, records, errors with their offsets).
    #[test]
    fn direct_agrees_with_general(
        rows in rows(),
        cuts in proptest::collection::vec(0usize..100_000, 0..6),
        batch_rows in prop_oneof![Just(8192usize), 1usize..9],
        batch_bytes in prop_oneof![Just(1usize << 20), 50usize..2000],
    ) {
        let body = body_of(&rows);
        let o = opts(batch_rows, batch_bytes, 128);
        let (want, none) = decode(&body, &[], &o, false);
        prop_assert_eq!(none, 0);
        let (got, _) = decode(&body, &cuts, &o, true);
        prop_assert!(got == want, "{}\n{}", String::from_utf8_lossy(&body), diff(&got, &want));
    }
}

/// Both branches are exercised: good rows are taken, bad ones refused
/// (and then reported by the general path).
#[test]
fn direct_taken_and_refused() {
    let good = body_of(&vec![(plain_row(), 0, 0, false); 300]);
    let o = opts(8192, 1 << 20, 128);
    let (out, direct) = decode(&good, &[], &o, true);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(direct, 300);
    // Every 7th row with an escape, every 11th with a bad value.
    let mut rows = vec![(plain_row(), 0, 0, false); 300];
    for (k, r) in rows.iter_mut().enumerate() {
        if k % 7 == 3 {
            r.0[1].2 = VALUES.iter().position(|v| *v == "\"a\\\"b\"").unwrap();
        }
        if k % 11 == 5 {
            r.0[6].2 = VALUES.iter().position(|v| *v == "1.5").unwrap();
        }
    }
    let body = body_of(&rows);
    let (got, direct) = decode(&body, &[], &o, true);
    let (want, _) = decode(&body, &[], &o, false);
    assert_eq!(got, want);
    // The lines after a refused one go through a simd-json group.
    let bad = (0..300).filter(|k| k % 7 == 3 || k % 11 == 5).count() as u64;
    assert!(direct > 0 && direct <= 300 - bad, "{direct}");
    assert_eq!(
        got.errors.total,
        (0..300).filter(|k| k % 11 == 5).count() as u64
    );
    // A depth limit of 0 refuses every row (the general path reports).
    let (got, direct) = decode(&good[..500], &[], &opts(8192, 1 << 20, 0), true);
    assert_eq!(direct, 0);
    assert!(!got.errors.is_empty());
}

#[test]
fn numbers_follow_json_grammar() {
    let ok: &[(&str, bool)] = &[
        ("0", true),
        ("-0", true),
        ("12", true),
        ("1.5", false),
        ("-1e5", false),
        ("1E+2", false),
        ("0.0e-0", false),
    ];
    for &(t, int) in ok {
        let s = format!("{t},");
        assert_eq!(number(s.as_bytes(), 0), Some((t.len(), int)), "{t}");
    }
    let long = "1".repeat(25);
    for t in [
        "-", "-a", ".5", "1.", "1.e3", "1e", "1e+", "-.5", "1e400", "1e-001", &long,
    ] {
        let s = format!("{t},");
        assert_eq!(number(s.as_bytes(), 0), None, "{t}");
    }
    assert_eq!(number(b"01", 0), None);
    assert_eq!(number(b"-01", 0), None);
    assert_eq!(number(b"0", 0), Some((1, true)));
    // Runs longer than one 8-byte word, and ending at the slice's end.
    assert_eq!(number(b"12345678901234567,", 0), Some((17, true)));
    assert_eq!(number(b"-1234567890.1234567", 0), Some((19, false)));
}

#[test]
fn classify_matches_bytewise() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let alphabet = b"\"\\\x00\x1f\x20a{}\x7f\x80\xff\n";
    for _ in 0..200 {
        let block: [u8; BLOCK] = std::array::from_fn(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            alphabet[(seed % alphabet.len() as u64) as usize]
        });
        let want = classify_bytes(&block);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(super::classify_sse2(&block), want);
            if super::has_avx2() {
                // SAFETY: the CPU has AVX2 (checked just above).
                assert_eq!(unsafe { super::classify_avx2(&block) }, want);
            }
        }
        assert_eq!(super::classify(&block, super::has_avx2()), want);
    }
    let mut ix = Index::default();
    let text = b"0123456789\"abc\\de\"fg";
    ix.build(&[&[b'x'; 100][..], text].concat());
    assert_eq!(ix.next_stop(0), Some(110));
    assert_eq!(ix.next_stop(111), Some(114));
    assert_eq!(ix.next_stop(115), Some(117));
    assert_eq!(ix.next_stop(118), None);
}
