//! The direct path against the general path: same batches, records and
//! errors for any body and any chunking, with the direct path taken where
//! it can be and refused elsewhere.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use proptest::prelude::*;

use super::super::JsonDecoder;
use super::{classify_bytes, number, Index, ScalarKind, Scan, BLOCK};
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
    r#""\/\b\f\n\r\t""#,
    r#""\uD83D\uDE00\ud83d\ude00""#,
    r#""\u0000\u001F\uFFFF""#,
    r#""\uD800""#,
    r#""\uDC00x""#,
    r#""\uD800\u0041""#,
    r#""\uD800\uD800""#,
    r#""\u12""#,
    r#""\u12G4""#,
    r#""\x""#,
    r#""\'""#,
    r#""2026\u002d01-05""#,
    r#""2026-01-05\u0020\u00310:11:12""#,
    r#""10:11:12\u002e5""#,
    r#""N\u0061N""#,
    r#""-\u0049nfinity""#,
    r#""1\u0032.5""#,
    r#""550e8400-e29b-41d4-a716-44665544\u0030000""#,
    r#""AQ\u0049D""#,
    r#""\u65e5\u672c\u65e5\u672c""#,
    r#""ab\u00e9\u00e9x""#,
    r#""t\u0072ue""#,
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

/// A field's value: the one its column most likely takes, one of
/// `VALUES`, or a generated string (`escaped_string`).
#[derive(Clone, Debug)]
enum Val {
    Good,
    Fixed(usize),
    Text(String),
}

/// A field: (column, key spelling, value).
type Field = (usize, u8, Val);

fn field() -> impl Strategy<Value = Field> {
    (
        0usize..20,
        prop_oneof![8 => Just(9u8), 1 => 0u8..4],
        prop_oneof![
            // The value a column most likely takes, so rows pass.
            3 => Just(Val::Good),
            2 => (0usize..VALUES.len()).prop_map(Val::Fixed),
            1 => escaped_string().prop_map(Val::Text),
        ],
    )
}

/// Escapes simd-json and serde_json take, with what they stand for.
const GOOD_ESCAPES: &[(&str, &str)] = &[
    (r#"\""#, "\""),
    (r"\\", "\\"),
    (r"\/", "/"),
    (r"\b", "\u{8}"),
    (r"\f", "\u{c}"),
    (r"\n", "\n"),
    (r"\r", "\r"),
    (r"\t", "\t"),
    (r"\u0000", "\0"),
    (r"\u001f", "\u{1f}"),
    (r"\u0041", "A"),
    (r"\u007F", "\u{7f}"),
    (r"\u00e9", "é"),
    (r"\u00E9", "é"),
    (r"\u07FF", "\u{7ff}"),
    (r"\u0800", "\u{800}"),
    (r"\u65e5", "日"),
    (r"\uFFFF", "\u{ffff}"),
    (r"\uD7FF", "\u{d7ff}"),
    (r"\uE000", "\u{e000}"),
    (r"\uD83D\uDE00", "😀"),
    (r"\ud83d\ude00", "😀"),
    (r"\uD800\uDC00", "\u{10000}"),
    (r"\uDBFF\uDFFF", "\u{10ffff}"),
];

/// Escapes they refuse, raw control bytes (text they refuse), and a lone
/// backslash (which escapes whatever follows, the closing quote even).
const BAD_ESCAPES: &[&str] = &[
    r"\x",
    r"\'",
    r"\a",
    r"\U0041",
    r"\u12",
    r"\u12G4",
    r"\u 123",
    r"\uD800",
    r"\uDBFF",
    r"\uDC00",
    r"\uDFFF",
    r"\uD800\u0041",
    r"\uD800\uD800",
    r"\uD800\n",
    r"\uD800x",
    r"\uDC00\uD800",
    "\u{1}",
    "\u{1f}",
    "\\",
];

/// A JSON string of plain runs (of any length, so escapes land at every
/// offset of a 64-byte block) and escapes, mostly good ones.
fn escaped_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-z é日,]{0,70}",
        4 => proptest::sample::select(GOOD_ESCAPES).prop_map(|(e, _)| e.to_string()),
        1 => proptest::sample::select(BAD_ESCAPES).prop_map(str::to_string),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()))
}

