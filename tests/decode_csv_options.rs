//! CSV `delimiter=`, `header=true` and `null=`: the same batches as the
//! default form of the same data, in one chunk and byte by byte; what the
//! null text means in each kind of column.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;
use proptest::prelude::*;
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

fn opts(delimiter: u8, header: bool) -> DecodeOptions {
    DecodeOptions {
        batch_rows: 64,
        csv: CsvOptions {
            header,
            delimiter,
            ..CsvOptions::default()
        },
        ..options(Format::Csv)
    }
}

fn run(t: &std::sync::Arc<Table>, o: &DecodeOptions, body: &[u8]) -> Out {
    let whole = run_chunks(t, o, &[body]);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_same(&whole, &run_chunks(t, o, &bytes));
    whole
}

fn abc() -> std::sync::Arc<Table> {
    let sql = "CREATE TABLE t (a INT, b VARCHAR, c BIGINT DEFAULT 7)";
    std::sync::Arc::new(parse_program(sql).unwrap().remove(0))
}

/// A field of the property's rows: text free of structure, a quoted text
/// holding commas and semicolons, or empty.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,6}",
        "[a-z,;|]{0,6}".prop_map(|s| format!("\"{s}\"")),
        Just(String::new()),
    ]
}

proptest! {
    #[test]
    fn any_delimiter_gives_the_batches_of_a_comma(
        rows in prop::collection::vec((0i32..1000, field(), 0i64..99), 0..150),
        delim in prop::sample::select(vec![b';', b'\t', b'|']),
    ) {
        let t = abc();
        let line = |d: char| -> String {
            rows.iter().map(|(a, b, c)| format!("{a}{d}{b}{d}{c}\n")).collect()
        };
        let comma = run(&t, &opts(b',', false), line(',').as_bytes());
        let other = run(&t, &opts(delim, false), line(delim as char).as_bytes());
        assert_same(&comma, &other);
        prop_assert_eq!(other.errors.total, 0);
    }
}

#[test]
fn a_comma_is_text_under_another_delimiter() {
    let t = abc();
    let out = run(&t, &opts(b';', false), b"1;x,y;2\n");
    let b = &out.batches[0].data;
    assert_eq!(b.column(1).as_string::<i32>().value(0), "x,y");
}

#[test]
fn the_header_maps_fields_to_columns_by_name() {
    let t = abc();
    // Reordered, one unknown name, `c` absent (takes its DEFAULT).
    let body = b"B,extra,A\r\nx,zz,1\ny,zz,2\n";
    let out = run(&t, &opts(b',', true), body);
    assert_eq!(out.records, 2, "the header is not an event");
    let b = &out.batches[0].data;
    assert_eq!(b.column(0).as_primitive::<Int32Type>().values()[..], [1, 2]);
    let s = b.column(1).as_string::<i32>();
    assert_eq!((s.value(0), s.value(1)), ("x", "y"));
    assert_eq!(b.column(2).as_primitive::<Int64Type>().values()[..], [7, 7]);
    // Errors count data rows from 1.
    let out = run(&t, &opts(b',', true), b"a,b\n1,x\nbad,y\n");
    assert_eq!(out.errors.listed[0].event_number, 2);
    assert_eq!(out.errors.listed[0].field.as_deref(), Some("a"));
    // A header alone is no rows; the same body without `header` is a
    // bad first row.
    assert!(run(&t, &opts(b',', true), b"a,b,c\n").batches.is_empty());
    let out = run(&t, &opts(b',', false), b"a,b,c\n");
    assert_eq!(out.errors.total, 1);
}

#[test]
fn a_header_with_quotes_and_a_long_first_line_splits_like_any_record() {
    let t = abc();
    let mut body = b"\"a\",\"b\"\n".to_vec();
    for i in 0..300 {
        body.extend_from_slice(format!("{i},\"v,{i}\"\n").as_bytes());
    }
    let out = run(&t, &opts(b',', true), &body);
    assert_eq!(out.records, 300);
    let rows: usize = out.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 300);
    let last = out.batches.last().unwrap().data.clone();
    let n = last.num_rows() - 1;
    assert_eq!(last.column(1).as_string::<i32>().value(n), "v,299");
    assert!(!last.column(2).is_null(n));
}

fn with_null(o: DecodeOptions, text: &str) -> DecodeOptions {
    let null_text = NullText::new(text.as_bytes(), o.csv.delimiter).unwrap();
    DecodeOptions {
        csv: CsvOptions { null_text, ..o.csv },
        ..o
    }
}

/// One cell of a decoded row, as text (`None` for NULL).
fn cell(b: &arrow_array::RecordBatch, c: usize, r: usize) -> Option<String> {
    let a = b.column(c);
    if a.is_null(r) {
        return None;
    }
    let v = arrow_cast_text(a, r);
    Some(v)
}

/// Only the types these tests use.
fn arrow_cast_text(a: &arrow_array::ArrayRef, r: usize) -> String {
    use arrow_schema::DataType as D;
    match a.data_type() {
        D::Utf8 => a.as_string::<i32>().value(r).to_string(),
        D::Int32 => a.as_primitive::<Int32Type>().value(r).to_string(),
        D::Date32 => a.as_primitive::<Date32Type>().value(r).to_string(),
        D::List(_) => format!("list of {}", a.as_list::<i32>().value(r).len()),
        other => panic!("untested type {other}"),
    }
}

