//! JSON change events (`update_format`) into rows and weights.
//!
//! Policies:
//! - `raw`: the value is a row, inserted.
//! - `insert_delete`: an object with `insert`, `delete` and/or `update`
//!   keys. With several, they apply in the order delete, insert, update
//!   (so `{"delete": old, "insert": new}` replaces a row). `update` is a
//!   partial update by PRIMARY KEY: it must give every key column; the
//!   other columns it gives change, the rest keep their value (the batch
//!   marks which, see `ChangeBatch`). A table without a PRIMARY KEY
//!   refuses `update` records.
//! - `weighted`: `{"weight": n, "data": row}`, n any signed 64-bit integer
//!   (0 is a no-op row). Feldera panics on this format; we do not.
//! - `debezium`: `{"payload": {"op", "before", "after"}}` (the `payload`
//!   envelope may be left out, as Kafka Connect does without schemas).
//!   `c` and `r` insert `after`, `d` deletes `before`, `u` deletes `before`
//!   and inserts `after` (both needed: configure the source table with
//!   REPLICA IDENTITY FULL or equivalent). `json_flavor=debezium_mysql|
//!   debezium_postgres` read integer dates and times as those connectors
//!   write them (`JsonFlavor`).
//!
//! Each event is all or nothing: if any of its rows fails, none is kept.

use simd_json::{Node, StaticNode};

use super::{count, EventError, JsonDecoder, NO_SLOT};
use crate::decode::fields::FieldError;
use crate::decode::UpdateFormat;

const INSERT_DELETE: &str = "expected {\"insert\": row}, {\"delete\": row} or {\"update\": row}";
const WEIGHTED: &str = "expected {\"weight\": integer, \"data\": row}";
const DEBEZIUM: &str =
    "expected {\"payload\": {\"op\": \"c|r|u|d\", \"before\": row, \"after\": row}}";

