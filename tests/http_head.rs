//! Request head parsing: valid heads, keep-alive rules, and every rejection
//! with its status. Each case is also fed at every split point to check
//! that partial input says "need more" and never a different answer.

use sluice::http::head::{self, Framing, HeadError, HeadLimits, Method, RequestHead};

fn parse(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    head::parse(raw, &HeadLimits::default())
}

/// Parses `raw` whole, and checks every strict prefix says "need more" (or
/// the same error, for inputs refused early).
fn parse_all_splits(raw: &[u8]) -> Result<RequestHead, HeadError> {
    let whole = parse(raw);
    let end = match &whole {
        Ok(Some(h)) => h.len,
        _ => raw.len(),
    };
    for cut in 0..end {
        match (parse(&raw[..cut]), &whole) {
            (Ok(None), _) => {}
            (Err(e), Err(w)) if e == *w => {}
            (got, _) => panic!("prefix {cut} of {raw:?}: {got:?}, whole: {whole:?}"),
        }
    }
    whole.map(|h| h.expect("complete head"))
}

fn text(raw: &[u8], range: &Option<std::ops::Range<usize>>) -> Option<String> {
    range
        .clone()
        .map(|r| String::from_utf8(raw[r].to_vec()).unwrap())
}

#[test]
fn valid_get() {
    let raw = b"GET /v0/pipelines?x=1 HTTP/1.1\r\nHost: a\r\n\r\nrest";
    let h = parse_all_splits(raw).unwrap();
    assert_eq!(h.len, raw.len() - 4);
    assert_eq!(h.method, Method::Get);
    assert_eq!(&raw[h.target.clone()], b"/v0/pipelines?x=1");
    assert_eq!(
        (h.version, h.framing, h.keep_alive, h.expect_continue),
        (1, Framing::None, true, false)
    );
    assert_eq!(
        (h.authorization, h.content_type, h.idempotency_key),
        (None, None, None)
    );
}

#[test]
fn valid_post_with_fields() {
    let raw = b"POST /v0/pipelines/p/ingress/t?format=json HTTP/1.1\r\nHost: h\r\n\
        Authorization: Bearer abc\r\nContent-Type:  application/json \r\n\
        Idempotency-Key: k-1\r\nContent-Length: 12\r\nExpect: 100-Continue\r\n\r\n";
    let h = parse_all_splits(raw).unwrap();
    assert_eq!(h.len, raw.len());
    assert_eq!(h.method, Method::Post);
    assert_eq!(h.framing, Framing::Length(12));
    assert!(h.expect_continue);
    assert_eq!(text(raw, &h.authorization).unwrap(), "Bearer abc");
    assert_eq!(text(raw, &h.content_type).unwrap(), "application/json");
    assert_eq!(text(raw, &h.idempotency_key).unwrap(), "k-1");
}

#[test]
fn methods_and_framing() {
    let cases: &[(&[u8], Method, Framing)] = &[
        (
            b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Put,
            Framing::Chunked,
        ),
        (
            b"DELETE / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
            Method::Delete,
            Framing::Chunked,
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: h\r\ncontent-length: 0\r\n\r\n",
            Method::Head,
            Framing::Length(0),
        ),
        (
            b"OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n",
            Method::Options,
            Framing::None,
        ),
        (
            b"PATCH / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n",
            Method::Patch,
            Framing::Length(7),
        ),
        (
            b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n",
            Method::Other,
            Framing::None,
        ),
        (
            b"get / HTTP/1.1\r\nHost: h\r\n\r\n",
            Method::Other,
            Framing::None,
        ),
        // Identical duplicates of Content-Length are accepted as one.
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Method::Post,
            Framing::Length(5),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n",
            Method::Post,
            Framing::Length(u64::MAX),
        ),
        // Empty lines before the request line are ignored (RFC 9112 2.2).
        (
            b"\r\nPOST / HTTP/1.1\r\nHost: h\r\n\r\n",
            Method::Post,
            Framing::None,
        ),
    ];
    for (raw, method, framing) in cases {
        let h = parse_all_splits(raw).unwrap();
        assert_eq!((h.method, h.framing), (*method, *framing), "{raw:?}");
    }
}

#[test]
fn keep_alive_rules() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
            true,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n",
            true,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: te ,keep-alive\r\n\r\n",
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
    ];
    for (raw, keep_alive) in cases {
        assert_eq!(
            parse_all_splits(raw).unwrap().keep_alive,
            *keep_alive,
            "{raw:?}"
        );
    }
}