/// (body, null text, expected rows as text or the error's column).
type NullCase = (
    &'static str,
    Option<&'static str>,
    Result<Vec<Option<&'static str>>, &'static str>,
);

#[test]
fn the_null_text_is_null_unquoted_and_text_quoted() {
    let sql = "CREATE TABLE t (s VARCHAR, i INT, d DATE, a INT ARRAY, v VARIANT, \
               k VARCHAR NOT NULL DEFAULT 'dflt')";
    let t = std::sync::Arc::new(parse_program(sql).unwrap().remove(0));
    let cases: &[NullCase] = &[
        // Unquoted: NULL in every type.
        (
            "NULL,NULL,NULL,NULL,NULL,x",
            Some("NULL"),
            Ok(vec![None, None, None, None, None, Some("x")]),
        ),
        // Quoted: the text, for strings and VARIANT (JSON text `NULL` is
        // not JSON, so VARIANT refuses it like any other bad JSON).
        (
            "\"NULL\",1,,,,\"NULL\"",
            Some("NULL"),
            Ok(vec![
                Some("NULL"),
                Some("1"),
                None,
                None,
                None,
                Some("NULL"),
            ]),
        ),
        ("\"NULL\",\"NULL\",,,,x", Some("NULL"), Err("i")),
        ("x,1,\"NULL\",,,x", Some("NULL"), Err("d")),
        (",,,,\"NULL\",x", Some("NULL"), Err("v")),
        // In a NOT NULL column the null text is an error, even in a string
        // column where an empty field is the empty string.
        ("x,1,,,,NULL", Some("NULL"), Err("k")),
        (
            "x,1,,,,",
            Some("NULL"),
            Ok(vec![Some("x"), Some("1"), None, None, None, Some("")]),
        ),
        // A missing field still takes the DEFAULT.
        (
            "NULL",
            Some("NULL"),
            Ok(vec![None, None, None, None, None, Some("dflt")]),
        ),
        // Only the whole text, case and all.
        (
            "NULLx,1,,,,null",
            Some("NULL"),
            Ok(vec![
                Some("NULLx"),
                Some("1"),
                None,
                None,
                None,
                Some("null"),
            ]),
        ),
        (
            " NULL,1,,,,x",
            Some("NULL"),
            Ok(vec![Some(" NULL"), Some("1"), None, None, None, Some("x")]),
        ),
        // Without a null text, `NULL` is text (an error in typed columns).
        (
            "NULL,1,,,,NULL",
            None,
            Ok(vec![
                Some("NULL"),
                Some("1"),
                None,
                None,
                None,
                Some("NULL"),
            ]),
        ),
        ("x,NULL,,,,x", None, Err("i")),
        // Other spellings; empty fields keep their meaning.
        ("\\N,\\N,,[1],null,\\N", Some("\\N"), Err("k")),
        (
            "\\N,\\N,,[1],null,y",
            Some("\\N"),
            Ok(vec![None, None, None, Some("list of 1"), None, Some("y")]),
        ),
        (
            "\"\",1,2024-01-02,\"[]\",\"{}\",\"\"",
            Some("-"),
            Ok(vec![
                Some(""),
                Some("1"),
                Some("19724"),
                Some("list of 0"),
                Some("{}"),
                Some(""),
            ]),
        ),
    ];
    for &(body, null, ref want) in cases {
        let o = opts(b',', false);
        let o = null.map_or(o.clone(), |n| with_null(o, n));
        for body in [format!("{body}\n"), format!("{body}\r\n"), body.to_string()] {
            let out = run(&t, &o, body.as_bytes());
            match want {
                Ok(cells) => {
                    assert!(out.errors.is_empty(), "{body:?}: {:?}", out.errors);
                    let b = &out.batches[0].data;
                    let got: Vec<Option<String>> = (0..6).map(|c| cell(b, c, 0)).collect();
                    let cells: Vec<Option<String>> =
                        cells.iter().map(|c| c.map(str::to_string)).collect();
                    assert_eq!(got, cells, "{body:?} null={null:?}");
                }
                Err(column) => {
                    assert_eq!(out.errors.total, 1, "{body:?} null={null:?}");
                    let e = &out.errors.listed[0];
                    assert_eq!(e.field.as_deref(), Some(*column), "{body:?}: {e:?}");
                }
            }
        }
    }
}

#[test]
fn a_header_name_spelled_like_the_null_text_names_its_column() {
    let sql = "CREATE TABLE t (nil INT, b VARCHAR)";
    let t = std::sync::Arc::new(parse_program(sql).unwrap().remove(0));
    let o = with_null(opts(b'\t', true), "nil");
    let out = run(&t, &o, b"b\tnil\nx\t5\nnil\tnil\n");
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let b = &out.batches[0].data;
    assert_eq!(
        (cell(b, 0, 0), cell(b, 1, 0)),
        (Some("5".into()), Some("x".into()))
    );
    assert_eq!((cell(b, 0, 1), cell(b, 1, 1)), (None, None));
}

#[test]
fn a_null_text_is_refused_when_it_could_never_match() {
    assert_eq!(NullText::new(b"a;b", b';'), Err(NullTextError::Structural));
    assert_eq!(NullText::new(b"", b','), Err(NullTextError::Empty));
    let long = vec![b'n'; CSV_NULL_TEXT_BYTES_MAX + 1];
    assert_eq!(NullText::new(&long, b','), Err(NullTextError::TooLong));
}
