//! Request heads: request line and header fields, parsed with `httparse` and
//! then validated strictly (RFC 9112, `shared/docs/hardening.md`).
//!
//! ADVICE FOR MAINTAINERS: `parse` is stateless and is called again on the
//! whole buffer each time more bytes arrive. That is O(n^2) in the worst case
//! but `n` is bounded by `HeadLimits::head_bytes_max`, and heads are usually
//! read in one go. Every check that depends on how the input was split (the
//! 431/414 checks on a partial head, the 505 check) must give the same answer
//! whatever the split: `tests/http_head.rs` feeds every case at every split and
//! `tests/http_framing.rs` does the same for generated heads.
//!
//! Policies chosen here (each tested):
//! - Bare LF as a line end is rejected (httparse 1.10 accepts it), as are NUL,
//!   bare CR, obs-fold and whitespace before the colon (httparse rejects
//!   these for requests with its default config).
//! - Duplicate `Content-Length` fields with byte-identical values are
//!   accepted as one (RFC 9110 8.6 allows it); any difference is a 400.
//! - HTTP/1.1 requires exactly one `Host` field, HTTP/1.0 at most one
//!   (RFC 9112 3.2: "MUST respond with 400").
//! - `Authorization`, `Content-Type`, `Idempotency-Key` given twice: 400,
//!   because which one counts would be ambiguous.
//! - `Expect` other than `100-continue` (HTTP/1.1): 417. On HTTP/1.0 `Expect`
//!   is ignored (RFC 9110 10.1.1).

use super::fields::Fields;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Compile-time cap on `HeadLimits::headers_max`: the `httparse::Header`
/// array lives on the stack (32 bytes each, so 8 KiB at this cap).
pub const HEADERS_COUNT_CAP: usize = 256;
const _: () = assert!(HEADERS_COUNT_CAP * std::mem::size_of::<httparse::Header>() <= 16 * 1024);

/// Runtime limits on a request head. Validate with `validate` at startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadLimits {
    /// Bytes of request line + fields + final CRLF. Default 64 KiB
    /// (nginx: 8 KiB per line, hyper: ~400 KiB total). Over it: 431.
    pub head_bytes_max: usize,
    /// Number of header fields. Default 100 (hyper, Envoy). Over it: 431.
    /// At most `HEADERS_COUNT_CAP`.
    pub headers_max: usize,
    /// Bytes of the request target. Default 8 KiB. Over it: 414.
    pub uri_bytes_max: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            head_bytes_max: 64 * 1024,
            headers_max: 100,
            uri_bytes_max: 8 * 1024,
        }
    }
}

impl HeadLimits {
    /// Checks the relations `parse` relies on; call it when loading config.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.headers_max == 0 || self.headers_max > HEADERS_COUNT_CAP {
            return Err("headers_max must be in 1..=HEADERS_COUNT_CAP (256)");
        }
        if self.uri_bytes_max == 0 || self.uri_bytes_max >= self.head_bytes_max {
            return Err("uri_bytes_max must be in 1..head_bytes_max");
        }
        Ok(())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Head,
    Options,
    Patch,
    Other,
}

