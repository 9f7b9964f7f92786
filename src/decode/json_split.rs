//! The JSON splitter: finds where each top-level value ends as bytes
//! arrive, tracking only strings, escapes and depth. Depth is a counter,
//! never recursion, so an absurdly deep value costs nothing but a flag.

/// What kind of top-level value is being split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `{...}` or `[...]`: ends when depth returns to 0.
    Container,
    /// `"..."`: ends at the closing quote.
    String,
    /// A number or literal: ends before whitespace or punctuation.
    Scalar,
}

/// What the splitter found.
pub(super) enum Step {
    /// The chunk is used up (a value may be in progress).
    NeedMore,
    /// A value ends at `chunk[end]`; its bytes from this chunk start at
    /// `start` (earlier parts, if any, are in `buf`).
    Value { start: usize, end: usize },
    /// No value can start here (`}`, `]`, `,`, `:`): cannot resynchronise.
    Fatal,
}

pub(super) struct Splitter {
    /// Body offset of the next byte.
    pub(super) pos: u64,
    pub(super) in_value: bool,
    pub(super) kind: Kind,
    depth: usize,
    in_string: bool,
    escape: bool,
    /// Body offset of the current value.
    pub(super) value_offset: u64,
    pub(super) too_long: bool,
    pub(super) too_deep: bool,
    /// The partial value when it spans chunks.
    pub(super) buf: Vec<u8>,
    depth_max: usize,
    record_bytes_max: usize,
}

impl Splitter {
    pub(super) fn new(depth_max: usize, record_bytes_max: usize) -> Splitter {
        Splitter {
            pos: 0,
            in_value: false,
            kind: Kind::Scalar,
            depth: 0,
            in_string: false,
            escape: false,
            value_offset: 0,
            too_long: false,
            too_deep: false,
            buf: Vec::new(),
            depth_max,
            record_bytes_max,
        }
    }

    /// Back to the state of `new` (a new body), keeping `buf`'s allocation.
    pub(super) fn reset(&mut self) {
        self.pos = 0;
        self.in_value = false;
        self.kind = Kind::Scalar;
        self.depth = 0;
        self.in_string = false;
        self.escape = false;
        self.value_offset = 0;
        self.too_long = false;
        self.too_deep = false;
        self.buf.clear();
    }

    /// Look for the end of the next value in `chunk[i..]`.
    pub(super) fn next(&mut self, chunk: &[u8], mut i: usize) -> Step {
        if !self.in_value {
            let ws = chunk[i..]
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(chunk.len() - i);
            i += ws;
            self.pos += ws as u64;
            if i == chunk.len() {
                return Step::NeedMore;
            }
            self.kind = match chunk[i] {
                b'{' | b'[' => Kind::Container,
                b'"' => Kind::String,
                b'}' | b']' | b',' | b':' => return Step::Fatal,
                _ => Kind::Scalar,
            };
            self.in_value = true;
            self.value_offset = self.pos;
            self.depth = 0;
            self.in_string = false;
            self.escape = false;
            self.too_long = false;
            self.too_deep = false;
            self.buf.clear();
        }
        let start = i;
        let end = self.scan(chunk, i);
        self.pos += (end.unwrap_or(chunk.len()) - start) as u64;
        match end {
            None => {
                self.gather(&chunk[start..]);
                Step::NeedMore
            }
            Some(end) => {
                self.in_value = false;
                Step::Value { start, end }
            }
        }
    }

    /// The last bytes of a value: true when they are the whole value (use
    /// them in place); otherwise they are appended to `buf`.
    pub(super) fn complete(&mut self, bytes: &[u8]) -> bool {
        if self.buf.is_empty() && !self.too_long {
            self.check_len();
            return !self.too_long;
        }
        self.gather(bytes);
        false
    }

    /// Scan the current value from `chunk[i..]`; the index just past its
    /// end, or `None` if it goes on in the next chunk.
    fn scan(&mut self, chunk: &[u8], mut i: usize) -> Option<usize> {
        while i < chunk.len() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                match quote_or_backslash(&chunk[i..]) {
                    None => return None,
                    Some(k) => {
                        i += k + 1;
                        if chunk[i - 1] == b'\\' {
                            self.escape = true;
                        } else {
                            self.in_string = false;
                            if self.kind == Kind::String {
                                return Some(i);
                            }
                        }
                    }
                }
                continue;
            }
            let b = chunk[i];
            match self.kind {
                Kind::Scalar => {
                    if matches!(
                        b,
                        b' ' | b'\t'
                            | b'\n'
                            | b'\r'
                            | b'{'
                            | b'['
                            | b'}'
                            | b']'
                            | b'"'
                            | b','
                            | b':'
                    ) {
                        return Some(i);
                    }
                }
                Kind::String => self.in_string = true,
                Kind::Container if !STRUCTURAL[b as usize] => {
                    // Skip bytes that change nothing (numbers, literals,
                    // `:`, `,`, whitespace) in a tight loop.
                    i += 1;
                    while i < chunk.len() && !STRUCTURAL[chunk[i] as usize] {
                        i += 1;
                    }
                    continue;
                }
                Kind::Container => match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => {
                        self.depth += 1;
                        if self.depth > self.depth_max {
                            self.too_deep = true;
                        }
                    }
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        None
    }

    pub(super) fn check_len(&mut self) {
        if self.pos - self.value_offset > self.record_bytes_max as u64 {
            self.too_long = true;
            self.buf.clear();
        }
    }

    /// Keep part of a value that spans chunks, up to `record_bytes_max`.
    pub(super) fn gather(&mut self, bytes: &[u8]) {
        self.check_len();
        if !self.too_long {
            self.buf.extend_from_slice(bytes);
        }
    }
}

/// The first `"` or `\\` of `s`. JSON strings are mostly short, where
/// eight bytes at a time beat `memchr2`'s per-call set-up.
#[inline]
fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // High bit of each byte of `x` that is zero (exact, no false positives).
    let zero = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    let mut j = 0;
    while j + 8 <= s.len() {
        let w = u64::from_le_bytes(s[j..j + 8].try_into().unwrap());
        let m = zero(w ^ 0x2222_2222_2222_2222) | zero(w ^ 0x5C5C_5C5C_5C5C_5C5C);
        if m != 0 {
            return Some(j + (m.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    s[j..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|k| j + k)
}

/// Bytes a container scan must look at outside strings.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'[' as usize] = true;
    t[b'}' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// The `n`th number token of a JSON text (strings skipped).
pub(super) fn nth_number(raw: &[u8], mut n: usize) -> Option<&[u8]> {
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'"' => {
                i += 1;
                loop {
                    let k = quote_or_backslash(raw.get(i..)?)?;
                    i += k;
                    if raw[i] == b'"' {
                        break;
                    }
                    i += 2;
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < raw.len()
                    && matches!(raw[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if n == 0 {
                    return Some(&raw[start..i]);
                }
                n -= 1;
            }
            _ => i += 1,
        }
    }
    None
}
