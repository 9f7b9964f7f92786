//! ARRAY, MAP and ROW columns: offsets or fields over child `ColumnBuf`s,
//! filled from a simd-json tape (JSON bodies, or the JSON text of a CSV
//! field), turned into Arrow List, Map and Struct arrays.
//!
//! Policies: an ARRAY is a JSON array; a MAP a JSON object whose keys are
//! parsed as the key type (`{"1": "a"}` into `MAP<INT, VARCHAR>`), a
//! repeated key kept as given (Arrow maps are entry lists); a ROW a JSON
//! object (keys match field names like columns: unquoted ones
//! case-insensitively, unknown keys ignored, missing fields NULL) or a
//! positional array. Elements, values and fields are nullable. A CSV field
//! of a nested column holds the value's JSON text. An error anywhere
//! inside rejects the whole record, reported at the column.
//!
//! A failed record leaves partial child values behind; the decoders always
//! truncate the column to its previous length afterwards (CSV before the
//! next record, JSON for the whole row), and `truncate` cuts the children
//! at the parent's offsets, so nothing partial survives.

use std::sync::Arc;

use arrow_array::{ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use simd_json::{fill_tape_padded, Buffers, Node, Tape, INPUT_PADDING};

use super::columns::ColumnBuf;
use super::fields::{FieldError, FieldResult};
use super::variant;
use crate::table::{unquote, RowField, SqlType};

/// Source text of a tape node, by index (numbers for DECIMAL, values for
/// VARIANT).
pub(crate) type TextOf<'t, 'r> = &'t dyn Fn(usize) -> Option<&'r [u8]>;

/// Nesting depth of JSON text in a CSV field (or a DEFAULT).
const CSV_DEPTH_MAX: usize = 64;

pub(crate) enum Nested {
    List {
        offsets: Vec<i32>,
        item: ColumnBuf,
    },
    Map {
        offsets: Vec<i32>,
        keys: ColumnBuf,
        values: ColumnBuf,
    },
    Row {
        fields: Arc<[RowField]>,
        cols: Vec<ColumnBuf>,
    },
}

impl Nested {
    pub(crate) fn new(t: &SqlType) -> Nested {
        match t {
            SqlType::Array(item) => Nested::List {
                offsets: vec![0],
                item: ColumnBuf::child(item, true),
            },
            SqlType::Map(k, v) => Nested::Map {
                offsets: vec![0],
                keys: ColumnBuf::child(k, false),
                values: ColumnBuf::child(v, true),
            },
            SqlType::Row(fields) => Nested::Row {
                cols: fields
                    .iter()
                    .map(|f| ColumnBuf::child(&f.sql_type, true))
                    .collect(),
                fields: fields.clone(),
            },
            other => unreachable!("{} is not nested", other.sql_name()),
        }
    }

    /// Keep the first `len` values.
    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            Nested::List { offsets, item } => {
                offsets.truncate(len + 1);
                item.truncate(offsets[len] as usize);
            }
            Nested::Map {
                offsets,
                keys,
                values,
            } => {
                offsets.truncate(len + 1);
                keys.truncate(offsets[len] as usize);
                values.truncate(offsets[len] as usize);
            }
            Nested::Row { cols, .. } => cols.iter_mut().for_each(|c| c.truncate(len)),
        }
    }

    /// The placeholder under a NULL: an empty list or map, NULL fields.
    pub(crate) fn push_null(&mut self) {
        match self {
            Nested::List { offsets, .. } | Nested::Map { offsets, .. } => {
                offsets.push(offsets[offsets.len() - 1])
            }
            Nested::Row { cols, .. } => {
                for c in cols {
                    c.push_null().expect("ROW fields are nullable");
                }
            }
        }
    }

    /// Append the (non-null) value at `nodes[j]`.
    pub(crate) fn push_json(
        &mut self,
        nodes: &[Node<'_>],
        j: usize,
        text: TextOf<'_, '_>,
    ) -> FieldResult<()> {
        match (self, &nodes[j]) {
            (Nested::List { offsets, item }, Node::Array { len, .. }) => {
                let mut k = j + 1;
                for _ in 0..*len {
                    item.push_json_at(nodes, k, text)?;
                    k += count(&nodes[k]);
                }
                offsets.push(offset(item.len())?);
            }
            (
                Nested::Map {
                    offsets,
                    keys,
                    values,
                },
                Node::Object { len, .. },
            ) => {
                let mut k = j + 1;
                for _ in 0..*len {
                    let Node::String(key) = nodes[k] else {
                        unreachable!("object keys are strings on the tape")
                    };
                    keys.push_text(key.as_bytes())?;
                    values.push_json_at(nodes, k + 1, text)?;
                    k += 1 + count(&nodes[k + 1]);
                }
                offsets.push(offset(keys.len())?);
            }
            (Nested::Row { fields, cols }, Node::Object { len, .. }) => {
                for (f, col) in fields.iter().zip(cols.iter_mut()) {
                    match field_node(nodes, j, *len, f) {
                        Some(k) => col.push_json_at(nodes, k, text)?,
                        None => col.push_null()?,
                    }
                }
            }
            (Nested::Row { cols, .. }, Node::Array { len, .. }) => {
                let mut k = j + 1;
                for (i, col) in cols.iter_mut().enumerate() {
                    if i < *len {
                        col.push_json_at(nodes, k, text)?;
                        k += count(&nodes[k]);
                    } else {
                        col.push_null()?;
                    }
                }
            }
            (_, node) => return Err(FieldError::Found(super::columns::kind_of(node))),
        }
        Ok(())
    }

    /// Append the value whose JSON text is `t` (a CSV field or a DEFAULT).
    pub(crate) fn push_json_text(
        &mut self,
        t: &[u8],
        scratch: &mut JsonScratch,
    ) -> FieldResult<()> {
        scratch.buf.clear();
        scratch.buf.extend_from_slice(t);
        scratch.buf.resize(t.len() + INPUT_PADDING, b' ');
        let mut tape = std::mem::replace(&mut scratch.tape, Tape(Vec::new())).reset();
        let r = match fill_tape_padded(&mut scratch.buf, t.len(), &mut scratch.buffers, &mut tape) {
            Err(_) => Err(FieldError::Syntax),
            Ok(()) => match tape.0[0] {
                Node::Static(simd_json::StaticNode::Null) => Err(FieldError::Null),
                _ => self.push_json(&tape.0, 0, &|k| variant::node_span(t, k)),
            },
        };
        scratch.tape = tape.reset();
        r
    }

    /// The Arrow array of `len` values with `nulls`; self is emptied.
    pub(crate) fn finish(&mut self, t: &SqlType, nulls: Option<NullBuffer>) -> ArrayRef {
        let fresh = Nested::new(t);
        match (std::mem::replace(self, fresh), t.arrow_type()) {
            (Nested::List { offsets, mut item }, DataType::List(field)) => Arc::new(
                ListArray::new(field, offsets_of(offsets), item.finish(), nulls),
            ),
            (
                Nested::Map {
                    offsets,
                    mut keys,
                    mut values,
                },
                DataType::Map(entries, sorted),
            ) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let pairs =
                    StructArray::new(kv.clone(), vec![keys.finish(), values.finish()], None);
                Arc::new(MapArray::new(
                    entries,
                    offsets_of(offsets),
                    pairs,
                    nulls,
                    sorted,
                ))
            }
            (Nested::Row { mut cols, .. }, DataType::Struct(fields)) => {
                let arrays = cols.iter_mut().map(|c| c.finish()).collect();
                Arc::new(StructArray::new(fields, arrays, nulls))
            }
            _ => unreachable!("nested buffers match their type"),
        }
    }
}

