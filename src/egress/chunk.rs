//! Change batches to the lines of an egress stream, Feldera's chunk shape:
//! `{"sequence_number": n, "json_data": [{"insert": {..}}, {"delete": {..}}]}`
//! for JSON, `{"sequence_number": n, "text_data": "a,b,weight\n.."}` for
//! CSV, each line also carrying `processed_steps` (see `hub`).
//!
//! JSON: a row of weight +w is `w` inserts, -w is `w` deletes (past
//! `COPIES_MAX`, one item with a `"weight"` key; lines are bounded by
//! `LINE_BYTES`, a big batch taking several), and a
//! partial update (weight 0 with its column mask) is `{"update": {..}}`
//! with only the columns it gave. CSV: one line per row with its signed
//! weight as a last field, as Feldera writes CSV output; partial updates
//! have no CSV form and are left out (listen with JSON to see them).

use std::io::Write;
use std::sync::Arc;

use arrow_array::Array;

use super::{csv, json};
use crate::decode::ChangeBatch;
use crate::table::Table;

/// A row of weight up to this is written as that many copies, as Feldera
/// does; a heavier one once with a `"weight"` key, so that one weighted row
/// (any i64 is accepted on ingress) cannot become gigabytes of output.
pub const COPIES_MAX: u64 = 100;

/// A line is closed once it holds this many bytes of changes (one change
/// can take it past).
pub const LINE_BYTES: usize = 1 << 20;

/// How far a batch has been written: row, and copy of a weighted row.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cursor {
    pub row: usize,
    pub copy: u64,
}

/// `op":row},` after the opening `{"` (or `{"weight":w,"`).
fn item(out: &mut Vec<u8>, op: &[u8], row: &[u8]) {
    out.extend_from_slice(op);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(row);
    out.extend_from_slice(b"},");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

pub struct ChunkEncoder {
    format: Format,
    table: Arc<Table>,
    /// `"column":` per column, JSON-escaped once.
    keys: Vec<Vec<u8>>,
    /// A JSON row or CSV text, before it is placed in the line.
    scratch: Vec<u8>,
}

impl ChunkEncoder {
    pub fn new(format: Format, table: Arc<Table>) -> ChunkEncoder {
        let keys = table
            .columns
            .iter()
            .map(|c| {
                let mut k = Vec::new();
                json::string(&mut k, c.ident.canonical.as_bytes());
                k.push(b':');
                k
            })
            .collect();
        ChunkEncoder {
            format,
            table,
            keys,
            scratch: Vec::new(),
        }
    }

    /// A line with no data: only how many steps the stream has passed.
    pub fn marker(&self, seq_no: u64, steps: u64, out: &mut Vec<u8>) {
        let _ = writeln!(
            out,
            "{{\"sequence_number\":{seq_no},\"processed_steps\":{steps}}}"
        );
    }

    /// A message line, e.g. why the stream ends or what it skipped.
    pub fn notice(&self, fields: serde_json::Value, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, &fields).expect("JSON values always serialize");
        out.push(b'\n');
    }

    /// The next line of batch `b` (which ends step `steps`), from `cur`
    /// on: changes until the line passes `LINE_BYTES`, at least one.
    /// Returns true when the batch is done; only its last line carries
    /// `processed_steps`, so a reader never counts a step before it has
    /// all of it. Lines are bounded so that a batch of heavily weighted
    /// rows never becomes one huge buffer.
    pub fn batch_part(
        &mut self,
        seq_no: u64,
        steps: u64,
        b: &ChangeBatch,
        cur: &mut Cursor,
        position: Option<super::LogPosition>,
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = write!(out, "{{\"sequence_number\":{seq_no},");
        let done = match self.format {
            Format::Json => {
                out.extend_from_slice(b"\"json_data\":[");
                let start = out.len();
                let done = self.json_rows(b, cur, out);
                if out.len() > start {
                    out.pop(); // the last item's comma
                }
                out.push(b']');
                done
            }
            Format::Csv => {
                self.scratch.clear();
                let mut text = std::mem::take(&mut self.scratch);
                let mut field = Vec::new();
                while cur.row < b.num_rows() && text.len() < LINE_BYTES {
                    csv::row(&self.table, b, cur.row, &mut text, &mut field);
                    cur.row += 1;
                }
                out.extend_from_slice(b"\"text_data\":");
                json::string(out, &text);
                self.scratch = text;
                cur.row >= b.num_rows()
            }
        };
        if done {
            if let Some((segment, offset)) = position {
                let _ = write!(out, ",\"position\":\"{segment}:{offset}\"");
            }
            let _ = writeln!(out, ",\"processed_steps\":{steps}}}");
        } else {
            out.extend_from_slice(b"}\n");
        }
        done
    }

    /// Changes of `b` from `cur` as `{"op":{..}},` (a comma after each),
    /// until `out` passes `LINE_BYTES`; true when the batch is done.
    fn json_rows(&mut self, b: &ChangeBatch, cur: &mut Cursor, out: &mut Vec<u8>) -> bool {
        let line_start = out.len();
        while cur.row < b.num_rows() {
            if out.len() - line_start >= LINE_BYTES {
                return false;
            }
            let i = cur.row;
            let weight = b.weights.as_ref().map_or(1, |w| w.value(i));
            let mask = b
                .updates
                .as_ref()
                .filter(|u| u.is_valid(i))
                .map(|u| u.value(i));
            let op: &[u8] = match (weight, mask) {
                (0, Some(_)) => b"update",
                (w, _) if w > 0 => b"insert",
                (w, _) if w < 0 => b"delete",
                _ => {
                    cur.row += 1;
                    continue;
                }
            };
            self.scratch.clear();
            let mut row = std::mem::take(&mut self.scratch);
            self.json_row(b, i, mask, &mut row);
            let copies = weight.unsigned_abs().max(1);
            if copies > COPIES_MAX {
                let _ = write!(out, "{{\"weight\":{weight},\"");
                item(out, op, &row);
                cur.row += 1;
            } else {
                // Copies of one row may span lines.
                while cur.copy < copies && out.len() - line_start < LINE_BYTES {
                    out.push(b'{');
                    out.push(b'"');
                    item(out, op, &row);
                    cur.copy += 1;
                }
                if cur.copy == copies {
                    (cur.row, cur.copy) = (cur.row + 1, 0);
                }
            }
            self.scratch = row;
        }
        true
    }

    /// Row `i` as an object; with a mask, only the columns it sets.
    fn json_row(&self, b: &ChangeBatch, i: usize, mask: Option<&[u8]>, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (c, col) in self.table.columns.iter().enumerate() {
            if let Some(m) = mask {
                if m.get(c / 8).is_none_or(|byte| byte & (1 << (c % 8)) == 0) {
                    continue;
                }
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&self.keys[c]);
            json::value(out, &col.sql_type, b.data.column(c).as_ref(), i);
        }
        out.push(b'}');
    }
}
