//! Request targets (RFC 9112 3.2): origin-form only, split into
//! percent-decoded path segments and query pairs for routing.
//!
//! The parts are owned Strings (simple values for the routes), bounded by
//! `HeadLimits::uri_bytes_max`. A connection parses every request into the
//! same `Target` (`parse_into`), which keeps the (short) Strings of the
//! request before for their capacity: with one-row requests, allocating them anew
//! cost a few percent of a shard's CPU (perf: `target::parse` at 4.8% of a
//! shard taking one-row CSV requests, most of it allocation).

#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Non-empty, percent-decoded segments: `//` and a trailing `/` add none,
    /// so `/v0/pipelines/` and `/v0//pipelines` route like `/v0/pipelines`.
    /// A decoded `%2F` stays inside its segment.
    pub segments: Vec<String>,
    /// Pairs in order. `+` is a space (form encoding, as Feldera's clients
    /// send); a key without `=` has an empty value; empty pairs are skipped.
    pub query: Vec<(String, String)>,
    /// Strings of earlier targets, emptied, kept for reuse (at most
    /// `SPARE_MAX`).
    spare: Vec<String>,
}

/// Two targets are equal when their segments and pairs are.
impl PartialEq for Target {
    fn eq(&self, other: &Target) -> bool {
        self.segments == other.segments && self.query == other.query
    }
}

impl Eq for Target {}

/// What a connection keeps between requests is bounded by count and size,
/// not by the largest target it ever saw: spare Strings, enough for any
/// target a route takes (seven segments, a handful of parameters)...
const SPARE_MAX: usize = 32;
/// ...each of at most this capacity (a long part's String is dropped)...
const SPARE_BYTES_MAX: usize = 256;
/// ...and the part vectors, dropped past this many entries. So a client
/// sending huge targets holds at most ~10 KiB per connection after them.
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
    pub fn param(&self, key: &str) -> Result<Option<&str>, DuplicateParam> {
        let mut found = None;
        for (k, v) in &self.query {
            if k == key {
                if found.is_some() {
                    return Err(DuplicateParam);
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }
}

pub fn parse(target: &[u8]) -> Result<Target, TargetError> {
    let mut t = Target::default();
    parse_into(target, &mut t)?;
    Ok(t)
}

/// `parse` into `out`, reusing the Strings it holds. After an error `out`
/// holds some of the parts; it is fine to parse into it again.
pub fn parse_into(target: &[u8], out: &mut Target) -> Result<(), TargetError> {
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
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &b""[..]),
    };
    for s in path.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        let segment = out.decoded(s, false)?;
        out.segments.push(segment);
    }
    for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        let k = out.decoded(k, true)?;
        let v = out.decoded(v, true)?;
        out.query.push((k, v));
    }
    Ok(())
}

impl Target {
    /// Empty the parts, keeping their Strings as spares.
    fn clear(&mut self) {
        let segments = self.segments.drain(..);
        let pairs = self.query.drain(..).flat_map(|(k, v)| [k, v]);
        for mut s in segments.chain(pairs) {
            if self.spare.len() < SPARE_MAX && s.capacity() <= SPARE_BYTES_MAX {
                s.clear();
                self.spare.push(s);
            }
        }
        if self.segments.capacity() > PARTS_KEPT_MAX {
            self.segments = Vec::new();
        }
        if self.query.capacity() > PARTS_KEPT_MAX {
            self.query = Vec::new();
        }
    }

    /// `raw` percent-decoded (in a query, `+` is a space) into a spare
    /// String when there is one.
    fn decoded(&mut self, raw: &[u8], plus_is_space: bool) -> Result<String, TargetError> {
        let spare = self.spare.pop().unwrap_or_default();
        decode(raw, plus_is_space, spare)
    }
}

/// Percent-decodes `raw` into `out` (empty); in a query, `+` is a space.
fn decode(raw: &[u8], plus_is_space: bool, mut out: String) -> Result<String, TargetError> {
    // Most parts have nothing to decode: copied at once. `parse_into`
    // checked that every byte is printable ASCII, so they are UTF-8.
    if !raw
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        out.push_str(std::str::from_utf8(raw).map_err(|_| TargetError::NotUtf8)?);
        return Ok(out);
    }
    let mut out = out.into_bytes();
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
    String::from_utf8(out).map_err(|_| TargetError::NotUtf8)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes a reused Target holds between requests.
    fn held(t: &Target) -> usize {
        let strings = t.spare.iter().chain(&t.segments);
        let strings = strings.chain(t.query.iter().flat_map(|(k, v)| [k, v]));
        strings.map(String::capacity).sum::<usize>()
            + t.segments.capacity() * std::mem::size_of::<String>()
            + t.query.capacity() * std::mem::size_of::<(String, String)>()
            + t.spare.capacity() * std::mem::size_of::<String>()
    }

    #[test]
    fn a_connection_keeps_little_after_huge_targets() {
        let mut t = Target::default();
        // Long parts, many times: their Strings are not kept.
        for k in 0..2 * SPARE_MAX {
            let mut raw: Vec<u8> = (0..k).flat_map(|_| *b"/a").collect();
            raw.push(b'/');
            raw.resize(8 << 10, b'b');
            parse_into(&raw, &mut t).unwrap();
        }
        // Thousands of parts: the vectors are not kept.
        let segments: Vec<u8> = (0..4096).flat_map(|_| *b"/a").collect();
        parse_into(&segments, &mut t).unwrap();
        let mut pairs = b"/?".to_vec();
        pairs.extend((0..4095).flat_map(|_| *b"a&"));
        parse_into(&pairs, &mut t).unwrap();
        parse_into(b"/v0/pipelines", &mut t).unwrap();
        assert!(held(&t) <= 12 << 10, "{} bytes held", held(&t));
        assert_eq!(t.segments, ["v0", "pipelines"]);
    }
}
