//! Request targets (RFC 9112 3.2): origin-form only, split into
//! percent-decoded path segments and query pairs for routing.
//!
//! This allocates (a few small Strings per request); the target is bounded
//! by `HeadLimits::uri_bytes_max`, so the allocation is too. Routing runs
//! once per request, not per byte of body, so that is a fair trade for
//! simple owned values.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// Non-empty, percent-decoded segments: `//` and a trailing `/` add none,
    /// so `/v0/pipelines/` and `/v0//pipelines` route like `/v0/pipelines`.
    /// A decoded `%2F` stays inside its segment.
    pub segments: Vec<String>,
    /// Pairs in order. `+` is a space (form encoding, as Feldera's clients
    /// send); a key without `=` has an empty value; empty pairs are skipped.
    pub query: Vec<(String, String)>,
}

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
    let segments = path
        .split(|&b| b == b'/')
        .filter(|s| !s.is_empty())
        .map(|s| decode(s, false))
        .collect::<Result<_, _>>()?;
    let query = query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            Ok((decode(k, true)?, decode(v, true)?))
        })
        .collect::<Result<_, _>>()?;
    Ok(Target { segments, query })
}

/// Percent-decodes `raw`; in a query, `+` is a space.
fn decode(raw: &[u8], plus_is_space: bool) -> Result<String, TargetError> {
    let mut out = Vec::with_capacity(raw.len());
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
