//! Row generation: a column spec, a seeded PRNG and CSV / JSON-lines writers.
//!
//! Everything here runs before the measured loop (bodies are pre-generated
//! into a pool), so it favours clarity over speed. The PRNG is hand-rolled so
//! runs are reproducible from `--seed` without pulling in `rand`.

use std::fmt;
use std::io::Write as _;

/// splitmix64: tiny, fast, and good enough for test data; not cryptographic.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (modulo bias is irrelevant for test data).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A SQL column type the generator knows how to produce values for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Boolean,
    Real,
    Double,
    /// Precision and scale, as in `DECIMAL(p,s)`.
    Decimal(u8, u8),
    /// Optional maximum length, as in `VARCHAR(n)`.
    Varchar(Option<u32>),
    Date,
    Time,
    Timestamp,
}

impl fmt::Display for ColType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColType::TinyInt => f.write_str("tinyint"),
            ColType::SmallInt => f.write_str("smallint"),
            ColType::Int => f.write_str("int"),
            ColType::BigInt => f.write_str("bigint"),
            ColType::Boolean => f.write_str("boolean"),
            ColType::Real => f.write_str("real"),
            ColType::Double => f.write_str("double"),
            ColType::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            ColType::Varchar(None) => f.write_str("varchar"),
            ColType::Varchar(Some(n)) => write!(f, "varchar({n})"),
            ColType::Date => f.write_str("date"),
            ColType::Time => f.write_str("time"),
            ColType::Timestamp => f.write_str("timestamp"),
        }
    }
}

/// The default table: ten mixed columns, the shape the server's demo table uses.
pub const DEFAULT_COLUMNS: &str =
    "bigint,varchar,double,boolean,date,timestamp,int,decimal(10,2),varchar,smallint";

/// Parses `bigint,varchar(20),decimal(10,2),...`. Commas inside parentheses
/// belong to the type, so this splits only at depth 0.
pub fn parse_columns(spec: &str) -> Result<Vec<ColType>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in spec.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(parse_type(&spec[start..i])?);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(parse_type(&spec[start..])?);
    Ok(out)
}

