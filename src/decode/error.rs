//! Per-record parse errors, bounded.

/// At most this many errors are described in a response (Feldera's bound).
pub const ERRORS_LISTED_MAX: usize = 1000;
/// `invalid_text` is cut to this many bytes (at a char boundary).
pub const INVALID_TEXT_BYTES_MAX: usize = 256;

/// One bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based index of the record within the request.
    pub event_number: u64,
    /// The column, when the error is about one field.
    pub field: Option<String>,
    /// What was expected and what was found.
    pub description: String,
    /// The offending text, truncated to `INVALID_TEXT_BYTES_MAX`.
    pub invalid_text: Option<String>,
    /// Byte offset of the record (or field) within the body.
    pub offset: u64,
    /// 1-based line number (CSV) when known.
    pub line: Option<u64>,
}

/// The errors of one request: the first `ERRORS_LISTED_MAX` and a total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseErrors {
    pub listed: Vec<ParseError>,
    pub total: u64,
    /// Decoding stopped early (stream could not be resynchronised).
    pub fatal: bool,
}

impl ParseErrors {
    pub fn push(&mut self, e: ParseError) {
        self.total += 1;
        if self.listed.len() < ERRORS_LISTED_MAX {
            self.listed.push(e);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}
