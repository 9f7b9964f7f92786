//! Request targets (RFC 9112 3.2): origin-form only, split into
//! percent-decoded path segments and query pairs for routing.
//!
//! The parts are ranges of one String, bounded by
//! `HeadLimits::uri_bytes_max`: the target itself when nothing in it needs
//! decoding, else the decoded parts back to back. A connection parses
//! every request into the same `Target` (`parse_into`), which keeps the
//! String's and the range vectors' capacity. Why: one owned String per
//! part (reused through a spare list) and `str::split` cost ~3,900
//! instructions per one-row request, 17% of a shard's userland work
//! (callgrind over a loopback load).

use std::ops::Range;

#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The parts, each a range of it: the target itself when nothing in it
    /// needs decoding, else the parts percent-decoded back to back.
    text: String,
    /// Each segment's range in `text`. Segments are non-empty: `//` and a
    /// trailing `/` add none, so `/v0/pipelines/` and `/v0//pipelines`
    /// route like `/v0/pipelines`. A decoded `%2F` stays inside its segment.
    segments: Vec<Range<usize>>,
    /// Each pair's key and value ranges in `text`. Pairs are in order; `+`
    /// is a space (form encoding, as Feldera's clients send); a key
    /// without `=` has an empty value; empty pairs are skipped.
    pairs: Vec<(Range<usize>, Range<usize>)>,
    /// A percent-decoded part before its UTF-8 check.
    scratch: Vec<u8>,
}

/// Two targets are equal when their segments and pairs are.
impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        self.segments().eq(other.segments()) && self.pairs().eq(other.pairs())
    }
}

impl Eq for Target {}

/// What a connection keeps between requests is bounded, not by the
/// largest target it ever saw: the decoded text's capacity (and the
/// scratch buffer's)...
const TEXT_KEPT_BYTES_MAX: usize = 1024;
/// ...and the range vectors', dropped past this many entries. So a client
/// sending huge targets holds at most ~3 KiB per connection after them.
const PARTS_KEPT_MAX: usize = 16;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// `*` (asterisk-form), `http://...` (absolute-form) or empty.
    NotOriginForm,
    /// A byte outside VCHAR, or a `#` (fragments are never sent).
    InvalidByte,
    /// `%` not followed by two hex digits.
    PercentEscape,
    /// Decoded bytes are not UTF-8.
    NotUtf8,
}

/// A query key given more than once: an error, as in Feldera, rather than
/// a guess at which value was meant.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DuplicateParam;

impl Target {
    /// The path segments, percent-decoded.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().map(|r| &self.text[r.clone()])
    }

    /// The query pairs, percent-decoded, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let text = &self.text;
        self.pairs
            .iter()
            .map(|(k, v)| (&text[k.clone()], &text[v.clone()]))
    }

    /// The value of the pair with this key. Compared as bytes, without
    /// slicing `text` as a str per pair.
    pub fn param(&self, key: &str) -> Result<Option<&str>, DuplicateParam> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if self.text.as_bytes()[k.clone()] == *key.as_bytes() {
                if found.is_some() {
                    return Err(DuplicateParam);
                }
                found = Some(v.clone());
            }
        }
        Ok(found.map(|v| &self.text[v]))
    }

    /// A segment, unless empty.
    fn push_segment(&mut self, range: Range<usize>) {
        if !range.is_empty() {
            self.segments.push(range);
        }
    }

    /// A pair split at `eq`, its first `=` if any, unless empty.
    fn push_pair(&mut self, range: Range<usize>, eq: Option<usize>) {
        if !range.is_empty() {
            let eq = eq.unwrap_or(range.end);
            let value = (eq + 1).min(range.end)..range.end;
            self.pairs.push((range.start..eq, value));
        }
    }

    /// Empty the parts, keeping capacity within the bounds above.
    fn clear(&mut self) {
        if self.text.capacity() > TEXT_KEPT_BYTES_MAX {
            self.text = String::new();
        }
        if self.scratch.capacity() > TEXT_KEPT_BYTES_MAX {
            self.scratch = Vec::new();
        }
        if self.segments.capacity() > PARTS_KEPT_MAX {
            self.segments = Vec::new();
        }
        if self.pairs.capacity() > PARTS_KEPT_MAX {
            self.pairs = Vec::new();
        }
        self.text.clear();
        self.segments.clear();
        self.pairs.clear();
    }

    /// Append `raw` percent-decoded (in a query, `+` is a space); returns
    /// its range.
    fn push_decoded(
        &mut self,
        raw: &str,
        plus_is_space: bool,
    ) -> Result<Range<usize>, TargetError> {
        let start = self.text.len();
        self.scratch.clear();
        decode(raw.as_bytes(), plus_is_space, &mut self.scratch)?;
        let part = std::str::from_utf8(&self.scratch).map_err(|_| TargetError::NotUtf8)?;
        self.text.push_str(part);
        Ok(start..self.text.len())
    }
}

pub fn parse(target: &[u8]) -> Result<Target, TargetError> {
    let mut t = Target::default();
    parse_into(target, &mut t)?;
    Ok(t)
}

