//! CSV bodies into Arrow: a byte-level splitter, then column-at-a-time
//! conversion of the records gathered so far.
//!
//! ADVICE FOR HACKERS: the splitter is a small state machine with the
//! semantics of csv-core's default reader (RFC 4180 quotes, `""` escapes,
//! `\n`, `\r\n` and `\r` terminators, text after a closing quote kept
//! literally, blank lines skipped). It is hand-written rather than driven
//! by csv-core because the decoder needs three things csv-core does not
//! expose: whether a field was quoted (`""` is the empty string, an empty
//! unquoted field is NULL), each record's byte offset and its line. The
//! differential property test against the `csv` crate keeps the two in
//! agreement. Unescaped field bytes go to `data`, field bounds to `fields`,
//! one entry per record to `recs`; `convert` then fills each column in turn
//! (one type dispatch per column) and rolls back records that failed.
//! Fast path (`index_records`): records that end in the current chunk are
//! split with a structural index (`csv_index`: bitmasks of `,` `\n` `\r`
//! `"` per 64-byte block, quoted regions by prefix XOR), and their fields
//! point into the chunk instead of being copied (`Field`'s offsets say
//! which of the chunk and `data` holds a field, so a record can have some
//! fields in each and the column loops need not care);
//! `decode` converts every such record before it returns, so no reference
//! outlives the chunk. Quoted fields qualify when simple (no `""` escape,
//! no line break inside, nothing after the closing quote), as do `\r\n`
//! and blank lines. The state machine handles everything else (and the
//! records cut by chunk ends) and gives the same result: it is the
//! reference, and one-byte chunks, which never hold a whole record, test
//! the index against it.
//!
//! Policies: no header; extra fields are ignored; a missing trailing field
//! takes the column DEFAULT, else NULL (an error when NOT NULL). An empty
//! unquoted field is NULL in a nullable column (the empty string in a NOT
//! NULL string column, an error elsewhere); `""` is the empty string in a
//! string column and NULL elsewhere. A UTF-8 BOM at body start is skipped.
//! With a null text (`CsvOptions::null_text`), an unquoted field equal to
//! it is NULL in every type (an error in a NOT NULL column) while the same
//! text quoted stays text. The splitters decide it (the state machine as a
//! field ends, the index as its record ends, in a pass run only when a null
//! text is set), so conversion sees a NULL cell and never compares text.

use std::mem::MaybeUninit;
use std::sync::Arc;

use super::batch::{Batch, BATCH_BYTES_CAP, RECORD_BYTES_CAP};
use super::columns::{Cell, NoText, Text};
use super::csv_index::{has_avx2, Block, BLOCK};
use super::error::invalid_text;
use super::fields::FieldError;
use super::{ChangeBatch, DecodeOptions, Decoder, NullText, ParseError, ParseErrors};
use crate::table::Table;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Records the index converts at a time: the group's chunk bytes and
/// fields stay in L1 while `convert` goes over them once per column.
/// Results do not depend on it (conversion is per record; errors are
/// reported in record order either way).
const CONVERT_GROUP: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: newlines here are blank lines.
    StartRecord,
    StartField,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: an escape or the closing quote.
    QuoteInQuoted,
    /// After a `\r` that ended a record: a `\n` here belongs to it.
    AfterCr,
}

/// A field's bytes: `start..end` of the chunk being decoded, or, offset by
/// `DATA_BASE`, of `data`. One address space for both lets a group of
/// records mix fields split by the index (in the chunk) with fields copied
/// out (unescaped, or split byte by byte) at no cost per record; the column
/// loops pick the source per field with a select, not a branch. Eight
/// bytes, as the column loops read one per cell: an empty quoted field
/// (`""`, whose quoting matters) is `start == end + 1` and the null text
/// unquoted is `start == end + 2` (relative, so both survive `compact`
/// moving fields down).
#[derive(Clone, Copy)]
struct Field {
    start: u32,
    end: u32,
}

impl Field {
    #[inline]
    fn new(start: usize, end: usize, quoted: bool) -> Field {
        let empty_quoted = u32::from(quoted && start == end);
        Field {
            start: start as u32 + empty_quoted,
            end: end as u32,
        }
    }

    /// The null text, unquoted, found at `at`.
    #[inline]
    fn null(at: usize) -> Field {
        Field {
            start: at as u32 + 2,
            end: at as u32,
        }
    }

    /// `Field::new` for `data[start..end]`.
    #[inline]
    fn in_data(start: usize, end: usize, quoted: bool) -> Field {
        let base = DATA_BASE as usize;
        Field::new(base + start, base + end, quoted)
    }
}

/// `Field` offsets at or past this are in `data`.
const DATA_BASE: u32 = 1 << 31;

/// Chunk offsets must stay below `DATA_BASE`, and a NULL field's start is
/// 2 past its end.
const CHUNK_BYTES_MAX: usize = DATA_BASE as usize - 2;