impl Method {
    fn from_token(token: &str) -> Method {
        // Methods are case-sensitive (RFC 9110 9.1): `get` is `Other`.
        match token {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// How the request body is delimited.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No `Content-Length` nor `Transfer-Encoding`: an empty body.
    None,
    Length(u64),
    Chunked,
}

/// A complete, validated head. Ranges index the buffer given to `parse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Head bytes including the final CRLFCRLF; the body starts here.
    pub len: usize,
    pub method: Method,
    pub target: Range<usize>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub framing: Framing,
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (ignored on HTTP/1.0).
    pub expect_continue: bool,
    pub authorization: Option<Range<usize>>,
    pub content_type: Option<Range<usize>>,
    pub idempotency_key: Option<Range<usize>>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// httparse rejected the syntax, or NUL / bare CR / bare LF in the head.
    Malformed,
    HeadTooLarge,
    TooManyHeaders,
    UriTooLong,
    VersionUnsupported,
    HostInvalid,
    FieldDuplicate,
    ContentLengthInvalid,
    ContentLengthConflict,
    ContentLengthWithTransferEncoding,
    TransferEncodingOnHttp10,
    TransferEncodingInvalid,
    TransferCodingUnsupported,
    ExpectationUnsupported,
}

impl HeadError {
    pub fn status(self) -> u16 {
        match self {
            HeadError::HeadTooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UriTooLong => 414,
            HeadError::VersionUnsupported => 505,
            HeadError::TransferCodingUnsupported => 501,
            HeadError::ExpectationUnsupported => 417,
            HeadError::Malformed
            | HeadError::HostInvalid
            | HeadError::FieldDuplicate
            | HeadError::ContentLengthInvalid
            | HeadError::ContentLengthConflict
            | HeadError::ContentLengthWithTransferEncoding
            | HeadError::TransferEncodingOnHttp10
            | HeadError::TransferEncodingInvalid => 400,
        }
    }
}

/// Parses a request head at the start of `buf`. `Ok(None)`: need more bytes.
pub fn parse(buf: &[u8], limits: &HeadLimits) -> Result<Option<RequestHead>, HeadError> {
    debug_assert!(limits.validate().is_ok());
    // Uninitialised: initialising 256 slots (8 KiB) on every parse cost
    // more than parsing a short head. httparse writes the slots it fills.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; HEADERS_COUNT_CAP];
    let headers_max = limits.headers_max.clamp(1, HEADERS_COUNT_CAP);
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers[..headers_max]) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return partial(buf, limits).map(|()| None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            version_error(buf)?;
            return partial(buf, limits).map(|()| None);
        }
        Err(_) => return Err(HeadError::Malformed),
    };
    // Same order as `partial`, so the status does not depend on the split.
    let target = req.path.ok_or(HeadError::Malformed)?;
    if target.len() > limits.uri_bytes_max {
        return Err(HeadError::UriTooLong);
    }
    if len > limits.head_bytes_max {
        return Err(HeadError::HeadTooLarge);
    }
    check_line_ends(&buf[..len])?;
    let version = req.version.ok_or(HeadError::Malformed)?;
    let method = Method::from_token(req.method.ok_or(HeadError::Malformed)?);
    let fields = Fields::collect(buf, req.headers, version)?;
    Ok(Some(RequestHead {
        len,
        method,
        target: range_in(buf, target.as_bytes()),
        version,
        framing: fields.framing(version)?,
        keep_alive: fields.keep_alive(version),
        expect_continue: fields.expect_continue,
        authorization: fields.authorization,
        content_type: fields.content_type,
        idempotency_key: fields.idempotency_key,
    }))
}

/// Limits on a head that is not complete yet, so a slow or endless head is
/// refused as soon as it is over a limit rather than when it ends.
fn partial(buf: &[u8], limits: &HeadLimits) -> Result<(), HeadError> {
    // Check the URI first: a huge request line is a 414 whatever its size.
    let line = skip_empty_lines(buf);
    if let Some(sp) = line.iter().position(|&b| b == b' ') {
        let rest = &line[sp + 1..];
        let end = rest.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n'));
        if end.unwrap_or(rest.len()) > limits.uri_bytes_max {
            return Err(HeadError::UriTooLong);
        }
    }
    if buf.len() > limits.head_bytes_max {
        return Err(HeadError::HeadTooLarge);
    }
    Ok(())
}

/// httparse only knows HTTP/1.0 and 1.1. Another well-formed `HTTP/d.d` is a
/// 505; anything else a 400. A version still arriving (`HTTP/2`) needs more.
fn version_error(buf: &[u8]) -> Result<(), HeadError> {
    let line = skip_empty_lines(buf);
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(_), Some(_), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(HeadError::Malformed);
    };
    const PATTERN: &[u8; 8] = b"HTTP/0.0";
    let matches = |(i, &b): (usize, &u8)| match PATTERN[i] {
        b'0' => b.is_ascii_digit(),
        p => b == p,
    };
    let prefix = &rest[..rest.len().min(PATTERN.len())];
    if !prefix.iter().enumerate().all(matches) {
        return Err(HeadError::Malformed);
    }
    match rest.get(PATTERN.len()) {
        None => Ok(()),
        Some(b'\r') => Err(HeadError::VersionUnsupported),
        Some(_) => Err(HeadError::Malformed),
    }
}

/// httparse skips empty lines before the request line (RFC 9112 2.2).
fn skip_empty_lines(buf: &[u8]) -> &[u8] {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    &buf[start..]
}