/// `parse` into `out`, reusing its buffers. After an error `out` holds
/// some of the parts; it is fine to parse into it again.
pub fn parse_into(target: &[u8], out: &mut Target) -> Result<(), TargetError> {
    out.clear();
    if target.first() != Some(&b'/') {
        return Err(TargetError::NotOriginForm);
    }
    // One pass without an early exit or a tuple, which the compiler
    // vectorizes.
    let mut invalid = 0u8;
    for &b in target {
        invalid |= u8::from(b.wrapping_sub(b'!') > b'~' - b'!') | u8::from(b == b'#');
    }
    if invalid != 0 {
        return Err(TargetError::InvalidByte);
    }
    // Printable ASCII is UTF-8, and splitting at ASCII bytes keeps every
    // part on character boundaries.
    let target = std::str::from_utf8(target).map_err(|_| TargetError::InvalidByte)?;
    // Nothing to decode, the common case: the parts are ranges of the
    // target itself, found in one scan. A `%` or `+` anywhere sends the
    // target to `parse_escaped` instead.
    out.text.push_str(target);
    let bytes = target.as_bytes();
    let (mut start, mut key_end, mut query) = (1, None, false);
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match b {
            b'/' | b'?' if !query => {
                out.push_segment(start..i);
                (start, query) = (i + 1, b == b'?');
            }
            b'&' if query => {
                out.push_pair(start..i, key_end.take());
                start = i + 1;
            }
            b'=' if query && key_end.is_none() => key_end = Some(i),
            b'%' | b'+' => {
                out.clear();
                return parse_escaped(target, out);
            }
            _ => {}
        }
    }
    if query {
        out.push_pair(start..bytes.len(), key_end);
    } else {
        out.push_segment(start..bytes.len());
    }
    Ok(())
}

/// `parse_into` for a target with a `%` or `+`: each part is decoded.
fn parse_escaped(target: &str, out: &mut Target) -> Result<(), TargetError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    for s in path.split('/').filter(|s| !s.is_empty()) {
        let range = out.push_decoded(s, false)?;
        out.segments.push(range);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = out.push_decoded(k, true)?;
        let v = out.push_decoded(v, true)?;
        out.pairs.push((k, v));
    }
    Ok(())
}

/// Percent-decodes `raw` onto `out`; in a query, `+` is a space.
fn decode(raw: &[u8], plus_is_space: bool, out: &mut Vec<u8>) -> Result<(), TargetError> {
    out.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = match raw[i] {
            b'%' => {
                let hi = raw.get(i + 1).and_then(|&h| hex(h));
                let lo = raw.get(i + 2).and_then(|&l| hex(l));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(TargetError::PercentEscape);
                };
                i += 2;
                hi << 4 | lo
            }
            b'+' if plus_is_space => b' ',
            b => b,
        };
        out.push(b);
        i += 1;
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes a reused Target holds between requests.
    fn held(t: &Target) -> usize {
        t.text.capacity()
            + t.scratch.capacity()
            + t.segments.capacity() * std::mem::size_of::<Range<usize>>()
            + t.pairs.capacity() * std::mem::size_of::<(Range<usize>, Range<usize>)>()
    }

    #[test]
    fn a_connection_keeps_little_after_huge_targets() {
        let mut t = Target::default();
        // Long parts, percent-encoded or not: their buffers are not kept.
        for k in 0..64 {
            let mut raw: Vec<u8> = (0..k).flat_map(|_| *b"/a").collect();
            raw.extend_from_slice(if k % 2 == 0 { b"/%41" } else { b"/" });
            raw.resize(8 << 10, b'b');
            parse_into(&raw, &mut t).unwrap();
            assert_eq!(t.segments().count(), k + 1);
        }
        // Thousands of parts: the vectors are not kept.
        let segments: Vec<u8> = (0..4096).flat_map(|_| *b"/a").collect();
        parse_into(&segments, &mut t).unwrap();
        let mut pairs = b"/?".to_vec();
        pairs.extend((0..4095).flat_map(|_| *b"a&"));
        parse_into(&pairs, &mut t).unwrap();
        parse_into(b"/v0/pipelines", &mut t).unwrap();
        assert!(held(&t) <= 3 << 10, "{} bytes held", held(&t));
        assert!(t.segments().eq(["v0", "pipelines"]));
    }

    /// The one-scan path for targets without escapes splits exactly as the
    /// decoding path (`str::split`, the reference) does.
    #[test]
    fn scan_matches_split() {
        let alphabet = b"/?&=ab";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut reused = Target::default();
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 1 + (seed % 20) as usize;
            let mut raw = vec![b'/'];
            raw.extend(
                (1..len).map(|k| alphabet[(seed >> (3 * k % 60)) as usize % alphabet.len()]),
            );
            parse_into(&raw, &mut reused).unwrap();
            let mut want = Target::default();
            parse_escaped(std::str::from_utf8(&raw).unwrap(), &mut want).unwrap();
            assert_eq!(reused, want, "{:?}", String::from_utf8_lossy(&raw));
            assert!(reused.segments().eq(want.segments()));
        }
    }
}
