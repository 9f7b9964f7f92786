//! Heads and bodies together (pipelining), response encoding and request
//! target parsing.

use proptest::prelude::*;
use sluice::http::body::BodyDecoder;
use sluice::http::head::{self, Framing, HeadLimits, Method};
use sluice::http::response::{self, reason_phrase};
use sluice::http::target::{self, DuplicateParam, Target, TargetError};

/// Reads requests back to back from `input` the way the connection loop
/// will: head, then body from `head.len`, then the next head after it.
fn read_requests(input: &[u8]) -> Vec<(Method, Vec<u8>, Vec<u8>)> {
    let limits = HeadLimits::default();
    let mut at = 0;
    let mut requests = Vec::new();
    while at < input.len() {
        let h = head::parse(&input[at..], &limits)
            .unwrap()
            .expect("complete head");
        let target = input[at..][h.target.clone()].to_vec();
        at += h.len;
        let mut decoder = BodyDecoder::new(h.framing);
        let mut payload = Vec::new();
        loop {
            let p = decoder.decode(&input[at..]).unwrap();
            payload.extend_from_slice(&input[at..][p.data]);
            at += p.consumed;
            if p.done {
                break;
            }
            assert!(p.consumed > 0, "truncated body");
        }
        requests.push((h.method, target, payload));
    }
    requests
}

#[test]
fn pipelined_requests() {
    let input = b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
        3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: 1\r\n\r\n\
        POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nwxyz\
        GET /c HTTP/1.1\r\nHost: h\r\n\r\n\
        POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    let got = read_requests(input);
    let want: Vec<(Method, Vec<u8>, Vec<u8>)> = vec![
        (Method::Post, b"/a".to_vec(), b"abcde".to_vec()),
        (Method::Post, b"/b".to_vec(), b"wxyz".to_vec()),
        (Method::Get, b"/c".to_vec(), vec![]),
        (Method::Post, b"/d".to_vec(), vec![]),
    ];
    assert_eq!(got, want);
}

proptest! {
    /// A generated valid head: complete at exactly its length, "need more"
    /// at every shorter prefix, and the same result with bytes after it.
    #[test]
    fn head_split_invariance(
        path in "/[a-z0-9/%]{0,40}",
        fields in proptest::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,30}"), 0..8),
        length in proptest::option::of(any::<u64>()),
        http10 in any::<bool>(),
    ) {
        let mut raw = format!("POST {path} HTTP/1.{}\r\nHost: h\r\n", u8::from(!http10));
        for (name, value) in &fields {
            raw.push_str(&format!("X-{name}: {value}\r\n"));
        }
        if let Some(n) = length {
            raw.push_str(&format!("Content-Length: {n}\r\n"));
        }
        raw.push_str("\r\n");
        let raw = raw.as_bytes();
        let limits = HeadLimits::default();
        let h = head::parse(raw, &limits).unwrap().unwrap();
        prop_assert_eq!(h.len, raw.len());
        prop_assert_eq!(&raw[h.target.clone()], path.as_bytes());
        prop_assert_eq!(h.framing, length.map_or(Framing::None, Framing::Length));
        prop_assert_eq!(h.keep_alive, !http10);
        for cut in 0..raw.len() {
            prop_assert_eq!(head::parse(&raw[..cut], &limits), Ok(None));
        }
        let mut longer = raw.to_vec();
        longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
        prop_assert_eq!(head::parse(&longer, &limits), Ok(Some(h)));
    }
}

fn response(
    status: u16,
    headers: &[(&str, &str)],
    ct: Option<&str>,
    body: &[u8],
    keep_alive: bool,
) -> String {
    let mut out = b"previous".to_vec();
    response::write(&mut out, status, headers, ct, body, keep_alive);
    let text = String::from_utf8(out).unwrap();
    text.strip_prefix("previous").expect("appends").to_string()
}

