//! Per-type field parsers: bytes of one field in, one value or a small error
//! out. Shared by the CSV and JSON decoders; none of them allocates.
//!
//! Policies (documented here once, relied on by both formats):
//! - Integers: optional sign then ASCII digits only. `1.0`, `1e3`, spaces
//!   and values outside the column width (300 into TINYINT) are errors.
//! - Floats: Rust's `str::parse`, so integers, exponents and the texts
//!   `NaN`, `inf`, `-inf`, `Infinity` (any case) are accepted.
//! - Booleans: `true`/`false`; `case_insensitive` also accepts `TRUE`,
//!   `False`... (the CSV decoder passes it, JSON never does).
//! - DECIMAL(p,s): exact, digits accumulated by hand into an i128. An
//!   exponent is allowed (JSON numbers). Fractional digits beyond the scale
//!   are accepted only when they are zeros (the value is still exact); a
//!   nonzero digit there is `Scale`, never rounded. A value with more than
//!   `p - s` integer digits is `Precision`.
//! - TIME/TIMESTAMP fractions: any number of digits is accepted; digits
//!   beyond microseconds are truncated (not rounded), as chrono does.
//! - CHAR(n)/VARCHAR(n): longer (in characters) is `TooLong`; CHAR values
//!   shorter than n are kept as given, not blank-padded. No field is trimmed.
//! - TIMESTAMP: `YYYY-MM-DD HH:MM:SS[.frac]`, `T`/`t` also separate date and
//!   time, and an optional `Z`/`z` or `+hh:mm`/`-hh:mm` offset is converted
//!   to UTC.

/// Why a field did not parse. Small and `Copy`: the text of the message is
/// built only when an error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldError {
    /// Not a value of the column type.
    Syntax,
    /// Outside the range of the column type.
    Overflow,
    /// More digits than DECIMAL(p, s) holds.
    Precision,
    /// More (nonzero) fractional digits than the DECIMAL scale.
    Scale,
    /// More characters than CHAR(n)/VARCHAR(n).
    TooLong,
    /// Not valid UTF-8.
    Utf8,
    /// NULL given for a NOT NULL column.
    Null,
    /// No value, no DEFAULT, and the column is NOT NULL.
    Missing,
    /// The column DEFAULT itself does not parse as the column type.
    BadDefault,
    /// JSON: a value of the wrong kind (`"string"`, `"float"`, ...).
    Found(&'static str),
    /// Table too large for one batch (string data over 2 GiB).
    BatchTooLarge,
    /// A partial update without this PRIMARY KEY column.
    KeyMissing,
}

impl FieldError {
    /// "expected INTEGER, found string" style description for `sql_name`.
    pub fn describe(self, sql_name: &str) -> String {
        match self {
            FieldError::Syntax => format!("expected {sql_name}, found invalid text"),
            FieldError::Overflow => format!("value out of range for {sql_name}"),
            FieldError::Precision => format!("too many digits for {sql_name}"),
            FieldError::Scale => format!("more fractional digits than the scale of {sql_name}"),
            FieldError::TooLong => format!("string longer than {sql_name}"),
            FieldError::Utf8 => format!("expected {sql_name}, found invalid UTF-8"),
            FieldError::Null => format!("NULL in NOT NULL column of type {sql_name}"),
            FieldError::Missing => {
                format!("missing value for NOT NULL column of type {sql_name} without DEFAULT")
            }
            FieldError::BadDefault => format!("column DEFAULT is not a valid {sql_name}"),
            FieldError::Found(kind) => format!("expected {sql_name}, found {kind}"),
            FieldError::BatchTooLarge => "string data of one batch exceeds 2 GiB".to_string(),
            FieldError::KeyMissing => {
                format!("an update must give every PRIMARY KEY column (this one is {sql_name})")
            }
        }
    }
}

pub type FieldResult<T> = Result<T, FieldError>;

