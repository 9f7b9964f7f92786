//! Response encoding into a reused output buffer: no `format!`, no
//! allocation beyond the buffer's growth.
//!
//! No `Date` header: RFC 9110 6.6.1 lets an origin without a reliable clock
//! omit it, and it would cost a clock read and a formatted timestamp per
//! response (hyper caches one per second per thread for this reason). Our
//! clients (ingest tools) do not use it.

/// Appends a complete response. `headers` are extra fields written as given:
/// they come from our code, never from a request, so they are only checked
/// in debug builds. 1xx, 204 and 304 responses carry no body and no
/// `Content-Length` (RFC 9110 8.6). For a response to HEAD pass an empty
/// body: we never answer HEAD with the length of a body not sent.
pub fn write(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
    keep_alive: bool,
) {
    debug_assert!((100..=999).contains(&status));
    let bodiless = status < 200 || status == 204 || status == 304;
    debug_assert!(!bodiless || body.is_empty());
    if status == 200 {
        // Nearly every answer: skip formatting the code and finding the phrase.
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        write_u64(out, u64::from(status));
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !bodiless {
        out.extend_from_slice(b"Content-Length: ");
        write_u64(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(content_type) = content_type {
        field(out, "Content-Type", content_type);
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    for (name, value) in headers {
        field(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(body);
    }
}

/// The interim response sent before reading a body the client held back
/// with `Expect: 100-continue`.
pub fn write_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

fn field(out: &mut Vec<u8>, name: &str, value: &str) {
    // A CR or LF here would let a value inject fields (response splitting).
    debug_assert!(!name.is_empty() && !name.bytes().any(|b| b <= b' ' || b == b':'));
    debug_assert!(!value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0));
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Decimal digits of `n`, without allocating (u64::MAX has 20 digits).
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Reason phrases for the statuses we send (RFC 9110 15). Clients ignore
/// the phrase; an unknown status gets an empty one, which is allowed.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}
