//! Body framing: `Content-Length` and chunked (RFC 9112 6, 7.1), decoded in
//! place. Payload bytes are reported as a range of the caller's input, never
//! copied.
//!
//! ADVICE FOR MAINTAINERS: the chunked decoder is a byte-at-a-time state
//! machine over the framing bytes (sizes, extensions, CRLFs, trailers) and a
//! bulk step over payload. It never looks ahead, so every byte it examines is
//! consumed and its answer cannot depend on where the input was split. Keep
//! it that way: `tests/http_body.rs` feeds every valid and invalid case at
//! every split point. We do not use `httparse::parse_chunk_size`: 1.10
//! accepts an empty size line as 0 and bare LF in extensions.

use super::head::Framing;
use std::ops::Range;

/// Hex digits in a chunk size: 16 fill a u64, so overflow cannot happen;
/// longer (even zero-padded) sizes are refused, as hyper does.
pub const CHUNK_SIZE_DIGITS_MAX: u8 = 16;
const _: () = assert!(CHUNK_SIZE_DIGITS_MAX as u32 * 4 == u64::BITS);

/// Bytes of chunk extensions on one size line (from the first `;` or
/// whitespace to the CR). hyper: 16 KiB. We skip extensions, so the limit
/// only bounds the time spent on a line that carries no payload.
pub const CHUNK_EXT_BYTES_MAX: u32 = 16 * 1024;

/// Bytes of the trailer section, its final CRLF included. Trailers are
/// skipped; the limit bounds the work after the last chunk.
pub const TRAILER_BYTES_MAX: u32 = 16 * 1024;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    ChunkSizeEmpty,
    ChunkSizeTooLong,
    /// A byte that is not a hex digit, `;`, SP/HTAB or CR in a size line.
    ChunkSizeInvalid,
    ChunkExtensionTooLong,
    /// A control character (other than HTAB) in a chunk extension.
    ChunkExtensionInvalid,
    /// A CR not followed by LF, or a LF not preceded by CR.
    LineEnding,
    /// Payload not followed by CRLF.
    ChunkDataUnterminated,
    TrailerTooLong,
    TrailerInvalid,
}

impl BodyError {
    /// Every framing error is a 400, after which the connection is closed:
    /// there is no way to find the next request in a broken stream.
    pub fn status(self) -> u16 {
        400
    }
}

/// What one `decode` call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyProgress {
    /// Bytes of input used (framing and payload). The rest belongs to the
    /// next call or, once `done`, to the next request.
    pub consumed: usize,
    /// Payload inside the input; within `0..consumed`; may be empty.
    pub data: Range<usize>,
    /// The body ended: the next request starts at `consumed`.
    pub done: bool,
}

/// Where the chunked decoder is in the grammar.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChunkedState {
    /// Reading hex digits of a chunk size.
    Size,
    /// SP/HTAB after the size (BWS before `;`, as hyper allows).
    SizeLws,
    /// Skipping a chunk extension until CR.
    Extension,
    /// Expecting the LF of the size line.
    SizeLf,
    /// Inside chunk payload.
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// Expecting the LF of the final CRLF.
    EndLf,
    Done,
}

/// State of the chunked decoder; counters are reset per size line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: ChunkedState,
    /// Size of the current chunk while reading it, then its bytes left.
    size: u64,
    size_digits: u8,
    ext_bytes: u32,
    trailer_bytes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyDecoder {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::None => BodyDecoder::Length { remaining: 0 },
            Framing::Length(n) => BodyDecoder::Length { remaining: n },
            Framing::Chunked => BodyDecoder::Chunked(ChunkedDecoder {
                state: ChunkedState::Size,
                size: 0,
                size_digits: 0,
                ext_bytes: 0,
                trailer_bytes: 0,
            }),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length { remaining } => *remaining == 0,
            BodyDecoder::Chunked(c) => c.state == ChunkedState::Done,
        }
    }

    /// Decodes from `input`. Returns at most one payload range per call, so
    /// call again on `input[consumed..]` while it is not empty and not
    /// `done`. Postcondition: `consumed > 0` when `input` is not empty and
    /// the body was not already done.
    pub fn decode(&mut self, input: &[u8]) -> Result<BodyProgress, BodyError> {
        let progress = match self {
            BodyDecoder::Length { remaining } => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *remaining -= take as u64;
                BodyProgress {
                    consumed: take,
                    data: 0..take,
                    done: *remaining == 0,
                }
            }
            BodyDecoder::Chunked(c) => c.decode(input)?,
        };
        debug_assert!(progress.data.end <= progress.consumed && progress.consumed <= input.len());
        debug_assert!(progress.consumed > 0 || input.is_empty() || progress.done);
        Ok(progress)
    }
}