/// `true`/`false` (any case when `case_insensitive`). Compared as words:
/// setting bit 5 of every byte folds exactly `T`/`R`/`U`/`E`/`F`/`A`/`L`/`S`
/// onto their lower case and maps no other byte onto one of these letters,
/// so the folded compare is `eq_ignore_ascii_case` (a slice match was a
/// call per value, ~3% of decoding 6-column rows).
#[inline]
pub fn parse_bool(s: &[u8], case_insensitive: bool) -> FieldResult<bool> {
    let fold = if case_insensitive { 0x2020_2020 } else { 0 };
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) | fold;
    match s.len() {
        4 if word(s) == u32::from_le_bytes(*b"true") => Ok(true),
        5 if word(&s[..4]) == u32::from_le_bytes(*b"fals") && s[4] | fold as u8 == b'e' => {
            Ok(false)
        }
        _ => Err(FieldError::Syntax),
    }
}

/// A 64-bit integer: `[+-]digits`.
pub fn parse_i64(s: &[u8]) -> FieldResult<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(FieldError::Syntax);
    }
    if digits.len() > 19 {
        return long_i64(neg, digits);
    }
    // At most 19 digits are below 10^19 < 2^64: no step can overflow u64,
    // and one compare at the end finds values outside i64 (2^63 itself is
    // `i64::MIN` when negative).
    let mut v: u64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(FieldError::Syntax);
        }
        v = v * 10 + d as u64;
    }
    if v > i64::MAX as u64 + u64::from(neg) {
        return Err(FieldError::Overflow);
    }
    Ok(if neg {
        (v as i64).wrapping_neg()
    } else {
        v as i64
    })
}

/// `parse_i64` of more than 19 digits (leading zeros can make them fit):
/// checked steps, accumulated negatively so that `i64::MIN` fits.
#[cold]
fn long_i64(neg: bool, digits: &[u8]) -> FieldResult<i64> {
    let mut acc: i64 = 0;
    let mut overflow = false;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(FieldError::Syntax);
        }
        match acc.checked_mul(10).and_then(|v| v.checked_sub(d as i64)) {
            Some(v) => acc = v,
            // Keep scanning: `99999999999999999999x` is a syntax error.
            None => overflow = true,
        }
    }
    if overflow {
        return Err(FieldError::Overflow);
    }
    if neg {
        Ok(acc)
    } else {
        acc.checked_neg().ok_or(FieldError::Overflow)
    }
}

/// An integer of width `T` (TINYINT..BIGINT).
pub fn parse_int<T: TryFrom<i64>>(s: &[u8]) -> FieldResult<T> {
    T::try_from(parse_i64(s)?).map_err(|_| FieldError::Overflow)
}

/// An unsigned 64-bit integer: `[+]digits` (a `-` sign is `Syntax`, even
/// for `-0`: an unsigned column holds no signed text).
pub fn parse_u64(s: &[u8]) -> FieldResult<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() {
        return Err(FieldError::Syntax);
    }
    let mut v: u64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(FieldError::Syntax);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as u64))
            .ok_or(FieldError::Overflow)?;
    }
    Ok(v)
}

/// An unsigned integer of width `T` (TINYINT..INT UNSIGNED).
pub fn parse_uint<T: TryFrom<u64>>(s: &[u8]) -> FieldResult<T> {
    T::try_from(parse_u64(s)?).map_err(|_| FieldError::Overflow)
}

/// A DOUBLE. See the module policy for accepted texts.
#[inline]
pub fn parse_f64(s: &[u8]) -> FieldResult<f64> {
    if let Some(v) = fast_float(s, 1 << 53, &POW10_F64) {
        return Ok(v);
    }
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or(FieldError::Syntax)
}

/// A REAL, rounded once from the text (not via f64).
#[inline]
pub fn parse_f32(s: &[u8]) -> FieldResult<f32> {
    if let Some(v) = fast_float(s, 1 << 24, &POW10_F32) {
        return Ok(v);
    }
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<f32>().ok())
        .ok_or(FieldError::Syntax)
}

/// Powers of ten that f64 holds exactly.
pub(super) const POW10_F64: [f64; 23] = {
    let mut t = [1.0; 23];
    let mut k = 1;
    while k < 23 {
        t[k] = t[k - 1] * 10.0;
        k += 1;
    }
    t
};

/// Powers of ten that f32 holds exactly.
pub(super) const POW10_F32: [f32; 11] = {
    let mut t = [1.0; 11];
    let mut k = 1;
    while k < 11 {
        t[k] = t[k - 1] * 10.0;
        k += 1;
    }
    t
};

