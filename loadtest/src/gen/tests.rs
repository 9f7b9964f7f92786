//! Generated rows must parse back, per type, with independent parsers.

use super::*;

fn default_cols() -> Vec<ColType> {
    parse_columns(DEFAULT_COLUMNS).unwrap()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

const ALL: &str = "tinyint,smallint,int,bigint,boolean,real,double,decimal(10,2),\
                   decimal(5),varchar,varchar(4),date,time,timestamp,tinyint unsigned,\
                   smallint unsigned,int unsigned,bigint unsigned,char(3),binary(4),\
                   varbinary(10),varbinary,uuid,variant,int array,map<varchar, double>,\
                   row(id int, \"Tag\" varchar(5), d date),date array array,\
                   map<int, row(x boolean, y varchar array)>";

#[test]
fn parses_column_specs() {
    let c = default_cols();
    assert_eq!(c.len(), 10);
    assert_eq!(c[7], ColType::Decimal(10, 2));
    let all = parse_columns(ALL).unwrap();
    assert_eq!(all.len(), 29);
    assert_eq!(all[10], ColType::Varchar(Some(4)));
    assert!(parse_columns("bigint,blob").is_err());
    assert!(parse_columns("decimal(10,2").is_err());
}

/// The spellings the server's descriptor uses (`SqlType::sql_name`) and the
/// others Feldera's SQL takes, each to its type; malformed ones refused.
#[test]
fn parses_server_type_names() {
    use ColType::*;
    let b = Box::new;
    for (text, want) in [
        ("INTEGER UNSIGNED", UInt),
        ("BIGINT  UNSIGNED", UBigInt),
        ("DECIMAL(12, 2)", Decimal(12, 2)),
        ("NUMERIC", Decimal(10, 0)),
        ("CHAR(3)", Char(3)),
        ("CHAR", Char(1)),
        ("VARCHAR(64)", Varchar(Some(64))),
        ("BINARY(4)", Binary(4)),
        ("BYTEA", Varbinary(None)),
        ("UUID", Uuid),
        ("VARIANT", Variant),
        ("VARCHAR ARRAY", Array(b(Varchar(None)))),
        ("INT[]", Array(b(Int))),
        ("ARRAY<DATE>", Array(b(Date))),
        ("DATE ARRAY ARRAY", Array(b(Array(b(Date))))),
        ("MAP<VARCHAR, INTEGER>", Map(b(Varchar(None)), b(Int))),
        (
            "MAP<INT, DECIMAL(5, 1) ARRAY>",
            Map(b(Int), b(Array(b(Decimal(5, 1))))),
        ),
        (
            "ROW(a INTEGER, \"B c\" DATE)",
            Row(vec![("a".into(), Int), ("\"B c\"".into(), Date)]),
        ),
        (
            "STRUCT<x MAP<INT, INT>>",
            Row(vec![("x".into(), Map(b(Int), b(Int)))]),
        ),
        ("ROW(a INT) ARRAY", Array(b(Row(vec![("a".into(), Int)])))),
        ("row (a int)", Row(vec![("a".into(), Int)])),
        ("MAP <INT, DATE>", Map(b(Int), b(Date))),
        ("ARRAY  <DATE>", Array(b(Date))),
        ("struct < x int >", Row(vec![("x".into(), Int)])),
        (
            "ROW(\"a\"\"b, c\" INT)",
            Row(vec![("\"a\"b, c\"".into(), Int)]),
        ),
    ] {
        assert_eq!(parse_type(text), Ok(want), "{text}");
    }
    for bad in [
        "MAP<INT>",
        "ROW(a)",
        "BOOLEAN UNSIGNED",
        "ARRAY<INT",
        "INTERVAL",
        "ROW(\"a INT)",
        "ROW (a INT",
        "ROWS(a INT)",
    ] {
        assert!(parse_type(bad).is_err(), "{bad}");
    }
}

/// Checks one value against its type, the way a strict decoder would:
/// scalars by their text, VARIANT and nested types as JSON (`check_json`).
fn check_value(t: &ColType, v: &str) {
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.decode(v).ok();
    let ok = match *t {
        ColType::TinyInt => v.parse::<i8>().is_ok(),
        ColType::SmallInt => v.parse::<i16>().is_ok(),
        ColType::Int => v.parse::<i32>().is_ok(),
        ColType::BigInt => v.parse::<i64>().is_ok(),
        ColType::Boolean => v == "true" || v == "false",
        ColType::Real => v.parse::<f32>().is_ok_and(f32::is_finite),
        ColType::Double => v.parse::<f64>().is_ok_and(f64::is_finite),
        ColType::Decimal(p, s) => {
            let digits = v.trim_start_matches('-');
            let (i, f) = digits.split_once('.').unwrap_or((digits, ""));
            let zero = i.bytes().chain(f.bytes()).all(|b| b == b'0');
            // `-0.00` equals `0.00`: a MAP key written so could repeat one.
            !(v.starts_with('-') && zero)
                && i.bytes().all(|b| b.is_ascii_digit())
                && f.bytes().all(|b| b.is_ascii_digit())
                // DECIMAL(1, 1) has no integer digits and writes `0.3`.
                && (i.len() <= (p - s) as usize || i == "0")
                && f.len() == s as usize
        }
        ColType::UTinyInt => v.parse::<u8>().is_ok(),
        ColType::USmallInt => v.parse::<u16>().is_ok(),
        ColType::UInt => v.parse::<u32>().is_ok(),
        ColType::UBigInt => v.parse::<u64>().is_ok(),
        ColType::Varchar(max) => max.is_none_or(|m| v.len() <= m as usize),
        ColType::Char(n) => !v.is_empty() && v.len() <= n as usize,
        ColType::Binary(n) => b64(v).is_some_and(|b| b.len() == n as usize),
        ColType::Varbinary(max) => {
            b64(v).is_some_and(|b| !b.is_empty() && b.len() <= max.unwrap_or(16).min(16) as usize)
        }
        ColType::Uuid => {
            let p: Vec<&str> = v.split('-').collect();
            p.iter().map(|s| s.len()).eq([8, 4, 4, 4, 12])
                && p.iter().all(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        ColType::Variant | ColType::Array(_) | ColType::Map(..) | ColType::Row(_) => {
            check_json(t, &serde_json::from_str(v).unwrap());
            true
        }
        ColType::Date => is_date(v),
        ColType::Time => is_time(v),
        ColType::Timestamp => {
            v.len() == 26
                && is_date(&v[..10])
                && &v[10..11] == " "
                && is_time(&v[11..19])
                && &v[19..20] == "."
                && v[20..].bytes().all(|b| b.is_ascii_digit())
        }
    };
    assert!(ok, "{v:?} is not a valid {t}");
}

/// A JSON value against its type: VARIANT is any value but `null`, an
/// ARRAY's items, a MAP's values and a ROW's fields their types, a MAP's
/// keys the key type's text, a ROW's keys its field names.
fn check_json(t: &ColType, v: &serde_json::Value) {
    use serde_json::Value as J;
    match (t, v) {
        (ColType::Variant, v) => assert!(!v.is_null()),
        (ColType::Array(e), J::Array(items)) => items.iter().for_each(|i| check_json(e, i)),
        (ColType::Map(k, e), J::Object(m)) => m.iter().for_each(|(key, v)| {
            check_value(k, key);
            check_json(e, v);
        }),
        (ColType::Row(fields), J::Object(m)) => {
            assert_eq!(m.len(), fields.len());
            for (name, t) in fields {
                check_json(t, &m[name.as_str()]);
            }
        }
        (ColType::Decimal(..) | ColType::Real | ColType::Double, J::Number(_)) => {}
        (ColType::Array(_) | ColType::Map(..) | ColType::Row(_), v) => panic!("{v} is not a {t}"),
        (_, J::String(s)) => check_value(t, s),
        (_, other) => check_value(t, &other.to_string()),
    }
}

fn is_date(v: &str) -> bool {
    let p: Vec<&str> = v.split('-').collect();
    p.len() == 3
        && p[0].len() == 4
        && p[1].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
        && p[2].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
}

fn is_time(v: &str) -> bool {
    let p: Vec<&str> = v.split(':').collect();
    p.len() == 3
        && p[0].parse::<u8>().is_ok_and(|h| h < 24)
        && p[1].parse::<u8>().is_ok_and(|m| m < 60)
        && p[2].parse::<u8>().is_ok_and(|s| s < 60)
}

#[test]
fn csv_rows_parse_with_valid_values() {
    let cols = parse_columns(ALL).unwrap();
    let mut g = RowGen::new(cols.clone(), names(cols.len()), Format::Csv, 7);
    let mut body = Vec::new();
    assert_eq!(g.write_body(&mut body, 500, None), 500);
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&body[..]);
    let mut rows = 0;
    let mut quoted = 0;
    for rec in rd.records() {
        let rec = rec.unwrap();
        assert_eq!(rec.len(), cols.len());
        for (t, v) in cols.iter().zip(rec.iter()) {
            check_value(t, v);
            quoted += usize::from(v.contains(',') || v.contains('"'));
        }
        rows += 1;
    }
    assert_eq!(rows, 500);
    assert!(quoted > 0, "some varchar values should need quoting");
}

#[test]
fn json_lines_parse_with_right_keys() {
    let cols = parse_columns(ALL).unwrap();
    let ns: Vec<String> = (0..cols.len()).map(|i| format!("col_{i}")).collect();
    let mut g = RowGen::new(cols.clone(), ns.clone(), Format::Json, 9);
    let mut body = Vec::new();
    g.write_body(&mut body, 300, None);
    let text = std::str::from_utf8(&body).unwrap();
    let mut rows = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), cols.len());
        for (t, n) in cols.iter().zip(&ns) {
            let val = &obj[n];
            match (t, val) {
                // serde_json re-prints floats (82.50 -> 82.5), so check
                // the magnitude here; the exact digits are checked on CSV.
                (ColType::Decimal(p, s), serde_json::Value::Number(n)) => {
                    let v = n.as_f64().unwrap();
                    assert!(v.abs() < 10f64.powi(i32::from(p - s)), "{v} overflows {t}");
                }
                (ColType::Decimal(..), other) => panic!("{other} is not a number"),
                (_, v) => check_json(t, v),
            }
        }
        rows += 1;
    }
    assert_eq!(rows, 300);
}