// `data` holds at most the pending records (under a batch's bytes, plus
// the record that reached them) and the record being split (`push_data`
// copies nothing past the record cap), so its offsets plus `DATA_BASE`
// (and 2 more for a NULL field) fit a u32.
const _: () = assert!(BATCH_BYTES_CAP + 2 * RECORD_BYTES_CAP + 2 < DATA_BASE as usize);

/// Why a record was rejected before conversion.
#[derive(Clone, Copy)]
enum Fault {
    TooLong,
    Unterminated,
}

/// Where a pending record's fields are in `fields`: kept apart from `Rec`
/// so the column loops read 8 bytes per record, not the whole `Rec`.
#[derive(Clone, Copy)]
struct Span {
    first: u32,
    n: u32,
}

/// A pending group of records all of `width` fields, stored one record
/// after another from `fields[first]` (`CsvDecoder::uniform`).
#[derive(Clone, Copy)]
struct Uniform {
    first: usize,
    width: usize,
}

/// A complete record waiting for conversion.
struct Rec {
    offset: u64,
    line: u64,
    event: u64,
    fault: Option<Fault>,
    /// Input bytes of the record, terminator included.
    bytes: usize,
}

pub struct CsvDecoder {
    table: Arc<Table>,
    /// The field delimiter (`CsvOptions::delimiter`).
    delim: u8,
    /// The CPU has AVX2, BMI1, BMI2 and PCLMULQDQ (`csv_index::has_avx2`).
    avx2: bool,
    /// `CsvOptions::null_text`.
    null_text: NullText,
    /// `header=true`: the first record names the columns.
    header: bool,
    /// Set from the header record: per column, the field that holds it
    /// (`usize::MAX`: none, the column takes its DEFAULT or NULL).
    field_map: Option<Vec<usize>>,
    batch: Batch,
    rows_max: usize,
    bytes_max: usize,
    record_bytes_max: usize,
    state: State,
    /// Body offset of the next byte.
    pos: u64,
    /// 1-based line of the next byte.
    line: u64,
    /// BOM bytes matched at body start; `None` once decided.
    bom: Option<usize>,
    // The record being split.
    rec_offset: u64,
    rec_line: u64,
    rec_first_field: usize,
    rec_data_start: usize,
    rec_too_long: bool,
    field_start: usize,
    field_quoted: bool,
    data: Vec<u8>,
    fields: Vec<Field>,
    /// Chunk offsets of the `""` escapes of the record being indexed
    /// (`unescape_record`): at most one per two bytes of the chunk, the
    /// same bound as `fields`' (offsets are taken before the record's
    /// length is checked).
    escapes: Vec<u32>,
    /// Bit k: field k of some record in `fields` may lie in `data` (bit
    /// 63: any field from 63 on). Columns whose bit is clear take the
    /// chunk-only loop, which needs no select per field.
    data_cols: u64,
    recs: Vec<Rec>,
    /// One per `recs` entry.
    spans: Vec<Span>,
    records: u64,
    /// Input bytes of the good records converted into the current batch.
    batch_bytes: usize,
    /// Input bytes of the pending records (`recs`).
    pending_bytes: usize,
    full: bool,
    skip: Vec<bool>,
    bad: Vec<(usize, FieldError)>,
    bad_all: Vec<(usize, usize, FieldError)>,
    errors: ParseErrors,
}

impl CsvDecoder {
    pub fn new(table: Arc<Table>, opts: DecodeOptions) -> Self {
        let rows_max = opts.batch_rows.max(1);
        CsvDecoder {
            batch: Batch::new(&table, rows_max),
            table,
            delim: opts.csv.delimiter,
            avx2: has_avx2(),
            null_text: opts.csv.null_text,
            header: opts.csv.header,
            field_map: None,
            rows_max,
            bytes_max: opts.batch_bytes.clamp(1, BATCH_BYTES_CAP),
            record_bytes_max: opts.record_bytes_max.min(RECORD_BYTES_CAP),
            state: State::StartRecord,
            pos: 0,
            line: 1,
            bom: Some(0),
            rec_offset: 0,
            rec_line: 1,
            rec_first_field: 0,
            rec_data_start: 0,
            rec_too_long: false,
            field_start: 0,
            field_quoted: false,
            data: Vec::new(),
            fields: Vec::new(),
            escapes: Vec::new(),
            data_cols: 0,
            recs: Vec::new(),
            spans: Vec::new(),
            records: 0,
            batch_bytes: 0,
            pending_bytes: 0,
            full: false,
            skip: Vec::new(),
            bad: Vec::new(),
            bad_all: Vec::new(),
            errors: ParseErrors::default(),
        }
    }

