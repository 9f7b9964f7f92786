//! JSON bodies into Arrow. The common body (one flat object of scalars per
//! line, `update_format=raw`) goes straight from the bytes into the column
//! buffers (`direct.rs`); anything else goes through a splitter that finds
//! top-level values as bytes arrive, simd-json parsing each into a reused
//! tape, and the tape walked into the column buffers.
//!
//! ADVICE FOR HACKERS: the direct path comes first (`split`). It is
//! hand-written and schema-directed because simd-json's tape cost about
//! half the time of that body for values read once: per group of up to 128
//! complete lines, stage 1 classifies 64-byte blocks into bitmasks (string
//! stops, non-ASCII), stage 2 walks each row (keys matched against the
//! previous row's layout with masked word compares, scalars' spans and
//! kinds into column-major slots), stage 3 fills each column in one loop
//! with `fields.rs`'s parsers (`ColumnBuf::push_scalars`). It takes only
//! what it is sure the tape path takes the same way; at the first row it
//! is not (an escaped key, a bad escape, nesting, a wrong type, a bad
//! value...) it commits the rows before and hands the lines from that one
//! on to the paths below (a group of them, else that line), which report
//! any error; then it resumes. `direct_tests.rs` pits it against them.
//!
//! The splitter tracks only strings, escapes and depth
//! (a counter, never recursion), so it can reject over-deep values before
//! any parser sees them. A value wholly inside one chunk is parsed from the
//! chunk; one that spans chunks is gathered in `buf` (bounded by
//! `record_bytes_max`). simd-json unescapes strings in place, so values are
//! copied into `scratch` first, which keeps the original text for exact
//! DECIMALs (a float node's source text is found again in `raw`, right
//! after its key when that key has no escapes).
//! Fast path (`fast_line`): an object or array alone on a line inside the
//! chunk is handed to simd-json straight away; only if simd-json accepts it
//! (and it is not too long or too deep) is the result used, since then it
//! is exactly the value the splitter would have found. Otherwise the
//! splitter takes over for that value.
//! Faster (`group`, after the direct path refused a line or when it cannot
//! serve the request): the complete lines of a chunk that start with
//! `{` are parsed in one simd-json call as `[line,line,...]`, used only
//! when each element provably is its line (`group.rs` says how), else the
//! lines take the per-line path. Rows repeating the previous row's key
//! order skip the slot table (`row_in_order`), and a group of such rows is
//! written column by column (`columnar.rs`). Every fast path only ever
//! takes the happy path: on any failure it writes nothing and the general
//! path redoes the work, so errors are reported by one code path.
//!
//! Policies: keys match columns like SQL identifiers (`Table::column_index`);
//! unknown keys are ignored; a duplicated key: the last one wins; missing
//! keys take the DEFAULT, else NULL. A row may be a positional array (extra
//! elements ignored). Depth counts open brackets: `{"a": [1]}` has depth 2.
//! Coercions: integer columns take only JSON integers (`1.0`, `1e3` and
//! strings are errors); REAL/DOUBLE take any number (`NaN`/`Infinity` are
//! not JSON); BOOLEAN only `true`/`false`; DECIMAL a number (read exactly
//! from its source text) or a string; DATE/TIME/TIMESTAMP strings; string
//! columns only strings. Integers beyond u64 are floats (simd-json's
//! `big-int-as-float`), exact only into DECIMAL. `-0` is integer 0.
//! With `array=true` a failing element drops its whole array; each bad
//! element is reported, all with the offset of the array. A batch may exceed
//! `batch_rows` by the rest of one array.

use std::sync::Arc;

use simd_json::{fill_tape_padded, Buffers, Node, StaticNode, Tape, INPUT_PADDING};

use super::batch::{Batch, BATCH_BYTES_CAP, RECORD_BYTES_CAP};
use super::columns::kind_of;
use super::error::invalid_text;
use super::fields::FieldError;
use super::json_split::{nth_number, Kind, Splitter, Step};

#[path = "json_events.rs"]
mod events;
use super::{ChangeBatch, DecodeOptions, Decoder, ParseError, ParseErrors, UpdateFormat};
use crate::table::Table;

mod columnar;
pub(crate) mod direct;
mod escape;
mod group;
mod keys;

use keys::same_key;

