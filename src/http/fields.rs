//! Header field rules for request heads (RFC 9112 6, RFC 9110 8.6, 7.6.1):
//! framing from `Content-Length`/`Transfer-Encoding`, `Connection`,
//! `Expect`, `Host`, and the singleton fields the server reads. Split from
//! `head.rs` to keep both readable in one sitting.

use super::head::{range_in, Framing, HeadError};
use std::ops::Range;

/// A `Content-Length` of more than 20 digits cannot fit in a u64.
const CONTENT_LENGTH_DIGITS_MAX: usize = 20;
const _: () = assert!(u64::MAX.ilog10() + 1 == CONTENT_LENGTH_DIGITS_MAX as u32);

/// What the header fields say, before the cross-field rules are applied.
#[derive(Default)]
pub(super) struct Fields {
    content_length: Option<(u64, Range<usize>)>,
    /// `Some(true)`: codings end in one `chunked`; `Some(false)`: other
    /// codings before it (501). Invalid lists are refused while collecting.
    transfer_encoding: Option<bool>,
    connection_close: bool,
    connection_keep_alive: bool,
    pub(super) expect_continue: bool,
    hosts: usize,
    pub(super) authorization: Option<Range<usize>>,
    pub(super) content_type: Option<Range<usize>>,
    pub(super) idempotency_key: Option<Range<usize>>,
}

impl Fields {
    pub(super) fn collect(
        buf: &[u8],
        headers: &[httparse::Header],
        version: u8,
    ) -> Result<Self, HeadError> {
        let mut f = Fields::default();
        // Codings may be split over several fields: join them as one list.
        let mut codings = Codings::default();
        for h in headers {
            let (name, value) = (h.name.as_bytes(), h.value);
            // One comparison per field, chosen by the name's length (the
            // names below differ in length): an `if` chain compared most
            // fields with several names first.
            let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
            match name.len() {
                14 if is("content-length") => f.content_length(buf, value)?,
                17 if is("transfer-encoding") => codings.add(value)?,
                10 if is("connection") => {
                    for token in list(value) {
                        f.connection_close |= token.eq_ignore_ascii_case(b"close");
                        f.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                6 if is("expect") => {
                    if !value.eq_ignore_ascii_case(b"100-continue") && version == 1 {
                        return Err(HeadError::ExpectationUnsupported);
                    }
                    f.expect_continue = version == 1;
                }
                4 if is("host") => f.hosts += 1,
                13 if is("authorization") => once(&mut f.authorization, range_in(buf, value))?,
                12 if is("content-type") => once(&mut f.content_type, range_in(buf, value))?,
                15 if is("idempotency-key") => once(&mut f.idempotency_key, range_in(buf, value))?,
                _ => {}
            }
        }
        f.transfer_encoding = codings.finish()?;
        let hosts_min = usize::from(version == 1);
        if f.hosts < hosts_min || f.hosts > 1 {
            return Err(HeadError::HostInvalid);
        }
        Ok(f)
    }

    fn content_length(&mut self, buf: &[u8], value: &[u8]) -> Result<(), HeadError> {
        let n = parse_content_length(value)?;
        match &self.content_length {
            Some((_, seen)) if &buf[seen.clone()] != value => Err(HeadError::ContentLengthConflict),
            Some(_) => Ok(()),
            None => {
                self.content_length = Some((n, range_in(buf, value)));
                Ok(())
            }
        }
    }

    pub(super) fn framing(&self, version: u8) -> Result<Framing, HeadError> {
        match (self.content_length.as_ref(), self.transfer_encoding) {
            (Some(_), Some(_)) => Err(HeadError::ContentLengthWithTransferEncoding),
            (None, Some(_)) if version == 0 => Err(HeadError::TransferEncodingOnHttp10),
            (None, Some(true)) => Ok(Framing::Chunked),
            (None, Some(false)) => Err(HeadError::TransferCodingUnsupported),
            (Some((n, _)), None) => Ok(Framing::Length(*n)),
            (None, None) => Ok(Framing::None),
        }
    }

    pub(super) fn keep_alive(&self, version: u8) -> bool {
        // `close` wins over `keep-alive` when a client sends both.
        !self.connection_close && (version == 1 || self.connection_keep_alive)
    }
}

fn once(slot: &mut Option<Range<usize>>, value: Range<usize>) -> Result<(), HeadError> {
    if slot.is_some() {
        return Err(HeadError::FieldDuplicate);
    }
    *slot = Some(value);
    Ok(())
}

/// `1*DIGIT`, at most 20 digits, no sign, no list, no overflow.
fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.is_empty() || value.len() > CONTENT_LENGTH_DIGITS_MAX {
        return Err(HeadError::ContentLengthInvalid);
    }
    value.iter().try_fold(0u64, |n, &b| {
        let digit = b
            .checked_sub(b'0')
            .filter(|d| *d <= 9)
            .ok_or(HeadError::ContentLengthInvalid)?;
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit)))
            .ok_or(HeadError::ContentLengthInvalid)
    })
}

/// Elements of a comma-separated field value, trimmed of SP/HTAB. Empty
/// elements are yielded too, so that callers can refuse them.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|e| e.trim_ascii())
}

/// The transfer-coding list so far (RFC 9112 6.1): `chunked` must be the
/// last coding and appear once; we decode no other coding (501).
#[derive(Default)]
struct Codings {
    seen: bool,
    last_chunked: bool,
    chunked_count: usize,
    others: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) -> Result<(), HeadError> {
        for coding in list(value) {
            if coding.is_empty() {
                return Err(HeadError::TransferEncodingInvalid);
            }
            self.seen = true;
            self.last_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.last_chunked {
                self.chunked_count += 1;
            } else {
                self.others = true;
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<Option<bool>, HeadError> {
        if !self.seen {
            return Ok(None);
        }
        if !self.last_chunked || self.chunked_count != 1 {
            return Err(HeadError::TransferEncodingInvalid);
        }
        Ok(Some(!self.others))
    }
}
