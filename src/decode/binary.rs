//! Field parsers for the byte types: BINARY(n)/VARBINARY(n) and UUID.
//!
//! Policies (CSV field text and JSON strings alike):
//! - BINARY/VARBINARY text is standard base64 (RFC 4648 alphabet `+/`,
//!   `=` padding required, no whitespace), the form Feldera's JSON uses. A
//!   JSON array of integers 0..=255 is also accepted (`push_json_at`).
//!   VARBINARY(n): more than n bytes is `TooLong`. BINARY(n): more than n
//!   bytes is `TooLong`; fewer are zero-padded to n, as SQL pads BINARY.
//! - UUID text is the canonical 8-4-4-4-12 hexadecimal form, either case;
//!   the 16 bytes are stored in the order written.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::fields::{FieldError, FieldResult};

/// Base64 characters decoded per step of `base64_len` (a multiple of 4, so
/// every step but the last has no padding).
const STEP_CHARS: usize = 1024;

/// Validate standard base64 and return the decoded length, without
/// allocating: decoded in steps into a stack buffer that is thrown away.
pub fn base64_len(s: &[u8]) -> FieldResult<usize> {
    if !s.len().is_multiple_of(4) {
        return Err(FieldError::Syntax);
    }
    let mut buf = [0u8; STEP_CHARS / 4 * 3];
    let mut n = 0;
    let steps = s.len().div_ceil(STEP_CHARS);
    for (i, step) in s.chunks(STEP_CHARS).enumerate() {
        // Padding may only end the whole text, not a step.
        if i + 1 < steps && step.last() == Some(&b'=') {
            return Err(FieldError::Syntax);
        }
        n += STANDARD
            .decode_slice(step, &mut buf)
            .map_err(|_| FieldError::Syntax)?;
    }
    Ok(n)
}

/// Decode standard base64 (already validated by `base64_len`) onto `out`.
pub fn base64_append(s: &[u8], out: &mut Vec<u8>) -> FieldResult<()> {
    STANDARD.decode_vec(s, out).map_err(|_| FieldError::Syntax)
}

/// The byte length a BINARY(n)/VARBINARY(n) column takes for a value of
/// `len` bytes: `Err(TooLong)` past the limit.
pub fn check_bytes(len: usize, max: Option<u32>) -> FieldResult<()> {
    match max {
        Some(m) if len > m as usize => Err(FieldError::TooLong),
        _ => Ok(()),
    }
}

/// A UUID in its 36-character 8-4-4-4-12 hexadecimal form.
pub fn parse_uuid(s: &[u8]) -> FieldResult<[u8; 16]> {
    if s.len() != 36 {
        return Err(FieldError::Syntax);
    }
    let mut out = [0u8; 16];
    let mut k = 0;
    let mut i = 0;
    while i < 36 {
        if matches!(i, 8 | 13 | 18 | 23) {
            if s[i] != b'-' {
                return Err(FieldError::Syntax);
            }
            i += 1;
            continue;
        }
        out[k] = hex(s[i])? << 4 | hex(s[i + 1])?;
        k += 1;
        i += 2;
    }
    Ok(out)
}

fn hex(b: u8) -> FieldResult<u8> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(FieldError::Syntax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_agrees_with_the_crate() {
        let cases: &[&[u8]] = &[
            b"",
            b"AA==",
            b"AAE=",
            b"AAEC",
            b"aGVsbG8=",
            b"aGVsbG8",
            b"aGVs bG8=",
            b"=AAA",
            b"AA=A",
            b"A===",
            b"_-8=",
        ];
        for &c in cases {
            let want = STANDARD.decode(c).map(|v| v.len()).ok();
            assert_eq!(base64_len(c).ok(), want, "{:?}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn base64_long_values_split_into_steps() {
        for len in [767, 768, 769, 1500, 3000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = STANDARD.encode(&bytes);
            assert_eq!(base64_len(text.as_bytes()), Ok(len));
            let mut out = vec![9];
            base64_append(text.as_bytes(), &mut out).unwrap();
            assert_eq!(out[1..], bytes[..]);
            // Padding inside the text, at a step boundary, is refused.
            let mut bad = text.clone().into_bytes();
            if bad.len() > STEP_CHARS {
                bad[STEP_CHARS - 1] = b'=';
                assert_eq!(base64_len(&bad), Err(FieldError::Syntax));
            }
        }
    }

    #[test]
    fn uuids() {
        let u = parse_uuid(b"123e4567-E89B-12d3-a456-426614174000").unwrap();
        assert_eq!(u[0], 0x12);
        assert_eq!(u[6], 0x12);
        assert_eq!(u[15], 0x00);
        assert_eq!(u[4], 0xe8);
        for bad in [
            &b"123e4567e89b12d3a456426614174000"[..],
            b"123e4567-e89b-12d3-a456-42661417400g",
            b"123e4567-e89b-12d3-a456_426614174000",
            b"123e4567-e89b-12d3-a456-4266141740000",
        ] {
            assert_eq!(parse_uuid(bad), Err(FieldError::Syntax));
        }
    }
}
