//! Body decoders: bytes of a request body in, Arrow batches of changes out.
//!
//! CONTRACT (the connection loop relies on exactly this; keep it):
//! - Push-based, no I/O, no runtime imports. `decode(chunk)` may be called
//!   with any split of the body (one byte at a time included) and must give
//!   identical batches and errors for every split (split invariance).
//! - `decode` returns how many bytes of `chunk` it consumed. It consumes
//!   everything unless the current batch became full (`batch_rows` rows or
//!   `batch_bytes` input bytes); then it stops, the caller takes the batch
//!   with `flush()` and calls `decode` again with the rest. A partial record
//!   at the end of a chunk is kept inside the decoder (bounded by
//!   `record_bytes_max`; longer is a per-record error and the rest of that
//!   record is skipped).
//! - `finish()` is called once at end of body; it ends a last record that has
//!   no trailing newline and returns the last batch. (`end_body()` then
//!   `next_body()` instead lets the next body's rows join that batch.)
//! - A record that fails to parse is not added to the batch; it is counted
//!   and (up to `ERRORS_LISTED_MAX`) described in `errors()`. Later records
//!   keep decoding (a malformed JSON stream that cannot be resynchronised
//!   stops decoding: `errors().fatal` is set, and the rest is ignored).
//! - Memory is bounded: a batch holds at most `batch_rows` rows and about
//!   `batch_bytes` input bytes; builders are reused across batches.
//!
//! Layout: `fields.rs` parses one field of one SQL type (shared by both
//! formats, policies listed there); `columns.rs` holds a column's values
//! with rollback; `batch.rs` seals columns and weights into a
//! `ChangeBatch`; `csv.rs` and `json.rs` split bodies into records and
//! document their format's policies. `batch_bytes` is capped at 512 MiB and
//! `record_bytes_max` at 512 MiB so string offsets fit Arrow's i32.

mod batch;
mod binary;
mod columns;
mod csv;
mod csv_index;
#[cfg(target_arch = "x86_64")]
mod digits;
mod error;
pub mod fields;
mod json;
mod json_split;
mod nested;
mod null_text;
mod variant;

pub use error::{invalid_text, ParseError, ParseErrors, ERRORS_LISTED_MAX, INVALID_TEXT_BYTES_MAX};
pub use null_text::{NullText, NullTextError, CSV_NULL_TEXT_BYTES_MAX};

use std::sync::Arc;

use arrow_array::{FixedSizeBinaryArray, Int64Array, RecordBatch};

use crate::table::Table;

/// Body format (`?format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// JSON change-event format (`?update_format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateFormat {
    /// `{"insert": {..}}` / `{"delete": {..}}`.
    InsertDelete,
    /// A bare row, inserted.
    Raw,
    /// `{"weight": n, "data": row}`: any signed 64-bit weight.
    Weighted,
    /// `{"payload": {"op": "c|r|u|d", "before": row, "after": row}}`.
    Debezium,
}

/// JSON conventions of the producer (`?json_flavor=`): which integers
/// DATE, TIME and TIMESTAMP columns take besides their text forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonFlavor {
    /// Text forms only.
    #[default]
    Default,
    /// What pandas' `to_json(date_format="epoch")` writes (the Python
    /// client's `input_pandas`): DATE and TIMESTAMP as milliseconds since
    /// the epoch.
    Pandas,
    /// Debezium's MySQL connector: DATE as days since the epoch, TIMESTAMP
    /// as milliseconds, TIME as microseconds since midnight.
    DebeziumMysql,
    /// Debezium's PostgreSQL connector: DATE as days, TIMESTAMP and TIME as
    /// microseconds.
    DebeziumPostgres,
}

