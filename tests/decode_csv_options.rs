//! CSV `delimiter=` and `header=true`: the same batches as the default
//! form of the same data, in one chunk and byte by byte.

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
        csv: CsvOptions { header, delimiter },
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