    /// Skip a BOM at body start; returns bytes of `chunk` taken. Bytes that
    /// began like a BOM but were not one are fed back as data.
    fn take_bom(&mut self, chunk: &[u8]) -> usize {
        let Some(mut k) = self.bom else { return 0 };
        let mut i = 0;
        while k < 3 && i < chunk.len() && chunk[i] == BOM[k] {
            k += 1;
            i += 1;
        }
        self.pos += i as u64;
        if k == 3 || (i < chunk.len()) {
            self.bom = None;
            if k < 3 {
                self.replay(k);
            }
        } else {
            self.bom = Some(k);
        }
        i
    }

    /// Feed the first `k` BOM bytes, read earlier, as data.
    fn replay(&mut self, k: usize) {
        self.pos -= k as u64;
        let _ = self.split(&BOM[..k]);
    }

    /// Callers have counted `bytes` in `pos` already, so the length check
    /// comes first: `data` never takes bytes past the record cap (see
    /// `DATA_BASE`).
    fn push_data(&mut self, bytes: &[u8]) {
        self.check_len();
        if !self.rec_too_long {
            self.data.extend_from_slice(bytes);
        }
    }

    /// Past `record_bytes_max`, the record's bytes are dropped and the rest
    /// of it is only scanned for its end.
    fn check_len(&mut self) {
        if !self.rec_too_long && self.pos - self.rec_offset > self.record_bytes_max as u64 {
            self.rec_too_long = true;
            self.data.truncate(self.rec_data_start);
            self.fields.truncate(self.rec_first_field);
        }
    }

    fn start_record(&mut self) {
        self.rec_offset = self.pos;
        self.rec_line = self.line;
        self.rec_first_field = self.fields.len();
        self.rec_data_start = self.data.len();
        self.rec_too_long = false;
        self.start_field();
    }

    fn start_field(&mut self) {
        self.field_start = self.data.len();
        self.field_quoted = false;
        self.state = State::StartField;
    }

    fn end_field(&mut self) {
        self.check_len();
        if self.rec_too_long {
            return;
        }
        let text = &self.data[self.field_start..];
        if !self.field_quoted && self.null_text.matches(text) {
            self.data.truncate(self.field_start);
            self.mark_in_data(self.fields.len() - self.rec_first_field);
            self.fields
                .push(Field::null(DATA_BASE as usize + self.field_start));
        } else {
            let end = self.data.len();
            let f = Field::in_data(self.field_start, end, self.field_quoted);
            self.mark_in_data(self.fields.len() - self.rec_first_field);
            self.fields.push(f);
        }
    }

    /// End the current record; returns true when the batch became full.
    fn end_record(&mut self, fault: Option<Fault>, chunk: &[u8]) -> bool {
        if self.header && self.field_map.is_none() {
            self.take_header(fault, chunk);
            return false;
        }
        self.records += 1;
        let fault = if self.rec_too_long {
            Some(Fault::TooLong)
        } else {
            fault
        };
        if fault.is_some() {
            self.data.truncate(self.rec_data_start);
            self.fields.truncate(self.rec_first_field);
        }
        self.spans.push(Span {
            first: self.rec_first_field as u32,
            n: (self.fields.len() - self.rec_first_field) as u32,
        });
        let bytes = (self.pos - self.rec_offset) as usize;
        self.recs.push(Rec {
            offset: self.rec_offset,
            line: self.rec_line,
            event: self.records,
            fault,
            bytes,
        });
        self.rec_first_field = self.fields.len();
        self.rec_data_start = self.data.len();
        self.pending_bytes += bytes;
        // Sealing depends only on the good records so far, never on when
        // records were converted (chunk ends, full groups): `rows + pending`
        // and `batch_bytes + pending_bytes` bound the good rows and their
        // bytes, so converting here finds the batch full exactly when the
        // good records fill it.
        if self.batch.rows() + self.recs.len() >= self.rows_max
            || self.batch_bytes + self.pending_bytes >= self.bytes_max
        {
            self.convert(chunk);
            if self.batch.rows() >= self.rows_max || self.batch_bytes >= self.bytes_max {
                self.full = true;
            }
        }
        self.full
    }

