//! Numbers parsed sixteen digits at a time with SSE instructions, for the
//! CSV column fast path (`ColumnBuf::append_texts`) on CPUs with AVX2 (which
//! implies the SSSE3 and SSE4.1 used here) and in the JSON direct path's
//! columns (`ColumnBuf::push_scalars`).
//!
//! Why: the byte loop of `fields::parse_i64` is a chain of dependent
//! multiply-adds, about five instructions and four cycles of latency per
//! digit; random BIGINTs have 18-19 digits, and the harness's CSV rows
//! carry three integer columns, so the loop was ~8% of decoding them. Here
//! a field's digits are right-aligned in one 16-byte register by a shuffle
//! chosen by length, checked all at once, and combined pairwise (the
//! approach of simdjson's eight-digit parser, widened to sixteen): about
//! fifteen instructions and no loop whatever the length.
//!
//! DOUBLE, REAL and DECIMAL texts of the form `[+-]int[.frac]` take the
//! same path. Up to sixteen bytes after the sign (`mantissa16`), the point
//! is found with one compare and the shuffle that right-aligns the digits
//! also drops it, so the whole mantissa is one run; longer texts find the
//! point with a 32-byte compare and take the integer and fractional digits
//! as two runs. (DOUBLEs like `1565.211` had been left to the scalar loop,
//! where they were 3% faster than two runs; as one run they are faster
//! there: `csv/narrow` 19.9 M -> 19.2 M instructions per 1 MiB body.)
//!
//! Every result equals the scalar parser's (`fields::parse_int`,
//! `parse_f64`, `parse_f32`, `parse_decimal`): a text the fast path does not
//! take (a tail too short for its loads, a non-digit, an exponent, too many
//! digits) goes to that parser, which also gives the exact error.

use std::arch::x86_64::*;

use super::columns::Text;
use super::fields::{self, FieldResult, POW10_F32, POW10_F64, POW10_U64};

/// Does the CPU have the instructions these parsers use? Cached by std.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// `fields::parse_int` of `t`.
///
/// # Safety
/// The CPU must have AVX2 (`available`).
#[inline(always)]
pub(crate) unsafe fn parse_int<T: TryFrom<i64>>(t: Text<'_>) -> FieldResult<T> {
    match parse_i64(t) {
        Some(v) => T::try_from(v).map_err(|_| fields::FieldError::Overflow),
        None => fields::parse_int(t.bytes()),
    }
}

/// `[+-]digits` within i64, or `None` for `parse_int` to decide.
///
/// # Safety
/// The CPU must have AVX2. (These helpers are not `#[target_feature]`
/// functions, which cannot be `inline(always)`: forced inline into the
/// AVX2 column loops, their intrinsics inline there too. As
/// `#[target_feature]` + `#[inline]`, LLVM kept `parse_i64` a call that
/// took the text through the stack: 0.6 M more instructions per harness
/// body.)
#[inline(always)]
unsafe fn parse_i64(t: Text<'_>) -> Option<i64> {
    let (tail, len) = t.parts();
    let first = *tail.first()?;
    let sign = usize::from(first == b'-' || first == b'+');
    let n = len.checked_sub(sign)?;
    let v = match n {
        // Loaded from the first digit on: the tail must hold 16 bytes.
        1..=16 if tail.len() >= sign + 16 => digits16(&tail[sign..sign + 16], n)?,
        // The last 16 digits, which lie within the field, and the one to
        // three before them by hand: at most 19 digits stay below 2^64.
        17..=19 => {
            let head = &tail[sign..len - 16];
            let mut h: u64 = 0;
            for &b in head {
                let d = b.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                h = h * 10 + u64::from(d);
            }
            h * 10u64.pow(16) + digits16(&tail[len - 16..len], 16)?
        }
        _ => return None,
    };
    let neg = first == b'-';
    if v > i64::MAX as u64 + u64::from(neg) {
        return None;
    }
    Some(if neg {
        (v as i64).wrapping_neg()
    } else {
        v as i64
    })
}

/// `fields::parse_f64` of `t`.
///
/// # Safety
/// The CPU must have AVX2 (`available`).
#[inline(always)]
pub(crate) unsafe fn parse_f64(t: Text<'_>) -> FieldResult<f64> {
    let fast = mantissa(t)
        .and_then(|x| fields::exact_float(x.neg, x.m, x.digits, x.frac, 1 << 53, &POW10_F64));
    fast.map_or_else(|| fields::parse_f64(t.bytes()), Ok)
}

