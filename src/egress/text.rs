//! Text forms of scalar values, shared by the JSON and CSV encoders. Each
//! is the form the decoders accept, so what egress writes can be posted
//! back unchanged: dates `YYYY-MM-DD`, times `HH:MM:SS[.ffffff]`,
//! timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` (Feldera's output forms),
//! decimals exact, binary as standard base64, UUIDs `8-4-4-4-12` hex.

use std::io::Write;

use base64::Engine;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`, exact for every i32 day.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub fn date(out: &mut Vec<u8>, days: i32) {
    let (y, m, d) = civil_from_days(i64::from(days));
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    } else {
        // Outside the four-digit years the decoders read: ISO 8601's
        // expanded form, so the value is still exact.
        let _ = write!(out, "{y:+05}-{m:02}-{d:02}");
    }
}

/// Microseconds since midnight; the fraction only when non-zero.
pub fn time(out: &mut Vec<u8>, micros: i64) {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let _ = write!(out, "{h:02}:{m:02}:{s:02}");
    if frac != 0 {
        let _ = write!(out, ".{frac:06}");
    }
}

pub fn timestamp(out: &mut Vec<u8>, micros: i64) {
    let day_micros = SECS_PER_DAY * MICROS_PER_SEC;
    let days = micros.div_euclid(day_micros);
    date(out, days as i32);
    out.push(b' ');
    time(out, micros.rem_euclid(day_micros));
}

/// An exact decimal: the unscaled integer with the point `scale` digits
/// from the right (a negative scale appends zeros).
pub fn decimal(out: &mut Vec<u8>, unscaled: i128, scale: i8) {
    if unscaled < 0 {
        out.push(b'-');
    }
    let digits = unscaled.unsigned_abs().to_string();
    if scale <= 0 {
        out.extend_from_slice(digits.as_bytes());
        if unscaled != 0 {
            out.resize(out.len() + scale.unsigned_abs() as usize, b'0');
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + scale - digits.len(), b'0');
        out.extend_from_slice(digits.as_bytes());
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int.as_bytes());
        out.push(b'.');
        out.extend_from_slice(frac.as_bytes());
    }
}

/// A float the way JSON and the decoders read it back bit for bit (Rust's
/// shortest round-trip form); NaN and infinities as the words the float
/// decoders accept.
pub fn float(out: &mut Vec<u8>, v: f64, quote_words: bool) {
    let word = if v.is_nan() {
        "NaN"
    } else if v == f64::INFINITY {
        "Infinity"
    } else if v == f64::NEG_INFINITY {
        "-Infinity"
    } else {
        let _ = write!(out, "{v:?}");
        return;
    };
    if quote_words {
        let _ = write!(out, "\"{word}\"");
    } else {
        out.extend_from_slice(word.as_bytes());
    }
}

pub fn float32(out: &mut Vec<u8>, v: f32, quote_words: bool) {
    if v.is_finite() {
        // f32's own shortest form: widening first would print digits the
        // value never had (0.1f32 as 0.10000000149011612).
        let _ = write!(out, "{v:?}");
    } else {
        float(out, f64::from(v), quote_words);
    }
}

pub fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    let n = base64::encoded_len(bytes.len(), true).expect("a batch's bytes fit in usize");
    out.resize(start + n, 0);
    base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .expect("the slice was sized by encoded_len");
}

pub fn uuid(out: &mut Vec<u8>, b: &[u8]) {
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        let _ = write!(out, "{byte:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(s(|o| date(o, 0)), "1970-01-01");
        assert_eq!(s(|o| date(o, -1)), "1969-12-31");
        assert_eq!(s(|o| date(o, 19_723)), "2024-01-01");
        assert_eq!(s(|o| date(o, -719_529)), "-0001-12-31");
        assert_eq!(s(|o| time(o, 0)), "00:00:00");
        assert_eq!(s(|o| time(o, 86_399_000_001)), "23:59:59.000001");
        assert_eq!(s(|o| timestamp(o, -1)), "1969-12-31 23:59:59.999999");
        assert_eq!(s(|o| decimal(o, 12345, 2)), "123.45");
        assert_eq!(s(|o| decimal(o, -5, 3)), "-0.005");
        assert_eq!(s(|o| decimal(o, 0, 2)), "0.00");
        assert_eq!(s(|o| decimal(o, 7, -2)), "700");
        assert_eq!(s(|o| decimal(o, i128::MIN + 1, 0)).len(), 40);
        assert_eq!(s(|o| float(o, 0.1, true)), "0.1");
        assert_eq!(s(|o| float(o, -0.0, true)), "-0.0");
        assert_eq!(s(|o| float(o, 1e300, true)), "1e300");
        assert_eq!(s(|o| float(o, f64::NAN, true)), "\"NaN\"");
        assert_eq!(s(|o| float32(o, 0.1, false)), "0.1");
        assert_eq!(s(|o| base64(o, b"hi!?")), "aGkhPw==");
        assert_eq!(
            s(|o| uuid(o, &(0u8..16).collect::<Vec<_>>())),
            "00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
    }

    #[test]
    fn days_agree_with_the_decoders_inverse() {
        // Every day of years 0..=9999 round-trips through the decoder's
        // date parser.
        for days in (-719_528..2_932_897).step_by(97) {
            let text = s(|o| date(o, days));
            let back = crate::decode::fields::parse_date(text.as_bytes());
            assert_eq!(back, Ok(days), "{text}");
        }
    }
}