/// A float type for `fast_float`.
pub(super) trait Float:
    Copy + std::ops::Div<Output = Self> + std::ops::Neg<Output = Self>
{
    fn from_u64(m: u64) -> Self;
}

impl Float for f64 {
    fn from_u64(m: u64) -> f64 {
        m as f64
    }
}

impl Float for f32 {
    fn from_u64(m: u64) -> f32 {
        m as f32
    }
}

/// Clinger's fast path for `[+-]digits[.digits]`: when the digits as an
/// integer `m` are at most `exact` (2^53 for f64: `m` converts exactly)
/// and there are at most `pow10.len() - 1` fractional digits (10^f exact),
/// `m / 10^f` is one correctly rounded division of exact values, so it
/// equals `str::parse`. `None` for anything else (exponents, long digit
/// strings, NaN/inf texts, errors): `str::parse` decides.
#[inline]
fn fast_float<F: Float>(s: &[u8], exact: u64, pow10: &[F]) -> Option<F> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    // At most 20 bytes; 20 digits (no point) can wrap `m`, but are then
    // rejected below, so wrapping arithmetic is fine.
    if body.is_empty() || body.len() > 20 {
        return None;
    }
    let mut m: u64 = 0;
    let mut point = None;
    for (k, &b) in body.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d <= 9 {
            m = m.wrapping_mul(10).wrapping_add(d as u64);
        } else if b == b'.' && point.is_none() {
            point = Some(k);
        } else {
            return None;
        }
    }
    let frac = point.map_or(0, |p| body.len() - 1 - p);
    // "." alone is no number; digits on either side make one (".5", "5.").
    let digits = body.len() - usize::from(point.is_some());
    exact_float(neg, m, digits, frac, exact, pow10)
}

/// The end of `fast_float`: `digits` digits `m`, the last `frac` of them
/// fractional, as a float when that division is exact before its one
/// rounding (`m` at most `exact`, 10^frac in `pow10`); else `None`.
#[inline]
pub(super) fn exact_float<F: Float>(
    neg: bool,
    m: u64,
    digits: usize,
    frac: usize,
    exact: u64,
    pow10: &[F],
) -> Option<F> {
    if digits == 0 || digits > 19 || frac >= pow10.len() {
        return None;
    }
    // Compared as integers: the conversion would round `m` first.
    if m > exact {
        return None;
    }
    let v = F::from_u64(m) / pow10[frac];
    Some(if neg { -v } else { v })
}

/// 10^n for n in 0..=38, the range Decimal128 needs.
fn pow10(n: u32) -> Option<i128> {
    POW10_I128.get(n as usize).copied()
}

/// 10^0..=10^38: a table, not `i128::pow` (a loop of 128-bit multiplies)
/// per field.
const POW10_I128: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut k = 1;
    while k < 39 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// 10^0..=10^19.
pub(super) const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// DECIMAL(precision, scale) as the unscaled i128 (`1.5` in scale 2 = 150).
#[inline]
pub fn parse_decimal(s: &[u8], precision: u8, scale: i8) -> FieldResult<i128> {
    let (neg, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = match short_decimal(rest, precision, scale) {
        Some(v) => v?,
        None => long_decimal(rest, precision, scale)?,
    };
    Ok(if neg { -v } else { v })
}

/// `parse_decimal` of an unsigned text, any length, with an exponent.
fn long_decimal(mut rest: &[u8], precision: u8, scale: i8) -> FieldResult<i128> {
    // Mantissa without trailing zeros; `zeros` counts zeros not yet folded
    // in, so long runs of zeros cost no precision.
    let mut mantissa: i128 = 0;
    let mut zeros: i64 = 0;
    let mut digits = 0usize;
    let mut frac_digits: i64 = 0;
    let mut in_frac = false;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                if in_frac {
                    frac_digits += 1;
                }
                let d = (b - b'0') as i128;
                if d == 0 {
                    if mantissa != 0 {
                        zeros += 1;
                    }
                } else {
                    let shift = pow10(zeros as u32 + 1).ok_or(FieldError::Precision)?;
                    mantissa = mantissa
                        .checked_mul(shift)
                        .and_then(|m| m.checked_add(d))
                        .ok_or(FieldError::Precision)?;
                    zeros = 0;
                }
            }
            b'.' if !in_frac => in_frac = true,
            b'e' | b'E' => break,
            _ => return Err(FieldError::Syntax),
        }
        rest = tail;
    }
    if digits == 0 {
        return Err(FieldError::Syntax);
    }
    let mut exp: i64 = 0;
    if let Some((_, tail)) = rest.split_first() {
        // Exponent: bounded so the arithmetic below cannot overflow.
        let e = parse_i64(tail).map_err(|_| FieldError::Syntax)?;
        exp = e.clamp(-1000, 1000);
    }
    // value = mantissa * 10^(zeros + exp - frac_digits); scale it.
    let shift = zeros + exp - frac_digits + scale as i64;
    let scaled = if mantissa == 0 {
        0
    } else if shift >= 0 {
        let p = pow10(shift as u32).ok_or(FieldError::Precision)?;
        mantissa.checked_mul(p).ok_or(FieldError::Precision)?
    } else {
        // The mantissa has no trailing zeros, so any division is inexact.
        return Err(FieldError::Scale);
    };
    let limit = pow10(precision as u32).ok_or(FieldError::Precision)?;
    if scaled >= limit {
        return Err(FieldError::Precision);
    }
    Ok(scaled)
}