    /// The header record just ended: map columns to its fields by name (as
    /// JSON keys match columns), then drop it. A header that failed (too
    /// long, unterminated) maps nothing: every column takes its DEFAULT.
    fn take_header(&mut self, fault: Option<Fault>, chunk: &[u8]) {
        let mut map = vec![usize::MAX; self.table.columns.len()];
        if fault.is_none() && !self.rec_too_long {
            for (k, &f) in self.fields[self.rec_first_field..].iter().enumerate() {
                // A name spelled like the null text still names a column.
                let name = match field_cell(f, chunk, &self.data) {
                    Cell::Text(t) => t,
                    Cell::NoText(NoText::NullText) => self.null_text.as_bytes(),
                    Cell::NoText(_) | Cell::Missing => b"",
                };
                let col = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| self.table.column_index(n));
                if let Some(c) = col {
                    map[c] = k;
                }
            }
        }
        self.field_map = Some(map);
        self.data.truncate(self.rec_data_start);
        self.fields.truncate(self.rec_first_field);
    }

    /// The field index of column `c` in each record.
    #[inline]
    fn field_of(map: &Option<Vec<usize>>, c: usize) -> usize {
        map.as_ref().map_or(c, |m| m[c])
    }

    /// Split `chunk` into records; stops after a record that fills the
    /// batch. Returns bytes consumed.
    fn split(&mut self, chunk: &[u8]) -> usize {
        let mut i = 0;
        // Where the index last stopped: that record is the state machine's.
        let mut slow_at = usize::MAX;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                State::Unquoted | State::Quoted => {
                    // Fast path: a run of plain field bytes in one copy.
                    let quoted = self.state == State::Quoted;
                    let run = chunk[i..]
                        .iter()
                        .position(|&c| {
                            if quoted {
                                c == b'"'
                            } else {
                                c == self.delim || c == b'\n' || c == b'\r'
                            }
                        })
                        .unwrap_or(chunk.len() - i);
                    if run > 0 {
                        let bytes = &chunk[i..i + run];
                        if quoted {
                            self.line += bytes.iter().filter(|&&c| c == b'\n').count() as u64;
                        }
                        i += run;
                        self.pos += run as u64;
                        self.push_data(bytes);
                        continue;
                    }
                    i += 1;
                    self.pos += 1;
                    if quoted {
                        self.state = State::QuoteInQuoted;
                    } else if self.delimit(b, chunk) {
                        return i;
                    }
                }
                State::StartRecord | State::AfterCr => {
                    if b == b'\n' || b == b'\r' {
                        // Blank line, or the `\n` of a `\r\n`.
                        if b == b'\n' {
                            self.line += 1;
                        }
                        let after_cr = self.state == State::AfterCr && b == b'\n';
                        self.state = if b == b'\r' && !after_cr {
                            State::AfterCr
                        } else {
                            State::StartRecord
                        };
                        i += 1;
                        self.pos += 1;
                        continue;
                    }
                    // The byte starts a record: the index takes it and
                    // what follows, as far as it can.
                    if i != slow_at {
                        i += self.index_records(chunk, i);
                        if self.full {
                            return i;
                        }
                        slow_at = i;
                        continue;
                    }
                    // Otherwise handle it as a field start, byte by byte.
                    self.start_record();
                }
                State::StartField => {
                    i += 1;
                    self.pos += 1;
                    match b {
                        b'"' => {
                            self.field_quoted = true;
                            self.state = State::Quoted;
                        }
                        c if c == self.delim || c == b'\n' || c == b'\r' => {
                            if self.delimit(b, chunk) {
                                return i;
                            }
                        }
                        _ => {
                            self.state = State::Unquoted;
                            self.push_data(&[b]);
                        }
                    }
                }
                State::QuoteInQuoted => {
                    i += 1;
                    self.pos += 1;
                    match b {
                        b'"' => {
                            self.state = State::Quoted;
                            self.push_data(b"\"");
                        }
                        c if c == self.delim || c == b'\n' || c == b'\r' => {
                            if self.delimit(b, chunk) {
                                return i;
                            }
                        }
                        _ => {
                            // csv-core keeps text after a closing quote.
                            self.state = State::Unquoted;
                            self.push_data(&[b]);
                        }
                    }
                }
            }
        }
        chunk.len()
    }

    /// Split whole records from `chunk[i..]` with the structural index
    /// (state `StartRecord` or `AfterCr`, `chunk[i]` not a line break),
    /// blank lines included, until the chunk ends inside a record, a record
    /// is one the quote model cannot take (`csv_index` says which), or the
    /// batch fills. Fields point into the chunk (see `Field`); a
    /// quoted one is its contents. Returns bytes consumed; the record (or
    /// lone `\r`) it stopped at is the state machine's.
    fn index_records(&mut self, chunk: &[u8], i: usize) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only when the CPU has AVX2, BMI1/2 and
            // PCLMULQDQ (`has_avx2`).
            return unsafe { self.index_records_avx2(chunk, i) };
        }
        // SAFETY: `false` asks for no CPU feature.
        unsafe { self.index_records_with(chunk, i, false) }
    }

    /// `index_records` compiled for AVX2 CPUs: `classify_avx2` inlines into
    /// the block loop (as a call it returned the masks through memory), and
    /// BMI and PCLMULQDQ shorten the bit work (`csv_index::prefix_xor`).
    ///
    /// # Safety
    /// The CPU must have AVX2, BMI1, BMI2 and PCLMULQDQ.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,pclmulqdq")]
    unsafe fn index_records_avx2(&mut self, chunk: &[u8], i: usize) -> usize {
        // SAFETY: the caller guarantees the features.
        unsafe { self.index_records_with(chunk, i, true) }
    }

    /// `index_records`; `avx2` (a constant in each caller): the CPU has
    /// what `index_records_avx2` enables. Only `structure` takes the
    /// constant: given it, `Block::at` (whose `classify` is inlined here
    /// then) made LLVM build the masks bit by bit, ~600 instructions per
    /// block, so it asks `self.avx2`, a branch that always goes one way.
    ///
    /// # Safety
    /// With `avx2`, the CPU must have what `index_records_avx2` enables.
    #[inline(always)]
    unsafe fn index_records_with(&mut self, chunk: &[u8], i: usize, avx2: bool) -> usize {
        if chunk.len() > CHUNK_BYTES_MAX {
            return 0;
        }
        let pos0 = self.pos - i as u64;
        let mut rec = i;
        let mut field = i;
        let (mut in_quotes, mut field_start) = (false, true);
        // The current record's `""` escapes (see `unescape_record`).
        self.escapes.clear();
        self.rec_first_field = self.fields.len();
        // Fields are written into `fields`' spare capacity and counted in
        // its length once per record or block (`commit_fields`), with the
        // count in between in a register. `Vec::push` stored and reloaded
        // the length per field, a store-to-load dependency through memory
        // that perf showed as the loop's hottest instruction; gathering
        // fields in a local array instead and copying them per record
        // stalled the copy's wide loads on the narrow stores just made (5%
        // of the time on 6-column rows).
        let mut n = 0;
        let mut spare = spare_fields(&mut self.fields);
        let mut base = i;
        while base < chunk.len() {
            if n > 0 {
                // A record longer than a block: count its fields so far.
                // SAFETY: the first `n` slots of `spare` were written.
                unsafe { commit_fields(&mut self.fields, n) };
                n = 0;
                spare = spare_fields(&mut self.fields);
            }
            let next_sep = chunk
                .get(base + BLOCK)
                .is_some_and(|&c| c == self.delim || c == b'\n' || c == b'\r');
            let block = Block::at(chunk, base, self.delim, self.avx2);
            // SAFETY: `avx2` includes PCLMULQDQ (the caller's guarantee).
            let s = unsafe { block.structure(in_quotes, field_start, next_sep, avx2) };
            (in_quotes, field_start) = (s.in_quotes, s.ends_field);
            // Field-ending commas, the common case, take the short branch.
            let commas = block.comma & s.sep;
            let mut m = s.sep | s.anomalies | s.escapes;
            while m != 0 {
                let bit = m.trailing_zeros();
                let k = base + bit as usize;
                m &= m - 1;
                if commas >> bit & 1 != 0 {
                    spare[n].write(chunk_field(chunk, field, k));
                    n += 1;
                    field = k + 1;
                    continue;
                }
                if k < rec {
                    // The `\n` of a `\r\n` already taken.
                    continue;
                }
                if s.anomalies >> bit & 1 != 0 {
                    return self.index_stop(rec, i);
                }
                if s.escapes >> bit & 1 != 0 {
                    // Chunk offsets are below `DATA_BASE`, a u32.
                    self.escapes.push(k as u32);
                    continue;
                }
                // A line break: the end of a record, or a blank line.
                let crlf = chunk[k] == b'\r';
                if crlf && chunk.get(k + 1) != Some(&b'\n') {
                    return self.index_stop(rec, i);
                }
                let after = k + 1 + usize::from(crlf);
                if k == rec {
                    self.line += 1;
                } else {
                    // The state machine counts the terminator in the length.
                    if k + 1 - rec > self.record_bytes_max {
                        return self.index_stop(rec, i);
                    }
                    spare[n].write(chunk_field(chunk, field, k));
                    // SAFETY: the first `n + 1` slots of `spare` were written.
                    unsafe { commit_fields(&mut self.fields, n + 1) };
                    n = 0;
                    if self.null_text.is_set() {
                        let fields = &mut self.fields[self.rec_first_field..];
                        mark_nulls(fields, chunk, &self.null_text);
                    }
                    self.rec_offset = pos0 + rec as u64;
                    self.rec_line = self.line;
                    self.rec_data_start = self.data.len();
                    self.rec_too_long = false;
                    if !self.escapes.is_empty() {
                        self.unescape_record(chunk);
                    }
                    // Through the `\r` of a `\r\n` first, as byte by byte:
                    // a batch that fills there leaves the `\n` to `AfterCr`.
                    self.pos = pos0 + (k + 1) as u64;
                    if crlf {
                        self.state = State::AfterCr;
                    } else {
                        self.line += 1;
                        self.state = State::StartRecord;
                    }
                    if self.end_record(None, chunk) {
                        return k + 1 - i;
                    }
                    if self.recs.len() >= CONVERT_GROUP {
                        self.convert(chunk);
                    }
                    if crlf {
                        self.line += 1;
                    }
                    // `fields` changed (committed, maybe converted).
                    spare = spare_fields(&mut self.fields);
                }
                self.pos = pos0 + after as u64;
                self.state = State::StartRecord;
                (rec, field) = (after, after);
                self.escapes.clear();
            }
            base += BLOCK;
        }
        self.index_stop(rec, i)
    }

    /// An indexed record with a `""` escape: each quoted field holding one
    /// moves to `data` with its escapes undone; the record's other fields
    /// stay in the chunk (`Field` addresses both). A copy beats splitting
    /// the record again byte by byte: about a quarter of the harness's rows
    /// quote a quote. The index found each escape (`escapes`, ascending:
    /// the first quote of each pair), so no field is searched for quotes;
    /// searching every quoted field of the record with `memchr` cost 5.7%
    /// of the harness CSV body's instructions.
    fn unescape_record(&mut self, chunk: &[u8]) {
        let mut escapes = self.escapes.iter().map(|&e| e as usize).peekable();
        for (k, f) in self.fields[self.rec_first_field..].iter_mut().enumerate() {
            let Some(&first) = escapes.peek() else {
                break;
            };
            // Escapes lie inside quoted fields, which are chunk text here.
            let (start, end) = (f.start as usize, f.end as usize);
            if first >= end || start >= end {
                continue;
            }
            let at = self.data.len();
            let mut from = start;
            while let Some(q) = escapes.next_if(|&q| q < end) {
                // `q + 1` is the pair's second quote: keep one.
                self.data.extend_from_slice(&chunk[from..=q]);
                from = q + 2;
            }
            self.data.extend_from_slice(&chunk[from..end]);
            *f = Field::in_data(at, self.data.len(), true);
            self.data_cols |= data_col(k);
        }
    }

    /// Field `k` of the record being split lies in `data` (`data_cols`).
    #[inline]
    fn mark_in_data(&mut self, k: usize) {
        self.data_cols |= data_col(k);
    }

    /// `index_records` leaves the record at `rec` to the state machine:
    /// forget its fields; returns bytes consumed.
    fn index_stop(&mut self, rec: usize, i: usize) -> usize {
        self.fields.truncate(self.rec_first_field);
        rec - i
    }

    /// The delimiter, `\n` or `\r` outside quotes ends the field (and the
    /// record).
    /// Returns true when the batch became full.
    fn delimit(&mut self, b: u8, chunk: &[u8]) -> bool {
        self.end_field();
        match b {
            b'\n' => {
                self.line += 1;
                self.state = State::StartRecord;
                self.end_record(None, chunk)
            }
            b'\r' => {
                self.state = State::AfterCr;
                self.end_record(None, chunk)
            }
            // The delimiter.
            _ => {
                self.start_field();
                false
            }
        }
    }

    /// Convert the pending records into the batch, column by column.
    fn convert(&mut self, chunk: &[u8]) {
        let n = self.recs.len();
        if n == 0 {
            return;
        }
        let start = self.batch.rows();
        self.skip.clear();
        self.skip
            .extend(self.recs.iter().map(|r| r.fault.is_some()));
        self.bad_all.clear();
        self.fill_columns(chunk);
        if !self.bad_all.is_empty() {
            // Roll back and redo without the bad rows; parsing is
            // deterministic, so the second pass cannot fail.
            self.batch.truncate(start);
            for &(row, _, _) in &self.bad_all {
                self.skip[row] = true;
            }
            let first = std::mem::take(&mut self.bad_all);
            self.fill_columns(chunk);
            debug_assert!(self.bad_all.is_empty());
            self.bad_all = first;
        }
        self.report(chunk);
        let good = self.skip.iter().filter(|s| !**s).count();
        self.batch.commit(good, 1);
        let good_bytes: usize = (self.recs.iter().zip(&self.skip))
            .filter(|(_, &skip)| !skip)
            .map(|(r, _)| r.bytes)
            .sum();
        self.batch_bytes += good_bytes;
        self.pending_bytes = 0;
        self.recs.clear();
        self.spans.clear();
        self.compact();
    }

    fn fill_columns(&mut self, chunk: &[u8]) {
        let uniform = self.uniform();
        let (spans, fields, data) = (&self.spans, &self.fields, &self.data);
        let n = spans.len();
        for (c, col) in self.batch.cols.iter_mut().enumerate() {
            let k = Self::field_of(&self.field_map, c);
            if let Some(u) = uniform.filter(|u| k < u.width) {
                // Field k of every record, `width` fields apart.
                let recs = fields[u.first..u.first + n * u.width].chunks_exact(u.width);
                let taken = if self.data_cols & data_col(k) == 0 {
                    col.append_texts(n, recs.map(|rec| chunk_text(rec[k], chunk)))
                } else {
                    col.append_texts(n, recs.map(|rec| text_of(rec[k], chunk, data)))
                };
                if taken {
                    continue;
                }
            }
            // An iterator, not indexing: no bounds check on `spans`.
            let cells = || spans.iter().map(|&s| span_cell(s, fields, data, chunk, k));
            col.append_cells(spans.len(), &cells, &self.skip, &mut self.bad);
            self.bad_all
                .extend(self.bad.drain(..).map(|(r, e)| (r, c, e)));
        }
    }

    /// Is the pending group one the column fast path can take: no row to
    /// skip, every record with the same number of fields? Then record r's
    /// fields start at `first + r * width` (records' fields are stored in
    /// order, whichever splitter found them).
    fn uniform(&self) -> Option<Uniform> {
        let s0 = *self.spans.first()?;
        let u = Uniform {
            first: s0.first as usize,
            width: s0.n as usize,
        };
        for (r, s) in self.spans.iter().enumerate() {
            if s.n != s0.n || s.first as usize != u.first + r * u.width {
                return None;
            }
        }
        (u.width > 0 && !self.skip.contains(&true)).then_some(u)
    }

    /// Report faults and field errors in record order, one per record
    /// (its first bad column).
    fn report(&mut self, chunk: &[u8]) {
        if self.bad_all.is_empty() && !self.skip.contains(&true) {
            return;
        }
        self.bad_all.sort_by_key(|&(r, c, _)| (r, c));
        let mut bad = self.bad_all.iter().peekable();
        for (i, rec) in self.recs.iter().enumerate() {
            let mut err = ParseError {
                event_number: rec.event,
                field: None,
                description: String::new(),
                invalid_text: None,
                offset: rec.offset,
                line: Some(rec.line),
            };
            if let Some(fault) = rec.fault {
                err.description = match fault {
                    Fault::TooLong => {
                        format!("record longer than {} bytes", self.record_bytes_max)
                    }
                    Fault::Unterminated => "quoted field not terminated at end of body".into(),
                };
                self.errors.push(err);
                continue;
            }
            if bad.peek().is_some_and(|&&(r, _, _)| r == i) {
                let &(_, c, e) = bad.next().unwrap();
                while bad.peek().is_some_and(|&&(r, _, _)| r == i) {
                    bad.next();
                }
                let column = &self.table.columns[c];
                err.field = Some(column.ident.name.clone());
                err.description = e.describe(&column.sql_type.sql_name());
                let k = Self::field_of(&self.field_map, c);
                if let Cell::Text(t) = cell_of(&self.spans, &self.fields, &self.data, chunk, i, k) {
                    err.invalid_text = Some(invalid_text(t));
                }
                self.errors.push(err);
            }
        }
    }

    /// Drop converted records' bytes, keeping the record being split.
    fn compact(&mut self) {
        let in_record = !matches!(self.state, State::StartRecord | State::AfterCr);
        let (dcut, fcut) = if in_record {
            (self.rec_data_start, self.rec_first_field)
        } else {
            (self.data.len(), self.fields.len())
        };
        self.data.drain(..dcut);
        self.fields.drain(..fcut);
        // Fields left are the record the state machine is splitting: in
        // `data`, never in a chunk.
        self.data_cols = 0;
        for (k, f) in self.fields.iter_mut().enumerate() {
            debug_assert!(f.end >= DATA_BASE);
            self.data_cols |= data_col(k);
            f.start -= dcut as u32;
            f.end -= dcut as u32;
        }
        self.rec_data_start -= dcut;
        self.rec_first_field -= fcut;
        self.field_start = self.field_start.saturating_sub(dcut);
    }
}

