//! The byte, unsigned and VARIANT types in both formats: exact values,
//! exact errors, and the same result from CSV and JSON for the same value;
//! JSON number edges (signed zero, REAL overflow) in both JSON paths.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use sluice::decode::*;
use sluice::table::*;

mod decode_support;
use decode_support::*;

/// One column `x` of type `t` (nullable); the body decoded in one chunk
/// and again byte by byte, which must agree.
fn decode(t: SqlType, format: Format, body: &str) -> Out {
    let table = table(vec![col("x", t, true, None)]);
    let o = options(format);
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
    let out = csv(t.clone(), "AAEC\n\"\"\nAAECAw==\nnot base64\n");
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
    let out = csv(t.clone(), "AAE=\nAQIDBA==\nAQIDBAU=\n");
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
    // As in CSV (quoted or not, spaces around it or not): the same value
    // reads the same from either format.
    let out = csv(SqlType::Variant, "null\n\" null \"\n\"[null]\"\n");
    let a = column(&out);
    assert!(a.is_null(0) && a.is_null(1), "{a:?}");
    assert_eq!(a.as_string::<i32>().value(2), "[null]");
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

/// The type of column `x` in `CREATE TABLE t (x <ty>)`, written as Feldera
/// writes it.
fn sql_type(ty: &str) -> SqlType {
    let tables = parse_program(&format!("CREATE TABLE t (x {ty})")).unwrap();
    tables[0].columns[0].sql_type.clone()
}

/// The column decoded from JSON rows `{"x": v}` and from CSV fields
/// holding each `v`, which must agree.
fn same_in_csv(t: &SqlType, values: &[&str]) -> ArrayRef {
    let out = json(t.clone(), values);
    let from_json = column(&out);
    let body: String = values
        .iter()
        .map(|v| format!("\"{}\"\n", v.replace('"', "\"\"")))
        .collect();
    let out = csv(t.clone(), &body);
    assert_eq!(&column(&out), &from_json, "CSV and JSON agree");
    from_json
}

#[test]
fn arrays_of_scalars_and_arrays() {
    let t = sql_type("INT ARRAY");
    assert_eq!(t.sql_name(), "INTEGER ARRAY");
    let a = same_in_csv(&t, &["[1, 2, 3]", "[]", "[null, 4]", "null"]);
    let l = a.as_list::<i32>();
    assert_eq!(l.value_offsets(), &[0, 3, 3, 5, 5]);
    assert!(l.is_null(3) && !l.is_null(1));
    let items = l.values().as_primitive::<Int32Type>();
    assert_eq!(items.values()[..], [1, 2, 3, 0, 4]);
    assert!(items.is_null(3));

    let t = sql_type("VARCHAR ARRAY ARRAY");
    assert_eq!(t, sql_type("VARCHAR[][]"));
    let a = same_in_csv(&t, &[r#"[["a", "b"], [], null, ["c"]]"#]);
    let inner = a.as_list::<i32>().value(0);
    let inner = inner.as_list::<i32>();
    assert_eq!(inner.value_offsets(), &[0, 2, 2, 2, 3]);
    assert!(inner.is_null(2));
    let s = inner.values().as_string::<i32>();
    assert_eq!((s.value(0), s.value(1), s.value(2)), ("a", "b", "c"));
}

#[test]
fn a_bad_element_rejects_the_record_and_leaves_nothing_behind() {
    let t = sql_type("SMALLINT ARRAY");
    let out = json(
        t.clone(),
        &["[1, 2]", "[3, \"x\", 4]", "[5, 99999]", "[6]", "7"],
    );
    let l = column(&out);
    let l = l.as_list::<i32>();
    assert_eq!(l.len(), 2);
    assert_eq!(l.value_offsets(), &[0, 2, 3]);
    assert_eq!(
        l.values().as_primitive::<Int16Type>().values()[..],
        [1, 2, 6]
    );
    let d: Vec<String> = errors(&out).into_iter().map(|e| e.1).collect();
    assert_eq!(
        d,
        [
            "expected SMALLINT ARRAY, found string",
            "value out of range for SMALLINT ARRAY",
            "expected SMALLINT ARRAY, found integer",
        ]
    );
    // The same in CSV, where fields hold JSON text; invalid JSON too.
    let out = csv(t, "\"[1, 2]\"\n\"[3, \"\"x\"\", 4]\"\n[\n\"[6]\"\n");
    let l = column(&out);
    let l = l.as_list::<i32>();
    assert_eq!(l.value_offsets(), &[0, 2, 3]);
    assert_eq!(
        l.values().as_primitive::<Int16Type>().values()[..],
        [1, 2, 6]
    );
    assert_eq!(errors(&out).iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn maps_parse_keys_as_the_key_type() {
    let t = sql_type("MAP<INT, VARCHAR ARRAY>");
    assert_eq!(t.sql_name(), "MAP<INTEGER, VARCHAR ARRAY>");
    let a = same_in_csv(&t, &[r#"{"1": ["a"], "2": null}"#, "{}", "null"]);
    let m = a.as_map();
    assert_eq!(m.value_offsets(), &[0, 2, 2, 2]);
    assert!(m.is_null(2));
    assert_eq!(m.keys().as_primitive::<Int32Type>().values()[..], [1, 2]);
    assert!(m.values().is_null(1));
    let out = json(t, &[r#"{"x": []}"#, "[]"]);
    let d: Vec<String> = errors(&out).into_iter().map(|e| e.1).collect();
    assert_eq!(
        d,
        [
            "expected MAP<INTEGER, VARCHAR ARRAY>, found invalid text",
            "expected MAP<INTEGER, VARCHAR ARRAY>, found array",
        ]
    );
}

#[test]
fn rows_from_objects_and_positional_arrays() {
    let t = sql_type("ROW(a INT, \"B\" DECIMAL(10, 2), c ROW(d BOOLEAN) ARRAY)");
    assert_eq!(
        t.sql_name(),
        "ROW(a INTEGER, \"B\" DECIMAL(10, 2), c ROW(d BOOLEAN) ARRAY)"
    );
    let a = same_in_csv(
        &t,
        &[
            r#"{"A": 1, "\"B\"": 12.345e1, "c": [{"d": true}, null]}"#,
            r#"[2, "0.5"]"#,
            r#"{"b": 1, "unknown": 3}"#,
            "null",
        ],
    );
    let s = a.as_struct();
    assert_eq!(s.len(), 4);
    assert!(s.is_null(3));
    let a0 = s.column(0).as_primitive::<Int32Type>();
    assert_eq!((a0.value(0), a0.value(1)), (1, 2));
    assert!(a0.is_null(2));
    let b = s.column(1).as_primitive::<Decimal128Type>();
    assert_eq!((b.value(0), b.value(1)), (12345, 50));
    // `"B"` is quoted: only the key `"\"B\""` matches it, not `b`.
    assert!(b.is_null(2));
    let c = s.column(2).as_list::<i32>();
    assert_eq!(c.value_offsets()[..2], [0, 2]);
    assert!(c.is_null(1));
    let d = c.values().as_struct().column(0).as_boolean();
    assert!(d.value(0));
    assert!(c.values().as_struct().is_null(1));
}

#[test]
fn nested_types_map_to_arrow_types() {
    use arrow_schema::DataType as D;
    let t = sql_type("MAP<VARCHAR, ROW(x BIGINT)>");
    let D::Map(entries, false) = t.arrow_type() else {
        panic!("{:?}", t.arrow_type())
    };
    let D::Struct(kv) = entries.data_type() else {
        panic!()
    };
    assert_eq!(kv[0].data_type(), &D::Utf8);
    assert!(!kv[0].is_nullable() && kv[1].is_nullable());
    assert!(matches!(kv[1].data_type(), D::Struct(f) if f[0].name() == "x"));
    assert!(matches!(sql_type("INT ARRAY").arrow_type(), D::List(f) if f.is_nullable()));
    let e = parse_program("CREATE TABLE t (x MAP<INT ARRAY, INT>)").unwrap_err();
    assert!(e.message.contains("MAP keys of type INTEGER ARRAY"), "{e}");
}

#[test]
fn json_string_policies_lone_surrogates_and_bad_utf8() {
    // A lone surrogate escape is not a character: the record is refused
    // (serde_json refuses it too), a valid pair is one character.
    let out = json(
        SqlType::Varchar(None),
        &[r#""\ud83d\ude00""#, r#""\ud800""#, r#""a\udc00b""#],
    );
    assert_eq!(column(&out).as_string::<i32>().value(0), "\u{1F600}");
    assert_eq!(errors(&out).iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
    assert!(serde_json::from_str::<String>(r#""\ud800""#).is_err());
    // Invalid UTF-8 in a CSV string field: an error naming the column.
    let table = table(vec![col("x", SqlType::Varchar(None), true, None)]);
    let out = run_chunks(&table, &options(Format::Csv), &[b"ok\n\xff\xfe\n"]);
    assert_eq!(column(&out).as_string::<i32>().value(0), "ok");
    assert_eq!(
        errors(&out),
        vec![(2, "expected VARCHAR, found invalid UTF-8".to_string())]
    );
}

/// Regression cases of `tests/decode_roundtrip.rs`'s differential against
/// serde_json: the tape reads `-0` as the integer 0, so float columns lost
/// its sign and unsigned columns took it; REAL turned a number beyond its
/// range into infinity. Each case runs through the column-at-a-time path
/// (rows on lines) and the row path (`array=true`).
#[test]
fn json_number_edges() {
    let range = |t: &str| Err(format!("value out of range for {t}"));
    let cases: Vec<(SqlType, &str, Result<f64, String>)> = vec![
        (SqlType::Double, "-0", Ok(-0.0)),
        (SqlType::Double, "0", Ok(0.0)),
        (SqlType::Double, "-0.0", Ok(-0.0)),
        (SqlType::Double, "-0e5", Ok(-0.0)),
        (SqlType::Real, "-0", Ok(-0.0)),
        (SqlType::Real, "1e39", range("REAL")),
        (SqlType::Real, "-1e39", range("REAL")),
        (SqlType::Real, "3.4028235e38", Ok(f32::MAX.into())),
        (SqlType::Real, "1e-50", Ok(0.0)),
        (SqlType::UTinyInt, "-0", range("TINYINT UNSIGNED")),
        (SqlType::UBigInt, "-0", range("BIGINT UNSIGNED")),
        (SqlType::UBigInt, "0", Ok(0.0)),
        (SqlType::TinyInt, "-0", Ok(0.0)),
        // The strings egress writes for what JSON numbers cannot hold.
        (SqlType::Double, "\"NaN\"", Ok(f64::NAN)),
        (SqlType::Double, "\"Infinity\"", Ok(f64::INFINITY)),
        (SqlType::Double, "\"-Infinity\"", Ok(f64::NEG_INFINITY)),
        (SqlType::Real, "\"-Infinity\"", Ok(f64::NEG_INFINITY)),
        (
            SqlType::Double,
            "\"inf\"",
            Err("expected DOUBLE, found string".into()),
        ),
        (
            SqlType::Real,
            "\"1.5\"",
            Err("expected REAL, found string".into()),
        ),
    ];
    for (t, text, want) in cases {
        let name = t.sql_name();
        let line = format!("{{\"x\": {text}}}\n");
        let o = DecodeOptions {
            array: true,
            ..options(Format::Json)
        };
        let table = table(vec![col("x", t.clone(), true, None)]);
        let in_array = run_chunks(&table, &o, &[format!("[{}]", line.trim()).as_bytes()]);
        for out in [json(t.clone(), &[text]), in_array] {
            let got = match errors(&out).first() {
                Some((_, e)) => Err(e.clone()),
                None => Ok(as_f64(&column(&out))),
            };
            let same = match (&got, &want) {
                (Ok(g), Ok(w)) => g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                (g, w) => g == w,
            };
            assert!(same, "{name} {text}: {got:?}, want {want:?}");
        }
    }
}

/// Row 0 of a numeric column as f64 (exact for the values above).
fn as_f64(a: &ArrayRef) -> f64 {
    use arrow_schema::DataType as D;
    match a.data_type() {
        D::Float64 => a.as_primitive::<Float64Type>().value(0),
        D::Float32 => a.as_primitive::<Float32Type>().value(0).into(),
        D::Int8 => a.as_primitive::<Int8Type>().value(0).into(),
        D::UInt8 => a.as_primitive::<UInt8Type>().value(0).into(),
        D::UInt64 => a.as_primitive::<UInt64Type>().value(0) as f64,
        other => panic!("untested type {other}"),
    }
}
