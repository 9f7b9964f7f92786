//! Strings with backslash escapes on the direct path.
//!
//! About a fifth of realistic rows carry an escape (an embedded quote,
//! mostly), and refusing them sent those rows and the lines after them
//! through simd-json. So stage 2 unescapes such a string into the group's
//! text buffer (`JsonDecoder::dtext`, reused, so no allocation per row once
//! it has grown). That buffer starts with a copy of the group, made at its
//! first escape, so a slot is a span of one buffer whatever its string:
//! stage 3 reads the copy instead of the group, and its loops do not
//! choose a buffer per value (which cost ~2% on a body without escapes).
//!
//! Only what simd-json (and serde_json) unescape is taken, to the same
//! bytes: the eight one-letter escapes and `\uXXXX`, a UTF-16 surrogate
//! pair as one character. Anything else (another letter, fewer than four
//! hex digits, a lone or unpaired surrogate, a raw control byte, no closing
//! quote on the line) refuses the row, so the general path reports it.
//!
//! The result is valid UTF-8 whenever the line is (which `direct` checks
//! before the walk): the text between escapes is copied whole, and begins
//! and ends next to ASCII bytes (quotes and escapes), so on character
//! boundaries; an escape adds one ASCII byte or one `char`'s UTF-8.

use super::direct::Index;

/// Unescape the string whose content starts at `src[from]` and whose first
/// stop byte, a backslash, is at `q`; appends its text to `out` (after a
/// copy of `src`, made first if `out` is empty) and returns the position
/// after its closing quote, which must lie before `end`. `None` refuses
/// the row (`out` then holds a partial text, never read).
///
/// Out of line, and returning only a position (in registers): returning
/// the whole slot (through memory) cost every value of stage 2's loop a
/// few instructions, even on a body without escapes (callgrind).
#[inline(never)]
pub(super) fn unescape(
    src: &[u8],
    index: &Index,
    out: &mut Vec<u8>,
    mut from: usize,
    mut q: usize,
    end: usize,
) -> Option<usize> {
    if out.is_empty() {
        out.extend_from_slice(src);
    }
    let s = &src[..end];
    loop {
        out.extend_from_slice(&s[from..q]);
        match s[q] {
            b'"' => return Some(q + 1),
            b'\\' => from = q + escape(s, q, out)?,
            // A raw control byte: not JSON.
            _ => return None,
        }
        q = index.next_stop(from).filter(|&q| q < end)?;
    }
}

/// The escape at `s[q]` (a backslash): appends what it stands for and
/// returns its length in `s`.
#[inline]
fn escape(s: &[u8], q: usize, out: &mut Vec<u8>) -> Option<usize> {
    let b = match *s.get(q + 1)? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0C,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => return unicode(s, q, out),
        _ => return None,
    };
    out.push(b);
    Some(2)
}

/// The `\uXXXX` escape at `s[q]`, with the low half that must follow a
/// high surrogate (as simd-json's `get_unicode_codepoint` requires).
fn unicode(s: &[u8], q: usize, out: &mut Vec<u8>) -> Option<usize> {
    let hi = hex4(s.get(q + 2..q + 6)?)?;
    let (code, len) = match hi {
        0xD800..=0xDBFF => {
            if s.get(q + 6..q + 8)? != b"\\u" {
                return None;
            }
            let lo = hex4(s.get(q + 8..q + 12)?)?;
            if !(0xDC00..=0xDFFF).contains(&lo) {
                return None;
            }
            (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), 12)
        }
        0xDC00..=0xDFFF => return None,
        _ => (hi, 6),
    };
    // Never `None`: surrogates are handled above and the pair's code is
    // at most 0x10FFFF.
    let c = char::from_u32(code)?;
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    Some(len)
}

/// Four hex digits (either case) as a number.
fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | d)
    })
}