impl JsonDecoder {
    /// One event at `nodes[idx]`: write its rows. All but the last are
    /// committed here; the last is left for the caller to commit with the
    /// returned weight (after `Batch::mark_update` for a partial update).
    pub(super) fn event(
        &mut self,
        nodes: &[Node<'_>],
        idx: usize,
        raw: &[u8],
    ) -> Result<i64, EventError> {
        let start = self.batch.rows();
        let r = match self.update_format {
            UpdateFormat::Raw => self.row(nodes, idx, raw).map(|()| 1),
            UpdateFormat::InsertDelete => self.insert_delete(nodes, idx, raw),
            UpdateFormat::Weighted => self.weighted(nodes, idx, raw),
            UpdateFormat::Debezium => self.debezium(nodes, idx, raw),
        };
        if r.is_err() {
            // Rows this event committed go too; the caller drops the rest.
            self.batch.truncate(start);
        }
        r
    }

    fn insert_delete(
        &mut self,
        nodes: &[Node<'_>],
        idx: usize,
        raw: &[u8],
    ) -> Result<i64, EventError> {
        let shape = || EventError::Message(INSERT_DELETE);
        let Node::Object { .. } = nodes[idx] else {
            return Err(shape());
        };
        let ops = [
            ("delete", field_of(nodes, idx, "delete")),
            ("insert", field_of(nodes, idx, "insert")),
            ("update", field_of(nodes, idx, "update")),
        ];
        if has_other_keys(nodes, idx, &["delete", "insert", "update"]) {
            return Err(shape());
        }
        let mut weight = None;
        for (op, at) in ops {
            let Some(k) = at else { continue };
            if let Some(w) = weight {
                self.batch.commit(1, w);
            }
            weight = Some(match op {
                "delete" => self.row(nodes, k, raw).map(|()| -1)?,
                "insert" => self.row(nodes, k, raw).map(|()| 1)?,
                _ => self.update(nodes, k, raw).map(|()| 0)?,
            });
        }
        weight.ok_or_else(shape)
    }

    /// `{"update": row}`: write the key columns and the given ones, a
    /// placeholder elsewhere, and mark the row as a partial update.
    fn update(&mut self, nodes: &[Node<'_>], idx: usize, raw: &[u8]) -> Result<(), EventError> {
        if self.table.primary_key.is_empty() {
            return Err(EventError::Message(
                "'update' needs a PRIMARY KEY on the table",
            ));
        }
        let Node::Object { len, .. } = nodes[idx] else {
            return Err(EventError::Message("expected an object to update a row"));
        };
        self.slots.fill(NO_SLOT);
        self.place_keys(nodes, idx, len);
        let mut given = [0u8; crate::table::COLUMNS_MAX.div_ceil(8)];
        let width = self.slots.len().div_ceil(8);
        let base = self.tape_base;
        for (c, col) in self.batch.cols.iter_mut().enumerate() {
            let j = self.slots[c];
            let field = |err| EventError::Field {
                col: c,
                err,
                node: j,
            };
            if j != NO_SLOT {
                col.push_json_at(nodes, j, &|k| super::value_text(nodes, k, raw, base))
                    .map_err(field)?;
                given[c / 8] |= 1 << (c % 8);
            } else if self.table.primary_key.contains(&c) {
                return Err(field(FieldError::KeyMissing));
            } else {
                col.push_placeholder();
            }
        }
        self.batch.mark_update(&given[..width]);
        Ok(())
    }

    fn weighted(&mut self, nodes: &[Node<'_>], idx: usize, raw: &[u8]) -> Result<i64, EventError> {
        let shape = || EventError::Message(WEIGHTED);
        let Node::Object { .. } = nodes[idx] else {
            return Err(shape());
        };
        let (Some(w), Some(data)) = (field_of(nodes, idx, "weight"), field_of(nodes, idx, "data"))
        else {
            return Err(shape());
        };
        let weight = match nodes[w] {
            Node::Static(StaticNode::I64(x)) => x,
            Node::Static(StaticNode::U64(x)) => i64::try_from(x)
                .map_err(|_| EventError::Message("weight outside the signed 64-bit range"))?,
            _ => return Err(shape()),
        };
        self.row(nodes, data, raw)?;
        Ok(weight)
    }

    fn debezium(&mut self, nodes: &[Node<'_>], idx: usize, raw: &[u8]) -> Result<i64, EventError> {
        let shape = || EventError::Message(DEBEZIUM);
        let Node::Object { .. } = nodes[idx] else {
            return Err(shape());
        };
        let p = field_of(nodes, idx, "payload").unwrap_or(idx);
        let Node::Object { .. } = nodes[p] else {
            return Err(shape());
        };
        let row_at = |name| field_of(nodes, p, name).filter(|&k| !is_null(&nodes[k]));
        let (before, after) = (row_at("before"), row_at("after"));
        let need = |at: Option<usize>, what| at.ok_or(EventError::Message(what));
        match field_of(nodes, p, "op").map(|k| &nodes[k]) {
            Some(Node::String("c" | "r")) => {
                let a = need(after, "debezium op 'c'/'r' needs 'after'")?;
                self.row(nodes, a, raw).map(|()| 1)
            }
            Some(Node::String("d")) => {
                let b = need(before, "debezium op 'd' needs 'before'")?;
                self.row(nodes, b, raw).map(|()| -1)
            }
            Some(Node::String("u")) => {
                let b = need(
                    before,
                    "debezium op 'u' needs 'before' (REPLICA IDENTITY FULL)",
                )?;
                let a = need(after, "debezium op 'u' needs 'after'")?;
                self.row(nodes, b, raw)?;
                self.batch.commit(1, -1);
                self.row(nodes, a, raw).map(|()| 1)
            }
            _ => Err(shape()),
        }
    }
}

/// Tape index of the value of key `name` in the object at `nodes[obj]`
/// (the last one when repeated).
fn field_of(nodes: &[Node<'_>], obj: usize, name: &str) -> Option<usize> {
    let Node::Object { len, .. } = nodes[obj] else {
        return None;
    };
    let mut j = obj + 1;
    let mut found = None;
    for _ in 0..len {
        if nodes[j] == Node::String(name) {
            found = Some(j + 1);
        }
        j += 1 + count(&nodes[j + 1]);
    }
    found
}

/// Does the object at `nodes[obj]` have a key outside `known`?
fn has_other_keys(nodes: &[Node<'_>], obj: usize, known: &[&str]) -> bool {
    let Node::Object { len, .. } = nodes[obj] else {
        return false;
    };
    let mut j = obj + 1;
    for _ in 0..len {
        if let Node::String(key) = nodes[j] {
            if !known.contains(&key) {
                return true;
            }
        }
        j += 1 + count(&nodes[j + 1]);
    }
    false
}

fn is_null(node: &Node<'_>) -> bool {
    matches!(node, Node::Static(StaticNode::Null))
}