/// Why one event did not become a row.
enum EventError {
    Field {
        col: usize,
        err: FieldError,
        node: usize,
    },
    Message(&'static str),
}

/// Slot value for "no key for this column".
const NO_SLOT: usize = usize::MAX;

pub struct JsonDecoder {
    table: Arc<Table>,
    batch: Batch,
    update_format: UpdateFormat,
    array: bool,
    rows_max: usize,
    bytes_max: usize,
    record_bytes_max: usize,
    depth_max: usize,
    sp: Splitter,
    // Parser state, reused for every value.
    scratch: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
    /// Per column, the tape index of this row's value (or `NO_SLOT`).
    slots: Vec<usize>,
    /// Key -> column of the previous object, by key position: rows of one
    /// stream usually list their keys in the same order.
    key_cache: Vec<(String, Option<usize>)>,
    /// `key_cache` lists every column exactly once (`row_in_order`).
    in_order: bool,
    /// Scratch for `too_deep`.
    depth_stack: Vec<usize>,
    /// The lines of the current group (`group`).
    lines: Vec<group::Line>,
    /// Per line of the group, the tape index of its row (`columnar`).
    elems: Vec<usize>,
    /// Per line and column, the tape index of the value (`columnar`).
    row_slots: Vec<usize>,
    /// Address of the buffer simd-json parsed (a copy of `raw`), so a
    /// string node's position in `raw` can be found (`number_text`).
    tape_base: usize,
    /// The direct path (`direct.rs`) may be taken (tests turn it off to
    /// compare).
    direct_enabled: bool,
    /// Its stage-1 index, key cache, row layout and value slots.
    index: direct::Index,
    dkeys: direct::KeyCache,
    layout: direct::Layout,
    dvals: Vec<direct::Scalar>,
    /// Empty, or a copy of the group followed by its escaped strings,
    /// unescaped (`escape.rs`).
    dtext: Vec<u8>,
    /// Rows it wrote (tests check it was taken).
    #[cfg(test)]
    direct_rows: u64,
    records: u64,
    batch_bytes: usize,
    full: bool,
    errors: ParseErrors,
}

impl JsonDecoder {
    pub fn new(table: Arc<Table>, opts: DecodeOptions) -> Self {
        let rows_max = opts.batch_rows.max(1);
        let record_bytes_max = opts.record_bytes_max.min(RECORD_BYTES_CAP);
        let ncols = table.columns.len();
        JsonDecoder {
            batch: Batch::with_flavor(&table, rows_max, opts.json_flavor),
            table,
            update_format: opts.update_format,
            array: opts.array,
            rows_max,
            bytes_max: opts.batch_bytes.clamp(1, BATCH_BYTES_CAP),
            record_bytes_max,
            depth_max: opts.json_depth_max,
            sp: Splitter::new(opts.json_depth_max, record_bytes_max),
            scratch: Vec::new(),
            // The splitter already bounds depth; simd-json's own bound is
            // only a second line of defence.
            buffers: Buffers::with_max_depth(4096, opts.json_depth_max.saturating_add(2)),
            tape: Tape(Vec::new()),
            slots: vec![NO_SLOT; ncols],
            key_cache: Vec::new(),
            in_order: false,
            depth_stack: Vec::new(),
            lines: Vec::new(),
            elems: Vec::new(),
            row_slots: Vec::new(),
            tape_base: 0,
            direct_enabled: true,
            index: direct::Index::default(),
            dkeys: Vec::new(),
            layout: direct::Layout::default(),
            dvals: Vec::new(),
            dtext: Vec::new(),
            #[cfg(test)]
            direct_rows: 0,
            records: 0,
            batch_bytes: 0,
            full: false,
            errors: ParseErrors::default(),
        }
    }

    /// Split values out of `chunk`; returns bytes consumed (less than all
    /// when the batch became full).
    fn split(&mut self, chunk: &[u8]) -> usize {
        let mut i = 0;
        // Bytes before this go through the per-line path (a group failed).
        let mut no_group_until = 0;
        // Bytes before this are not for the direct path (it refused a line:
        // the simd-json group takes the lines from there, so a body where
        // most lines need it costs little more than before the direct
        // path existed).
        let mut no_direct_until = 0;
        let direct = self.direct_ok();
        loop {
            if !self.sp.in_value {
                if direct && i >= no_direct_until {
                    let (used, refused) = self.direct(chunk, i);
                    i += used;
                    if self.full {
                        return i;
                    }
                    match refused {
                        None if used > 0 => continue,
                        _ => no_direct_until = refused.unwrap_or(0).max(i + 1),
                    }
                }
                if i >= no_group_until {
                    match self.group(chunk, i) {
                        Ok(used) => {
                            i += used;
                            if self.full {
                                return i;
                            }
                            continue;
                        }
                        Err(end) => no_group_until = end.max(i + 1),
                    }
                }
                if let Some(used) = self.fast_line(chunk, i) {
                    i += used;
                    if self.full {
                        return i;
                    }
                    continue;
                }
            }
            match self.sp.next(chunk, i) {
                Step::NeedMore => return chunk.len(),
                Step::Fatal => {
                    self.fatal();
                    return chunk.len();
                }
                Step::Value { start, end } => {
                    i = end;
                    if self.sp.complete(&chunk[start..end]) {
                        self.value(Some(&chunk[start..end]));
                    } else {
                        self.value(None);
                    }
                    if self.full {
                        return i;
                    }
                }
            }
        }
    }

