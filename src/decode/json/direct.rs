//! The schema-directed path: newline-delimited flat objects written
//! straight into the columns, without simd-json.
//!
//! Why hand-written: for the common body (one flat object of scalars per
//! line, `update_format=raw`) about half of the decode time went into
//! simd-json building a tape that was then read once. This path knows what
//! it expects (a `{`, keys the previous row had, scalars), so one pass
//! finds each value's span and a second writes each column from the
//! source text; no tape, no DOM, no copy of the body (but of a group
//! with an escaped string, see below).
//!
//! Stage 1 (`Index`): the group's bytes are classified 64 at a time into a
//! bitmask of the bytes that stop a plain string (`"`, `\`, control bytes)
//! and an OR of the high bits (any non-ASCII byte means the lines are
//! UTF-8 checked, as simd-json did). A string's end is then one
//! `trailing_zeros` away, whatever its length. SIMD (the `unsafe` here)
//! because `classify_bytes` instead added ~22 M instructions per 1 MiB
//! body, more than the whole decode takes now (callgrind); AVX2
//! (runtime-detected) over SSE2 saved another ~3%.
//! Stage 2 (`Row`): each line of the group (at most `group::GROUP_LINES`,
//! chosen as `group::gather` chooses the simd-json group) is walked. A row
//! repeating the previous row's key layout without whitespace (`Layout`)
//! costs per key two masked 8-byte compares of its `,"key":` token; any
//! other row takes the slow walk: `{`, per key a compare with the key the
//! row before had at that position (a miss asks `Table::column_index`),
//! `:`, the scalar, `,` or `}`, whitespace anywhere. Each scalar's span
//! and kind go to its column's slot (a duplicate key: the last wins).
//! Numbers are checked against JSON's grammar here (at most 24 bytes and
//! two exponent digits, so none is out of f64's range, which simd-json
//! would refuse); their value is read in stage 3.
//! Stage 3 (`ColumnBuf::push_scalars`): each column is filled by one loop
//! over the group's rows with the parsers of `fields.rs`.
//!
//! A string with escapes is unescaped in stage 2 (`escape.rs`) onto a
//! copy of the group, made at its first escape, and stage 3 reads that
//! copy instead of the group: so a slot is a span either way, and a group
//! without escapes costs what it did before.
//!
//! Happy path only: a row with anything else (a key with an escape, an
//! escape simd-json would not take, a nested value, a control byte in a
//! string, invalid UTF-8, a value of the wrong type or that does not
//! parse, a missing key whose column has a DEFAULT, a line not ending
//! where its object ends) is refused: the rows before it are committed,
//! and the lines from it go to the general path (a simd-json group, else
//! `fast_line`, else the splitter), which reports any error as before;
//! this path resumes after them. A value this path takes is one the
//! general path takes with the same result (`direct_tests.rs` pits the two
//! against each other on random bodies and chunkings).

use super::escape::unescape;
use super::group::GROUP_LINES;
use super::keys::same_key;
use super::JsonDecoder;
use crate::decode::UpdateFormat;
use crate::table::Table;

