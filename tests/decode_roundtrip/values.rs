//! The round-trip tests' values: what is generated per column kind, and
//! the text each format writes for it. Dates are formatted by their own
//! civil-calendar routine (not sluice's), so the comparison is between two
//! independent implementations.

use std::collections::BTreeMap;

use base64::Engine;
use proptest::prelude::*;
use serde_json::Value;

/// A column's kind (the SQL type, as far as generation cares).
#[derive(Debug, Clone, Copy)]
pub enum K {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    /// DECIMAL(precision, scale).
    Dec(u32, usize),
    /// CHAR(n) (Some), VARCHAR(n) (Some), VARCHAR (None): at most n chars.
    Str(Option<usize>),
    Binary(usize),
    Varbinary,
    Date,
    Time,
    Ts,
    Uuid,
    /// INT ARRAY.
    Arr,
    /// MAP<VARCHAR, INT>.
    Map,
    /// ROW(x INT, y VARCHAR).
    Row,
    Variant,
}

/// A generated value.
#[derive(Debug, Clone)]
pub enum V {
    Null,
    Bool(bool),
    /// Every integer type.
    Int(i128),
    F32(f32),
    F64(f64),
    /// A DECIMAL's unscaled value.
    Dec(i128),
    Str(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    Ts(i64),
    Uuid([u8; 16]),
    Arr(Vec<Option<i32>>),
    Map(BTreeMap<String, Option<i32>>),
    Row(Option<i32>, Option<String>),
    /// VARIANT (a top-level `null` is SQL NULL).
    Json(Value),
}

/// Which of a value's equivalent written forms to use: bits `c` and
/// `c + 32` of a row's random word, for column `c`.
#[derive(Debug, Clone, Copy)]
pub struct Alt {
    pub a: bool,
    pub b: bool,
}

impl Alt {
    pub fn of(bits: u64, c: usize) -> Alt {
        Alt {
            a: bits >> (c % 32) & 1 == 1,
            b: bits >> (c % 32 + 32) & 1 == 1,
        }
    }
}

/// 0001-01-01 and 9999-12-31 in days since 1970-01-01: the years four
/// digits write.
const DAY_MIN: i64 = -719_162;
const DAY_MAX: i64 = 2_932_896;
const DAY_US: i64 = 86_400_000_000;

/// A value of kind `k` or, now and then, NULL. `finite`: no NaN or
/// infinities (JSON cannot write them).
pub fn nullable(k: K, finite: bool) -> BoxedStrategy<V> {
    prop_oneof![1 => Just(V::Null), 6 => value(k, finite)].boxed()
}

fn value(k: K, finite: bool) -> BoxedStrategy<V> {
    use prop::collection::{btree_map, vec};
    let int = |s: BoxedStrategy<i128>| s.prop_map(V::Int).boxed();
    match k {
        K::Bool => any::<bool>().prop_map(V::Bool).boxed(),
        K::I8 => int(any::<i8>().prop_map(i128::from).boxed()),
        K::I16 => int(any::<i16>().prop_map(i128::from).boxed()),
        K::I32 => int(any::<i32>().prop_map(i128::from).boxed()),
        K::I64 => int(any::<i64>().prop_map(i128::from).boxed()),
        K::U8 => int(any::<u8>().prop_map(i128::from).boxed()),
        K::U16 => int(any::<u16>().prop_map(i128::from).boxed()),
        K::U32 => int(any::<u32>().prop_map(i128::from).boxed()),
        K::U64 => int(any::<u64>().prop_map(i128::from).boxed()),
        K::F32 => f32s(finite).prop_map(V::F32).boxed(),
        K::F64 => f64s(finite).prop_map(V::F64).boxed(),
        K::Dec(p, _) => {
            let m = 10i128.pow(p) - 1;
            prop_oneof![-m..=m, Just(m), Just(-m), -1000i128..1000]
                .prop_map(V::Dec)
                .boxed()
        }
        K::Str(n) => vec(any::<char>(), 0..=n.unwrap_or(12))
            .prop_map(|c| V::Str(c.into_iter().collect()))
            .boxed(),
        K::Binary(n) => vec(any::<u8>(), 0..=n).prop_map(V::Bytes).boxed(),
        K::Varbinary => vec(any::<u8>(), 0..=10).prop_map(V::Bytes).boxed(),
        K::Date => (DAY_MIN as i32..=DAY_MAX as i32).prop_map(V::Date).boxed(),
        K::Time => prop_oneof![0..DAY_US, Just(0), Just(DAY_US - 1)]
            .prop_map(V::Time)
            .boxed(),
        // A day inside the range each side, so an offset keeps the local
        // time writable.
        K::Ts => ((DAY_MIN + 1) * DAY_US..DAY_MAX * DAY_US)
            .prop_map(V::Ts)
            .boxed(),
        K::Uuid => any::<[u8; 16]>().prop_map(V::Uuid).boxed(),
        K::Arr => vec(any::<Option<i32>>(), 0..4).prop_map(V::Arr).boxed(),
        K::Map => btree_map("\\PC{0,4}", any::<Option<i32>>(), 0..4)
            .prop_map(V::Map)
            .boxed(),
        K::Row => (any::<Option<i32>>(), prop::option::of("\\PC{0,5}"))
            .prop_map(|(x, y)| V::Row(x, y))
            .boxed(),
        K::Variant => json_value().prop_map(V::Json).boxed(),
    }
}

fn f64s(finite: bool) -> BoxedStrategy<f64> {
    use prop::num::f64 as F;
    let finite_any = F::POSITIVE | F::NEGATIVE | F::NORMAL | F::SUBNORMAL | F::ZERO;
    let specials =
        prop::sample::select(vec![0.0, -0.0, 1.0, 0.1, -2.5, f64::MAX, f64::MIN_POSITIVE]);
    if finite {
        prop_oneof![finite_any, specials].boxed()
    } else {
        prop_oneof![4 => finite_any, 2 => specials, 1 => F::INFINITE, 1 => Just(f64::NAN)].boxed()
    }
}

fn f32s(finite: bool) -> BoxedStrategy<f32> {
    use prop::num::f32 as F;
    let finite_any = F::POSITIVE | F::NEGATIVE | F::NORMAL | F::SUBNORMAL | F::ZERO;
    let specials = prop::sample::select(vec![0.0, -0.0, 0.1, f32::MAX, 1.0e-45, 16_777_217.0]);
    if finite {
        prop_oneof![finite_any, specials].boxed()
    } else {
        prop_oneof![4 => finite_any, 2 => specials, 1 => F::INFINITE, 1 => Just(f32::NAN)].boxed()
    }
}

/// Any JSON value, nested a few levels (within the tests' depth limit).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        f64s(true).prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `v` as a JSON value, written by serde_json.
pub fn json_text(k: K, v: &V, alt: Alt) -> String {
    let j = |x: &dyn erased::Ser| x.json();
    match v {
        V::Null => "null".into(),
        V::Bool(x) => j(x),
        V::Int(x) => j(x),
        V::F32(x) => j(x),
        V::F64(x) => j(x),
        V::Dec(x) => {
            let t = dec_text(*x, scale(k), alt.a);
            if alt.b {
                j(&t)
            } else {
                t
            }
        }
        V::Str(x) => j(x),
        V::Bytes(x) if alt.a => j(x),
        V::Bytes(x) => j(&base64(x)),
        V::Date(_) | V::Time(_) | V::Ts(_) | V::Uuid(_) => j(&csv_text(k, v, alt).unwrap()),
        V::Arr(x) => j(x),
        V::Map(x) => j(x),
        V::Row(x, y) if alt.a => j(&(x, y)),
        V::Row(x, y) => serde_json::json!({"x": x, "y": y}).to_string(),
        V::Json(x) if alt.a => serde_json::to_string_pretty(x).unwrap(),
        V::Json(x) => j(x),
    }
}

/// `v` as the text of a CSV field (`None`: NULL). Nested values and
/// VARIANT are their JSON text.
pub fn csv_text(k: K, v: &V, alt: Alt) -> Option<String> {
    Some(match v {
        V::Null => return None,
        V::Bool(x) if alt.a => x.to_string().to_uppercase(),
        V::Bool(x) => x.to_string(),
        V::Int(x) => x.to_string(),
        V::F32(x) => float_text(f64::from(*x), x.to_string(), format!("{x:?}"), alt),
        V::F64(x) => float_text(*x, x.to_string(), format!("{x:?}"), alt),
        V::Dec(x) => dec_text(*x, scale(k), alt.a),
        V::Str(x) => x.clone(),
        V::Bytes(x) => base64(x),
        V::Date(d) => date_text(i64::from(*d)),
        V::Time(us) => time_text(*us, alt),
        V::Ts(us) => ts_text(*us, alt),
        V::Uuid(u) => uuid_text(u, alt.a),
        V::Arr(_) | V::Map(_) | V::Row(..) | V::Json(_) => json_text(k, v, alt),
    })
}

fn scale(k: K) -> usize {
    match k {
        K::Dec(_, s) => s,
        _ => panic!("not a DECIMAL: {k:?}"),
    }
}

/// Display or Debug form (`1e300` vs all digits); infinities also as
/// `Infinity`.
fn float_text(x: f64, display: String, debug: String, alt: Alt) -> String {
    if x.is_infinite() && alt.b {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if alt.a {
        debug
    } else {
        display
    }
}

/// The unscaled value `m` at scale `s`: `-12.345`, or `-12345e-3`.
fn dec_text(m: i128, s: usize, exponent: bool) -> String {
    if exponent {
        return format!("{m}e-{s}");
    }
    let digits = format!("{:0>width$}", m.unsigned_abs(), width = s + 1);
    let (int, frac) = digits.split_at(digits.len() - s);
    let sign = if m < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (Howard Hinnant's
/// `civil_from_days`).
fn date_text(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS`, `.ffffff` (always when not whole seconds), and with
/// `alt.b` three more digits, which the decoder truncates.
fn time_text(us: i64, alt: Alt) -> String {
    let (s, frac) = (us / 1_000_000, us % 1_000_000);
    let hms = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    match (frac, alt.a, alt.b) {
        (0, true, _) => hms,
        (_, _, false) => format!("{hms}.{frac:06}"),
        (_, _, true) => format!("{hms}.{frac:06}987"),
    }
}

/// Date and time, `T` or space between; with `alt.b` as local time at
/// an offset (+01:00 or -05:30).
fn ts_text(us: i64, alt: Alt) -> String {
    let sep = if alt.a { 'T' } else { ' ' };
    let (offset_s, suffix) = match (alt.b, alt.a) {
        (false, _) => (0, ""),
        (true, true) => (3600, "+01:00"),
        (true, false) => (-(5 * 3600 + 1800), "-05:30"),
    };
    let local = us + offset_s * 1_000_000;
    let (days, in_day) = (local.div_euclid(DAY_US), local.rem_euclid(DAY_US));
    let whole = Alt { a: false, b: false };
    format!(
        "{}{sep}{}{suffix}",
        date_text(days),
        time_text(in_day, whole)
    )
}

fn uuid_text(u: &[u8; 16], upper: bool) -> String {
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    let t = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    if upper {
        t.to_uppercase()
    } else {
        t
    }
}

/// Base64 as the decoders take it (standard alphabet, padded).
fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// serde_json's writer behind one object-safe call.
mod erased {
    pub trait Ser {
        fn json(&self) -> String;
    }

    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

#[test]
fn text_forms() {
    assert_eq!(date_text(0), "1970-01-01");
    assert_eq!(date_text(DAY_MIN), "0001-01-01");
    assert_eq!(date_text(DAY_MAX), "9999-12-31");
    assert_eq!(date_text(19_724), "2024-01-02");
    assert_eq!(dec_text(-12_345, 3, false), "-12.345");
    assert_eq!(dec_text(5, 3, false), "0.005");
    assert_eq!(dec_text(-5, 3, true), "-5e-3");
    let no = Alt { a: false, b: false };
    assert_eq!(time_text(3_723_000_004, no), "01:02:03.000004");
    assert_eq!(
        ts_text(-1, Alt { a: true, b: true }),
        "1970-01-01T00:59:59.999999+01:00"
    );
}
