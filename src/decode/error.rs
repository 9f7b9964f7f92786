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

    /// Forget every error, keeping the list's allocation.
    pub fn clear(&mut self) {
        self.listed.clear();
        self.total = 0;
        self.fatal = false;
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// `text` as a lossy string cut to `INVALID_TEXT_BYTES_MAX` bytes at a
/// character boundary, for `ParseError::invalid_text`.
pub fn invalid_text(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    if s.len() <= INVALID_TEXT_BYTES_MAX {
        return s.into_owned();
    }
    let mut cut = INVALID_TEXT_BYTES_MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_text_cut_at_char_boundary() {
        assert_eq!(invalid_text(b"abc"), "abc");
        let long = "é".repeat(200); // 400 bytes
        let cut = invalid_text(long.as_bytes());
        assert!(cut.len() <= INVALID_TEXT_BYTES_MAX && cut.len() >= INVALID_TEXT_BYTES_MAX - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