fn parse_type(s: &str) -> Result<ColType, String> {
    let s = s.trim().to_ascii_lowercase();
    let (name, args) = match s.find('(') {
        Some(i) if s.ends_with(')') => (s[..i].trim(), Some(&s[i + 1..s.len() - 1])),
        Some(_) => return Err(format!("unbalanced parentheses in column type {s:?}")),
        None => (s.as_str(), None),
    };
    let nums: Vec<u32> = match args {
        None => Vec::new(),
        Some(a) => a
            .split(',')
            .map(|x| x.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("bad argument in column type {s:?}: {e}"))?,
    };
    let t = match name {
        "tinyint" => ColType::TinyInt,
        "smallint" => ColType::SmallInt,
        "int" | "integer" => ColType::Int,
        "bigint" => ColType::BigInt,
        "boolean" | "bool" => ColType::Boolean,
        "real" | "float" => ColType::Real,
        "double" => ColType::Double,
        "decimal" | "numeric" => {
            let p = nums.first().copied().unwrap_or(10).clamp(1, 38);
            let s = nums.get(1).copied().unwrap_or(0).min(p);
            ColType::Decimal(p as u8, s as u8)
        }
        "varchar" | "string" | "text" | "char" => ColType::Varchar(nums.first().copied()),
        "date" => ColType::Date,
        "time" => ColType::Time,
        "timestamp" => ColType::Timestamp,
        _ => return Err(format!("unknown column type {name:?}")),
    };
    Ok(t)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// Words for varchar values. Some carry a comma or a quote on purpose so the
/// server's CSV quoting and JSON escaping paths get exercised.
const WORDS: &[&str] = &[
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "a,b",
    "say \"hi\"",
    "x,\"y\"",
    "sluice",
    "ingest",
    "feldera",
];

pub struct RowGen {
    cols: Vec<ColType>,
    names: Vec<String>,
    format: Format,
    rng: SplitMix64,
    scratch: String,
}

impl RowGen {
    pub fn new(cols: Vec<ColType>, names: Vec<String>, format: Format, seed: u64) -> Self {
        assert_eq!(cols.len(), names.len(), "one name per column");
        Self {
            cols,
            names,
            format,
            rng: SplitMix64::new(seed),
            scratch: String::new(),
        }
    }

    /// Appends one newline-terminated row.
    pub fn write_row(&mut self, out: &mut Vec<u8>) {
        if self.format == Format::Json {
            out.push(b'{');
        }
        for i in 0..self.cols.len() {
            if i > 0 {
                out.push(b',');
            }
            if self.format == Format::Json {
                out.push(b'"');
                out.extend_from_slice(self.names[i].as_bytes());
                out.extend_from_slice(b"\":");
            }
            self.write_value(self.cols[i], out);
        }
        if self.format == Format::Json {
            out.push(b'}');
        }
        out.push(b'\n');
    }

    /// Appends a body: `rows` rows, or if `max_bytes` is set, rows until the
    /// body is about that big (never more, unless one row alone is bigger).
    /// Returns the number of rows written.
    pub fn write_body(&mut self, out: &mut Vec<u8>, rows: usize, max_bytes: Option<usize>) -> u64 {
        let base = out.len();
        let Some(limit) = max_bytes else {
            for _ in 0..rows.max(1) {
                self.write_row(out);
            }
            return rows.max(1) as u64;
        };
        let mut n = 0u64;
        loop {
            let row_start = out.len();
            self.write_row(out);
            n += 1;
            let len = out.len() - base;
            if len > limit && n > 1 {
                // Drop the row that overshot so the body stays under the limit.
                out.truncate(row_start);
                return n - 1;
            }
            if len >= limit {
                return n;
            }
        }
    }

    fn write_value(&mut self, t: ColType, out: &mut Vec<u8>) {
        let r = &mut self.rng;
        let json = self.format == Format::Json;
        // Writes into a Vec never fail, hence the ignored results below.
        match t {
            ColType::TinyInt => _ = write!(out, "{}", r.next_u64() as i8),
            ColType::SmallInt => _ = write!(out, "{}", r.next_u64() as i16),
            ColType::Int => _ = write!(out, "{}", r.next_u64() as i32),
            ColType::BigInt => _ = write!(out, "{}", r.next_u64() as i64),
            ColType::Boolean => out.extend_from_slice(if r.one_in(2) { b"true" } else { b"false" }),
            ColType::Real => {
                // Finite, moderate values: Display never uses exponents, and
                // every type can round-trip them.
                let v = (r.below(2_000_000) as f32 - 1_000_000.0) / 64.0;
                _ = write!(out, "{v}");
            }
            ColType::Double => {
                let v = (r.below(2_000_000_000) as f64 - 1e9) / 1024.0;
                _ = write!(out, "{v}");
            }
            ColType::Decimal(p, s) => {
                // Keep within u64 range; 18 integer digits is plenty for tests.
                let int_digits = (p - s).min(18) as u32;
                let int = r.below(10u64.pow(int_digits));
                if r.one_in(2) && (int > 0 || s > 0) {
                    out.push(b'-');
                }
                _ = write!(out, "{int}");
                if s > 0 {
                    let s = s.min(18) as u32;
                    let frac = r.below(10u64.pow(s));
                    _ = write!(out, ".{frac:0w$}", w = s as usize);
                }
            }
            ColType::Varchar(max) => {
                self.scratch.clear();
                for k in 0..1 + r.below(3) {
                    if k > 0 {
                        self.scratch.push(' ');
                    }
                    self.scratch
                        .push_str(WORDS[r.below(WORDS.len() as u64) as usize]);
                }
                if let Some(m) = max {
                    // ASCII only, so byte truncation is char truncation.
                    self.scratch.truncate(m as usize);
                }
                if json {
                    write_json_str(&self.scratch, out);
                } else {
                    write_csv_str(&self.scratch, out);
                }
            }
            ColType::Date | ColType::Time | ColType::Timestamp => {
                if json {
                    out.push(b'"');
                }
                let (y, mo, d) = (1970 + r.below(68), 1 + r.below(12), 1 + r.below(28));
                let (h, mi, s, us) = (r.below(24), r.below(60), r.below(60), r.below(1_000_000));
                match t {
                    ColType::Date => _ = write!(out, "{y:04}-{mo:02}-{d:02}"),
                    ColType::Time => _ = write!(out, "{h:02}:{mi:02}:{s:02}"),
                    _ => _ = write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"),
                }
                if json {
                    out.push(b'"');
                }
            }
        }
    }
}

/// RFC 4180 quoting, only when needed (as most CSV writers do).
fn write_csv_str(s: &str, out: &mut Vec<u8>) {
    if !s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// JSON string escaping for the ASCII generator alphabet.
fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            0..=0x1f => _ = write!(out, "\\u{b:04x}"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