/// Fast path of `parse_decimal` for the common `digits[.digits]` with at
/// most 18 digits and a scale in 0..=18 (u64 arithmetic, same results);
/// `None` for anything else (the general path decides).
#[inline]
fn short_decimal(s: &[u8], precision: u8, scale: i8) -> Option<FieldResult<i128>> {
    if s.is_empty() || s.len() > 19 || !(0..=18).contains(&scale) {
        return None;
    }
    // One pass; `point` is where the `.` was (none: past the end).
    let mut m: u64 = 0;
    let mut point = s.len();
    for (k, &b) in s.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d <= 9 {
            m = m * 10 + d as u64;
        } else if b == b'.' && point == s.len() {
            point = k;
        } else {
            return None;
        }
    }
    let has_point = point < s.len();
    // Fractional digits, and all digits.
    let f = if has_point { s.len() - point - 1 } else { 0 };
    let digits = s.len() - usize::from(has_point);
    scale_short_decimal(m, digits, f, precision, scale)
}

/// The end of `short_decimal`: the value of `digits` digits `m`, of which
/// the last `f` are fractional, in DECIMAL(precision, scale); `None` when
/// `digits` is 0 or over 18, or the scale is outside 0..=18.
#[inline]
pub(super) fn scale_short_decimal(
    m: u64,
    digits: usize,
    f: usize,
    precision: u8,
    scale: i8,
) -> Option<FieldResult<i128>> {
    if digits == 0 || digits > 18 || !(0..=18).contains(&scale) {
        return None;
    }
    let scale = scale as usize;
    let scaled = if f <= scale {
        m as i128 * POW10_I128[scale - f]
    } else {
        let d = POW10_U64[f - scale];
        if !m.is_multiple_of(d) {
            return Some(Err(FieldError::Scale));
        }
        (m / d) as i128
    };
    match POW10_I128.get(precision as usize) {
        Some(&limit) if scaled < limit => Some(Ok(scaled)),
        _ => Some(Err(FieldError::Precision)),
    }
}

/// Gregorian leap year (`y % 100 != 0` is `y % 25 != 0` among multiples
/// of 4, and `y % 400 == 0` is `y % 16 == 0` among multiples of 100).
#[inline]
fn is_leap(y: u32) -> bool {
    if !y.is_multiple_of(25) {
        y.is_multiple_of(4)
    } else {
        y.is_multiple_of(16)
    }
}

/// Per month (index `m - 1`): days from March 1 to its first day, in a
/// year counted from March (so that a leap day comes last and moves no
/// month), whether it lies in the March-based year before its calendar
/// year (January and February do), and its length outside leap years.
const MONTHS: [(u32, u32, u32); 12] = [
    (306, 1, 31),
    (337, 1, 28),
    (0, 0, 31),
    (31, 0, 30),
    (61, 0, 31),
    (92, 0, 30),
    (122, 0, 31),
    (153, 0, 31),
    (184, 0, 30),
    (214, 0, 31),
    (245, 0, 30),
    (275, 0, 31),
];