/// httparse accepts bare LF line ends; we do not (request smuggling risk
/// when a proxy in front disagrees). NUL is refused outright.
fn check_line_ends(head: &[u8]) -> Result<(), HeadError> {
    // One pass over adjacent pairs with no early exit, which the compiler
    // vectorizes. `memchr3_iter` stopped at each CR and LF and restarted
    // its search there: ~700 instructions for a six-line head (callgrind,
    // one-row requests), against ~100 for this.
    let (Some(&first), Some(&last)) = (head.first(), head.last()) else {
        return Ok(());
    };
    let mut bad = u8::from(first == b'\n') | u8::from(last == b'\r') | u8::from(last == 0);
    for (&a, &b) in head.iter().zip(&head[1..]) {
        bad |= u8::from(b == b'\n') & u8::from(a != b'\r');
        bad |= u8::from(a == b'\r') & u8::from(b != b'\n');
        bad |= u8::from(a == 0);
    }
    if bad != 0 {
        return Err(HeadError::Malformed);
    }
    Ok(())
}

/// The range of `part` inside `buf`. httparse hands out sub-slices of `buf`;
/// an empty value may point anywhere, and any empty range is then correct.
pub(super) fn range_in(buf: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    if start <= buf.len() && part.len() <= buf.len() - start {
        start..start + part.len()
    } else {
        debug_assert!(part.is_empty());
        0..0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first byte loop of `check_line_ends`, with early exits: the
    /// reference it must agree with.
    fn old_check(head: &[u8]) -> Result<(), HeadError> {
        for (i, &b) in head.iter().enumerate() {
            let bad = match b {
                b'\n' => i == 0 || head[i - 1] != b'\r',
                b'\r' => head.get(i + 1) != Some(&b'\n'),
                0 => true,
                _ => false,
            };
            if bad {
                return Err(HeadError::Malformed);
            }
        }
        Ok(())
    }

    /// Every string up to 8 bytes over {a, CR, LF, NUL}, and each embedded
    /// in 40 bytes of filler (so the vector loop and its tail both run).
    #[test]
    fn check_line_ends_matches_byte_loop() {
        let alphabet = [b'a', b'\r', b'\n', 0];
        for len in 0..=8u32 {
            for mut code in 0..4usize.pow(len) {
                let mut s = Vec::new();
                for _ in 0..len {
                    s.push(alphabet[code % 4]);
                    code /= 4;
                }
                assert_eq!(check_line_ends(&s), old_check(&s), "{s:?}");
                for pad in [0usize, 17, 40] {
                    let mut p = vec![b'x'; pad];
                    p.extend_from_slice(&s);
                    p.extend(std::iter::repeat_n(b'y', 40 - pad));
                    assert_eq!(check_line_ends(&p), old_check(&p), "{p:?}");
                }
            }
        }
    }

    /// `req.headers` after `parse_with_uninit_headers` is exactly the
    /// parsed fields, for 0..=headers_max fields, and one more is 431.
    #[test]
    fn uninit_headers_count_and_limit() {
        for max in [1usize, 2, 3, 100, HEADERS_COUNT_CAP] {
            let limits = HeadLimits {
                headers_max: max,
                ..HeadLimits::default()
            };
            for n in 0..=max + 1 {
                let mut raw = b"GET / HTTP/1.0\r\n".to_vec();
                for i in 0..n {
                    raw.extend_from_slice(format!("X-F{i}: v{i}\r\n").as_bytes());
                }
                raw.extend_from_slice(b"\r\n");
                // What httparse hands to `Fields::collect`:
                let mut slots =
                    [const { MaybeUninit::<httparse::Header>::uninit() }; HEADERS_COUNT_CAP];
                let mut req = httparse::Request::new(&mut []);
                let r = req.parse_with_uninit_headers(&raw, &mut slots[..max]);
                if n > max {
                    assert_eq!(r, Err(httparse::Error::TooManyHeaders));
                    assert_eq!(parse(&raw, &limits), Err(HeadError::TooManyHeaders));
                } else {
                    assert_eq!(r, Ok(httparse::Status::Complete(raw.len())));
                    assert_eq!(req.headers.len(), n);
                    for (i, h) in req.headers.iter().enumerate() {
                        assert_eq!(h.name, format!("X-F{i}"));
                        assert_eq!(h.value, format!("v{i}").as_bytes());
                    }
                    assert!(parse(&raw, &limits).unwrap().is_some());
                }
            }
        }
    }
}
