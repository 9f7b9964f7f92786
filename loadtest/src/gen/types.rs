//! Column types the generator produces values for, parsed from `--columns`
//! or from the type names the server gives in `GET /v0/pipelines/{name}`
//! (`SqlType::sql_name` there: `INTEGER UNSIGNED`, `DECIMAL(12, 2)`,
//! `VARCHAR ARRAY`, `MAP<VARCHAR, INTEGER>`, `ROW(a INTEGER, "B" DATE)`).

use std::fmt;

/// A SQL column type: every type sluice's tables take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColType {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    UTinyInt,
    USmallInt,
    UInt,
    UBigInt,
    Boolean,
    Real,
    Double,
    /// Precision and scale, as in `DECIMAL(p,s)`.
    Decimal(u8, u8),
    /// `CHAR(n)`: at most n characters are generated.
    Char(u32),
    /// Optional maximum length, as in `VARCHAR(n)`.
    Varchar(Option<u32>),
    Date,
    Time,
    Timestamp,
    /// `BINARY(n)`: n bytes, written as standard base64.
    Binary(u32),
    /// `VARBINARY(n)`: 1 to n bytes (at most 16), base64.
    Varbinary(Option<u32>),
    Uuid,
    /// Any JSON value.
    Variant,
    Array(Box<ColType>),
    Map(Box<ColType>, Box<ColType>),
    /// Field names as the server gives them (quoted if case-sensitive).
    Row(Vec<(String, ColType)>),
}

impl fmt::Display for ColType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColType::TinyInt => f.write_str("tinyint"),
            ColType::SmallInt => f.write_str("smallint"),
            ColType::Int => f.write_str("int"),
            ColType::BigInt => f.write_str("bigint"),
            ColType::UTinyInt => f.write_str("tinyint unsigned"),
            ColType::USmallInt => f.write_str("smallint unsigned"),
            ColType::UInt => f.write_str("int unsigned"),
            ColType::UBigInt => f.write_str("bigint unsigned"),
            ColType::Boolean => f.write_str("boolean"),
            ColType::Real => f.write_str("real"),
            ColType::Double => f.write_str("double"),
            ColType::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            ColType::Char(n) => write!(f, "char({n})"),
            ColType::Varchar(None) => f.write_str("varchar"),
            ColType::Varchar(Some(n)) => write!(f, "varchar({n})"),
            ColType::Date => f.write_str("date"),
            ColType::Time => f.write_str("time"),
            ColType::Timestamp => f.write_str("timestamp"),
            ColType::Binary(n) => write!(f, "binary({n})"),
            ColType::Varbinary(None) => f.write_str("varbinary"),
            ColType::Varbinary(Some(n)) => write!(f, "varbinary({n})"),
            ColType::Uuid => f.write_str("uuid"),
            ColType::Variant => f.write_str("variant"),
            ColType::Array(t) => write!(f, "{t} array"),
            ColType::Map(k, v) => write!(f, "map<{k}, {v}>"),
            ColType::Row(fields) => {
                f.write_str("row(")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(f, "{sep}{n} {t}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The default table: ten mixed columns, the shape the server's demo table uses.
pub const DEFAULT_COLUMNS: &str =
    "bigint,varchar,double,boolean,date,timestamp,int,decimal(10,2),varchar,smallint";

/// Parses `bigint,varchar(20),decimal(10,2),int array,...`. Commas inside
/// parentheses or angle brackets belong to the type.
pub fn parse_columns(spec: &str) -> Result<Vec<ColType>, String> {
    split_top(spec, ',')?.into_iter().map(parse_type).collect()
}

/// Splits at `sep` outside `()`, `<>` and double quotes.
fn split_top(s: &str, sep: char) -> Result<Vec<&str>, String> {
    let (mut out, mut depth, mut start, mut quoted) = (Vec::new(), 0i32, 0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' | '<' if !quoted => depth += 1,
            ')' | '>' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced brackets in {s:?}"));
        }
    }
    if depth != 0 || quoted {
        return Err(format!("unbalanced brackets or quotes in {s:?}"));
    }
    out.push(&s[start..]);
    Ok(out)
}

/// One type: a scalar name with optional arguments and `UNSIGNED`, or a
/// nested type in any of the spellings Feldera accepts (`T ARRAY`, `T[]`,
/// `ARRAY<T>`, `MAP<K, V>`, `ROW(a T, ...)`, `STRUCT<a T, ...>`).
pub fn parse_type(s: &str) -> Result<ColType, String> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    if let Some(inner) = lower.strip_suffix("[]") {
        return Ok(ColType::Array(Box::new(parse_type(&s[..inner.len()])?)));
    }
    if lower.ends_with(" array") {
        return Ok(ColType::Array(Box::new(parse_type(&s[..s.len() - 6])?)));
    }
    for (name, open, close) in [
        ("array", '<', '>'),
        ("map", '<', '>'),
        ("row", '(', ')'),
        ("struct", '<', '>'),
    ] {
        // `ROW(..)` or `ROW (..)`: space may come before the bracket.
        let Some(rest) = lower.strip_prefix(name).map(str::trim_start) else {
            continue;
        };
        if !rest.starts_with(open) {
            continue;
        }
        // `lower` is `s` with ASCII case folded: the same byte offsets.
        let body = s[s.len() - rest.len() + 1..]
            .strip_suffix(close)
            .ok_or_else(|| format!("unbalanced brackets in column type {s:?}"))?;
        return match name {
            "array" => Ok(ColType::Array(Box::new(parse_type(body)?))),
            "map" => match split_top(body, ',')?.as_slice() {
                [k, v] => Ok(ColType::Map(
                    Box::new(parse_type(k)?),
                    Box::new(parse_type(v)?),
                )),
                _ => Err(format!("MAP takes a key and a value type: {s:?}")),
            },
            _ => split_top(body, ',')?
                .into_iter()
                .map(row_field)
                .collect::<Result<_, _>>()
                .map(ColType::Row),
        };
    }
    parse_scalar(&lower)
}

