//! Feldera's spellings of nested types, rewritten into ones sqlparser's
//! generic dialect parses, before it sees the program.
//!
//! Why: sqlparser 0.64 parses `INT ARRAY`, `INT[]`, `ARRAY<INT>`,
//! `MAP(K, V)` and `STRUCT<a INT>`, but not Feldera's `MAP<K, V>`,
//! `ROW(a INT, ...)` or `INT ARRAY ARRAY`. So, outside strings, quoted
//! names and comments: `MAP<...>` becomes `MAP(...)`, `ROW(...)` becomes
//! `STRUCT<...>` and a bare `ARRAY` suffix becomes `[]`. Positions in
//! errors are mapped back to the program as written (`Rewritten::remap`).

use super::catalog::SqlError;

pub struct Rewritten {
    pub sql: String,
    /// (offset in `sql`, offset in the original) where a shift begins, in
    /// order; between entries the two advance together.
    shifts: Vec<(usize, usize)>,
    original: String,
}

/// What an open bracket was, so its closing one can be rewritten to match.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    Map,
    Row,
    Other,
}

pub fn rewrite(sql: &str) -> Rewritten {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut shifts = Vec::new();
    let (mut angles, mut parens) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let skip = match c {
            b'\'' | b'"' => quoted_end(b, i, c),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |k| i + k)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => find(b, i + 2, b"*/").map_or(b.len(), |k| k + 2),
            _ => i,
        };
        if skip > i {
            out.push_str(&sql[i..skip]);
            i = skip;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let end = i + b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            let word = &sql[i..end];
            let next = end
                + b[end..]
                    .iter()
                    .take_while(|c| c.is_ascii_whitespace())
                    .count();
            let after = b.get(next).copied();
            if word.eq_ignore_ascii_case("MAP") && after == Some(b'<') {
                out.push_str(&sql[i..next]);
                out.push('(');
                angles.push(Open::Map);
                i = next + 1;
            } else if word.eq_ignore_ascii_case("ROW") && after == Some(b'(') {
                out.push_str("STRUCT<");
                i = next + 1;
                shifts.push((out.len(), i));
                parens.push(Open::Row);
            } else if word.eq_ignore_ascii_case("ARRAY")
                && !matches!(after, Some(b'<' | b'[' | b'('))
            {
                // Same length: `ARRAY` -> `[]   `.
                out.push_str("[]   ");
                i = end;
            } else {
                out.push_str(word);
                i = end;
            }
            continue;
        }
        let close = |stack: &mut Vec<Open>, kind: Open, with: char, plain: char| {
            if stack.pop() == Some(kind) {
                with
            } else {
                plain
            }
        };
        let ch = match c {
            b'<' => {
                angles.push(Open::Other);
                '<'
            }
            b'>' => close(&mut angles, Open::Map, ')', '>'),
            b'(' => {
                parens.push(Open::Other);
                '('
            }
            b')' => close(&mut parens, Open::Row, '>', ')'),
            _ => {
                let len = utf8_len(c);
                out.push_str(&sql[i..i + len]);
                i += len;
                continue;
            }
        };
        out.push(ch);
        i += 1;
    }
    Rewritten {
        sql: out,
        shifts,
        original: sql.to_string(),
    }
}

impl Rewritten {
    /// An error at a position of `sql`, moved to the same place in the
    /// program as written.
    pub fn remap(&self, mut e: SqlError) -> SqlError {
        if self.shifts.is_empty() || e.line == 0 {
            return e;
        }
        let Some(at) = offset_of(&self.sql, e.line, e.column) else {
            return e;
        };
        let orig = match self.shifts.iter().rev().find(|s| s.0 <= at) {
            Some(&(new, old)) => old + (at - new),
            None => at,
        };
        let (line, column) = line_col(&self.original, orig);
        let before = format!("Line: {}, Column: {}", e.line, e.column);
        let after = format!("Line: {line}, Column: {column}");
        e.message = e.message.replace(&before, &after);
        e.line = line;
        e.column = column;
        e
    }
}

fn quoted_end(b: &[u8], i: usize, q: u8) -> usize {
    let mut k = i + 1;
    while k < b.len() {
        if b[k] == q {
            // A doubled quote is an escaped one.
            if b.get(k + 1) == Some(&q) {
                k += 2;
                continue;
            }
            return k + 1;
        }
        k += 1;
    }
    b.len()
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|k| from + k)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// Byte offset of 1-based (line, column in characters).
fn offset_of(s: &str, line: u64, column: u64) -> Option<usize> {
    let start = if line <= 1 {
        0
    } else {
        s.match_indices('\n').nth(line as usize - 2)?.0 + 1
    };
    let col = column.saturating_sub(1) as usize;
    Some(
        s[start..]
            .char_indices()
            .nth(col)
            .map_or(s.len(), |(k, _)| start + k),
    )
}

fn line_col(s: &str, offset: usize) -> (u64, u64) {
    let before = &s[..offset.min(s.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |k| k + 1);
    (line, before[line_start..].chars().count() as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_feldera_spellings_only_outside_literals() {
        let cases = [
            ("a MAP<VARCHAR, INT>", "a MAP(VARCHAR, INT)"),
            (
                "a MAP < INT, MAP<INT, ARRAY<INT>> >",
                "a MAP ( INT, MAP(INT, ARRAY<INT>) )",
            ),
            (
                "a ROW(x INT, y DECIMAL(10, 2))",
                "a STRUCT<x INT, y DECIMAL(10, 2)>",
            ),
            ("a INT ARRAY ARRAY", "a INT []    []   "),
            ("a ROW(x INT ARRAY) ARRAY", "a STRUCT<x INT []   > []   "),
            ("a ARRAY<INT>, b INT[]", "a ARRAY<INT>, b INT[]"),
            (
                "a VARCHAR DEFAULT 'MAP<x>' -- ROW(\n",
                "a VARCHAR DEFAULT 'MAP<x>' -- ROW(\n",
            ),
            (
                "\"ROW\"(x) /* ARRAY */ 'it''s ARRAY'",
                "\"ROW\"(x) /* ARRAY */ 'it''s ARRAY'",
            ),
            ("CHECK (x > 1)", "CHECK (x > 1)"),
        ];
        for (given, want) in cases {
            assert_eq!(rewrite(given).sql, want, "{given}");
        }
    }

    #[test]
    fn remap_moves_positions_after_a_row_back() {
        let sql = "CREATE TABLE t (\n  r ROW(a INT), b BADTYPE(\n)";
        let rw = rewrite(sql);
        // `BADTYPE` is at line 2, column 19 as written; 22 after the rewrite.
        assert_eq!(&rw.sql.lines().nth(1).unwrap()[21..28], "BADTYPE");
        let e = SqlError {
            message: "found BADTYPE at Line: 2, Column: 22".into(),
            line: 2,
            column: 22,
        };
        let e = rw.remap(e);
        assert_eq!((e.line, e.column), (2, 19));
        assert_eq!(e.message, "found BADTYPE at Line: 2, Column: 19");
        assert_eq!(&sql.lines().nth(1).unwrap()[18..25], "BADTYPE");
    }
}
