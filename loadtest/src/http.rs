//! Minimal HTTP/1.1 for a load generator: pre-serialised requests and an
//! incremental response parser.
//!
//! Hand-written rather than pulled from a client library so the hot loop is
//! one `write_all` of a ready buffer plus a parse over bytes already read;
//! no per-request allocation or header maps.

use std::fmt::Write as _;

/// Request line, headers and body of one request, ready to write as is.
pub struct Request {
    pub wire: Vec<u8>,
    /// Payload bytes (the rows), excluding headers and chunk framing.
    pub body_len: usize,
    pub rows: u64,
}

pub struct RequestParams<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub content_type: &'a str,
    pub api_key: Option<&'a str>,
    pub chunked: bool,
}

/// Percent-encodes everything outside RFC 3986's unreserved set, so pipeline
/// names, table names and tokens are safe in a path or query.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn head(method: &str, p: &RequestParams<'_>) -> String {
    let mut h = format!("{method} {} HTTP/1.1\r\nHost: {}\r\n", p.path, p.host);
    if let Some(k) = p.api_key {
        _ = write!(h, "Authorization: Bearer {k}\r\n");
    }
    h
}

pub fn build_post(p: &RequestParams<'_>, body: &[u8], rows: u64) -> Request {
    let mut h = head("POST", p);
    _ = write!(h, "Content-Type: {}\r\n", p.content_type);
    let mut wire;
    if p.chunked {
        h.push_str("Transfer-Encoding: chunked\r\n\r\n");
        wire = h.into_bytes();
        // At least two chunks even for small bodies, so the server's chunk
        // reassembly is exercised; at most 64 KiB per chunk, like most clients.
        let size = body.len().div_ceil(2).clamp(1, 64 * 1024);
        for c in body.chunks(size) {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
    } else {
        _ = write!(h, "Content-Length: {}\r\n\r\n", body.len());
        wire = h.into_bytes();
        wire.extend_from_slice(body);
    }
    Request {
        wire,
        body_len: body.len(),
        rows,
    }
}

pub fn build_get(p: &RequestParams<'_>) -> Vec<u8> {
    let mut h = head("GET", p);
    h.push_str("\r\n");
    h.into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of status line plus headers, including the blank line.
    pub head_len: usize,
    pub content_length: usize,
    /// The server said `Connection: close` (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

impl Head {
    pub fn total_len(&self) -> usize {
        self.head_len + self.content_length
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    BadStatusLine,
    BadHeader,
    /// Close-delimited responses: sluice always sends a length.
    NoLength,
    /// A malformed chunk-size line in a chunked response.
    BadChunk,
    TooLarge,
}

/// Heads larger than this are treated as garbage rather than buffered forever.
const MAX_HEAD: usize = 64 * 1024;

/// Chunked response bodies (ClickHouse answers INSERTs with an empty chunked
/// body) are re-scanned from their start on every read until complete, so
/// they are bounded: an ingest answer is a few bytes, never this many.
const MAX_CHUNKED_BODY: usize = 64 * 1024;

/// Parses a response head from the start of `buf`. `Ok(None)` means more
/// bytes are needed; the caller keeps reading and calls again on the longer
/// buffer (reads can split anywhere).
///
/// This runs once per response, so it is what a pipelined run's generator
/// spends most of its own (user-space) time on: the end of the head and the
/// lines are found by `memchr` over line feeds, not by comparing at every byte.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, ParseError> {
    let Some(end) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let head = &buf[..end];
    let mut at = 0;
    let mut lines = memchr::memchr_iter(b'\n', head)
        .chain(std::iter::once(end))
        .map(|nl| {
            let line = &head[at..nl];
            at = nl + 1;
            trim_cr(line)
        });
    let status_line = lines.next().ok_or(ParseError::BadStatusLine)?;
    // "HTTP/1.1 200 OK": version, space, three digits.
    if status_line.len() < 12 || !status_line.starts_with(b"HTTP/1.") || status_line[8] != b' ' {
        return Err(ParseError::BadStatusLine);
    }
    let http10 = status_line[7] == b'0';
    let code = &status_line[9..12];
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadStatusLine);
    }
    let status = code.iter().fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    let mut content_length = None;
    let mut close = http10;
    let mut chunked = false;
    for line in lines {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::BadHeader)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(value).map_err(|_| ParseError::BadHeader)?;
            content_length = Some(v.parse::<usize>().map_err(|_| ParseError::BadHeader)?);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only `chunked` alone frames a response; anything else
            // (gzip, chunked) would need decoding we do not do.
            if !value.eq_ignore_ascii_case(b"chunked") {
                return Err(ParseError::NoLength);
            }
            chunked = true;
        }
    }
    // 1xx, 204 and 304 never have a body; everything else must say how long.
    let content_length = match (status, content_length, chunked) {
        (100..=199 | 204 | 304, _, _) => 0,
        // Chunked wins over a Content-Length (RFC 9112 6.3). The "length"
        // is of the framed body: callers only skip it, so no decoding.
        (_, _, true) => match chunked_len(&buf[end + 4..])? {
            Some(n) => n,
            None => return Ok(None),
        },
        (_, Some(n), false) => n,
        (_, None, false) => return Err(ParseError::NoLength),
    };
    Ok(Some(Head {
        status,
        head_len: end + 4,
        content_length,
        close,
    }))
}