/// What a value slot holds; the text is `src[start..end]` (a string's
/// content, without its quotes), where `src` is the group, or when it has
/// a string with escapes, its copy followed by their text (`Scan::text`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ScalarKind {
    /// The row has no key for this column.
    Missing,
    Null,
    True,
    False,
    /// A JSON number without fraction or exponent.
    Int,
    /// Any other JSON number.
    Float,
    /// A string without control bytes, valid UTF-8 (unescaped, if it
    /// had escapes).
    Str,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar {
    pub(crate) kind: ScalarKind,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

const MISSING: Scalar = Scalar {
    kind: ScalarKind::Missing,
    start: 0,
    end: 0,
};

/// Bytes per stage-1 block (one bit each in a `u64`).
const BLOCK: usize = 64;

/// Stage 1: per 64-byte block of the group, the bytes that end a plain
/// string (bit k is byte k).
#[derive(Default)]
pub(super) struct Index {
    stop: Vec<u64>,
    /// OR of every block's high-bit mask: non-ASCII somewhere.
    high: u64,
}

impl Index {
    fn build(&mut self, s: &[u8]) {
        self.stop.clear();
        self.high = 0;
        let mut blocks = s.chunks_exact(BLOCK);
        let avx2 = has_avx2();
        for b in blocks.by_ref() {
            let (stop, high) = classify(b.try_into().unwrap(), avx2);
            self.stop.push(stop);
            self.high |= high;
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut pad = [b' '; BLOCK];
            pad[..rest.len()].copy_from_slice(rest);
            let (stop, high) = classify(&pad, avx2);
            self.stop.push(stop);
            self.high |= high;
        }
    }

    /// The first stop byte at or after `from` (a position in the group).
    #[inline]
    pub(super) fn next_stop(&self, from: usize) -> Option<usize> {
        let mut b = from / BLOCK;
        let mut m = *self.stop.get(b)? & (!0u64 << (from % BLOCK));
        while m == 0 {
            b += 1;
            m = *self.stop.get(b)?;
        }
        Some(b * BLOCK + m.trailing_zeros() as usize)
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

/// Stop and high-bit masks of 64 bytes: AVX2 when the CPU has it, else
/// SSE2 (baseline on x86_64), else bytewise.
#[inline]
fn classify(b: &[u8; BLOCK], avx2: bool) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx2 {
            // SAFETY: `avx2` is true only when the CPU reported AVX2.
            return unsafe { classify_avx2(b) };
        }
        classify_sse2(b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = avx2;
        classify_bytes(b)
    }
}

/// Is `c` a byte that ends a plain string?
#[inline]
fn is_stop(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code, reason = "tested fallback"))]
fn classify_bytes(b: &[u8; BLOCK]) -> (u64, u64) {
    let (mut stop, mut high) = (0, 0);
    for (k, &c) in b.iter().enumerate() {
        stop |= u64::from(is_stop(c)) << k;
        high |= u64::from(c >= 0x80) << k;
    }
    (stop, high)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn classify_sse2(b: &[u8; BLOCK]) -> (u64, u64) {
    use std::arch::x86_64::*;
    let (mut stop, mut high) = (0u64, 0u64);
    for (q, part) in b.chunks_exact(16).enumerate() {
        // SAFETY: `part` is 16 readable bytes and `loadu` has no alignment
        // requirement; these SSE2 intrinsics are in the x86_64 baseline.
        let (s, h) = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let bs = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned v <= 0x1F exactly when max(v, 0x1F) == 0x1F.
            let lim = _mm_set1_epi8(0x1F);
            let ctrl = _mm_cmpeq_epi8(_mm_max_epu8(v, lim), lim);
            let any = _mm_or_si128(_mm_or_si128(quote, bs), ctrl);
            (_mm_movemask_epi8(any) as u16, _mm_movemask_epi8(v) as u16)
        };
        stop |= u64::from(s) << (16 * q);
        high |= u64::from(h) << (16 * q);
    }
    (stop, high)
}

/// `classify_sse2` on 32 bytes per compare.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn classify_avx2(b: &[u8; BLOCK]) -> (u64, u64) {
    use std::arch::x86_64::*;
    let (mut stop, mut high) = (0u64, 0u64);
    for (q, part) in b.chunks_exact(32).enumerate() {
        // SAFETY: `part` is 32 readable bytes, `loadu` has no alignment
        // requirement, and the caller guarantees AVX2.
        let (s, h) = unsafe {
            let v = _mm256_loadu_si256(part.as_ptr().cast());
            let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
            let bs = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
            let lim = _mm256_set1_epi8(0x1F);
            let ctrl = _mm256_cmpeq_epi8(_mm256_max_epu8(v, lim), lim);
            let any = _mm256_or_si256(_mm256_or_si256(quote, bs), ctrl);
            (
                _mm256_movemask_epi8(any) as u32,
                _mm256_movemask_epi8(v) as u32,
            )
        };
        stop |= u64::from(s) << (32 * q);
        high |= u64::from(h) << (32 * q);
    }
    (stop, high)
}

/// The key -> column cache of this path, by key position (raw key bytes:
/// keys with escapes are refused, so raw and unescaped are the same).
pub(super) type KeyCache = Vec<(Box<[u8]>, Option<usize>)>;

/// The key order of the last row the slow walk took, as the tokens a row
/// repeating it without whitespace has: `{"c0":` first, `,"c1":` after.
/// `Row::fast` matches each with two masked 8-byte compares.
#[derive(Default)]
pub(super) struct Layout {
    toks: Vec<Tok>,
    /// No column appears twice (else a row is left to the slow walk, which
    /// lets the last duplicate win).
    usable: bool,
    /// Every column appears: a row that matches fills every slot.
    full: bool,
}

struct Tok {
    /// The token's first 16 bytes as words, and masks of its bytes.
    w: [u64; 2],
    m: [u64; 2],
    bytes: Box<[u8]>,
    /// Where its column's slots start in `Row::vals` (`NO_COLUMN`: none).
    slot: usize,
}

/// Slot stride of `Row::vals`: the most rows of a group.
const STRIDE: usize = GROUP_LINES;
const NO_COLUMN: usize = usize::MAX;