#[test]
fn expect_on_http10_is_ignored() {
    let h =
        parse_all_splits(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(!h.unwrap().expect_continue);
    let h = parse_all_splits(b"POST / HTTP/1.0\r\nExpect: something\r\n\r\n");
    assert!(!h.unwrap().expect_continue);
}

#[test]
fn rejections() {
    use HeadError as E;
    let cases: &[(&[u8], HeadError, u16)] = &[
        // Syntax (httparse, plus our own line-end scan).
        (b"GET / HTTP/1.1\nHost: h\n\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\n", E::Malformed, 400),
        (b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX\t: a\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1\r\nHo st: h\r\n\r\n", E::Malformed, 400),
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", E::Malformed, 400),
        (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", E::Malformed, 400),
        (b"GET / FTP/1.1\r\nHost: h\r\n\r\n", E::Malformed, 400),
        (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", E::Malformed, 400),
        // Versions.
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", E::VersionUnsupported, 505),
        (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", E::VersionUnsupported, 505),
        (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", E::VersionUnsupported, 505),
        // Host (RFC 9112 3.2).
        (b"GET / HTTP/1.1\r\n\r\n", E::HostInvalid, 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", E::HostInvalid, 400),
        (b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", E::HostInvalid, 400),
        // Singleton fields.
        (b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: a\r\nAuthorization: a\r\n\r\n", E::FieldDuplicate, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Type: a\r\ncontent-type: b\r\n\r\n", E::FieldDuplicate, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nIdempotency-Key: a\r\nIdempotency-Key: b\r\n\r\n", E::FieldDuplicate, 400),
        // Content-Length.
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 000000000000000000001\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", E::ContentLengthInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", E::ContentLengthConflict, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", E::ContentLengthConflict, 400),
        // Transfer-Encoding.
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", E::ContentLengthWithTransferEncoding, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", E::ContentLengthWithTransferEncoding, 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", E::TransferEncodingOnHttp10, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", E::TransferEncodingInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", E::TransferEncodingInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", E::TransferEncodingInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", E::TransferEncodingInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", E::TransferEncodingInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", E::TransferEncodingInvalid, 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", E::TransferCodingUnsupported, 501),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", E::TransferCodingUnsupported, 501),
        // Codings split over two fields form one list; an empty element
        // (empty value, trailing comma) is refused.
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nTransfer-Encoding: chunked\r\n\r\n",
            E::TransferEncodingInvalid,
            400,
        ),
        // Expect.
        (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", E::ExpectationUnsupported, 417),
    ];
    for (raw, error, status) in cases {
        assert_eq!(
            parse_all_splits(raw).err(),
            Some(*error),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(error.status(), *status);
    }
}

#[test]
fn limits() {
    let limits = HeadLimits {
        head_bytes_max: 64,
        headers_max: 2,
        uri_bytes_max: 16,
    };
    limits.validate().unwrap();
    let p = |raw: &[u8]| head::parse(raw, &limits);
    // At each limit: fine. One byte or field over: refused.
    assert!(
        p(b"GET /234567890123456 HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        p(b"GET /2345678901234567 HTTP/1.1\r\nHost: h\r\n\r\n"),
        Err(HeadError::UriTooLong)
    );
    assert_eq!(
        p(b"GET / HTTP/1.1\r\nHost: h\r\nX: y\r\nZ: z\r\n\r\n"),
        Err(HeadError::TooManyHeaders)
    );
    let at_limit = b"GET / HTTP/1.1\r\nHost: h\r\nX: 78901234567890123456789012345678\r\n\r\n";
    assert_eq!(at_limit.len(), 64);
    assert!(p(at_limit).unwrap().is_some());
    let over = b"GET / HTTP/1.1\r\nHost: h\r\nX: 789012345678901234567890123456789\r\n\r\n";
    assert_eq!(p(over), Err(HeadError::HeadTooLarge));
    // Partial heads are refused as soon as they are over a limit.
    assert_eq!(p(&over[..65]), Err(HeadError::HeadTooLarge));
    assert_eq!(p(&over[..64]), Ok(None));
    assert_eq!(p(b"GET /2345678901234567"), Err(HeadError::UriTooLong));
    assert_eq!(p(b"GET /234567890123456"), Ok(None));
    assert_eq!(HeadError::HeadTooLarge.status(), 431);
    assert_eq!(HeadError::TooManyHeaders.status(), 431);
    assert_eq!(HeadError::UriTooLong.status(), 414);
}

#[test]
fn default_limits() {
    let limits = HeadLimits::default();
    limits.validate().unwrap();
    assert_eq!(
        (
            limits.head_bytes_max,
            limits.headers_max,
            limits.uri_bytes_max
        ),
        (65536, 100, 8192)
    );
    let bad = HeadLimits {
        headers_max: 257,
        ..HeadLimits::default()
    };
    assert!(bad.validate().is_err());
    let bad = HeadLimits {
        uri_bytes_max: 65536,
        ..HeadLimits::default()
    };
    assert!(bad.validate().is_err());
    // 100 fields pass with the default limits, 101 do not.
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    raw.extend(b"X: y\r\n".repeat(99));
    raw.extend(b"\r\n");
    assert!(parse(&raw).unwrap().is_some());
    raw.splice(raw.len() - 2..raw.len() - 2, b"X: y\r\n".iter().copied());
    assert_eq!(parse(&raw), Err(HeadError::TooManyHeaders));
}
