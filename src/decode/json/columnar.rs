//! A parsed group, column by column: when every row of a group is an
//! object with the cached key order (`in_order`), the rows' value positions
//! are collected first and each column is then filled by one loop over the
//! rows (`ColumnBuf::push_json_rows`), so the type dispatch happens once
//! per column per group instead of once per value.
//!
//! Only the happy path is done here: rows or `{"insert": row}` events (not
//! array mode), all in key order, no value failing. Anything else leaves
//! the batch as it was and the group is walked row by row (`walk_group`),
//! which reports errors exactly as before. `gather` ends a group at the row
//! that fills the batch, so a group that succeeds fills it, if at all, with
//! its last row, as the row-by-row path would.

use simd_json::Node;

use super::{count, number_text, same_key, JsonDecoder, UpdateFormat};

impl JsonDecoder {
    /// Write the group's rows column by column and account for them;
    /// false (with nothing written) when the group must go row by row.
    pub(super) fn columnar(
        &mut self,
        nodes: &[Node<'_>],
        chunk: &[u8],
        i: usize,
        base: usize,
    ) -> bool {
        if self.array || !self.in_order {
            return false;
        }
        if !self.collect_slots(nodes) {
            return false;
        }
        let ncols = self.batch.cols.len();
        let rows = self.lines.len();
        for c in 0..ncols {
            let (lines, elems, at) = (&self.lines, &self.elems, &self.row_slots);
            let raw_number = |row: usize, j: usize| {
                let (line, s) = (lines[row], elems[row]);
                let raw = &chunk[line.start..line.start + line.len];
                number_text(&nodes[s..], j - s, raw, base + line.at)
            };
            let at = (0..rows).map(|row| (row, at[row * ncols + c]));
            if self.batch.cols[c]
                .push_json_rows(nodes, at, raw_number)
                .is_err()
            {
                self.batch.rollback();
                return false;
            }
        }
        let mut prev_end = i;
        for line in &self.lines {
            self.sp.pos += (line.start - prev_end) as u64;
            self.sp.value_offset = self.sp.pos;
            self.sp.pos += line.len as u64;
            self.batch_bytes += line.len;
            prev_end = line.start + line.len;
        }
        self.records += rows as u64;
        self.batch.commit(rows, 1);
        self.check_full();
        true
    }

    /// For each row, the tape index of each column's value (`row_slots`,
    /// row-major) and of the row itself (`elems`); false when a row's keys
    /// differ from the cached order.
    fn collect_slots(&mut self, nodes: &[Node<'_>]) -> bool {
        let ncols = self.batch.cols.len();
        self.elems.clear();
        self.row_slots.clear();
        self.row_slots.resize(self.lines.len() * ncols, 0);
        let mut idx = 1;
        for row in 0..self.lines.len() {
            let Some(at) = self.row_at(nodes, idx) else {
                return false;
            };
            let Node::Object { len, .. } = nodes[at] else {
                return false;
            };
            if len != self.key_cache.len() {
                return false;
            }
            let slots = &mut self.row_slots[row * ncols..(row + 1) * ncols];
            let mut j = at + 1;
            for (cached, col) in &self.key_cache {
                let Node::String(key) = nodes[j] else {
                    unreachable!("object keys are strings on the tape")
                };
                if !same_key(cached.as_bytes(), key.as_bytes()) {
                    return false;
                }
                if let Some(c) = *col {
                    slots[c] = j + 1;
                }
                j += 1 + count(&nodes[j + 1]);
            }
            self.elems.push(idx);
            idx += count(&nodes[idx]);
        }
        true
    }

    /// The tape index of the row in the event at `nodes[idx]`: the event
    /// itself (raw), or the row of `{"insert": row}` (insert_delete; any
    /// other event has a weight or an error, so goes row by row).
    fn row_at(&self, nodes: &[Node<'_>], idx: usize) -> Option<usize> {
        match self.update_format {
            UpdateFormat::Raw => Some(idx),
            UpdateFormat::InsertDelete => match (nodes[idx], nodes.get(idx + 1)) {
                (Node::Object { len: 1, .. }, Some(Node::String("insert"))) => Some(idx + 2),
                _ => None,
            },
            UpdateFormat::Weighted | UpdateFormat::Debezium => None,
        }
    }
}