/// Length of a complete chunked body at the start of `body` (chunks, the
/// last-chunk and any trailers up to the blank line), or `None` if more
/// bytes are needed. Chunk extensions (`;name=value`) are skipped.
fn chunked_len(body: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut at = 0;
    loop {
        let Some(eol) = find(&body[at..], b"\r\n") else {
            return incomplete(body);
        };
        let line = &body[at..at + eol];
        let hex = line.split(|&b| b == b';').next().unwrap_or(line);
        let hex = trim(hex);
        if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseError::BadChunk);
        }
        let size = hex.iter().fold(0usize, |a, &d| {
            a * 16 + (d as char).to_digit(16).expect("checked hex") as usize
        });
        at += eol + 2;
        if size == 0 {
            // Trailers, if any, then the blank line that ends the body.
            loop {
                let Some(eol) = find(&body[at..], b"\r\n") else {
                    return incomplete(body);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if size > MAX_CHUNKED_BODY {
            return Err(ParseError::TooLarge);
        }
        at += size + 2;
        if at > body.len() {
            return incomplete(body);
        }
        if &body[at - 2..at] != b"\r\n" {
            return Err(ParseError::BadChunk);
        }
    }
}

fn incomplete(body: &[u8]) -> Result<Option<usize>, ParseError> {
    if body.len() > MAX_CHUNKED_BODY {
        Err(ParseError::TooLarge)
    } else {
        Ok(None)
    }
}

/// Where the first `\r\n\r\n` starts: only the line feeds are visited.
fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buf)
        .find(|&i| i >= 3 && &buf[i - 3..i] == b"\r\n\r")
        .map(|i| i - 3)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &v[s..e]
}

/// Pulls the `token` string out of `{"token":"..."}` without a JSON parser;
/// only used with `--completion`, on the last response of each connection.
pub fn extract_token(body: &[u8]) -> Option<String> {
    let k = find(body, b"\"token\"")?;
    let rest = &body[k + 7..];
    let colon = rest.iter().position(|&b| b == b':')?;
    let rest = trim(&rest[colon + 1..]);
    let rest = rest.strip_prefix(b"\"")?;
    let mut end = 0;
    while end < rest.len() && rest[end] != b'"' {
        end += if rest[end] == b'\\' { 2 } else { 1 };
    }
    let tok = rest.get(..end)?;
    String::from_utf8(tok.to_vec()).ok()
}

/// A completion_status body says complete (rather than `inprogress`).
pub fn is_complete(body: &[u8]) -> bool {
    find(body, b"\"complete\"").is_some()
}

/// Read buffer for one connection: bytes `[start, end)` are unparsed.
/// Leftover bytes after a response stay for the next one (keep-alive,
/// pipelining-safe), and the buffer is compacted instead of reallocated.
pub struct RecvBuf {
    pub buf: Vec<u8>,
    pub start: usize,
    pub end: usize,
}

impl RecvBuf {
    pub fn new(cap: usize) -> Self {
        Self {
            buf: vec![0; cap],
            start: 0,
            end: 0,
        }
    }

    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Space to read into, at least `min_spare` bytes: compact first, grow
    /// only if one response needs more than the buffer holds.
    pub fn spare(&mut self, min_spare: usize) -> &mut [u8] {
        let min_spare = min_spare.max(1);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < min_spare && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < min_spare {
            let n = (self.end + min_spare).max(self.buf.len() * 2);
            self.buf.resize(n, 0);
        }
        &mut self.buf[self.end..]
    }

    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        Content-Length: 13\r\n\r\n{\"token\":\"x\"}";

    #[test]
    fn parses_whole_response() {
        let h = parse_head(R1).unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.content_length, 13);
        assert_eq!(h.total_len(), R1.len());
        assert!(!h.close);
        assert_eq!(extract_token(&R1[h.head_len..]).as_deref(), Some("x"));
    }