impl Layout {
    fn build(&mut self, keys: &KeyCache, ncols: usize) {
        self.toks.clear();
        let mut seen = Vec::new();
        self.usable = !keys.is_empty();
        self.full = false;
        for (k, (key, col)) in keys.iter().enumerate() {
            let mut bytes = vec![if k == 0 { b'{' } else { b',' }, b'"'];
            bytes.extend_from_slice(key);
            bytes.extend_from_slice(b"\":");
            let mut w = [0u64; 2];
            let mut m = [0u64; 2];
            for (j, &b) in bytes.iter().take(16).enumerate() {
                w[j / 8] |= u64::from(b) << (8 * (j % 8));
                m[j / 8] |= 0xFF << (8 * (j % 8));
            }
            if let Some(c) = col {
                if seen.contains(c) {
                    self.usable = false;
                }
                seen.push(*c);
            }
            self.toks.push(Tok {
                w,
                m,
                bytes: bytes.into(),
                slot: col.map_or(NO_COLUMN, |c| c * STRIDE),
            });
        }
        self.full = self.usable && seen.len() == ncols;
    }
}

impl Tok {
    /// Is `src[p..]` this token?
    #[inline]
    fn at(&self, src: &[u8], p: usize) -> bool {
        let n = self.bytes.len();
        if n <= 16 {
            if let Some(b) = src.get(p..p + 16) {
                let a = u64::from_le_bytes(b[..8].try_into().unwrap());
                let c = u64::from_le_bytes(b[8..].try_into().unwrap());
                return ((a ^ self.w[0]) & self.m[0]) | ((c ^ self.w[1]) & self.m[1]) == 0;
            }
        }
        src.get(p..p + n) == Some(&self.bytes)
    }
}

/// Stage 2's reading of values: the group, its index, and where escaped
/// strings are unescaped to.
struct Scan<'a> {
    /// The group's bytes.
    src: &'a [u8],
    index: &'a Index,
    /// Empty, or a copy of `src` followed by the unescaped strings (at
    /// most twice as long as `src`, no escape being shorter than what it
    /// stands for, so positions in it fit u32 as those of `src` do).
    text: &'a mut Vec<u8>,
}

/// Stage 2 over one group: what a row walk needs besides the row.
struct Row<'a> {
    /// Apart from the other fields, so a scalar can be unescaped while
    /// `layout` is borrowed.
    scan: Scan<'a>,
    keys: &'a mut KeyCache,
    layout: &'a mut Layout,
    /// `keys` changed since `layout` was built from it.
    changed: bool,
    table: &'a Table,
    /// Column-major slots: column c of row r is `vals[c * STRIDE + r]`.
    vals: &'a mut [Scalar],
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Row<'_> {
    /// Walk the object at `src[start..end]` (a trimmed line) into row `r`'s
    /// slots; false when the row must go to the general path.
    #[inline]
    fn walk(&mut self, r: usize, start: usize, end: usize) -> bool {
        if !self.layout.full {
            self.clear(r);
        }
        self.fast(r, start, end) || self.slow(r, start, end)
    }

    fn clear(&mut self, r: usize) {
        for c in 0..self.table.columns.len() {
            self.vals[c * STRIDE + r] = MISSING;
        }
    }

    /// The common row: the keys of the row before, in its order, without
    /// whitespace (`layout`). False (slots half written) for any other.
    #[inline(always)]
    fn fast(&mut self, r: usize, start: usize, end: usize) -> bool {
        if !self.layout.usable {
            return false;
        }
        let mut p = start;
        for tok in &self.layout.toks {
            if !tok.at(self.scan.src, p) {
                return false;
            }
            p += tok.bytes.len();
            let Some((v, after)) = self.scan.scalar(p, end) else {
                return false;
            };
            if tok.slot != NO_COLUMN {
                self.vals[tok.slot + r] = v;
            }
            p = after;
        }
        p + 1 == end && self.scan.src[p] == b'}'
    }

    /// Any flat object: keys in any order, whitespace anywhere. A row it
    /// takes becomes the `layout` of the next.
    fn slow(&mut self, r: usize, start: usize, end: usize) -> bool {
        self.clear(r);
        let ok = self.slow_walk(r, start, end);
        if ok && self.changed {
            self.layout.build(self.keys, self.table.columns.len());
            self.changed = false;
        }
        ok
    }

    fn slow_walk(&mut self, r: usize, start: usize, end: usize) -> bool {
        let l = &self.scan.src[..end];
        let ws = |mut p: usize| {
            while l.get(p).is_some_and(|&b| is_ws(b)) {
                p += 1;
            }
            p
        };
        if l.get(start) != Some(&b'{') {
            return false;
        }
        let mut p = ws(start + 1);
        if l.get(p) == Some(&b'}') {
            self.truncate_keys(0);
            return p + 1 == end;
        }
        let mut k = 0;
        loop {
            if l.get(p) != Some(&b'"') {
                return false;
            }
            let Some((col, after)) = self.key(k, p + 1, end) else {
                return false;
            };
            p = ws(after);
            if l.get(p) != Some(&b':') {
                return false;
            }
            p = ws(p + 1);
            let Some((v, after)) = self.scan.scalar(p, end) else {
                return false;
            };
            if let Some(c) = col {
                // A duplicate key: the last wins, as in the general path
                // (only its value is parsed, in stage 3).
                self.vals[c * STRIDE + r] = v;
            }
            p = ws(after);
            match l.get(p) {
                Some(b',') => p = ws(p + 1),
                Some(b'}') => {
                    self.truncate_keys(k + 1);
                    return p + 1 == end;
                }
                _ => return false,
            }
            k += 1;
        }
    }

    /// The row had `n` keys: the cache describes it.
    fn truncate_keys(&mut self, n: usize) {
        if self.keys.len() > n {
            self.keys.truncate(n);
            self.changed = true;
        }
    }

    /// The `k`th key, whose text starts at `p` (after its quote): its
    /// column and the position after its closing quote.
    #[inline]
    fn key(&mut self, k: usize, p: usize, end: usize) -> Option<(Option<usize>, usize)> {
        let src = self.scan.src;
        if let Some((cached, col)) = self.keys.get(k) {
            let e = p + cached.len();
            if e < end && src[e] == b'"' && same_key(&src[p..e], cached) {
                return Some((*col, e + 1));
            }
        }
        let q = self.scan.index.next_stop(p).filter(|&q| q < end)?;
        if src[q] != b'"' {
            return None;
        }
        let key = &src[p..q];
        let col = self.table.column_index(std::str::from_utf8(key).ok()?);
        let entry = (Box::from(key), col);
        self.changed = true;
        if k < self.keys.len() {
            self.keys[k] = entry;
        } else if k == self.keys.len() && k < self.table.columns.len() * 2 + 8 {
            self.keys.push(entry);
        }
        Some((col, q + 1))
    }
}

