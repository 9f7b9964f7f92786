//! VARIANT values: any JSON value, stored as its JSON text.
//!
//! Policy: the stored text is the value as the client wrote it, with the
//! whitespace between tokens removed. Numbers and string escapes are kept
//! exactly (no float round trip, `1.50` stays `1.50`), and the same value
//! gives the same text whether it came in a JSON body or, as JSON text, in
//! a CSV field. A JSON `null` is SQL NULL, not the VARIANT `null`.
//!
//! For JSON bodies the decoder has a simd-json tape (strings already
//! unescaped); `node_span` finds a tape node's source text again by
//! counting tokens in document order, the order the tape is written in.

use super::fields::{FieldError, FieldResult};

/// Check that `s` is one whole JSON value (serde_json, no allocation).
pub fn validate(s: &[u8]) -> FieldResult<()> {
    serde_json::from_slice::<serde::de::IgnoredAny>(s)
        .map(|_| ())
        .map_err(|_| FieldError::Syntax)
}

/// `validate` for a CSV field: the JSON text `null` is SQL NULL there
/// too, so a value reads the same from either format (a nullable column
/// takes NULL, a NOT NULL one refuses it).
pub fn validate_field(s: &[u8]) -> FieldResult<()> {
    if s.trim_ascii() == b"null" {
        return Err(FieldError::Null);
    }
    validate(s)
}

/// Append `s` (valid JSON) without whitespace between tokens.
pub fn minify_into(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let end = string_end(s, i);
                out.extend_from_slice(&s[i..end]);
                i = end;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// End (exclusive) of the string starting with the `"` at `s[i]`.
fn string_end(s: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// End (exclusive) of the value starting at `s[i]` (not whitespace).
fn value_end(s: &[u8], mut i: usize) -> usize {
    match s[i] {
        b'"' => string_end(s, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < s.len() {
                match s[i] {
                    b'"' => {
                        i = string_end(s, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            s.len()
        }
        _ => {
            while i < s.len() && !matches!(s[i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            i
        }
    }
}

/// Source text of the `j`th node (keys count as nodes, closing brackets do
/// not) of the JSON text `s`, as simd-json numbers its tape.
pub fn node_span(s: &[u8], j: usize) -> Option<&[u8]> {
    let mut i = 0;
    let mut n = 0;
    while i < s.len() {
        match s[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b']' | b'}' => i += 1,
            _ if n == j => return Some(&s[i..value_end(s, i)]),
            b'{' | b'[' => {
                n += 1;
                i += 1;
            }
            _ => {
                n += 1;
                i = value_end(s, i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_tokens_exactly() {
        let mut out = Vec::new();
        minify_into(
            br#" { "a b" : [1.50, -0, 1e3 ,"x\" y"], "c":null } "#,
            &mut out,
        );
        assert_eq!(out, br#"{"a b":[1.50,-0,1e3,"x\" y"],"c":null}"#);
    }

    #[test]
    fn validate_needs_one_whole_value() {
        assert!(validate(b" [1, {\"a\": 2}] ").is_ok());
        assert!(validate(b"\"s\"").is_ok());
        for bad in [&b""[..], b"[1,", b"1 2", b"{a:1}", b"nul"] {
            assert_eq!(validate(bad), Err(FieldError::Syntax));
        }
    }

    #[test]
    fn node_span_follows_the_tape_order() {
        let text = br#"{"k": [1, {"x": "a\"]"}], "v": 2.50}"#;
        let mut s = text.to_vec();
        let tape = simd_json::to_tape(&mut s).unwrap();
        let nodes = tape.0;
        assert_eq!(node_span(text, 0), Some(&text[..]));
        for (j, want) in [
            (1, &br#""k""#[..]),
            (2, br#"[1, {"x": "a\"]"}]"#),
            (3, b"1"),
            (4, br#"{"x": "a\"]"}"#),
            (5, br#""x""#),
            (6, br#""a\"]""#),
            (7, br#""v""#),
            (8, b"2.50"),
        ] {
            assert_eq!(node_span(text, j), Some(want), "node {j}: {:?}", nodes[j]);
        }
        assert_eq!(nodes.len(), 9);
        assert_eq!(node_span(text, 9), None);
    }
}
