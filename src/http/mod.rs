//! HTTP/1.1 by hand: push parsers for request heads and body framing, and
//! response encoding. No I/O and no runtime imports here: the connection
//! loop (`server/`) feeds bytes in and writes bytes out.
//!
//! Written by hand rather than with hyper because the body must be streamed
//! straight into a decoder from the connection's read buffer with no copy
//! and no per-request allocation, and every limit must be ours to name.
//!
//! CONTRACT used by the connection loop:
//! - `head::parse(buf, &limits)` -> `Ok(None)` needs more bytes,
//!   `Ok(Some(head))` a complete, validated head of `head.len` bytes, or a
//!   `HeadError` that maps to a status (400/414/417/431/501/505) and closes.
//!   `head` keeps byte ranges into `buf`, not copies.
//! - `body::BodyDecoder::decode(input)` -> consumed input bytes, the payload
//!   range inside `input`, and whether the body ended. Chunked framing is
//!   decoded strictly (see `../shared/docs/hardening.md`).
//! - `response::write(...)` appends a full response to an output buffer.
//! - `target::parse(target)` splits the request target into percent-decoded
//!   path segments and query pairs.

pub mod body;
mod fields;
pub mod head;
pub mod response;
pub mod target;
