//! Integers parsed sixteen digits at a time with SSE instructions, for the
//! CSV column fast path (`ColumnBuf::append_texts`) on CPUs with AVX2 (which
//! implies the SSSE3 and SSE4.1 used here; AVX2 is what the CSV index
//! already asks the CPU for, so one question decides both).
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
//! Every result equals `fields::parse_int`'s: values the fast path does not
//! take (a tail too short to load 16 bytes, a non-digit, 20 or more digits)
//! go to `parse_int` itself, which also gives the exact error.

use super::columns::Text;
use super::fields::{self, FieldResult};

/// Does the CPU have the instructions `parse_int` uses? Cached by std.
#[cfg(target_arch = "x86_64")]
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn available() -> bool {
    false
}

/// `fields::parse_int` of `t`.
///
/// # Safety
/// The CPU must have AVX2 (`available`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn parse_int<T: TryFrom<i64>>(t: Text<'_>) -> FieldResult<T> {
    match parse_i64(t) {
        Some(v) => T::try_from(v).map_err(|_| fields::FieldError::Overflow),
        None => fields::parse_int(t.bytes()),
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn parse_int<T: TryFrom<i64>>(t: Text<'_>) -> FieldResult<T> {
    fields::parse_int(t.bytes())
}

/// `[+-]digits` within i64, or `None` for `parse_int` to decide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn parse_i64(t: Text<'_>) -> Option<i64> {
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

/// `SHUF[n]`: the `pshufb` control that moves bytes `0..n` to `16 - n..16`
/// and zeroes the bytes before them (a control byte with its top bit set
/// writes zero).
#[cfg(target_arch = "x86_64")]
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
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn digits16(b: &[u8], n: usize) -> Option<u64> {
    use std::arch::x86_64::*;
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
    let r = _mm_shuffle_epi8(d, ctl);
    // Pairs (10 * a + b, u16), then quads (u32), narrowed back to u16
    // (each at most 9999), then eights (u32): lanes 0 and 1 are the high
    // and low eight digits.
    let pairs = _mm_maddubs_epi16(r, _mm_set1_epi16(0x010A));
    let quads = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
    let quads = _mm_packus_epi32(quads, quads);
    let eights = _mm_madd_epi16(quads, _mm_set1_epi32(0x0001_2710));
    let hi = _mm_cvtsi128_si32(eights) as u32;
    let lo = _mm_extract_epi32::<1>(eights) as u32;
    Some(u64::from(hi) * 100_000_000 + u64::from(lo))
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Every text at every tail length against `fields::parse_int` (the
    /// scalar parser), for each width: values and errors alike.
    fn check(text: &[u8]) {
        // `pad` bytes after the field (a delimiter, then more digits, which
        // must not leak into the value).
        for pad in [0usize, 1, 3, 15, 16, 20] {
            let mut buf = text.to_vec();
            buf.push(b',');
            buf.extend(std::iter::repeat_n(b'7', pad));
            buf.truncate(text.len() + pad);
            let t = Text::new(&buf, 0, text.len());
            // SAFETY: the caller checked `available`.
            unsafe {
                assert_eq!(
                    parse_int::<i64>(t),
                    fields::parse_int::<i64>(text),
                    "{text:?} +{pad}"
                );
                assert_eq!(
                    parse_int::<i32>(t),
                    fields::parse_int::<i32>(text),
                    "{text:?} +{pad}"
                );
                assert_eq!(
                    parse_int::<i16>(t),
                    fields::parse_int::<i16>(text),
                    "{text:?} +{pad}"
                );
                assert_eq!(
                    parse_int::<i8>(t),
                    fields::parse_int::<i8>(text),
                    "{text:?} +{pad}"
                );
            }
        }
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
            for sign in ["", "-", "+"] {
                let mut t = sign.as_bytes().to_vec();
                t.extend(&digits);
                texts.push(t.clone());
                for k in sign.len()..t.len() {
                    for bad in [b'/', b':', b'a', 0, 0xff, b'.'] {
                        let mut u = t.clone();
                        u[k] = bad;
                        texts.push(u);
                    }
                }
            }
        }
        // Pseudo-random values of every magnitude.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x >> (x % 64)) as i64;
            texts.push(v.to_string().into_bytes());
            texts.push(v.wrapping_neg().to_string().into_bytes());
        }
        for t in &texts {
            check(t);
        }
    }
}
