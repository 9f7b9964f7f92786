//! Row generation: a column spec, a seeded PRNG and CSV / JSON-lines writers.
//!
//! Everything here runs before the measured loop (bodies are pre-generated
//! into a pool), so it favours clarity over speed. The PRNG is hand-rolled so
//! runs are reproducible from `--seed` without pulling in `rand`.

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

mod types;

pub use types::{parse_columns, parse_type, ColType, DEFAULT_COLUMNS};

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
}

impl RowGen {
    pub fn new(cols: Vec<ColType>, names: Vec<String>, format: Format, seed: u64) -> Self {
        assert_eq!(cols.len(), names.len(), "one name per column");
        Self {
            cols,
            names,
            format,
            rng: SplitMix64::new(seed),
        }
    }

    /// Appends one newline-terminated row.
    pub fn write_row(&mut self, out: &mut Vec<u8>) {
        let json = self.format == Format::Json;
        if json {
            out.push(b'{');
        }
        for i in 0..self.cols.len() {
            if i > 0 {
                out.push(b',');
            }
            let t = &self.cols[i];
            if json {
                write_json_str(&self.names[i], out);
                out.push(b':');
                json_value(&mut self.rng, t, out);
            } else {
                csv_value(&mut self.rng, t, out);
            }
        }
        if json {
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
}

/// One value as a CSV field: scalars as text, strings quoted when needed,
/// VARIANT and nested types as their JSON text (sluice's CSV form for them).
fn csv_value(r: &mut SplitMix64, t: &ColType, out: &mut Vec<u8>) {
    match t {
        ColType::Char(n) => write_csv_str(&words(r, Some(*n)), out),
        ColType::Varchar(max) => write_csv_str(&words(r, *max), out),
        ColType::Variant | ColType::Array(_) | ColType::Map(..) | ColType::Row(_) => {
            let mut j = Vec::new();
            json_value(r, t, &mut j);
            write_csv_str(
                std::str::from_utf8(&j).expect("generated JSON is ASCII"),
                out,
            );
        }
        _ => text_value(r, t, out),
    }
}

/// One value as JSON.
fn json_value(r: &mut SplitMix64, t: &ColType, out: &mut Vec<u8>) {
    match t {
        ColType::Char(n) => write_json_str(&words(r, Some(*n)), out),
        ColType::Varchar(max) => write_json_str(&words(r, *max), out),
        // Text forms with nothing to escape (digits, `-:. `, base64, hex).
        ColType::Date
        | ColType::Time
        | ColType::Timestamp
        | ColType::Binary(_)
        | ColType::Varbinary(_)
        | ColType::Uuid => {
            out.push(b'"');
            text_value(r, t, out);
            out.push(b'"');
        }
        ColType::Variant => variant(r, out, 0),
        ColType::Array(e) => {
            out.push(b'[');
            for i in 0..r.below(4) {
                if i > 0 {
                    out.push(b',');
                }
                json_value(r, e, out);
            }
            out.push(b']');
        }
        ColType::Map(k, v) => {
            // Keys are the key type's text, distinct within a map.
            let mut keys: Vec<Vec<u8>> = Vec::new();
            for _ in 0..r.below(4) {
                let mut key = Vec::new();
                text_value(r, k, &mut key);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            out.push(b'{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(
                    std::str::from_utf8(key).expect("generated keys are ASCII"),
                    out,
                );
                out.push(b':');
                json_value(r, v, out);
            }
            out.push(b'}');
        }
        ColType::Row(fields) => {
            out.push(b'{');
            for (i, (name, t)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(name, out);
                out.push(b':');
                json_value(r, t, out);
            }
            out.push(b'}');
        }
        _ => text_value(r, t, out),
    }
}

/// A value's text: what CSV carries as is and JSON as a number, `true` /
/// `false`, or inside quotes (strings, dates, times, base64, UUIDs); also a
/// MAP key's text. VARIANT and nested types give their JSON.
fn text_value(r: &mut SplitMix64, t: &ColType, out: &mut Vec<u8>) {
    // Writes into a Vec never fail, hence the ignored results below.
    match *t {
        ColType::TinyInt => _ = write!(out, "{}", r.next_u64() as i8),
        ColType::SmallInt => _ = write!(out, "{}", r.next_u64() as i16),
        ColType::Int => _ = write!(out, "{}", r.next_u64() as i32),
        ColType::BigInt => _ = write!(out, "{}", r.next_u64() as i64),
        ColType::UTinyInt => _ = write!(out, "{}", r.next_u64() as u8),
        ColType::USmallInt => _ = write!(out, "{}", r.next_u64() as u16),
        ColType::UInt => _ = write!(out, "{}", r.next_u64() as u32),
        ColType::UBigInt => _ = write!(out, "{}", r.next_u64()),
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
            let negative = r.one_in(2);
            let s = s.min(18) as u32;
            let frac = (s > 0).then(|| r.below(10u64.pow(s)));
            // Never `-0.00`: it equals `0.00`, so as a MAP key it could
            // repeat one (the draws stay as they were, so bodies do too).
            if negative && (int > 0 || frac.is_some_and(|f| f > 0)) {
                out.push(b'-');
            }
            _ = write!(out, "{int}");
            if let Some(frac) = frac {
                _ = write!(out, ".{frac:0w$}", w = s as usize);
            }
        }
        ColType::Date | ColType::Time | ColType::Timestamp => {
            let (y, mo, d) = (1970 + r.below(68), 1 + r.below(12), 1 + r.below(28));
            let (h, mi, s, us) = (r.below(24), r.below(60), r.below(60), r.below(1_000_000));
            match t {
                ColType::Date => _ = write!(out, "{y:04}-{mo:02}-{d:02}"),
                ColType::Time => _ = write!(out, "{h:02}:{mi:02}:{s:02}"),
                _ => _ = write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"),
            }
        }
        ColType::Binary(n) => base64_bytes(r, n as usize, out),
        ColType::Varbinary(max) => {
            // Never empty: an empty field is NULL, or an error when NOT NULL.
            let n = 1 + r.below(u64::from(max.unwrap_or(16).clamp(1, 16)));
            base64_bytes(r, n as usize, out);
        }
        ColType::Uuid => {
            let (a, b) = (r.next_u64(), r.next_u64());
            _ = write!(
                out,
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xffff,
                b >> 48,
                b & 0xffff_ffff_ffff
            );
        }
        // A string's text is its words, unquoted (CSV and JSON quote them).
        ColType::Char(n) => out.extend_from_slice(words(r, Some(n)).as_bytes()),
        ColType::Varchar(max) => out.extend_from_slice(words(r, max).as_bytes()),
        // Not scalars: their text is their JSON.
        ColType::Variant | ColType::Array(_) | ColType::Map(..) | ColType::Row(_) => {
            json_value(r, t, out)
        }
    }
}

/// One to three words, cut to `max` characters (ASCII: bytes are characters).
fn words(r: &mut SplitMix64, max: Option<u32>) -> String {
    let mut s = String::new();
    for k in 0..1 + r.below(3) {
        if k > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[r.below(WORDS.len() as u64) as usize]);
    }
    if let Some(m) = max {
        s.truncate(m as usize);
    }
    s
}