#[test]
fn responses() {
    assert_eq!(
        response(200, &[], Some("application/json"), b"{\"ok\":1}", true),
        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Type: application/json\r\n\r\n{\"ok\":1}"
    );
    assert_eq!(
        response(503, &[("Retry-After", "1")], None, b"", false),
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    );
    assert_eq!(
        response(204, &[], None, b"", true),
        "HTTP/1.1 204 No Content\r\n\r\n"
    );
    assert_eq!(
        response(299, &[], None, b"x", true),
        "HTTP/1.1 299 \r\nContent-Length: 1\r\n\r\nx"
    );
    let big = vec![b'a'; 1_234_567];
    let text = response(413, &[], None, &big, true);
    assert!(
        text.starts_with("HTTP/1.1 413 Content Too Large\r\nContent-Length: 1234567\r\n\r\naaa")
    );
    let mut out = Vec::new();
    response::write_continue(&mut out);
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    for status in [400, 414, 417, 431, 501, 505] {
        assert!(!reason_phrase(status).is_empty());
    }
}

#[test]
fn integers() {
    for n in [0, 7, 10, 99, 100, 65535, u64::MAX / 3, u64::MAX] {
        let mut out = Vec::new();
        response::write_u64(&mut out, n);
        assert_eq!(out, n.to_string().as_bytes());
    }
}

fn segments(t: &Target) -> Vec<&str> {
    t.segments().collect()
}

fn pairs(t: &Target) -> Vec<(&str, &str)> {
    t.pairs().collect()
}

#[test]
fn targets() {
    let t = target::parse(
        b"/v0/pipelines/my%20pipe/ingress/T1?format=json&update_format=insert_delete",
    )
    .unwrap();
    assert_eq!(
        segments(&t),
        ["v0", "pipelines", "my pipe", "ingress", "T1"]
    );
    assert_eq!(
        pairs(&t),
        [("format", "json"), ("update_format", "insert_delete")]
    );
    assert_eq!(t.param("format"), Ok(Some("json")));
    assert_eq!(t.param("array"), Ok(None));

    /// Raw target, expected segments, expected query pairs.
    type Case = (
        &'static [u8],
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    );
    let cases: &[Case] = &[
        (b"/", &[], &[]),
        (b"/a//b/", &["a", "b"], &[]),
        (b"/a%2Fb/c", &["a/b", "c"], &[]),
        (
            b"/a+b?x=a+b%2B&&flag&=v&k==",
            &["a+b"],
            &[("x", "a b+"), ("flag", ""), ("", "v"), ("k", "=")],
        ),
        (
            b"/%C3%A9t%c3%a9?q=%E2%9C%93",
            &["\u{e9}t\u{e9}"],
            &[("q", "\u{2713}")],
        ),
        (b"/p?", &["p"], &[]),
    ];
    for (raw, want_segments, query) in cases {
        let t = target::parse(raw).unwrap();
        assert_eq!(segments(&t), *want_segments, "{raw:?}");
        assert_eq!(pairs(&t), *query, "{raw:?}");
    }

    let t = target::parse(b"/x?a=1&b=2&a=3").unwrap();
    assert_eq!(t.param("a"), Err(DuplicateParam));
    assert_eq!(t.param("b"), Ok(Some("2")));

    let errors: &[(&[u8], TargetError)] = &[
        (b"", TargetError::NotOriginForm),
        (b"*", TargetError::NotOriginForm),
        (b"http://h/x", TargetError::NotOriginForm),
        (b"x/y", TargetError::NotOriginForm),
        (b"/a#frag", TargetError::InvalidByte),
        (b"/a b", TargetError::InvalidByte),
        (b"/\xc3\xa9", TargetError::InvalidByte),
        (b"/a%", TargetError::PercentEscape),
        (b"/a%2", TargetError::PercentEscape),
        (b"/a%zz", TargetError::PercentEscape),
        (b"/a?x=%+1", TargetError::PercentEscape),
        (b"/a%ff", TargetError::NotUtf8),
        (b"/a?x=%c3", TargetError::NotUtf8),
    ];
    for (raw, error) in errors {
        assert_eq!(target::parse(raw), Err(*error), "{raw:?}");
    }

    // A connection parses every request into one Target, reusing its
    // Strings: each result is what a fresh parse gives, whatever came
    // before (longer or shorter targets, errors half way).
    let mut reused = Target::default();
    let seq = cases.iter().map(|c| c.0).chain(errors.iter().map(|e| e.0));
    let seq: Vec<&[u8]> = seq.collect();
    for raw in seq.iter().chain(seq.iter().rev()).chain(seq.iter()) {
        let got = target::parse_into(raw, &mut reused).map(|()| reused.clone());
        assert_eq!(got, target::parse(raw), "{raw:?}");
    }
    let long: Vec<u8> = (0..100)
        .flat_map(|i| format!("/s{i}").into_bytes())
        .collect();
    target::parse_into(&long, &mut reused).unwrap();
    assert_eq!(reused.segments().count(), 100);
    target::parse_into(b"/v0/pipelines/p/ingress/t?format=csv", &mut reused).unwrap();
    assert_eq!(segments(&reused), ["v0", "pipelines", "p", "ingress", "t"]);
    assert_eq!(reused.param("format"), Ok(Some("csv")));
}
