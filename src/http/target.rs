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
///
/// One pass of 16-byte blocks, each classified at once into a mask of
/// invalid bytes and one of the bytes the split looks at (`/ ? & = % +`),
/// whose set bits are then walked in order. Why: a byte loop with a
/// `match` per byte, a separate validity pass and `str::from_utf8` cost
/// ~500 of a one-row request's ~17,700 instructions (callgrind,
/// `loadtest/request-instructions.sh`).
pub fn parse_into(target: &[u8], out: &mut Target) -> Result<(), TargetError> {
    out.clear();
    if target.first() != Some(&b'/') {
        return Err(TargetError::NotOriginForm);
    }
    let (mut start, mut key_end, mut query) = (1, None, false);
    let (mut invalid, mut escaped) = (false, false);
    for base in (0..target.len()).step_by(BLOCK) {
        let (bad, mut special) = classify_at(target, base);
        invalid |= bad != 0;
        if escaped || invalid {
            // Only the validity of the rest matters now.
            continue;
        }
        // (The leading `/` comes first as a split of `1..0`: no segment.)
        while special != 0 {
            let i = base + special.trailing_zeros() as usize;
            special &= special - 1;
            match target[i] {
                b'/' | b'?' if !query => {
                    out.push_segment(start..i);
                    (start, query) = (i + 1, target[i] == b'?');
                }
                b'&' if query => {
                    out.push_pair(start..i, key_end.take());
                    start = i + 1;
                }
                b'=' if query && key_end.is_none() => key_end = Some(i),
                b'%' | b'+' => {
                    escaped = true;
                    break;
                }
                _ => {}
            }
        }
    }
    if invalid {
        // Parts found before the bad byte are ranges of text never copied.
        out.clear();
        return Err(TargetError::InvalidByte);
    }
    // SAFETY: every byte is printable ASCII (`classify_at` found none
    // outside `!`..=`~`), so the bytes are UTF-8. `str::from_utf8` here cost
    // ~140 instructions per one-row request (callgrind).
    let target = unsafe { std::str::from_utf8_unchecked(target) };
    if escaped {
        // A `%` or `+` anywhere: each part is decoded instead.
        out.clear();
        return parse_escaped(target, out);
    }
    // Nothing to decode, the common case: the parts are ranges of the
    // target itself.
    out.text.push_str(target);
    if query {
        out.push_pair(start..target.len(), key_end);
    } else {
        out.push_segment(start..target.len());
    }
    Ok(())
}

/// Bytes per `classify_at` block (one bit each in a `u16`).
const BLOCK: usize = 16;

/// `target[base..base + 16]` as two masks (bit k: byte `base + k`): bytes
/// that may not appear in a target (outside `!`..=`~`, and `#`: fragments
/// are never sent), and the bytes the split looks at. Bytes past the end
/// read as `a`, which is neither.
#[inline]
fn classify_at(target: &[u8], base: usize) -> (u16, u16) {
    match target.get(base..base + BLOCK) {
        Some(b) => classify(b.try_into().unwrap()),
        None => {
            let mut pad = [b'a'; BLOCK];
            pad[..target.len() - base].copy_from_slice(&target[base..]);
            classify(&pad)
        }
    }
}