/// `n` random bytes as standard base64 (sluice's text form for binary).
fn base64_bytes(r: &mut SplitMix64, n: usize, out: &mut Vec<u8>) {
    use base64::Engine;
    let bytes: Vec<u8> = (0..n).map(|_| r.next_u64() as u8).collect();
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .as_bytes(),
    );
}

/// A VARIANT: any JSON value but `null` (which is SQL NULL, refused in a
/// NOT NULL column), nested at most two levels.
fn variant(r: &mut SplitMix64, out: &mut Vec<u8>, depth: u32) {
    match r.below(if depth < 2 { 6 } else { 4 }) {
        0 => _ = write!(out, "{}", r.next_u64() as i32),
        1 => _ = write!(out, "{}", (r.below(2_000_000) as f64 - 1e6) / 8.0),
        2 => out.extend_from_slice(if r.one_in(2) { b"true" } else { b"false" }),
        3 => write_json_str(&words(r, None), out),
        4 => {
            out.push(b'[');
            for i in 0..r.below(4) {
                if i > 0 {
                    out.push(b',');
                }
                variant(r, out, depth + 1);
            }
            out.push(b']');
        }
        _ => {
            out.extend_from_slice(b"{\"id\":");
            variant(r, out, depth + 1);
            out.extend_from_slice(b",\"tag\":");
            write_json_str(&words(r, None), out);
            out.push(b'}');
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