impl Scan<'_> {
    /// The scalar at `p`, and the position after it.
    #[inline(always)]
    fn scalar(&mut self, p: usize, end: usize) -> Option<(Scalar, usize)> {
        let s = self.src;
        let at = |kind, a: usize, b: usize| Scalar {
            kind,
            start: a as u32,
            end: b as u32,
        };
        let lit = |text: &[u8], kind| {
            let e = p + text.len();
            (e <= end && &s[p..e] == text).then(|| (at(kind, p, e), e))
        };
        match *s.get(p)? {
            b'"' => {
                let q = self.index.next_stop(p + 1).filter(|&q| q < end)?;
                match s[q] {
                    b'"' => Some((at(ScalarKind::Str, p + 1, q), q + 1)),
                    b'\\' => {
                        // After the copy of the group, made if this is the
                        // group's first escape.
                        let start = self.text.len().max(s.len());
                        let after = unescape(s, self.index, self.text, p + 1, q, end)?;
                        Some((at(ScalarKind::Str, start, self.text.len()), after))
                    }
                    _ => None,
                }
            }
            b'-' | b'0'..=b'9' => {
                // The line ends with `}`, so the number ends before `end`.
                let (e, int) = number(s, p)?;
                let kind = if int {
                    ScalarKind::Int
                } else {
                    ScalarKind::Float
                };
                Some((at(kind, p, e), e))
            }
            b't' => lit(b"true", ScalarKind::True),
            b'f' => lit(b"false", ScalarKind::False),
            b'n' => lit(b"null", ScalarKind::Null),
            _ => None,
        }
    }
}

/// Longest number this path takes. With at most two exponent digits, no
/// such number is beyond f64's range or below it, which simd-json would
/// refuse even under a key no column has.
const NUMBER_BYTES_MAX: usize = 24;