    /// Fast path for newline-delimited values: when the next line lies in
    /// `chunk` and holds (between whitespace) one object or array that
    /// simd-json accepts, not too long nor too deep, that value is exactly
    /// what the splitter would find (a valid container ends where its
    /// brackets balance), so the splitter's byte-by-byte scan is skipped.
    /// Returns bytes consumed; `None` leaves everything to the splitter
    /// (which then parses again and reports any error).
    fn fast_line(&mut self, chunk: &[u8], i: usize) -> Option<usize> {
        let rest = &chunk[i..];
        // Whitespace before the value (newlines included), then its line.
        let lead = rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
        let line = &rest[lead..lead + memchr::memchr(b'\n', &rest[lead..])?];
        let len = line
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r'))?
            + 1;
        let raw = &line[..len];
        let end = lead + len;
        if !matches!(raw[0], b'{' | b'[') || raw.len() > self.record_bytes_max {
            return None;
        }
        let mut scratch = self.padded_copy(raw);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let ok = fill_tape_padded(&mut scratch, raw.len(), &mut self.buffers, &mut tape).is_ok()
            && !too_deep(&tape.0, self.depth_max, &mut self.depth_stack);
        if ok {
            self.sp.pos += lead as u64;
            self.sp.value_offset = self.sp.pos;
            self.sp.pos += raw.len() as u64;
            self.batch_bytes += raw.len();
            self.walk(&tape.0, raw);
            self.check_full();
        }
        self.tape = tape.reset();
        self.scratch = scratch;
        ok.then_some(end)
    }

    /// After a value: is the batch full?
    fn check_full(&mut self) {
        if self.batch.rows() == 0 {
            self.batch_bytes = 0;
        } else if self.batch.rows() >= self.rows_max || self.batch_bytes >= self.bytes_max {
            self.full = true;
        }
    }

    fn fatal(&mut self) {
        self.errors.fatal = true;
        self.errors.push(ParseError {
            event_number: self.records + 1,
            field: None,
            description: "cannot find the start of the next JSON value; rest of body ignored"
                .into(),
            invalid_text: None,
            offset: self.sp.pos,
            line: None,
        });
    }

    fn error(&mut self, description: String, text: Option<String>) {
        self.errors.push(ParseError {
            event_number: self.records,
            field: None,
            description,
            invalid_text: text,
            offset: self.sp.value_offset,
            line: None,
        });
    }

    /// A complete top-level value: `raw` when it lies in one chunk, else in
    /// `buf`.
    fn value(&mut self, raw: Option<&[u8]>) {
        let buf = std::mem::take(&mut self.sp.buf);
        let raw = raw.unwrap_or(&buf);
        self.batch_bytes += (self.sp.pos - self.sp.value_offset) as usize;
        if self.sp.too_long {
            self.records += 1;
            let d = format!("JSON value longer than {} bytes", self.record_bytes_max);
            self.error(d, None);
        } else if self.sp.too_deep {
            self.records += 1;
            let d = format!("JSON nesting deeper than {}", self.depth_max);
            self.error(d, Some(invalid_text(raw)));
        } else {
            self.parse(raw);
        }
        self.sp.buf = buf;
        self.sp.buf.clear();
        self.check_full();
    }

    /// simd-json parses in place and reads past the end, so each value is
    /// copied into the reused scratch buffer with padding; the tape's
    /// strings then point into it (`tape_base` locates them).
    fn padded_copy(&mut self, raw: &[u8]) -> Vec<u8> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(raw);
        scratch.resize(raw.len() + INPUT_PADDING, b' ');
        self.tape_base = scratch.as_ptr() as usize;
        scratch
    }

    fn parse(&mut self, raw: &[u8]) {
        let mut scratch = self.padded_copy(raw);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        match fill_tape_padded(&mut scratch, raw.len(), &mut self.buffers, &mut tape) {
            Err(e) => {
                self.records += 1;
                self.error(format!("invalid JSON: {e}"), Some(invalid_text(raw)));
            }
            Ok(()) => self.walk(&tape.0, raw),
        }
        self.tape = tape.reset();
        self.scratch = scratch;
    }