#[test]
fn body_bytes_fills_close_to_limit() {
    let cols = default_cols();
    let mut g = RowGen::new(cols.clone(), names(cols.len()), Format::Csv, 1);
    let mut body = Vec::new();
    let rows = g.write_body(&mut body, 1, Some(64 * 1024));
    assert!(
        body.len() <= 64 * 1024 && body.len() > 63 * 1024,
        "{}",
        body.len()
    );
    assert_eq!(rows as usize, body.iter().filter(|&&b| b == b'\n').count());
}

#[test]
fn same_seed_same_rows() {
    let mk = || {
        let mut g = RowGen::new(default_cols(), names(10), Format::Json, 42);
        let mut b = Vec::new();
        g.write_body(&mut b, 10, None);
        b
    };
    assert_eq!(mk(), mk());
}

/// A DECIMAL with no integer digits is zero one time in ten: it must come
/// out as `0.0`, never `-0.0`, and MAP keys must stay distinct as numbers.
#[test]
fn decimal_zero_has_no_sign_and_map_keys_stay_distinct() {
    let cols = parse_columns("decimal(1,1),map<decimal(1,1), int>").unwrap();
    let ns = names(cols.len());
    let mut g = RowGen::new(cols.clone(), ns.clone(), Format::Json, 5);
    let mut body = Vec::new();
    g.write_body(&mut body, 2000, None);
    let (mut zeros, mut keys) = (0, 0);
    for line in std::str::from_utf8(&body).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let d = v[&ns[0]].as_number().unwrap().to_string();
        check_value(&cols[0], &d);
        zeros += usize::from(d == "0.0");
        let map = v[&ns[1]].as_object().unwrap();
        let mut seen: Vec<f64> = Vec::new();
        for k in map.keys() {
            check_value(&ColType::Decimal(1, 1), k);
            let x: f64 = k.parse().unwrap();
            assert!(
                !seen.contains(&x),
                "key {k} repeats a key's value in {map:?}"
            );
            seen.push(x);
            keys += 1;
        }
    }
    assert!(
        zeros > 100,
        "zero should come up about 200 times, not {zeros}"
    );
    assert!(keys > 2000, "{keys} keys");
}