/// Days before the first of month `m` (1..=12) of year `y` (0..=9999),
/// counted from March 1 of year -400. The March-based year is shifted up
/// 400 years so that it is never negative (the calendar repeats every 400
/// years), and its leap days are those of the years before it.
#[inline]
const fn month_start(y: u32, m: usize) -> u32 {
    let (from_march, year_before, _) = MONTHS[m - 1];
    let p = y + 400 - year_before;
    p * 365 + p / 4 - p / 100 + p / 400 + from_march
}

/// `month_start` of 1970-01-01, day 0.
const EPOCH_START: i64 = month_start(1970, 1) as i64;

/// The two ASCII digits at `s[k..k + 2]` as a number, 100 or more if
/// either is not a digit (callers check the range).
#[inline]
fn two_digits(s: &[u8], k: usize) -> u32 {
    let (a, b) = (s[k].wrapping_sub(b'0'), s[k + 1].wrapping_sub(b'0'));
    if a > 9 || b > 9 {
        return 100;
    }
    a as u32 * 10 + b as u32
}

/// Are all eight bytes of `w` ASCII digits? (simdjson's test: every high
/// nibble is 3, and adding 6 carries no low nibble past 9; any carry out of
/// a byte comes from a byte that already fails.)
#[inline]
fn all_digits(w: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    (w & HIGH) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4) == 0x3333_3333_3333_3333
}

/// The first eight bytes of `s` as a little-endian word, when `s` has
/// the `sep` byte at positions `at.0` and `at.1` and digits elsewhere:
/// then each byte of the result is its digit's value (0 at separators).
#[inline]
fn digit_word(s: &[u8], sep: u8, at: (usize, usize)) -> Option<u64> {
    let w = u64::from_le_bytes(s.get(..8)?.try_into().unwrap());
    let mask = (0xFF << (8 * at.0)) | (0xFF << (8 * at.1));
    let seps = (u64::from(sep) << (8 * at.0)) | (u64::from(sep) << (8 * at.1));
    let zeros = 0x3030_3030_3030_3030 & mask;
    if w & mask != seps || !all_digits((w & !mask) | zeros) {
        return None;
    }
    Some(((w & !mask) | zeros) - 0x3030_3030_3030_3030)
}

/// A word of digit values (each byte at most 9, as `digit_word` returns)
/// with byte `k` replaced by `10 * byte k + byte k+1`: the two-digit
/// number starting there. No byte exceeds 99, so none carries into the next.
#[inline]
fn digit_pairs(w: u64) -> u64 {
    w * 10 + (w >> 8)
}

/// The eight bytes of `s` from `at` as a little-endian word, bytes past
/// the end of `s` read as 0 (not a digit). `s` must have at least eight
/// bytes: near the end, the last eight are read and shifted down.
#[inline]
fn word_at(s: &[u8], at: usize) -> u64 {
    if let Some(w) = s.get(at..at + 8) {
        return u64::from_le_bytes(w.try_into().unwrap());
    }
    let end = s.len() - 8;
    let w = u64::from_le_bytes(s[end..].try_into().unwrap());
    // `at` is past `end` here; at the very end (`at - end` = 8) nothing is
    // left.
    w.checked_shr(8 * (at - end) as u32).unwrap_or(0)
}