    /// Turn a parsed top-level value into events.
    fn walk(&mut self, nodes: &[Node<'_>], raw: &[u8]) {
        if !self.array {
            self.records += 1;
            match self.event(nodes, 0, raw) {
                Ok(w) => self.batch.commit(1, w),
                Err(e) => {
                    self.batch.rollback();
                    self.report(e, nodes, raw);
                }
            }
            return;
        }
        let Node::Array { len, .. } = nodes[0] else {
            self.records += 1;
            self.error("expected a JSON array of events (array=true)".into(), None);
            return;
        };
        let start = self.batch.rows();
        let mut failed = false;
        let mut idx = 1;
        for _ in 0..len {
            self.records += 1;
            match self.event(nodes, idx, raw) {
                Ok(w) => self.batch.commit(1, w),
                Err(e) => {
                    self.batch.rollback();
                    self.report(e, nodes, raw);
                    failed = true;
                }
            }
            idx += count(&nodes[idx]);
        }
        if failed {
            // Feldera drops the whole array when one element fails.
            self.batch.truncate(start);
        }
    }

    /// Point `slots` at the values of the object at `nodes[idx]` (`len`
    /// keys) by column; the caller has cleared them.
    fn place_keys(&mut self, nodes: &[Node<'_>], idx: usize, len: usize) {
        let mut j = idx + 1;
        for k in 0..len {
            let Node::String(key) = nodes[j] else {
                unreachable!("object keys are strings on the tape")
            };
            if let Some(c) = self.lookup(k, key) {
                self.slots[c] = j + 1;
            }
            j += 1 + count(&nodes[j + 1]);
        }
    }

    /// Write the row at `nodes[idx]` (object or positional array) into the
    /// columns; on error the caller rolls the columns back.
    fn row(&mut self, nodes: &[Node<'_>], idx: usize, raw: &[u8]) -> Result<(), EventError> {
        if let Node::Object { len, .. } = nodes[idx] {
            if self.row_in_order(nodes, idx, len, raw) {
                return Ok(());
            }
        }
        self.slots.fill(NO_SLOT);
        match nodes[idx] {
            Node::Object { len, .. } => {
                self.place_keys(nodes, idx, len);
                self.note_order(len);
            }
            Node::Array { len, .. } => {
                let mut j = idx + 1;
                for k in 0..len {
                    if k < self.slots.len() {
                        self.slots[k] = j;
                    }
                    j += count(&nodes[j]);
                }
            }
            _ => {
                return Err(EventError::Message(
                    "expected a JSON object or array as row",
                ))
            }
        }
        for (c, col) in self.batch.cols.iter_mut().enumerate() {
            let j = self.slots[c];
            let r = if j == NO_SLOT {
                col.push_missing()
            } else {
                let base = self.tape_base;
                col.push_json_at(nodes, j, &|k| value_text(nodes, k, raw, base))
            };
            r.map_err(|err| EventError::Field {
                col: c,
                err,
                node: j,
            })?;
        }
        Ok(())
    }

    fn report(&mut self, e: EventError, nodes: &[Node<'_>], raw: &[u8]) {
        match e {
            EventError::Message(m) => self.error(m.into(), Some(invalid_text(raw))),
            EventError::Field { col, err, node } => {
                let column = &self.table.columns[col];
                let text = (node != NO_SLOT).then(|| node_text(nodes, node, raw));
                self.errors.push(ParseError {
                    event_number: self.records,
                    field: Some(column.ident.name.clone()),
                    description: err.describe(&column.sql_type.sql_name()),
                    invalid_text: text,
                    offset: self.sp.value_offset,
                    line: None,
                });
            }
        }
    }
}

/// Does the parsed value nest deeper than `max` (open brackets, as the
/// splitter counts)? `stack` is scratch space.
fn too_deep(nodes: &[Node<'_>], max: usize, stack: &mut Vec<usize>) -> bool {
    let containers = || {
        nodes
            .iter()
            .filter(|n| matches!(n, Node::Object { .. } | Node::Array { .. }))
    };
    if containers().count() <= max {
        return false;
    }
    // Ends (exclusive tape index) of the open containers.
    stack.clear();
    for (i, n) in nodes.iter().enumerate() {
        while stack.last().is_some_and(|&e| e <= i) {
            stack.pop();
        }
        if let Node::Object { count, .. } | Node::Array { count, .. } = n {
            stack.push(i + count + 1);
            if stack.len() > max {
                return true;
            }
        }
    }
    false
}

/// Nodes in the subtree starting at `node`, itself included.
fn count(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

fn is_number(node: &Node<'_>) -> bool {
    matches!(
        node,
        Node::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_))
    )
}

/// The source text of the number at tape index `j`. When it is an object
/// member whose key has no escapes, the key's bytes sit in the parsed copy
/// of `raw` at their original place (`base` is that copy's address), so
/// the number is found right after `"key"` and `:`; otherwise (and when any
/// check fails) it is counted from the start (`nth_number`).
fn number_text<'r>(nodes: &[Node<'_>], j: usize, raw: &'r [u8], base: usize) -> Option<&'r [u8]> {
    let direct = || {
        let Node::String(key) = nodes.get(j.checked_sub(1)?)? else {
            return None;
        };
        let off = (key.as_ptr() as usize).wrapping_sub(base);
        let end = off.checked_add(key.len())?;
        // The raw key is exactly `"key"`: same bytes, no backslash, and a
        // quote right after (so not escaped).
        if off == 0 || raw.get(off - 1) != Some(&b'"') || raw.get(end) != Some(&b'"') {
            return None;
        }
        let text = &raw[off..end];
        if !same_key(text, key.as_bytes()) || text.contains(&b'\\') {
            return None;
        }
        let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let mut i = end + 1;
        while raw.get(i).is_some_and(ws) {
            i += 1;
        }
        // Only a key is followed by `:`.
        if raw.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        while raw.get(i).is_some_and(ws) {
            i += 1;
        }
        let start = i;
        if !matches!(raw.get(i), Some(b'-' | b'0'..=b'9')) {
            return None;
        }
        while raw
            .get(i)
            .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            i += 1;
        }
        Some(&raw[start..i])
    };
    direct().or_else(|| nth_number(raw, number_ordinal(nodes, j)))
}

/// How many numbers precede tape index `j`: numbers appear on the tape in
/// text order, so this is the number's index among the value's numbers.
fn number_ordinal(nodes: &[Node<'_>], j: usize) -> usize {
    nodes[..j].iter().filter(|n| is_number(n)).count()
}

/// The text of a value for `invalid_text`.
/// Source text of `nodes[j]`: the number's (fast, `number_text`) or the
/// whole value's (`variant::node_span`, a scan of `raw`).
fn value_text<'r>(nodes: &[Node<'_>], j: usize, raw: &'r [u8], base: usize) -> Option<&'r [u8]> {
    if is_number(&nodes[j]) {
        number_text(nodes, j, raw, base)
    } else {
        super::variant::node_span(raw, j)
    }
}

fn node_text(nodes: &[Node<'_>], j: usize, raw: &[u8]) -> String {
    match &nodes[j] {
        Node::String(s) => invalid_text(s.as_bytes()),
        n if is_number(n) => nth_number(raw, number_ordinal(nodes, j))
            .map(invalid_text)
            .unwrap_or_default(),
        Node::Static(StaticNode::Bool(b)) => b.to_string(),
        other => kind_of(other).to_string(),
    }
}

impl Decoder for JsonDecoder {
    fn decode(&mut self, chunk: &[u8]) -> usize {
        if self.errors.fatal {
            return chunk.len();
        }
        if self.full {
            return 0;
        }
        self.split(chunk)
    }

    fn batch_full(&self) -> bool {
        self.full
    }

    fn flush(&mut self) -> Option<ChangeBatch> {
        self.full = false;
        self.batch_bytes = 0;
        self.batch.finish()
    }

    fn end_body(&mut self) {
        if self.sp.in_value && !self.errors.fatal {
            self.sp.in_value = false;
            if self.sp.kind == Kind::Scalar {
                self.value(None);
            } else {
                self.records += 1;
                let text = invalid_text(&self.sp.buf);
                self.error("incomplete JSON value at end of body".into(), Some(text));
            }
        }
    }

    fn batch_rows(&self) -> usize {
        self.batch.rows()
    }

    fn records(&self) -> u64 {
        self.records
    }

    fn errors(&self) -> &ParseErrors {
        &self.errors
    }

    fn reset(&mut self) {
        self.batch.reset();
        self.batch_bytes = 0;
        self.full = false;
        self.next_body();
    }

    fn next_body(&mut self) {
        self.sp.reset();
        self.scratch.clear();
        self.slots.fill(NO_SLOT);
        // `key_cache` stays: it maps keys to this table's columns.
        self.records = 0;
        self.errors.clear();
    }
}