/// `classify_at`'s masks with SSE2 (baseline on x86_64): one compare per
/// byte class for all sixteen bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
fn classify(b: &[u8; BLOCK]) -> (u16, u16) {
    use std::arch::x86_64::*;
    // SAFETY: `b` is 16 readable bytes and `loadu` has no alignment
    // requirement; SSE2 is part of the x86_64 baseline.
    unsafe {
        let v = _mm_loadu_si128(b.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        // Signed bytes: 0x80..=0xFF are negative, so below `!` too.
        let low = _mm_cmplt_epi8(v, _mm_set1_epi8(b'!' as i8));
        let high = _mm_cmpgt_epi8(v, _mm_set1_epi8(b'~' as i8));
        let bad = _mm_or_si128(_mm_or_si128(low, high), eq(b'#'));
        let split = _mm_or_si128(
            _mm_or_si128(eq(b'/'), eq(b'?')),
            _mm_or_si128(eq(b'&'), eq(b'=')),
        );
        let special = _mm_or_si128(split, _mm_or_si128(eq(b'%'), eq(b'+')));
        (
            _mm_movemask_epi8(bad) as u16,
            _mm_movemask_epi8(special) as u16,
        )
    }
}

/// `classify_at`'s masks byte by byte elsewhere (and as the tests'
/// reference).
#[cfg_attr(target_arch = "x86_64", allow(dead_code, reason = "tested fallback"))]
#[cfg_attr(not(target_arch = "x86_64"), inline)]
fn classify_bytes(b: &[u8; BLOCK]) -> (u16, u16) {
    let (mut bad, mut special) = (0u16, 0u16);
    for (k, &c) in b.iter().enumerate() {
        bad |= u16::from(!(b'!'..=b'~').contains(&c) || c == b'#') << k;
        special |= u16::from(matches!(c, b'/' | b'?' | b'&' | b'=' | b'%' | b'+')) << k;
    }
    (bad, special)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn classify(b: &[u8; BLOCK]) -> (u16, u16) {
    classify_bytes(b)
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
    /// decoding path (`str::split`, the reference) does, over several
    /// 16-byte blocks.
    #[test]
    fn scan_matches_split() {
        let alphabet = b"/?&=ab";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut reused = Target::default();
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 1 + (seed % 50) as usize;
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

    /// The byte loop `parse_into` had before its block scan: the reference
    /// for which targets are refused, with which error, and how the rest
    /// split.
    fn old_parse_into(target: &[u8], out: &mut Target) -> Result<(), TargetError> {
        out.clear();
        if target.first() != Some(&b'/') {
            return Err(TargetError::NotOriginForm);
        }
        if target
            .iter()
            .any(|&b| !(b'!'..=b'~').contains(&b) || b == b'#')
        {
            return Err(TargetError::InvalidByte);
        }
        let target = std::str::from_utf8(target).map_err(|_| TargetError::InvalidByte)?;
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

    /// Random targets of up to 80 bytes from an alphabet of separators,
    /// escapes, invalid bytes (space, `#`, DEL, non-ASCII, NUL) and plain
    /// ones: the block scan gives the old loop's result, error or parts.
    #[test]
    fn block_scan_matches_byte_loop() {
        let alphabet: &[u8] = b"/?&=%+41ab #\x7f\x80\xff\x00~!";
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let (mut reused, mut want) = (Target::default(), Target::default());
        let mut refused = 0;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 81) as usize;
            let mut x = seed;
            let raw: Vec<u8> = (0..len)
                .map(|k| {
                    x = x.rotate_left(7) ^ (k as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
                    // Mostly plain bytes and separators, a few of the rest.
                    let pick = (x >> 11) as usize % (alphabet.len() + 24);
                    match pick {
                        p if p < alphabet.len() => alphabet[p],
                        p if p % 3 == 0 => b'/',
                        _ => b'a',
                    }
                })
                .collect();
            let raw = if seed.is_multiple_of(4) {
                raw
            } else {
                [b"/".as_slice(), &raw].concat()
            };
            let got = parse_into(&raw, &mut reused);
            let expected = old_parse_into(&raw, &mut want);
            assert_eq!(got, expected, "{raw:?}");
            if got.is_ok() {
                assert_eq!(reused, want, "{raw:?}");
            } else {
                refused += 1;
                // What an error leaves is still a consistent Target.
                assert!(reused.segments().count() + reused.pairs().count() < raw.len() + 1);
            }
        }
        // Both outcomes were exercised.
        assert!(refused > 1000 && refused < 49_000, "{refused} refused");
    }

    #[test]
    fn classify_matches_bytewise() {
        for c in 0..=255u8 {
            for k in [0, 7, 15] {
                let mut b = [b'a'; BLOCK];
                b[k] = c;
                assert_eq!(classify(&b), classify_bytes(&b), "byte {c:#x} at {k}");
            }
        }
    }
}