/// Mostly valid values per column, so most rows take the direct path.
fn good_value(c: usize, seed: usize) -> &'static str {
    const GOOD: [&[&str]; 20] = [
        &["1", "-17", "9223372036854775807", "null"],
        &[
            "\"abc\"",
            "\"été\"",
            "\"\"",
            "null",
            r#""x,\"y\"""#,
            r#""\u00e9t\u00e9 \ud83d\ude00""#,
            r#""a\\b\/c\td\n""#,
        ],
        &["1.5", "-0", "0.1", "7", "\"NaN\"", r#""N\u0061N""#],
        &["true", "false"],
        &["\"2026-01-05\"", r#""2026\u002d01-05""#],
        &["\"2026-01-05 10:11:12\"", "\"2026-01-05T10:11:12Z\""],
        &["5", "-2147483648"],
        &["12.50", "\"12.5\"", "7", "1e2", r#""1\u0032.5""#],
        &["\"ab\"", "\"日本\"", r#""a\"b""#, r#""\u65e5\u672c""#],
        &["300", "-32768"],
        &["1.25", "3"],
        &["255", "0"],
        &["\"10:11:12.5\"", r#""10:11:12\u002e5""#],
        &["18446744073709551615"],
        &["42", "null"],
        &["\"550e8400-e29b-41d4-a716-446655440000\""],
        &["\"AQID\"", r#""AQ\u0049D""#],
        &["null"],
        &["null"],
        &["9"],
    ];
    let g = GOOD[c];
    g[seed % g.len()]
}

/// A generated row: its fields, whitespace style, breakage, and whether a
/// blank line follows.
type GenRow = (Vec<Field>, u8, u8, bool);

fn body_of(rows: &[GenRow]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, (fields, ws, broken, blank)) in rows.iter().enumerate() {
        let fields: Vec<(usize, u8, &str)> = fields
            .iter()
            .map(|(c, kv, v)| {
                let v = match v {
                    Val::Good => good_value(*c, k),
                    Val::Fixed(v) => VALUES[v % VALUES.len()],
                    Val::Text(t) => t,
                };
                (*c, *kv, v)
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
fn plain_row() -> Vec<Field> {
    (0..20).map(|c| (c, 9, Val::Good)).collect()
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
            // A string with escapes in a VARCHAR column: most such rows
            // are taken.
            2 => (Just(plain_row()), escaped_string()).prop_map(|(mut r, s)| {
                r[1].2 = Val::Text(s);
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
        esc_cuts in proptest::collection::vec((any::<usize>(), 0usize..3), 0..4),
        batch_rows in prop_oneof![Just(8192usize), 1usize..9],
        batch_bytes in prop_oneof![Just(1usize << 20), 50usize..2000],
    ) {
        let body = body_of(&rows);
        let o = opts(batch_rows, batch_bytes, 128);
        let (want, none) = decode(&body, &[], &o, false);
        prop_assert_eq!(none, 0);
        let cuts = [cuts, cuts_at_escapes(&body, &esc_cuts)].concat();
        let (got, _) = decode(&body, &cuts, &o, true);
        prop_assert!(got == want, "{}\n{}", String::from_utf8_lossy(&body), diff(&got, &want));
    }
}

/// Chunk ends at, inside and right after escapes: for each `(k, off)`,
/// the kth backslash of `body` (wrapping) plus `off` bytes.
fn cuts_at_escapes(body: &[u8], at: &[(usize, usize)]) -> Vec<usize> {
    let bs: Vec<usize> = memchr::memchr_iter(b'\\', body).collect();
    if bs.is_empty() {
        return Vec::new();
    }
    at.iter().map(|&(k, off)| bs[k % bs.len()] + off).collect()
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
    // Every 7th row with an escaped key, every 11th with a bad value.
    let mut rows = vec![(plain_row(), 0, 0, false); 300];
    for (k, r) in rows.iter_mut().enumerate() {
        if k % 7 == 3 {
            r.0[1].1 = 2;
        }
        if k % 11 == 5 {
            r.0[6].2 = Val::Text("1.5".into());
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

/// A body of one plain row with column `c`'s value replaced by `value`
/// (JSON text); both paths must agree on it. Returns the direct path's
/// outcome and the rows it wrote itself.
fn one_row(c: usize, value: &str) -> (Outcome, u64) {
    let mut fields = plain_row();
    fields[c].2 = Val::Text(value.into());
    let body = body_of(&[(fields, 0, 0, false)]);
    let o = opts(8192, 1 << 20, 128);
    let (want, _) = decode(&body, &[], &o, false);
    let (got, direct) = decode(&body, &[], &o, true);
    assert_eq!(got, want, "{value}\n{}", diff(&got, &want));
    (got, direct)
}

/// The VARCHAR column c1 of a one-row outcome.
fn c1(out: &Outcome) -> String {
    out.batches[0]
        .0
        .column(1)
        .as_string::<i32>()
        .value(0)
        .into()
}

/// Each escape simd-json takes is taken here too, unescaped to the same
/// text, alone and between other text.
#[test]
fn escapes_taken() {
    for &(esc, want) in GOOD_ESCAPES {
        for (pre, post) in [("", ""), ("ab", "c"), ("日", "é")] {
            let (out, direct) = one_row(1, &format!("\"{pre}{esc}{post}\""));
            assert_eq!(direct, 1, "{esc}");
            assert_eq!(c1(&out), format!("{pre}{want}{post}"), "{esc}");
        }
    }
    // Several in a row, and a surrogate pair after a one-letter escape.
    let (out, direct) = one_row(1, r#""\"\\\/\n\u00e9\uD83D\uDE00\t""#);
    assert_eq!(direct, 1);
    assert_eq!(c1(&out), "\"\\/\né😀\t");
}

/// Escaped strings into the columns that parse text: the unescaped text
/// is parsed, as by the general path (`one_row` compares the values).
#[test]
fn escaped_text_into_typed_columns() {
    let cases: &[(usize, &str)] = &[
        (2, r#""N\u0061N""#),
        (2, r#""-\u0049nfinity""#),
        (4, r#""2026\u002d01-05""#),
        (5, r#""2026-01-05\u0020\u00310:11:12""#),
        (7, r#""1\u0032.5""#),
        (8, r#""\u65e5\u672c\u65e5\u672c""#),
        (10, r#""Inf\u0069nity""#),
        (12, r#""10:11:12\u002e5""#),
        (15, r#""550e8400-e29b-41d4-a716-44665544\u0030000""#),
        (16, r#""AQ\u0049D""#),
    ];
    for &(c, v) in cases {
        let (out, direct) = one_row(c, v);
        assert_eq!(direct, 1, "c{c} {v}");
        assert!(out.errors.is_empty(), "c{c} {v}: {:?}", out.errors);
    }
}

/// Each escape simd-json refuses, a raw control byte, an escaped key, an
/// escaped string a column does not take: the direct path refuses the row
/// and the general path reports it (or, for the key, takes it).
#[test]
fn escapes_refused() {
    for esc in BAD_ESCAPES {
        let (out, direct) = one_row(1, &format!("\"a{esc}z\""));
        assert_eq!(direct, 0, "{esc:?}");
        assert!(!out.errors.is_empty(), "{esc:?}");
    }
    // The backslash as the line's last bytes: no closing quote.
    let (_, direct) = one_row(19, r#""\"#);
    assert_eq!(direct, 0);
    // Five characters into VARCHAR(4), a bad date, a string into an INT.
    for (c, v) in [
        (8, r#""ab\u00e9\u00e9x""#),
        (4, r#""2026\u002d02-30""#),
        (6, r#""\u0031""#),
    ] {
        let (out, direct) = one_row(c, v);
        assert_eq!(direct, 0, "c{c} {v}");
        assert_eq!(out.errors.total, 1, "c{c} {v}");
    }
    let mut fields = plain_row();
    fields[1].1 = 2;
    let body = body_of(&[(fields, 0, 0, false)]);
    let (out, direct) = decode(&body, &[], &opts(8192, 1 << 20, 128), true);
    assert_eq!(direct, 0);
    assert!(out.errors.is_empty());
}

/// Escapes straddling each offset of a 64-byte block of stage 1.
#[test]
fn escapes_at_block_boundaries() {
    for pad in 0..(2 * BLOCK + 8) {
        for (esc, want) in [(r#"\""#, "\""), (r"\u00e9", "é"), (r"\uD83D\uDE00", "😀")] {
            let a = "a".repeat(pad);
            let (out, direct) = one_row(1, &format!("\"{a}{esc}z{esc}\""));
            assert_eq!(direct, 1, "{pad} {esc}");
            assert_eq!(c1(&out), format!("{a}{want}z{want}"));
        }
    }
}

/// Stage 2's reading of the JSON string `lit`: its text, `None` when it
/// refuses it or it does not end where `lit` does.
fn scan_string(lit: &str) -> Option<String> {
    let src = format!("{lit}}}\n");
    let mut index = Index::default();
    index.build(src.as_bytes());
    let mut text = Vec::new();
    let mut scan = Scan {
        src: src.as_bytes(),
        index: &index,
        text: &mut text,
    };
    let (v, after) = scan.scalar(0, src.len() - 1)?;
    if v.kind != ScalarKind::Str {
        return None;
    }
    let buf = if text.is_empty() {
        src.as_bytes()
    } else {
        &text
    };
    let s = String::from_utf8(buf[v.start as usize..v.end as usize].to_vec());
    (after == lit.len()).then(|| s.expect("unescaped text is UTF-8"))
}

/// simd-json's reading of the JSON string `lit`.
fn simd_string(lit: &str) -> Option<String> {
    let mut b = lit.as_bytes().to_vec();
    match simd_json::to_tape(&mut b).ok()?.0.first()? {
        simd_json::Node::String(s) => Some(s.to_string()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Stage 2 unescapes exactly the strings simd-json and serde_json
    /// take, to the same text.
    #[test]
    fn unescape_agrees_with_simd_json_and_serde(lit in escaped_string()) {
        let got = scan_string(&lit);
        prop_assert_eq!(&got, &simd_string(&lit), "{}", lit);
        prop_assert_eq!(&got, &serde_json::from_str::<String>(&lit).ok(), "{}", lit);
    }
}