/// Reused buffers for parsing JSON text out of CSV fields.
pub(crate) struct JsonScratch {
    buf: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

impl JsonScratch {
    pub(crate) fn new() -> JsonScratch {
        JsonScratch {
            buf: Vec::new(),
            buffers: Buffers::with_max_depth(256, CSV_DEPTH_MAX),
            tape: Tape(Vec::new()),
        }
    }
}

/// Tape index of the value of ROW field `f` in the object at `nodes[j]`
/// with `len` keys; the last of repeated keys wins, as for columns.
fn field_node(nodes: &[Node<'_>], j: usize, len: usize, f: &RowField) -> Option<usize> {
    let mut k = j + 1;
    let mut found = None;
    for _ in 0..len {
        if let Node::String(key) = nodes[k] {
            let (name, quoted) = unquote(key);
            if f.ident.matches(name, quoted) {
                found = Some(k + 1);
            }
        }
        k += 1 + count(&nodes[k + 1]);
    }
    found
}

fn offset(n: usize) -> FieldResult<i32> {
    i32::try_from(n).map_err(|_| FieldError::BatchTooLarge)
}

fn offsets_of(v: Vec<i32>) -> OffsetBuffer<i32> {
    OffsetBuffer::new(ScalarBuffer::from(v))
}

/// Nodes in the subtree starting at `node`, itself included.
fn count(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}