/// Options of one request's decoder.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub format: Format,
    pub update_format: UpdateFormat,
    /// JSON: every top-level value is an array of events.
    pub array: bool,
    /// A batch is sealed at this many rows...
    pub batch_rows: usize,
    /// ...or once its records span this many input bytes.
    pub batch_bytes: usize,
    /// Longest single record (CSV line or JSON value), in bytes.
    pub record_bytes_max: usize,
    /// Deepest JSON nesting accepted, counted in open brackets: a bare
    /// row object is depth 1, `{"insert": {..}}` depth 2. Deeper values are
    /// a per-record error found by the splitter before any parsing.
    pub json_depth_max: usize,
    /// JSON: integer forms of dates and times (`JsonFlavor`).
    pub json_flavor: JsonFlavor,
    /// CSV: header row, delimiter and null text.
    pub csv: CsvOptions,
}

/// CSV extensions beyond Feldera (`?header=true&delimiter=;&null=NULL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CsvOptions {
    /// The first record names the columns: fields go to the columns their
    /// header names (as JSON keys match columns); columns it does not name
    /// take their DEFAULT, else NULL; names it has that match no column are
    /// ignored. The header is not an event (event numbers count data rows).
    pub header: bool,
    /// Field delimiter: one ASCII byte other than `"`, `\r`, `\n`.
    pub delimiter: u8,
    /// An unquoted field equal to this text is SQL NULL (an error in a NOT
    /// NULL column, whatever its type); a quoted one stays text. Unset by
    /// default: then only empty unquoted fields are NULL.
    pub null_text: NullText,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: false,
            delimiter: b',',
            null_text: NullText::default(),
        }
    }
}

/// A batch of changes to one table: rows plus, per row, a weight (+n
/// inserts n copies, -n deletes n). `weights` is `None` when every row is
/// +1, the common case, so inserts cost nothing extra.
///
/// Partial updates (`{"update": row}`, by PRIMARY KEY) are rows of weight
/// 0 whose entry in `updates` is non-null: bit `c % 8` of byte `c / 8` says
/// column `c` was given (the key columns always are); columns not given hold
/// a placeholder (NULL, or a zero value in a NOT NULL column). A consumer
/// that ignores `updates` thus sees weight 0 rows: no change, never a
/// wrong one. `updates` is `None` when the batch has no partial update.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    pub data: RecordBatch,
    pub weights: Option<Int64Array>,
    pub updates: Option<FixedSizeBinaryArray>,
}

impl ChangeBatch {
    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }
}

/// A decoder of one request body. See the module contract.
pub trait Decoder {
    /// Decode from `chunk`; returns bytes consumed (all of it unless the
    /// batch became full).
    fn decode(&mut self, chunk: &[u8]) -> usize;
    /// Is the current batch full (so `decode` will consume nothing)?
    fn batch_full(&self) -> bool;
    /// Take the rows decoded so far as a batch (`None` if there are none).
    fn flush(&mut self) -> Option<ChangeBatch>;
    /// End of body: end the last record (counting and reporting it); its
    /// rows join the current batch, which may then be full.
    fn end_body(&mut self);
    /// End of body: end the last record; return the last rows.
    fn finish(&mut self) -> Option<ChangeBatch> {
        self.end_body();
        self.flush()
    }
    /// Rows in the current batch.
    fn batch_rows(&self) -> usize;
    /// Records seen so far (good and bad), i.e. the last `event_number`.
    fn records(&self) -> u64;
    /// Errors so far.
    fn errors(&self) -> &ParseErrors;
    /// Start a new body: back to the state right after construction
    /// (positions, line, BOM, record count and errors cleared, a partial
    /// record and the current batch dropped) while keeping every allocated
    /// buffer, so one decoder per (table, options) can serve many requests
    /// without allocating.
    fn reset(&mut self);
    /// Start a new body after `end_body`, as `reset` does, but keep the
    /// current batch: the rows of several small bodies then share one batch
    /// (`shard::coalesce`). Errors and record numbers are the new body's.
    fn next_body(&mut self);
}

/// Build a decoder for `table`. Cheap (buffers grow on first use); a
/// decoder may be kept and `reset` for each request with the same table
/// and options, reusing its buffers across batches and requests.
pub fn new_decoder(table: Arc<Table>, opts: DecodeOptions) -> Box<dyn Decoder> {
    match opts.format {
        Format::Csv => Box::new(csv::CsvDecoder::new(table, opts)),
        Format::Json => Box::new(json::JsonDecoder::new(table, opts)),
    }
}