/// `fields::parse_f32` of `t`.
///
/// # Safety
/// The CPU must have AVX2 (`available`).
#[inline(always)]
pub(crate) unsafe fn parse_f32(t: Text<'_>) -> FieldResult<f32> {
    let fast = mantissa(t)
        .and_then(|x| fields::exact_float(x.neg, x.m, x.digits, x.frac, 1 << 24, &POW10_F32));
    fast.map_or_else(|| fields::parse_f32(t.bytes()), Ok)
}

/// `fields::parse_decimal` of `t`.
///
/// # Safety
/// The CPU must have AVX2 (`available`).
#[inline(always)]
pub(crate) unsafe fn parse_decimal(t: Text<'_>, precision: u8, scale: i8) -> FieldResult<i128> {
    let fast = mantissa(t).and_then(|x| {
        let v = fields::scale_short_decimal(x.m, x.digits, x.frac, precision, scale)?;
        Some(v.map(|v| if x.neg { -v } else { v }))
    });
    fast.unwrap_or_else(|| fields::parse_decimal(t.bytes(), precision, scale))
}

/// `[+-]int[.frac]` taken apart: `m` is the `digits` digits of `int` and
/// `frac` run together, the last `frac` of them fractional.
struct Mantissa {
    neg: bool,
    m: u64,
    digits: usize,
    frac: usize,
}

/// `t` as a `Mantissa` when it has that form with at most 16 digits on
/// either side of the point and 20 bytes after the sign (`m` then fits a
/// u64), and the tail holds the loads (16 bytes from the first digit for
/// at most 16 bytes after the sign, `mantissa16`; else 32); else `None`. No digits at all (`.`, `-`) is a `Mantissa` of 0 digits,
/// which the callers' checks refuse.
///
/// # Safety
/// The CPU must have AVX2 (see `parse_i64`).
#[inline(always)]
unsafe fn mantissa(t: Text<'_>) -> Option<Mantissa> {
    let (tail, len) = t.parts();
    if len == 0 {
        return None;
    }
    let first = tail[0];
    let sign = usize::from(first == b'-' || first == b'+');
    let body = &tail[sign..];
    let n = len - sign;
    if n <= 16 {
        if let Some(b) = body.get(..16) {
            return mantissa16(b.try_into().unwrap(), n, first == b'-');
        }
    }
    if n > 20 {
        return None;
    }
    let head: &[u8; 32] = body.get(..32)?.try_into().ok()?;
    // SAFETY: `head` is 32 readable bytes; `loadu` has no alignment
    // requirement.
    let v = unsafe { _mm256_loadu_si256(head.as_ptr().cast()) };
    let points = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'.' as i8)));
    let points = points as u32 & ((1u32 << n) - 1);
    // `p` digits before the point (all of them without one), `f` after.
    let p = if points == 0 {
        n
    } else {
        points.trailing_zeros() as usize
    };
    let f = n - p - usize::from(points != 0);
    // A second point is a non-digit among the fractional digits.
    let int = match p {
        0 => 0,
        1..=16 => digits16(&head[..16], p)?,
        _ => return None,
    };
    let fr = match f {
        0 => 0,
        1..=16 => digits16(body.get(p + 1..p + 17)?, f)?,
        _ => return None,
    };
    // `p + f` <= 19: `int * 10^f + fr` < 10^19 fits a u64.
    Some(Mantissa {
        neg: first == b'-',
        m: int * POW10_U64[f] + fr,
        digits: p + f,
        frac: f,
    })
}

