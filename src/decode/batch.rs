//! The batch being built: one `ColumnBuf` per column plus row weights.

use arrow_array::{FixedSizeBinaryArray, Int64Array, RecordBatch, RecordBatchOptions};
use arrow_buffer::NullBuffer;
use arrow_schema::SchemaRef;

use super::columns::ColumnBuf;
use super::ChangeBatch;
use crate::table::Table;

/// Most bytes a batch's records may span, whatever the options say, so a
/// string column's data fits Arrow's i32 offsets (2 GiB) with room for the
/// one record that crosses the limit.
pub(crate) const BATCH_BYTES_CAP: usize = 1 << 29;
/// Longest record accepted, whatever the options say (same reason).
pub(crate) const RECORD_BYTES_CAP: usize = 1 << 29;
const _: () = assert!(BATCH_BYTES_CAP + RECORD_BYTES_CAP < i32::MAX as usize);

pub(crate) struct Batch {
    schema: SchemaRef,
    pub(crate) cols: Vec<ColumnBuf>,
    /// Committed rows (columns may briefly hold more while a record is
    /// being written; `truncate` takes them back).
    rows: usize,
    /// Weights, materialised only once a row with weight != 1 appears, so
    /// that plain inserts cost nothing.
    weights: Vec<i64>,
    weighted: bool,
    /// Partial updates, materialised at the first one (see `ChangeBatch`).
    updates: Option<Updates>,
}

/// Per row: which columns a partial update gave (`width` bytes of bits)
/// and whether the row is a partial update at all.
struct Updates {
    width: usize,
    bits: Vec<u8>,
    is_update: Vec<bool>,
    /// Set by `mark_update`: the next committed row is an update whose
    /// bits start here.
    next: Option<usize>,
}

impl Updates {
    fn truncate(&mut self, rows: usize) {
        self.bits.truncate(rows * self.width);
        self.is_update.truncate(rows);
        self.next = None;
    }

    /// Pad to `rows` rows that are not updates.
    fn pad(&mut self, rows: usize) {
        self.bits.resize(rows * self.width, 0);
        self.is_update.resize(rows, false);
    }

    /// Account for `n` newly committed rows, now `rows` in all.
    fn commit(&mut self, n: usize, rows: usize) {
        match self.next.take() {
            Some(at) if n == 1 && at == (rows - 1) * self.width => self.is_update.push(true),
            Some(at) => {
                debug_assert!(false, "an update marks exactly the next row");
                self.bits.truncate(at);
            }
            None => {}
        }
        self.pad(rows);
    }

    fn finish(self) -> FixedSizeBinaryArray {
        let nulls = NullBuffer::from(self.is_update);
        FixedSizeBinaryArray::new(self.width as i32, self.bits.into(), Some(nulls))
    }
}

impl Batch {
    pub(crate) fn new(table: &Table, rows_max: usize) -> Batch {
        let cap = rows_max.min(1 << 16);
        Batch {
            schema: table.schema.clone(),
            cols: table
                .columns
                .iter()
                .map(|c| ColumnBuf::new(c, cap))
                .collect(),
            rows: 0,
            weights: Vec::new(),
            weighted: false,
            updates: None,
        }
    }

    /// A JSON decoder's batch: columns take the integer dates and times of
    /// flavor `f`.
    pub(crate) fn with_flavor(table: &Table, rows_max: usize, f: super::JsonFlavor) -> Batch {
        let mut b = Batch::new(table, rows_max);
        b.cols.iter_mut().for_each(|c| c.set_flavor(f));
        b
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Drop uncommitted values: every column back to `rows`.
    pub(crate) fn rollback(&mut self) {
        self.truncate(self.rows);
    }

    /// Drop rows from `rows` on, committed or not.
    pub(crate) fn truncate(&mut self, rows: usize) {
        for c in &mut self.cols {
            c.truncate(rows);
        }
        if self.weighted {
            self.weights.truncate(rows);
        }
        if let Some(u) = &mut self.updates {
            u.truncate(rows);
        }
        self.rows = rows;
    }

    /// Drop every row, keeping the buffers (a new body).
    pub(crate) fn reset(&mut self) {
        self.truncate(0);
        self.weights.clear();
        self.weighted = false;
        self.updates = None;
    }

    /// Commit the row(s) the columns now hold beyond `rows`, with weight `w`.
    pub(crate) fn commit(&mut self, n: usize, w: i64) {
        if w != 1 && !self.weighted {
            self.weights.clear();
            self.weights.resize(self.rows, 1);
            self.weighted = true;
        }
        self.rows += n;
        if self.weighted {
            self.weights.resize(self.rows, w);
        }
        if let Some(u) = &mut self.updates {
            u.commit(n, self.rows);
        }
        debug_assert!(self.cols.iter().all(|c| c.len() == self.rows));
    }

    /// The next row committed is a partial update giving the columns
    /// whose bits are set in `given` (bit `c % 8` of byte `c / 8`).
    pub(crate) fn mark_update(&mut self, given: &[u8]) {
        let u = self.updates.get_or_insert_with(|| Updates {
            width: given.len(),
            bits: Vec::new(),
            is_update: Vec::new(),
            next: None,
        });
        u.pad(self.rows);
        u.next = Some(u.bits.len());
        u.bits.extend_from_slice(given);
    }

    /// Seal the batch (`None` when empty); buffers start again empty.
    pub(crate) fn finish(&mut self) -> Option<ChangeBatch> {
        if self.rows == 0 {
            return None;
        }
        let arrays = self.cols.iter_mut().map(|c| c.finish()).collect();
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows));
        let data = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &opts)
            .expect("columns are built from the schema's own types and nullability");
        let weights = self
            .weighted
            .then(|| Int64Array::from(std::mem::take(&mut self.weights)));
        self.weighted = false;
        self.rows = 0;
        let updates = self.updates.take().map(Updates::finish);
        Some(ChangeBatch {
            data,
            weights,
            updates,
        })
    }
}