/// How many of the bytes of `w` (from the lowest) are ASCII digits before
/// the first that is not; 8 when all are. A byte is a digit when it XOR
/// `0x30` is below 10, i.e. adding `0x76` leaves its top bit clear. Only
/// a byte that is no digit can carry into the next, so the lowest flagged
/// byte is always exact.
#[inline]
fn leading_digits(w: u64) -> usize {
    let x = w ^ 0x3030_3030_3030_3030;
    let flags = (x | x.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
    flags.trailing_zeros() as usize / 8
}

/// The eight-digit number whose digit values are the bytes of `w`, most
/// significant first (D. Lemire's multiply-and-shift conversion).
#[inline]
fn eight_digits(w: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let p = digit_pairs(w);
    ((p & MASK).wrapping_mul(MUL1) + ((p >> 16) & MASK).wrapping_mul(MUL2)) >> 32
}

/// Byte `k` of `w`.
#[inline]
fn byte(w: u64, k: u32) -> u32 {
    (w >> (8 * k)) as u32 & 0xFF
}

/// The `YYYY-MM-` of a date: what a day of that month needs to become a
/// day number.
#[derive(Clone, Copy, Default)]
pub struct Month {
    /// The first eight bytes of the text, as a little-endian word (never 0
    /// for a valid month: the `-`s are in it).
    key: u64,
    /// Days since epoch of the day before the month's first.
    start: i64,
    /// Days in the month.
    days: u32,
}

impl Month {
    /// Day `s[8..10]` of this month.
    #[inline]
    fn day(self, s: &[u8]) -> FieldResult<i64> {
        let d = two_digits(s, 8);
        if d == 0 || d > self.days {
            return Err(FieldError::Syntax);
        }
        Ok(self.start + d as i64)
    }
}

/// The month of the `YYYY-MM-DD` prefix of `s` (which must have all ten
/// bytes); the first eight bytes are checked and converted as one word.
#[inline]
fn month_prefix(s: &[u8]) -> FieldResult<Month> {
    let (Some(w), Some(_)) = (digit_word(s, b'-', (4, 7)), s.get(9)) else {
        return Err(FieldError::Syntax);
    };
    let pairs = digit_pairs(w);
    let (y, m) = (
        byte(pairs, 0) * 100 + byte(pairs, 2),
        byte(pairs, 5) as usize,
    );
    let Some(&(_, _, days)) = MONTHS.get(m.wrapping_sub(1)) else {
        return Err(FieldError::Syntax);
    };
    Ok(Month {
        key: u64::from_le_bytes(s[..8].try_into().unwrap()),
        start: month_start(y, m) as i64 - EPOCH_START - 1,
        // Counted from March, only February's length needs the leap test.
        days: days + u32::from(m == 2 && is_leap(y)),
    })
}

/// `YYYY-MM-DD` prefix of `s`: days since epoch.
#[inline]
fn date_prefix(s: &[u8]) -> FieldResult<i64> {
    month_prefix(s)?.day(s)
}

/// `date_prefix` remembering the last month seen: a run of dates from one
/// month (as event data mostly is) costs one compare and the day's two
/// digits per value instead of the calendar arithmetic. The result never
/// depends on `memo` (the key is the text itself).
#[inline(always)]
fn date_prefix_memo(s: &[u8], memo: &mut Month) -> FieldResult<i64> {
    if let Some(w) = s.get(..10) {
        if u64::from_le_bytes(w[..8].try_into().unwrap()) == memo.key {
            return memo.day(s);
        }
    }
    *memo = month_prefix(s)?;
    memo.day(s)
}

/// DATE `YYYY-MM-DD` as days since 1970-01-01.
#[inline]
pub fn parse_date(s: &[u8]) -> FieldResult<i32> {
    parse_date_memo(s, &mut Month::default())
}

/// `parse_date` for a column of values (see `date_prefix_memo`).
#[inline]
pub fn parse_date_memo(s: &[u8], memo: &mut Month) -> FieldResult<i32> {
    if s.len() != 10 {
        return Err(FieldError::Syntax);
    }
    Ok(date_prefix_memo(s, memo)? as i32)
}

/// `HH:MM:SS[.frac]` prefix of `s`: microseconds and bytes used.
#[inline(always)]
fn time_prefix(s: &[u8]) -> FieldResult<(i64, usize)> {
    let Some(w) = digit_word(s, b':', (2, 5)) else {
        return Err(FieldError::Syntax);
    };
    let pairs = digit_pairs(w);
    let (h, m, sec) = (byte(pairs, 0), byte(pairs, 3), byte(pairs, 6));
    if h > 23 || m > 59 || sec > 59 {
        return Err(FieldError::Syntax);
    }
    let micros = ((h as i64 * 60 + m as i64) * 60 + sec as i64) * 1_000_000;
    if s.get(8) != Some(&b'.') {
        return Ok((micros, 8));
    }
    let (frac, n) = fraction(s, 9)?;
    Ok((micros + frac, 9 + n))
}

/// The fraction digits at `s[at..]` (`s` has at least eight bytes) as
/// microseconds, and how many digits there are (at least one). Digits past
/// microseconds are truncated (module policy). The first eight digits are
/// tested and converted as one word.
#[inline]
fn fraction(s: &[u8], at: usize) -> FieldResult<(i64, usize)> {
    let w = word_at(s, at);
    let n = leading_digits(w);
    if n == 0 {
        return Err(FieldError::Syntax);
    }
    // Keep the `n` digit values; moved up two bytes, the word reads as
    // `00d0d1d2d3d4d5`, the microseconds, with any 7th and 8th digits
    // shifted out (and missing ones zero).
    let values = w & 0x0F0F_0F0F_0F0F_0F0F & (u64::MAX >> (64 - 8 * n));
    let micros = eight_digits(values << 16) as i64;
    if n < 8 {
        return Ok((micros, n));
    }
    let more = s[at + 8..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    Ok((micros, 8 + more))
}

/// TIME `HH:MM:SS[.frac]` as microseconds since midnight.
#[inline]
pub fn parse_time(s: &[u8]) -> FieldResult<i64> {
    let (micros, used) = time_prefix(s)?;
    if used != s.len() {
        return Err(FieldError::Syntax);
    }
    Ok(micros)
}

/// TIMESTAMP as microseconds since 1970-01-01T00:00:00 (UTC when an
/// offset is given).
#[inline]
pub fn parse_timestamp(s: &[u8]) -> FieldResult<i64> {
    timestamp_on(date_prefix(s)?, s)
}

/// `parse_timestamp` for a column of values (see `date_prefix_memo`).
#[inline]
pub fn parse_timestamp_memo(s: &[u8], memo: &mut Month) -> FieldResult<i64> {
    timestamp_on(date_prefix_memo(s, memo)?, s)
}

/// The rest of a TIMESTAMP whose date, `days`, is `s[..10]`.
#[inline]
fn timestamp_on(days: i64, s: &[u8]) -> FieldResult<i64> {
    if s.len() < 11 || !matches!(s[10], b' ' | b'T' | b't') {
        return Err(FieldError::Syntax);
    }
    let (micros, used) = time_prefix(&s[11..])?;
    let rest = &s[11 + used..];
    let offset_s: i64 = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (two_digits(&[*h1, *h2], 0), two_digits(&[*m1, *m2], 0));
            if h > 23 || m > 59 {
                return Err(FieldError::Syntax);
            }
            let v = (h * 3600 + m * 60) as i64;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return Err(FieldError::Syntax),
    };
    // Local time minus its offset is UTC, which must stay within the
    // four-digit years every text form here (and egress) writes.
    let utc = days * 86_400_000_000 + micros - offset_s * 1_000_000;
    if !(TIMESTAMP_MIN_MICROS..=TIMESTAMP_MAX_MICROS).contains(&utc) {
        return Err(FieldError::Overflow);
    }
    Ok(utc)
}

/// 0000-01-01 00:00:00 and 9999-12-31 23:59:59.999999, in microseconds
/// since 1970-01-01.
const TIMESTAMP_MIN_MICROS: i64 = -719_528 * 86_400_000_000;
const TIMESTAMP_MAX_MICROS: i64 = 2_932_897 * 86_400_000_000 - 1;

/// Number of characters of valid UTF-8 (bytes that do not continue one).
pub fn char_count(s: &[u8]) -> usize {
    s.iter().filter(|&&b| (b as i8) >= -0x40).count()
}

/// Validate a string field: UTF-8 and at most `max_chars` characters.
pub fn check_str(s: &[u8], max_chars: Option<u32>) -> FieldResult<&[u8]> {
    // ASCII first: for the short strings of small requests `is_ascii` (a
    // word at a time) costs a fraction of `from_utf8`'s set-up, measured
    // ~100 instructions a field by `loadtest/request-instructions.sh`.
    if !s.is_ascii() && std::str::from_utf8(s).is_err() {
        return Err(FieldError::Utf8);
    }
    if let Some(max) = max_chars {
        // A string of at most `max` bytes cannot have more characters.
        if s.len() > max as usize && char_count(s) > max as usize {
            return Err(FieldError::TooLong);
        }
    }
    Ok(s)
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