/// `mantissa` of a text of at most 16 bytes after its sign, all in one
/// register: the shuffle that right-aligns the digits also drops the point,
/// so one combine gives the whole mantissa (about half the work of two
/// digit runs). `b` is the text from its first digit (or point) on, of
/// which `n` bytes are the value's.
///
/// # Safety
/// The CPU must have AVX2 (see `parse_i64`).
#[inline(always)]
unsafe fn mantissa16(b: &[u8; 16], n: usize, neg: bool) -> Option<Mantissa> {
    // SAFETY: `b` is 16 readable bytes and `loadu` has no alignment
    // requirement.
    let v = unsafe { _mm_loadu_si128(b.as_ptr().cast()) };
    let in_text = ((1u32 << n) - 1) as u16;
    let points = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8))) as u16 & in_text;
    // The first point is the decimal point; a second one is a non-digit.
    let point = points & points.wrapping_neg();
    let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
    let nine = _mm_set1_epi8(9);
    let ok = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) as u16;
    let want = in_text & !point;
    if ok & want != want {
        return None;
    }
    let (p, digits) = match point {
        0 => (n, n),
        _ => (point.trailing_zeros() as usize, n - 1),
    };
    // Lane j takes digit i = j - (16 - digits), which is byte i before the
    // point and byte i + 1 after it; lanes with i < 0 take zero (a control
    // byte with its top bit set).
    let lane = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let i = _mm_sub_epi8(lane, _mm_set1_epi8(16 - digits as i8));
    let after = _mm_cmpgt_epi8(i, _mm_set1_epi8(p as i8 - 1));
    let before_first = _mm_cmpgt_epi8(_mm_setzero_si128(), i);
    let ctl = _mm_or_si128(_mm_sub_epi8(i, after), before_first);
    let m = combine16(_mm_shuffle_epi8(d, ctl));
    Some(Mantissa {
        neg,
        m,
        digits,
        frac: digits - p.min(digits),
    })
}

/// `SHUF[n]`: the `pshufb` control that moves bytes `0..n` to `16 - n..16`
/// and zeroes the bytes before them (a control byte with its top bit set
/// writes zero).
static SHUF: [[u8; 16]; 17] = {
    let mut t = [[0x80u8; 16]; 17];
    let mut n = 0;
    while n <= 16 {
        let mut j = 16 - n;
        while j < 16 {
            t[n][j] = (j - (16 - n)) as u8;
            j += 1;
        }
        n += 1;
    }
    t
};

/// The value of the `n` (1..=16) ASCII digits that start `b`, or `None`
/// when one of them is not a digit (bytes past `n` are ignored).
///
/// # Safety
/// The CPU must have AVX2 (see `parse_i64`).
#[inline(always)]
unsafe fn digits16(b: &[u8], n: usize) -> Option<u64> {
    let b: &[u8; 16] = b.try_into().ok()?;
    // SAFETY: `b` is 16 readable bytes and `loadu` has no alignment
    // requirement; so is `SHUF[n]` (`n` <= 16 is checked by indexing).
    let (v, ctl) = unsafe {
        (
            _mm_loadu_si128(b.as_ptr().cast()),
            _mm_loadu_si128(SHUF[n].as_ptr().cast()),
        )
    };
    // Digit values; any other byte wraps above 9.
    let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
    let nine = _mm_set1_epi8(9);
    let ok = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) as u32;
    let want = (1u32 << n) - 1;
    if ok & want != want {
        return None;
    }
    // Right-aligned with zeros before: d0..d15, most significant first.
    Some(combine16(_mm_shuffle_epi8(d, ctl)))
}