/// The `data_cols` bit of field `k` (fields from 63 on share the last).
#[inline]
fn data_col(k: usize) -> u64 {
    1 << k.min(63)
}

/// Room for a block's fields (at most one per byte) past `fields`' length,
/// for `index_records` to write before `commit_fields` counts them.
#[inline]
fn spare_fields(fields: &mut Vec<Field>) -> &mut [MaybeUninit<Field>] {
    fields.reserve(BLOCK);
    fields.spare_capacity_mut()
}

/// Count the next `n` slots past `fields`' length as fields.
///
/// # Safety
/// Those `n` slots of its spare capacity must have been written.
#[inline]
unsafe fn commit_fields(fields: &mut Vec<Field>, n: usize) {
    // SAFETY: `n` slots of spare capacity exist (the slice they were
    // written through had them) and hold values (the caller's promise);
    // `Field` is plain data, so no drop is skipped or doubled.
    unsafe { fields.set_len(fields.len() + n) }
}

/// The field `chunk[start..end]` of an indexed record: a quoted one is
/// `"..."` with no other quote inside (`csv_index` checked).
#[inline]
fn chunk_field(chunk: &[u8], start: usize, end: usize) -> Field {
    let quoted = chunk.get(start) == Some(&b'"') && start < end;
    debug_assert!(!quoted || (end - start >= 2 && chunk[end - 1] == b'"'));
    let q = usize::from(quoted);
    Field::new(start + q, end - q, quoted)
}

