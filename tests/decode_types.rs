//! The byte, unsigned and VARIANT types in both formats: exact values,
//! exact errors, and the same result from CSV and JSON for the same value.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

fn opts(format: Format) -> DecodeOptions {
    DecodeOptions {
        format,
        update_format: UpdateFormat::Raw,
        array: false,
        batch_rows: 1024,
        batch_bytes: 1 << 20,
        record_bytes_max: 1 << 16,
        json_depth_max: 8,
    }
}

/// One column `x` of type `t` (nullable); the body decoded in one chunk
/// and again byte by byte, which must agree.
fn decode(t: SqlType, format: Format, body: &str) -> Out {
    let table = table(vec![col("x", t, true, None)]);
    let o = opts(format);
    let whole = run_chunks(&table, &o, &[body.as_bytes()]);
    let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
    assert_same(&whole, &run_chunks(&table, &o, &bytes));
    whole
}

/// The column of a one-batch result.
fn column(out: &Out) -> ArrayRef {
    assert_eq!(out.batches.len(), 1, "errors: {:?}", out.errors);
    out.batches[0].data.column(0).clone()
}

/// (event, description) of each error.
fn errors(out: &Out) -> Vec<(u64, String)> {
    let e = &out.errors.listed;
    e.iter()
        .map(|e| (e.event_number, e.description.clone()))
        .collect()
}

fn csv(t: SqlType, body: &str) -> Out {
    decode(t, Format::Csv, body)
}

/// JSON rows `{"x": v}` for each value text.
fn json(t: SqlType, values: &[&str]) -> Out {
    let body: String = values.iter().map(|v| format!("{{\"x\": {v}}}\n")).collect();
    decode(t, Format::Json, &body)
}

#[test]
fn unsigned_integers() {
    let out = csv(SqlType::UBigInt, "0\n+7\n18446744073709551615\n\n");
    let a = column(&out);
    let a = a.as_primitive::<UInt64Type>();
    assert_eq!(a.values(), &[0, 7, u64::MAX]);
    let out = json(SqlType::UBigInt, &["0", "18446744073709551615", "null"]);
    let a = column(&out);
    assert_eq!(a.as_primitive::<UInt64Type>().values(), &[0, u64::MAX, 0]);
    assert!(a.is_null(2));

    let out = csv(SqlType::UTinyInt, "255\n256\n-0\n-1\nx\n");
    assert_eq!(column(&out).as_primitive::<UInt8Type>().values(), &[255]);
    let want = |d: &str| format!("{d} TINYINT UNSIGNED");
    assert_eq!(
        errors(&out),
        vec![
            (2, want("value out of range for")),
            (3, "expected TINYINT UNSIGNED, found invalid text".into()),
            (4, "expected TINYINT UNSIGNED, found invalid text".into()),
            (5, "expected TINYINT UNSIGNED, found invalid text".into()),
        ]
    );
    let out = json(
        SqlType::USmallInt,
        &["65535", "65536", "-1", "1.0", "\"1\""],
    );
    assert_eq!(column(&out).as_primitive::<UInt16Type>().values(), &[65535]);
    let d: Vec<String> = errors(&out).into_iter().map(|e| e.1).collect();
    assert_eq!(
        d,
        [
            "value out of range for SMALLINT UNSIGNED",
            "value out of range for SMALLINT UNSIGNED",
            "expected SMALLINT UNSIGNED, found float",
            "expected SMALLINT UNSIGNED, found string",
        ]
    );
}

#[test]
fn varbinary_from_base64_and_byte_arrays() {
    let t = SqlType::Varbinary(Some(3));
    // (A blank CSV line is no record; `""` is the empty value.)
    let out = csv(t, "AAEC\n\"\"\nAAECAw==\nnot base64\n");
    let a = column(&out);
    let a = a.as_binary::<i32>();
    assert_eq!(a.len(), 2);
    assert_eq!(a.value(0), &[0, 1, 2]);
    assert_eq!(a.value(1), b"");
    assert_eq!(
        errors(&out),
        vec![
            (3, "string longer than VARBINARY(3)".into()),
            (4, "expected VARBINARY(3), found invalid text".into()),
        ]
    );
    let out = json(
        t,
        &["\"AAEC\"", "[255, 0]", "[]", "[256]", "[1, [2]]", "true"],
    );
    let a = column(&out);
    let a = a.as_binary::<i32>();
    assert_eq!(
        (a.value(0), a.value(1), a.value(2)),
        (&[0, 1, 2][..], &[255, 0][..], &[][..])
    );
    let d: Vec<String> = errors(&out).into_iter().map(|e| e.1).collect();
    assert_eq!(
        d,
        [
            "value out of range for VARBINARY(3)",
            "expected VARBINARY(3), found nested array",
            "expected VARBINARY(3), found boolean",
        ]
    );
}