/// The value of sixteen digit values (0-9 per byte), most significant
/// first.
///
/// # Safety
/// The CPU must have AVX2 (see `parse_i64`).
#[inline(always)]
unsafe fn combine16(r: __m128i) -> u64 {
    // Pairs (10 * a + b, u16), then quads (u32), narrowed back to u16
    // (each at most 9999), then eights (u32): lanes 0 and 1 are the high
    // and low eight digits.
    let pairs = _mm_maddubs_epi16(r, _mm_set1_epi16(0x010A));
    let quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
    let quads = _mm_packus_epi32(quads, quads);
    let eights = _mm_madd_epi16(quads, _mm_set1_epi32(0x0001_2710));
    let hi = _mm_cvtsi128_si32(eights) as u32;
    let lo = _mm_extract_epi32::<1>(eights) as u32;
    u64::from(hi) * 100_000_000 + u64::from(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse_int::<T>` of `t` (the text `text` with `pad` bytes after it)
    /// equals `fields::parse_int::<T>`, value or error.
    fn same<T: TryFrom<i64> + PartialEq + std::fmt::Debug>(t: Text<'_>, text: &[u8], pad: usize) {
        // SAFETY: the callers checked `available`.
        let got = unsafe { parse_int::<T>(t) };
        assert_eq!(got, fields::parse_int::<T>(text), "{text:?} +{pad}");
    }

    /// Every text at every tail length against `fields::parse_int` (the
    /// scalar parser), for each width: values and errors alike.
    fn check(text: &[u8]) {
        // `pad` bytes after the field (a delimiter, then more digits, which
        // must not leak into the value).
        for pad in [0usize, 1, 3, 15, 16, 20] {
            let buf = padded(text, pad);
            let t = Text::new(&buf, 0, text.len());
            same::<i64>(t, text, pad);
            same::<i32>(t, text, pad);
            same::<i16>(t, text, pad);
            same::<i8>(t, text, pad);
        }
    }

    /// Texts of `[+-]int[.frac]` shape and near misses, for the float and
    /// decimal paths.
    fn number_texts() -> Vec<Vec<u8>> {
        let mut texts: Vec<Vec<u8>> = [
            "",
            ".",
            "-",
            "+",
            "-.",
            "+.5",
            ".5",
            "5.",
            "-5.",
            "0.0",
            "-0.0",
            "1.2.3",
            "1..2",
            "1e5",
            "1.5e-3",
            "1E5",
            "NaN",
            "inf",
            "-Infinity",
            " 1.5",
            "1.5 ",
            "0x10",
            "12345678901234567.5",
            "1234567890123456.75",
            "9007199254740993",
            "9007199254740992",
            "9007199254740992.0",
            "0.1",
            "123992.9306640625",
            "12345678901234567890",
            "1234567890.123456789",
            "1.0000000000000000000001",
            "99999999.99",
            "100000000.00",
            "-99999999.995",
            "0.000",
            "00000000000000000001.5",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        // Every split of up to 21 digits around a point, every sign, and each
        // byte made a non-digit in turn.
        for n in 1..=21 {
            // Every point position, and no point (`p == n + 1`).
            for p in 0..=n + 1 {
                let mut t: Vec<u8> = (0..n).map(|k| b"4096715832"[k % 10]).collect();
                if p <= n {
                    t.insert(p, b'.');
                }
                signed_and_spoiled(&mut texts, &t, b"/:.e\xff");
            }
        }
        for x in xorshift(0x2545_F491_4F6C_DD1D).take(20_000) {
            let v = f64::from_bits(x);
            if v.is_finite() {
                texts.push(format!("{v}").into_bytes());
            }
            let w = (x % 1_000_000_000) as f64 / 10f64.powi((x >> 40) as i32 % 12);
            texts.push(format!("{w}").into_bytes());
            texts.push(format!("{:.3}", -w).into_bytes());
            texts.push(format!("{}.{:02}", x % 100_000_000, x % 100).into_bytes());
        }
        texts
    }

    /// `body` with no sign, `-` and `+`, each also with every byte after
    /// the sign replaced in turn by each of `bad`.
    fn signed_and_spoiled(texts: &mut Vec<Vec<u8>>, body: &[u8], bad: &[u8]) {
        for sign in ["", "-", "+"] {
            let mut t = sign.as_bytes().to_vec();
            t.extend(body);
            texts.push(t.clone());
            for k in sign.len()..t.len() {
                for &b in bad {
                    let mut u = t.clone();
                    u[k] = b;
                    texts.push(u);
                }
            }
        }
    }

    /// A xorshift64 sequence from `seed`.
    fn xorshift(mut seed: u64) -> impl Iterator<Item = u64> {
        std::iter::repeat_with(move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        })
    }

    /// `text` followed by `pad` bytes of a delimiter and digits.
    fn padded(text: &[u8], pad: usize) -> Vec<u8> {
        padded_with(text, pad, b",7777777777777777777777777777777777777777")
    }

    /// `text` followed by the first `pad` bytes of `after` (repeated).
    fn padded_with(text: &[u8], pad: usize, after: &[u8]) -> Vec<u8> {
        let mut buf = text.to_vec();
        buf.extend(after.iter().cycle().take(pad));
        buf
    }

    #[test]
    fn floats_and_decimals_agree_with_the_scalar_parsers() {
        if !available() {
            eprintln!("no AVX2: the SIMD number path is not used on this CPU");
            return;
        }
        let scales: [(u8, i8); 6] = [(10, 2), (18, 0), (38, 10), (5, 5), (18, 18), (12, -2)];
        // Tails of a delimiter and digits, and of points and digits that
        // would change the value if they leaked into it.
        let tails: [&[u8]; 2] = [b",7777777777777777777777777777777777777777", b".5.5"];
        for text in number_texts() {
            for (pad, after) in [0usize, 1, 8, 15, 16, 31, 32, 40]
                .into_iter()
                .flat_map(|p| tails.map(|a| (p, a)))
            {
                let buf = padded_with(&text, pad, after);
                let t = Text::new(&buf, 0, text.len());
                // SAFETY: the CPU has AVX2.
                unsafe {
                    let (a, b) = (parse_f64(t), fields::parse_f64(&text));
                    assert!(
                        a.map(f64::to_bits) == b.map(f64::to_bits),
                        "{:?} +{pad}: {a:?} {b:?}",
                        String::from_utf8_lossy(&text)
                    );
                    let (a, b) = (parse_f32(t), fields::parse_f32(&text));
                    assert!(
                        a.map(f32::to_bits) == b.map(f32::to_bits),
                        "{:?} +{pad}: {a:?} {b:?}",
                        String::from_utf8_lossy(&text)
                    );
                    for (p, s) in scales {
                        assert_eq!(
                            parse_decimal(t, p, s),
                            fields::parse_decimal(&text, p, s),
                            "{:?} +{pad} ({p}, {s})",
                            String::from_utf8_lossy(&text)
                        );
                    }
                }
            }
        }
    }

    /// The fast paths take the usual texts (agreement alone would also
    /// hold if every text went to the scalar parsers).
    #[test]
    fn takes_the_usual_texts() {
        if !available() {
            return;
        }
        let buf = padded(b"-123992.9306640625", 32);
        // SAFETY: the CPU has AVX2.
        let x = unsafe { mantissa(Text::new(&buf, 0, 18)) }.expect("taken");
        assert!(x.neg && x.m == 1239929306640625 && x.digits == 16 && x.frac == 10);
        // One register (`mantissa16`: up to 16 bytes after the sign, with
        // a tail of exactly 16 bytes from the first digit), and two runs
        // past that (the 32-byte load needs the longer tail).
        for (text, m, digits, frac) in [
            ("1565.211", 1565211, 7, 3),
            ("-.5", 5, 1, 1),
            ("7.", 7, 1, 0),
            ("42", 42, 2, 0),
            ("12345678901234.5", 123456789012345, 15, 1),
            ("-1234567890123456", 1234567890123456, 16, 0),
            ("123456789012345.6", 1234567890123456, 16, 1),
        ] {
            let sign = usize::from(text.starts_with('-'));
            let pad = if text.len() - sign <= 16 {
                16 + sign - text.len()
            } else {
                32
            };
            let buf = padded_with(text.as_bytes(), pad, b".5");
            // SAFETY: as above.
            let x = unsafe { mantissa(Text::new(&buf, 0, text.len())) }.expect(text);
            let got = (x.neg, x.m, x.digits, x.frac);
            assert_eq!(got, (sign == 1, m, digits, frac), "{text}");
        }
        for (text, v) in [("-8", -8), ("1234567890123456", 1234567890123456i64)] {
            let buf = padded(text.as_bytes(), 32);
            // SAFETY: as above.
            let got = unsafe { parse_i64(Text::new(&buf, 0, text.len())) };
            assert_eq!(got, Some(v));
        }
        let (buf, n) = (b"-9223372036854775808", 20);
        // SAFETY: as above.
        assert_eq!(unsafe { parse_i64(Text::new(buf, 0, n)) }, Some(i64::MIN));
    }

    #[test]
    fn agrees_with_the_scalar_parser() {
        if !available() {
            eprintln!("no AVX2: the SIMD integer path is not used on this CPU");
            return;
        }
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for s in [
            "",
            "+",
            "-",
            "0",
            "-0",
            "+0",
            "9",
            "00000000000000000000001",
            "1.0",
            "1e3",
            " 1",
            "1 ",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "9999999999999999",
            "10000000000000000",
            "1234567890123456",
            "12345678901234567",
            "127",
            "128",
            "-128",
            "-129",
            "32767",
            "32768",
            "2147483647",
            "-2147483649",
            "+-1",
            "--1",
        ] {
            texts.push(s.into());
        }
        // Every length 1..=21 of digits, with each position made a non-digit
        // in turn (bytes just below '0' and above '9', and a `/`).
        for len in 1..=21 {
            let digits: Vec<u8> = (0..len).map(|k| b"9876543210"[k % 10]).collect();
            signed_and_spoiled(&mut texts, &digits, b"/:a\x00\xff.");
        }
        // Pseudo-random values of every magnitude.
        for x in xorshift(0x9E37_79B9_7F4A_7C15).take(20_000) {
            let v = (x >> (x % 64)) as i64;
            texts.push(v.to_string().into_bytes());
            texts.push(v.wrapping_neg().to_string().into_bytes());
        }
        for t in &texts {
            check(t);
        }
    }
}