/// `name TYPE` of a ROW. A quoted name keeps its outer quotes (the server
/// wants them in a JSON key to match a case-sensitive field exactly) but
/// not SQL's doubling of a quote inside it (`"a""b"` is the field `a"b`).
fn row_field(f: &str) -> Result<(String, ColType), String> {
    let f = f.trim();
    let needs = || format!("ROW field {f:?} needs a name and a type");
    let Some(rest) = f.strip_prefix('"') else {
        let end = f.find(char::is_whitespace).ok_or_else(needs)?;
        return Ok((f[..end].to_string(), parse_type(&f[end..])?));
    };
    let mut name = String::from('"');
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            name.push(c);
        } else if chars.next_if(|&(_, c)| c == '"').is_some() {
            name.push('"');
        } else {
            name.push('"');
            return Ok((name, parse_type(&rest[i + 1..])?));
        }
    }
    Err(needs())
}

fn parse_scalar(s: &str) -> Result<ColType, String> {
    let (s, unsigned) = match s.strip_suffix(" unsigned") {
        Some(base) => (base.trim(), true),
        None => (s, false),
    };
    let (name, args) = match s.find('(') {
        Some(i) if s.ends_with(')') => (s[..i].trim(), Some(&s[i + 1..s.len() - 1])),
        Some(_) => return Err(format!("unbalanced parentheses in column type {s:?}")),
        None => (s, None),
    };
    let nums: Vec<u32> = match args {
        None => Vec::new(),
        Some(a) => a
            .split(',')
            .map(|x| x.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("bad argument in column type {s:?}: {e}"))?,
    };
    let t = match (name, unsigned) {
        ("tinyint", false) => ColType::TinyInt,
        ("smallint", false) => ColType::SmallInt,
        ("int" | "integer", false) => ColType::Int,
        ("bigint", false) => ColType::BigInt,
        ("tinyint", true) => ColType::UTinyInt,
        ("smallint", true) => ColType::USmallInt,
        ("int" | "integer", true) => ColType::UInt,
        ("bigint", true) => ColType::UBigInt,
        ("boolean" | "bool", false) => ColType::Boolean,
        ("real" | "float", false) => ColType::Real,
        ("double", false) => ColType::Double,
        ("decimal" | "numeric", false) => {
            let p = nums.first().copied().unwrap_or(10).clamp(1, 38);
            let s = nums.get(1).copied().unwrap_or(0).min(p);
            ColType::Decimal(p as u8, s as u8)
        }
        ("char", false) => ColType::Char(nums.first().copied().unwrap_or(1).max(1)),
        ("varchar" | "string" | "text", false) => ColType::Varchar(nums.first().copied()),
        ("date", false) => ColType::Date,
        ("time", false) => ColType::Time,
        ("timestamp", false) => ColType::Timestamp,
        ("binary", false) => ColType::Binary(nums.first().copied().unwrap_or(1).max(1)),
        ("varbinary" | "bytea", false) => ColType::Varbinary(nums.first().copied()),
        ("uuid", false) => ColType::Uuid,
        ("variant", false) => ColType::Variant,
        _ => return Err(format!("unknown column type {s:?}")),
    };
    Ok(t)
}