/// The JSON number at `s[p..]`: its end and whether it is an integer (no
/// fraction, no exponent). `None` when it breaks JSON's grammar (a leading
/// zero included; what follows it is the caller's to check), is longer
/// than `NUMBER_BYTES_MAX` or has more than two exponent digits.
#[inline(always)]
fn number(s: &[u8], p: usize) -> Option<(usize, bool)> {
    let mut q = p + usize::from(s[p] == b'-');
    let n = digit_run(s, q);
    if n == 0 || (n > 1 && s[q] == b'0') {
        return None;
    }
    q += n;
    let mut int = true;
    if s.get(q) == Some(&b'.') {
        let n = digit_run(s, q + 1);
        if n == 0 {
            return None;
        }
        q += 1 + n;
        int = false;
    }
    if matches!(s.get(q), Some(b'e' | b'E')) {
        q += 1;
        if matches!(s.get(q), Some(b'+' | b'-')) {
            q += 1;
        }
        let n = digit_run(s, q);
        if n == 0 || n > 2 {
            return None;
        }
        q += n;
        int = false;
    }
    (q - p <= NUMBER_BYTES_MAX).then_some((q, int))
}

/// How many ASCII digits start `s[p..]`: eight bytes at a time (SWAR).
#[inline(always)]
fn digit_run(s: &[u8], p: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut n = 0;
    while let Some(b) = s.get(p + n..p + n + 8) {
        // A byte is a digit when (byte ^ 0x30) < 10; adding 0x76 sets the
        // high bit of any other (a carry it causes only reaches bytes
        // above the first non-digit, which do not count).
        let x = u64::from_le_bytes(b.try_into().unwrap()) ^ (0x30 * ONES);
        let bad = (x.wrapping_add(0x76 * ONES) | x) & (0x80 * ONES);
        if bad != 0 {
            return n + (bad.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while s.get(p + n).is_some_and(u8::is_ascii_digit) {
        n += 1;
    }
    n
}

impl JsonDecoder {
    /// May this decoder take the direct path at all? Plain rows only; a
    /// row is depth 1, so a depth limit of 0 refuses every row.
    pub(super) fn direct_ok(&self) -> bool {
        self.direct_enabled
            && !self.array
            && self.update_format == UpdateFormat::Raw
            && self.depth_max >= 1
    }

    /// Decode the lines from `chunk[i..]` directly. Returns the bytes
    /// consumed and, when a line was refused (or none could be gathered),
    /// the end of that line's value: the general path takes it.
    pub(super) fn direct(&mut self, chunk: &[u8], i: usize) -> (usize, Option<usize>) {
        self.gather(chunk, i);
        let Some(last) = self.lines.last().copied() else {
            return (0, Some(i + 1));
        };
        let first = self.lines[0].start;
        // The group, with the last line's newline: a scan never runs off.
        let src = &chunk[first..=last.nl];
        self.index.build(src);
        self.dtext.clear();
        let ncols = self.batch.cols.len();
        self.dvals.resize(ncols * STRIDE, MISSING);
        // Stage 2: rows up to the first refused one.
        let mut rows = 0;
        {
            let mut row = Row {
                scan: Scan {
                    src,
                    index: &self.index,
                    text: &mut self.dtext,
                },
                keys: &mut self.dkeys,
                layout: &mut self.layout,
                changed: false,
                table: &self.table,
                vals: &mut self.dvals,
            };
            for line in &self.lines {
                let (s, e) = (line.start - first, line.start - first + line.len);
                let utf8 = row.scan.index.high == 0 || std::str::from_utf8(&src[s..e]).is_ok();
                if !utf8 || !row.walk(rows, s, e) {
                    break;
                }
                rows += 1;
            }
        }
        // Stage 3: column by column; a value that fails cuts the group
        // before its row (rows before it all passed in the columns done,
        // and are retried in the rest). Spans are of the group, or of its
        // copy when a string had escapes.
        let texts = if self.dtext.is_empty() {
            src
        } else {
            &self.dtext[..]
        };
        let mut n = rows;
        'retry: while n > 0 {
            for c in 0..ncols {
                let vals = self.dvals[c * STRIDE..c * STRIDE + n].iter().copied();
                if let Err(r) = self.batch.cols[c].push_scalars(texts, vals) {
                    self.batch.rollback();
                    n = r;
                    continue 'retry;
                }
            }
            break;
        }
        let refused = (n < self.lines.len()).then(|| {
            let l = self.lines[n];
            l.start + l.len
        });
        if n == 0 {
            return (0, refused);
        }
        let mut prev_end = i;
        for line in &self.lines[..n] {
            self.sp.pos += (line.start - prev_end) as u64;
            self.sp.value_offset = self.sp.pos;
            self.sp.pos += line.len as u64;
            self.batch_bytes += line.len;
            prev_end = line.start + line.len;
        }
        #[cfg(test)]
        {
            self.direct_rows += n as u64;
        }
        self.records += n as u64;
        self.batch.commit(n, 1);
        self.check_full();
        (prev_end - i, refused)
    }
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