impl ChunkedDecoder {
    fn decode(&mut self, input: &[u8]) -> Result<BodyProgress, BodyError> {
        let mut at = 0;
        while at < input.len() && self.state != ChunkedState::Done {
            if self.state == ChunkedState::Data {
                let take = usize::try_from(self.size)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - at);
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = ChunkedState::DataCr;
                }
                // One payload range per call: return it now.
                return Ok(BodyProgress {
                    consumed: at + take,
                    data: at..at + take,
                    done: false,
                });
            }
            self.step(input[at])?;
            at += 1;
        }
        let done = self.state == ChunkedState::Done;
        Ok(BodyProgress {
            consumed: at,
            data: at..at,
            done,
        })
    }

    /// Advances over one framing byte.
    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        use ChunkedState as S;
        self.state = match self.state {
            S::Size => self.size_byte(b)?,
            S::SizeLws => match b {
                b' ' | b'\t' => self.ext_byte(S::SizeLws)?,
                b';' => self.ext_byte(S::Extension)?,
                b'\r' => S::SizeLf,
                _ => return Err(BodyError::ChunkSizeInvalid),
            },
            S::Extension => match b {
                b'\r' => S::SizeLf,
                b'\n' => return Err(BodyError::LineEnding),
                b'\t' => self.ext_byte(S::Extension)?,
                0..=0x1f | 0x7f => return Err(BodyError::ChunkExtensionInvalid),
                _ => self.ext_byte(S::Extension)?,
            },
            S::SizeLf => match b {
                b'\n' if self.size == 0 => S::TrailerStart,
                b'\n' => S::Data,
                _ => return Err(BodyError::LineEnding),
            },
            S::Data | S::Done => unreachable!("handled by decode"),
            S::DataCr => match b {
                b'\r' => S::DataLf,
                _ => return Err(BodyError::ChunkDataUnterminated),
            },
            S::DataLf => match b {
                b'\n' => {
                    self.size_digits = 0;
                    self.ext_bytes = 0;
                    S::Size
                }
                _ => return Err(BodyError::ChunkDataUnterminated),
            },
            S::TrailerStart | S::TrailerName | S::TrailerValue | S::TrailerLf | S::EndLf => {
                self.trailer_byte(b)?
            }
        };
        Ok(())
    }

    fn size_byte(&mut self, b: u8) -> Result<ChunkedState, BodyError> {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ if self.size_digits == 0 => {
                // `+`, `-`, `;`, CR... before any digit: say "empty" for the
                // delimiters, "invalid" for the rest.
                return Err(match b {
                    b'\r' | b'\n' | b';' | b' ' | b'\t' => BodyError::ChunkSizeEmpty,
                    _ => BodyError::ChunkSizeInvalid,
                });
            }
            b' ' | b'\t' => return self.ext_byte(ChunkedState::SizeLws),
            b';' => return self.ext_byte(ChunkedState::Extension),
            b'\r' => return Ok(ChunkedState::SizeLf),
            b'\n' => return Err(BodyError::LineEnding),
            _ => return Err(BodyError::ChunkSizeInvalid),
        };
        self.size_digits += 1;
        if self.size_digits > CHUNK_SIZE_DIGITS_MAX {
            return Err(BodyError::ChunkSizeTooLong);
        }
        // Cannot overflow with at most 16 digits; checked anyway.
        self.size = self
            .size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(BodyError::ChunkSizeTooLong)?;
        Ok(ChunkedState::Size)
    }

    fn ext_byte(&mut self, next: ChunkedState) -> Result<ChunkedState, BodyError> {
        self.ext_bytes += 1;
        if self.ext_bytes > CHUNK_EXT_BYTES_MAX {
            return Err(BodyError::ChunkExtensionTooLong);
        }
        Ok(next)
    }

    /// Trailer fields are skipped, but checked like header fields: a token
    /// name, a colon with no whitespace before it, a value of VCHAR/obs-text/
    /// SP/HTAB, CRLF line ends, no obs-fold.
    fn trailer_byte(&mut self, b: u8) -> Result<ChunkedState, BodyError> {
        use ChunkedState as S;
        self.trailer_bytes += 1;
        if self.trailer_bytes > TRAILER_BYTES_MAX {
            return Err(BodyError::TrailerTooLong);
        }
        Ok(match (self.state, b) {
            (S::TrailerStart, b'\r') => S::EndLf,
            (S::TrailerStart, b'\n') => return Err(BodyError::LineEnding),
            (S::TrailerStart, b) if is_tchar(b) => S::TrailerName,
            (S::TrailerName, b) if is_tchar(b) => S::TrailerName,
            (S::TrailerName, b':') => S::TrailerValue,
            (S::TrailerValue, b'\r') => S::TrailerLf,
            (S::TrailerValue, b'\n') => return Err(BodyError::LineEnding),
            (S::TrailerValue, b'\t' | b' '..=b'~' | 0x80..=0xff) => S::TrailerValue,
            (S::TrailerLf, b'\n') => S::TrailerStart,
            (S::EndLf, b'\n') => S::Done,
            (S::TrailerLf | S::EndLf, _) => return Err(BodyError::LineEnding),
            _ => return Err(BodyError::TrailerInvalid),
        })
    }
}

/// RFC 9110 5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
