//! The CSV null text (`?null=`): an unquoted field equal to it is SQL NULL.
//!
//! Kept inline in a fixed array rather than a `String` so `CsvOptions`
//! stays `Copy` and hashable (it is part of the key of a shard's idle
//! decoders) and a request allocates nothing for it.

/// Longest null text, in bytes. The usual spellings (`NULL`, `\N`, `None`,
/// `<null>`) are a few bytes; the bound keeps `CsvOptions` small.
pub const CSV_NULL_TEXT_BYTES_MAX: usize = 32;

// The length is stored in a `u8`.
const _: () = assert!(CSV_NULL_TEXT_BYTES_MAX <= u8::MAX as usize);

/// A null text, or none (the default: no text stands for NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NullText {
    /// 0: none. Otherwise `bytes[..len]` is the text.
    len: u8,
    bytes: [u8; CSV_NULL_TEXT_BYTES_MAX],
}

/// Why a null text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullTextError {
    Empty,
    TooLong,
    /// It holds a quote, a line break or the delimiter: an unquoted field
    /// never equals such a text (or, for a quote, only by csv-core's
    /// leniency), so it would silently never match.
    Structural,
}

impl NullTextError {
    pub fn describe(self) -> String {
        match self {
            NullTextError::Empty => "expected a non-empty text".into(),
            NullTextError::TooLong => {
                format!("expected at most {CSV_NULL_TEXT_BYTES_MAX} bytes")
            }
            NullTextError::Structural => {
                "expected a text without quotes, line breaks or the delimiter".into()
            }
        }
    }
}

impl NullText {
    /// The null text `text` for a body split at `delimiter`.
    pub fn new(text: &[u8], delimiter: u8) -> Result<NullText, NullTextError> {
        if text.is_empty() {
            return Err(NullTextError::Empty);
        }
        if text.len() > CSV_NULL_TEXT_BYTES_MAX {
            return Err(NullTextError::TooLong);
        }
        if text
            .iter()
            .any(|&b| matches!(b, b'"' | b'\r' | b'\n') || b == delimiter)
        {
            return Err(NullTextError::Structural);
        }
        let mut bytes = [0; CSV_NULL_TEXT_BYTES_MAX];
        bytes[..text.len()].copy_from_slice(text);
        Ok(NullText {
            len: text.len() as u8,
            bytes,
        })
    }

    /// The text; empty when none is set.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Is a null text set?
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.len != 0
    }

    /// Is `field` (an unquoted field's bytes) the null text? The length
    /// test comes first: it is all an unset text (length 0, and only empty
    /// fields have that length) or most fields cost.
    #[inline]
    pub(crate) fn matches(&self, field: &[u8]) -> bool {
        field.len() == self.len as usize && self.len != 0 && field == self.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        let cases: &[(&[u8], u8, Result<(), NullTextError>)] = &[
            (b"NULL", b',', Ok(())),
            (b"\\N", b',', Ok(())),
            (b"a,b", b';', Ok(())),
            (&[b'x'; CSV_NULL_TEXT_BYTES_MAX], b',', Ok(())),
            (b"", b',', Err(NullTextError::Empty)),
            (
                &[b'x'; CSV_NULL_TEXT_BYTES_MAX + 1],
                b',',
                Err(NullTextError::TooLong),
            ),
            (b"a,b", b',', Err(NullTextError::Structural)),
            (b"a;b", b';', Err(NullTextError::Structural)),
            (b"\"NULL\"", b',', Err(NullTextError::Structural)),
            (b"N\nL", b',', Err(NullTextError::Structural)),
            (b"N\rL", b',', Err(NullTextError::Structural)),
        ];
        for &(text, delim, want) in cases {
            let got = NullText::new(text, delim);
            assert_eq!(got.map(|_| ()), want, "{text:?}");
            if let Ok(n) = got {
                assert_eq!(n.as_bytes(), text);
            }
        }
    }

    #[test]
    fn matches_only_the_whole_text() {
        let n = NullText::new(b"NULL", b',').unwrap();
        assert!(n.matches(b"NULL"));
        for other in [&b""[..], b"NUL", b"NULLL", b"null", b"xULL"] {
            assert!(!n.matches(other), "{other:?}");
        }
        let none = NullText::default();
        for field in [&b""[..], b"NULL", b"\0"] {
            assert!(!none.matches(field), "{field:?}");
        }
    }
}