#[test]
fn binary_is_zero_padded_to_its_size() {
    let t = SqlType::Binary(4);
    let out = csv(t, "AAE=\nAQIDBA==\nAQIDBAU=\n");
    let a = column(&out);
    let a = a.as_fixed_size_binary();
    assert_eq!((a.value_length(), a.len()), (4, 2));
    assert_eq!(
        (a.value(0), a.value(1)),
        (&[0, 1, 0, 0][..], &[1, 2, 3, 4][..])
    );
    assert_eq!(
        errors(&out),
        vec![(3, "string longer than BINARY(4)".into())]
    );
    let out = json(t, &["[7]", "null", "\"AQIDBA==\""]);
    let a = column(&out);
    let a = a.as_fixed_size_binary();
    assert_eq!(a.value(0), &[7, 0, 0, 0]);
    assert!(a.is_null(1));
    assert_eq!(a.value(2), &[1, 2, 3, 4]);
}

#[test]
fn uuids_in_both_formats() {
    let u = "123e4567-e89b-12d3-a456-426614174000";
    let bytes = [
        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40,
        0x00,
    ];
    // `""` is NULL in a column that is not a string type.
    let out = csv(
        SqlType::Uuid,
        &format!("{u}\n{}\n\"\"\n123e4567\n", u.to_uppercase()),
    );
    let a = column(&out);
    let a = a.as_fixed_size_binary();
    assert_eq!((a.value(0), a.value(1)), (&bytes[..], &bytes[..]));
    assert!(a.is_null(2));
    assert_eq!(
        errors(&out),
        vec![(4, "expected UUID, found invalid text".into())]
    );
    let out = json(SqlType::Uuid, &[&format!("\"{u}\""), "1"]);
    assert_eq!(column(&out).as_fixed_size_binary().value(0), &bytes);
    assert_eq!(
        errors(&out),
        vec![(2, "expected UUID, found integer".into())]
    );
}

#[test]
fn variant_keeps_the_json_text_minus_whitespace() {
    let values = [
        r#"{"a" : [1.50, -0, 1e3], "b": "x \" y"}"#,
        "12345678901234567890123",
        r#""just a string""#,
        "[ ]",
        "true",
    ];
    let want = [
        r#"{"a":[1.50,-0,1e3],"b":"x \" y"}"#,
        "12345678901234567890123",
        r#""just a string""#,
        "[]",
        "true",
    ];
    let out = json(SqlType::Variant, &values);
    let from_json = column(&out);
    let s = from_json.as_string::<i32>();
    assert_eq!(s.iter().map(Option::unwrap).collect::<Vec<_>>(), want);
    // The same values as CSV fields (quoted, `""` escapes) give the same text.
    let body: String = values
        .iter()
        .map(|v| format!("\"{}\"\n", v.replace('"', "\"\"")))
        .collect();
    let out = csv(SqlType::Variant, &body);
    assert_eq!(&column(&out), &from_json);
    // JSON null is SQL NULL; bad JSON text in CSV is an error.
    let out = csv(SqlType::Variant, "\"\"\n\"{\"\"a\"\":\"\n\"[1,]\"\n");
    assert!(column(&out).is_null(0));
    let want = (2..=3).map(|e| (e, "expected VARIANT, found invalid text".to_string()));
    assert_eq!(errors(&out), want.collect::<Vec<_>>());
    let out = json(SqlType::Variant, &["null", r#"{"k": {"x": null}}"#]);
    let a = column(&out);
    assert!(a.is_null(0));
    assert_eq!(a.as_string::<i32>().value(1), r#"{"k":{"x":null}}"#);
}

#[test]
fn new_types_round_trip_through_the_catalog() {
    let sql = "CREATE TABLE t (a TINYINT UNSIGNED, b BIGINT UNSIGNED, c BINARY(8), \
               d VARBINARY, e VARBINARY(16), f BYTEA, g UUID, h VARIANT)";
    let tables = parse_program(sql).unwrap();
    let names: Vec<String> = tables[0]
        .columns
        .iter()
        .map(|c| c.sql_type.sql_name())
        .collect();
    assert_eq!(
        names,
        [
            "TINYINT UNSIGNED",
            "BIGINT UNSIGNED",
            "BINARY(8)",
            "VARBINARY",
            "VARBINARY(16)",
            "VARBINARY",
            "UUID",
            "VARIANT"
        ]
    );
    assert_eq!(
        tables[0].schema.field(2).data_type(),
        &arrow_schema::DataType::FixedSizeBinary(8)
    );
}