/// Turn the unquoted fields of an indexed record that equal the null text
/// into NULL fields. A pass of its own, run only when a null text is set,
/// so the index's per-field loop costs the same without one. A field is
/// quoted exactly when the byte before its contents is a quote: an
/// unquoted field follows a separator or starts the chunk.
fn mark_nulls(fields: &mut [Field], chunk: &[u8], null_text: &NullText) {
    let text = null_text.as_bytes();
    for f in fields {
        // The length first: most fields differ there. (An empty quoted
        // field's `end - start` wraps to a huge length.)
        if f.end.wrapping_sub(f.start) as usize != text.len() {
            continue;
        }
        let start = f.start as usize;
        let quoted = start > 0 && chunk[start - 1] == b'"';
        if !quoted && chunk[start..start + text.len()] == *text {
            *f = Field::null(start);
        }
    }
}

/// The text of field `f`, `None` when it has none (empty, `""`, the null
/// text). The source is picked with a select on the offset, not a branch:
/// which fields were copied out varies record by record.
#[inline]
fn text_of<'a>(f: Field, chunk: &'a [u8], data: &'a [u8]) -> Option<Text<'a>> {
    if f.start >= f.end {
        return None;
    }
    let in_data = f.end >= DATA_BASE;
    let src = if in_data { data } else { chunk };
    let base = f.end & DATA_BASE;
    Some(Text::new(
        src,
        (f.start - base) as usize,
        (f.end - base) as usize,
    ))
}