    /// Feeds two keep-alive responses through a RecvBuf in every possible
    /// split, as a socket might deliver them.
    #[test]
    fn split_reads_and_keep_alive() {
        let r2 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!";
        let stream: Vec<u8> = [R1, &r2[..]].concat();
        for split in 1..stream.len() {
            let mut rb = RecvBuf::new(16);
            let mut got = Vec::new();
            for piece in [&stream[..split], &stream[split..]] {
                let mut fed = 0;
                while fed < piece.len() {
                    let spare = rb.spare(1);
                    let n = spare.len().min(piece.len() - fed);
                    spare[..n].copy_from_slice(&piece[fed..fed + n]);
                    rb.filled(n);
                    fed += n;
                    while let Some(h) = parse_head(rb.data()).unwrap() {
                        if rb.data().len() < h.total_len() {
                            break;
                        }
                        got.push((
                            h.status,
                            rb.data()[h.head_len..h.total_len()].to_vec(),
                            h.close,
                        ));
                        rb.consume(h.total_len());
                    }
                }
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0], (200, b"{\"token\":\"x\"}".to_vec(), false));
            assert_eq!(got[1], (400, b"oops!".to_vec(), true));
        }
    }

    /// The byte-by-byte search for the end of the head that `head_end`
    /// replaced, as the reference.
    fn old_head_end(buf: &[u8]) -> Option<usize> {
        find(buf, b"\r\n\r\n")
    }

    /// `head_end` against the byte-window search it replaced, on every
    /// prefix of a table of heads and on seeded mutations of them (bytes
    /// replaced by CR, LF, ':' or others); then one head whose every line
    /// must be seen (line splitting is also covered by the tests below).
    #[test]
    fn head_end_matches_the_byte_search() {
        let heads: [&[u8]; 5] = [
            R1,
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200",
            b"HTTP/1.0 204 No Content\r\n\r\n",
            b"\r\n\r\n\n\r\n\r\r\n\r\n",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut checked = 0;
        for h in heads {
            for round in 0..400 {
                let mut v = h.to_vec();
                for _ in 0..round % 4 {
                    let i = next() as usize % v.len();
                    v[i] = [b'\r', b'\n', b':', b' ', b'x'][next() as usize % 5];
                }
                for cut in 0..=v.len() {
                    let b = &v[..cut];
                    assert_eq!(
                        head_end(b),
                        old_head_end(b),
                        "{:?}",
                        String::from_utf8_lossy(b)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 50_000, "{checked}");
        // Lines are split where they were: every header is seen.
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nA: b\r\nconnection: close\r\ncontent-length: 2\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.content_length, h.close, h.head_len), (2, true, 63));
    }

    #[test]
    fn rejects_garbage_and_unsupported() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert_eq!(
            parse_head(b"FTP 200\r\n\r\n"),
            Err(ParseError::BadStatusLine)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(ParseError::NoLength)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(ParseError::BadChunk)
        );
        let h = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.content_length, 0);
        let h = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.close);
    }

    /// ClickHouse's answer to an INSERT: keep-alive, an empty chunked body.
    /// Every prefix is incomplete, the whole is one response, and the bytes
    /// after it stay for the next.
    #[test]
    fn chunked_responses() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=3\r\n\r\n\
                  5;ext=1\r\nhello\r\n0\r\nX-Trailer: y\r\n\r\n";
        for cut in 0..r.len() {
            assert_eq!(parse_head(&r[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = r.to_vec();
        two.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let h = parse_head(&two).unwrap().unwrap();
        assert_eq!(h.total_len(), r.len());
        assert!(!h.close);
        let empty = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(parse_head(empty).unwrap().unwrap().total_len(), empty.len());
        let mut big = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        big.extend_from_slice(b"1\r\nx\r\n".repeat(MAX_CHUNKED_BODY / 6 + 1).as_slice());
        assert_eq!(parse_head(&big), Err(ParseError::TooLarge));
    }

    #[test]
    fn builds_chunked_and_sized_requests() {
        let p = RequestParams {
            host: "127.0.0.1:8080",
            path: "/v0/pipelines/demo/ingress/t?format=csv",
            content_type: "text/csv",
            api_key: Some("k"),
            chunked: true,
        };
        let r = build_post(&p, b"1,2\n3,4\n", 2);
        let s = String::from_utf8(r.wire).unwrap();
        assert!(s.contains("Authorization: Bearer k\r\n"));
        assert!(
            s.ends_with("\r\n\r\n4\r\n1,2\n\r\n4\r\n3,4\n\r\n0\r\n\r\n"),
            "{s:?}"
        );
        let r = build_post(
            &RequestParams {
                chunked: false,
                ..p
            },
            b"1,2\n",
            1,
        );
        assert!(String::from_utf8(r.wire)
            .unwrap()
            .ends_with("Content-Length: 4\r\n\r\n1,2\n"));
        assert_eq!(pct("a b/ç"), "a%20b%2F%C3%A7");
        assert!(is_complete(br#"{"status":"complete"}"#));
        assert!(!is_complete(br#"{"status":"inprogress"}"#));
    }
}
