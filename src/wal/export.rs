//! `sluice export`: a table's retained changes as one Arrow IPC file
//! (pyarrow, DuckDB and polars read it directly).
//!
//! The file's schema is the table's columns plus `_sluice_weight` (Int64:
//! +n inserts n copies, -n deletes, 0 with an update mask is a partial
//! update) and `_sluice_update` (FixedSizeBinary, null unless the row is a
//! partial update: bit `c % 8` of byte `c / 8` set for each column given).
//! Rows of one lane (table, sending shard) come in the order they were
//! applied. The log is only read, so exporting from a running server's
//! `data_dir` is safe: a record being written is left out.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeBinaryArray, Int64Array, RecordBatch};
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, Field, Schema};

use super::recover;
use crate::config::Validated;
use crate::decode::ChangeBatch;
use crate::shard::recovery::{shard_dirs, table_key};
use crate::table::{unquote, Table};
use crate::token::pipeline_id;

pub const WEIGHT_COLUMN: &str = "_sluice_weight";
pub const UPDATE_COLUMN: &str = "_sluice_update";

/// What an export wrote.
#[derive(Debug, Default)]
pub struct Exported {
    pub batches: u64,
    pub rows: u64,
}

pub fn export(
    cfg: &Validated,
    pipeline: &str,
    table: &str,
    out: &Path,
) -> Result<Exported, String> {
    let tables = cfg
        .pipelines
        .iter()
        .find(|(name, _)| name == pipeline)
        .map(|(_, tables)| tables)
        .ok_or_else(|| format!("no pipeline {pipeline:?} in the configuration"))?;
    let (name, quoted) = unquote(table);
    let t = tables
        .iter()
        .find(|t| t.ident.matches(name, quoted))
        .ok_or_else(|| format!("pipeline {pipeline:?} has no table {table:?}"))?;
    let schema = file_schema(t);
    let file =
        std::fs::File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut w = FileWriter::try_new(file, &schema).map_err(|e| e.to_string())?;
    let (pid, key) = (pipeline_id(pipeline), table_key(&t.ident.canonical));
    let mut done = Exported::default();
    let mut failed = None;
    for (id, dir) in shard_dirs(&cfg.data_dir)? {
        let read = recover::read(&dir, id as u16, |head, batch| {
            let ours = head.pipeline == pid
                && head.table == key
                && batch.data.schema().fields() == t.schema.fields();
            if !ours || failed.is_some() {
                return;
            }
            done.batches += 1;
            done.rows += batch.num_rows() as u64;
            if let Err(e) = w.write(&with_extras(&schema, t, batch)) {
                failed = Some(e.to_string());
            }
        })
        .map_err(|e| e.to_string())?;
        if let Some((segment, at)) = read.truncated {
            eprintln!(
                "sluice export: stopped at byte {at} of {}: what follows is a write in \
                 progress (a running server), a torn tail or damage (a server's start \
                 cuts the one and reports the other)",
                segment.display()
            );
        }
    }
    if let Some(e) = failed {
        return Err(format!("writing {}: {e}", out.display()));
    }
    w.finish().map_err(|e| e.to_string())?;
    Ok(done)
}

fn update_width(t: &Table) -> i32 {
    t.columns.len().div_ceil(8) as i32
}

fn file_schema(t: &Table) -> Arc<Schema> {
    let mut fields: Vec<Arc<Field>> = t.schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(WEIGHT_COLUMN, DataType::Int64, false)));
    let mask = DataType::FixedSizeBinary(update_width(t));
    fields.push(Arc::new(Field::new(UPDATE_COLUMN, mask, true)));
    Arc::new(Schema::new(fields))
}

fn with_extras(schema: &Arc<Schema>, t: &Table, b: ChangeBatch) -> RecordBatch {
    let n = b.num_rows();
    let mut columns: Vec<ArrayRef> = b.data.columns().to_vec();
    let weights = b.weights.unwrap_or_else(|| Int64Array::from(vec![1; n]));
    let updates = b
        .updates
        .unwrap_or_else(|| FixedSizeBinaryArray::new_null(update_width(t), n));
    columns.push(Arc::new(weights));
    columns.push(Arc::new(updates));
    RecordBatch::try_new(schema.clone(), columns).expect("columns follow the file schema")
}