/// `text_of` for a field known to lie in the chunk.
#[inline]
fn chunk_text(f: Field, chunk: &[u8]) -> Option<Text<'_>> {
    (f.start < f.end).then(|| Text::new(chunk, f.start as usize, f.end as usize))
}

/// Column `c` of pending record `i`.
fn cell_of<'a>(
    spans: &[Span],
    fields: &[Field],
    data: &'a [u8],
    chunk: &'a [u8],
    i: usize,
    c: usize,
) -> Cell<'a> {
    span_cell(spans[i], fields, data, chunk, c)
}

/// Column `c` of the record at `span`.
#[inline]
fn span_cell<'a>(
    span: Span,
    fields: &[Field],
    data: &'a [u8],
    chunk: &'a [u8],
    c: usize,
) -> Cell<'a> {
    if c >= span.n as usize {
        return Cell::Missing;
    }
    field_cell(fields[span.first as usize + c], chunk, data)
}

/// The cell of field `f`.
#[inline]
fn field_cell<'a>(f: Field, chunk: &'a [u8], data: &'a [u8]) -> Cell<'a> {
    match text_of(f, chunk, data) {
        Some(t) => Cell::Text(t.bytes()),
        None => match f.start - f.end {
            0 => Cell::NoText(NoText::Empty),
            1 => Cell::NoText(NoText::EmptyQuoted),
            _ => Cell::NoText(NoText::NullText),
        },
    }
}

impl Decoder for CsvDecoder {
    fn decode(&mut self, chunk: &[u8]) -> usize {
        if self.full {
            return 0;
        }
        let bom = self.take_bom(chunk);
        if self.full {
            return bom;
        }
        let used = bom + self.split(&chunk[bom..]);
        if !self.full {
            self.convert(&chunk[bom..]);
        }
        used
    }

    fn batch_full(&self) -> bool {
        self.full
    }

    fn flush(&mut self) -> Option<ChangeBatch> {
        // Pending records never refer to a chunk here (`decode` converts
        // them before it returns).
        self.convert(&[]);
        self.full = false;
        self.batch_bytes = 0;
        self.batch.finish()
    }

    fn end_body(&mut self) {
        if let Some(k) = self.bom.take() {
            self.replay(k);
        }
        match self.state {
            State::Quoted => {
                self.end_record(Some(Fault::Unterminated), &[]);
            }
            State::StartField | State::Unquoted | State::QuoteInQuoted => {
                self.end_field();
                self.end_record(None, &[]);
            }
            State::StartRecord | State::AfterCr => {}
        }
        self.state = State::StartRecord;
        // Every record of the body is in the batch (or reported) now.
        self.convert(&[]);
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
        self.field_map = None;
        self.state = State::StartRecord;
        self.pos = 0;
        self.line = 1;
        self.bom = Some(0);
        self.rec_offset = 0;
        self.rec_line = 1;
        self.rec_first_field = 0;
        self.rec_data_start = 0;
        self.rec_too_long = false;
        self.field_start = 0;
        self.field_quoted = false;
        self.data.clear();
        self.fields.clear();
        self.data_cols = 0;
        self.recs.clear();
        self.spans.clear();
        self.records = 0;
        self.pending_bytes = 0;
        self.skip.clear();
        self.bad.clear();
        self.bad_all.clear();
        self.errors.clear();
    }
}
