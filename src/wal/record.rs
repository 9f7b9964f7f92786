//! One log record: a frame (length, CRC32C) around a small header and an
//! Arrow IPC stream of the batch.
//!
//! Frame layout (little-endian):
//!
//! ```text
//! u32 body_len | u32 crc32c(body) | u32 crc32c(the 8 bytes before) | body
//! body = u8 kind | u64 run | u32 pipeline | u32 table | u16 lane | u64 end | payload
//! ```
//!
//! The length has a checksum of its own so that a damaged length is told
//! apart from a file that really ends early (a torn tail, `recover.rs`).
//! `run` is the server run that wrote it, `pipeline` and `table` hashes of
//! their names (so a changed config cannot misfile a record), and `end` the
//! lane position after the record's last row (tokens name run and end). The payload is a complete Arrow IPC stream (schema, one batch,
//! end marker), so any Arrow reader can decode a record on its own: the
//! table's columns, then, when the batch has them, a weight column and a
//! partial-update mask column; the schema metadata key `sluice.extra`
//! says how many trailing columns are such extras (`weight`, `updates`),
//! and `sluice.idempotency_key`, when present, is the key of the request
//! whose rows the record holds (`shard::idem`).
//! A zero `body_len` never starts a frame: it marks the unwritten (zeroed)
//! space after the last record.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, Int64Array, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};

use crate::decode::ChangeBatch;

/// Frame bytes before the body.
pub const FRAME_HEADER_BYTES: usize = 12;
/// Body bytes before the payload.
const BODY_HEADER_BYTES: usize = 1 + 8 + 4 + 4 + 2 + 8;
/// Largest body accepted when reading: a length beyond it is corruption,
/// not an allocation. Records are far smaller: a batch spans at most
/// 512 MiB of input (`BATCH_BYTES_CAP`) and merged records about 8 MiB.
pub const RECORD_BYTES_MAX: usize = u32::MAX as usize;

const KIND_BATCH: u8 = 1;
const EXTRA_KEY: &str = "sluice.extra";
const WEIGHT: &str = "weight";
const UPDATES: &str = "updates";

/// Where a batch belongs and the lane position after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    pub run: u64,
    pub pipeline: u32,
    pub table: u32,
    pub lane: u16,
    pub end: u64,
}

/// Append the frame of one record to `out`.
pub fn encode(head: RecordHead, batch: &ChangeBatch, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    out.push(KIND_BATCH);
    out.extend_from_slice(&head.run.to_le_bytes());
    out.extend_from_slice(&head.pipeline.to_le_bytes());
    out.extend_from_slice(&head.table.to_le_bytes());
    out.extend_from_slice(&head.lane.to_le_bytes());
    out.extend_from_slice(&head.end.to_le_bytes());
    write_ipc(batch, out);
    let body = &out[start + FRAME_HEADER_BYTES..];
    let len = u32::try_from(body.len()).expect("a record body is far below 4 GiB");
    let crc = crc32c::crc32c(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    let head_crc = crc32c::crc32c(&out[start..start + 8]);
    out[start + 8..start + 12].copy_from_slice(&head_crc.to_le_bytes());
}

fn write_ipc(batch: &ChangeBatch, out: &mut Vec<u8>) {
    let data = &batch.data;
    let mut fields: Vec<Arc<Field>> = data.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = data.columns().to_vec();
    let mut extra = Vec::new();
    if let Some(w) = &batch.weights {
        fields.push(Arc::new(Field::new(WEIGHT, DataType::Int64, false)));
        columns.push(Arc::new(w.clone()));
        extra.push(WEIGHT);
    }
    if let Some(u) = &batch.updates {
        fields.push(Arc::new(Field::new(UPDATES, u.data_type().clone(), true)));
        columns.push(Arc::new(u.clone()));
        extra.push(UPDATES);
    }
    // The batch's own metadata (an idempotency key) travels along.
    let mut meta = data.schema_ref().metadata().clone();
    meta.insert(EXTRA_KEY.to_string(), extra.join(","));
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    let rb = RecordBatch::try_new(schema.clone(), columns).expect("same rows, schema from columns");
    let mut w = StreamWriter::try_new(out, &schema).expect("writing to a Vec cannot fail");
    w.write(&rb).expect("writing to a Vec cannot fail");
    w.finish().expect("writing to a Vec cannot fail");
}

/// What reading a frame at some offset found.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A whole frame with good checksums: its body and total length.
    Good { body: &'a [u8], len: usize },
    /// A zeroed frame header: no frame starts here (end of written data).
    Zero,
    /// The bytes end before the frame does (its length is known good, or
    /// its header itself is cut off).
    Short,
    /// A header or body checksum mismatch.
    Bad,
}

/// Look at the frame starting at `buf[0]`.
pub fn frame(buf: &[u8]) -> Frame<'_> {
    let Some(h) = buf.get(..FRAME_HEADER_BYTES) else {
        // Zero padding to the end of a block can be shorter than a header.
        return if buf.iter().all(|&b| b == 0) {
            Frame::Zero
        } else {
            Frame::Short
        };
    };
    if h.iter().all(|&b| b == 0) {
        return Frame::Zero;
    }
    let word = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    if crc32c::crc32c(&h[..8]) != word(8) {
        return Frame::Bad;
    }
    let len = word(0) as usize;
    if !(BODY_HEADER_BYTES..=RECORD_BYTES_MAX).contains(&len) {
        return Frame::Bad;
    }
    let Some(body) = buf.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len) else {
        return Frame::Short;
    };
    if crc32c::crc32c(body) != word(4) {
        return Frame::Bad;
    }
    Frame::Good {
        body,
        len: FRAME_HEADER_BYTES + len,
    }
}

/// Decode a good frame's body.
pub fn decode(body: &[u8]) -> Result<(RecordHead, ChangeBatch), String> {
    if body[0] != KIND_BATCH {
        return Err(format!("unknown record kind {}", body[0]));
    }
    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(body[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    let head = RecordHead {
        run: u64_at(1),
        pipeline: u32_at(9),
        table: u32_at(13),
        lane: u16_at(17),
        end: u64_at(19),
    };
    let mut r = StreamReader::try_new(&body[BODY_HEADER_BYTES..], None)
        .map_err(|e| format!("record payload: {e}"))?;
    let rb = r
        .next()
        .ok_or("record payload has no batch")?
        .map_err(|e| format!("record payload: {e}"))?;
    Ok((head, split_extras(rb)?))
}

/// Take the weight and update columns back off a record's batch.
fn split_extras(rb: RecordBatch) -> Result<ChangeBatch, String> {
    let schema = rb.schema();
    let extra: Vec<&str> = match schema.metadata().get(EXTRA_KEY) {
        Some(s) if !s.is_empty() => s.split(',').collect(),
        _ => Vec::new(),
    };
    let n = rb
        .num_columns()
        .checked_sub(extra.len())
        .ok_or("too few columns")?;
    let (mut weights, mut updates) = (None, None);
    for (i, name) in extra.iter().enumerate() {
        let col = rb.column(n + i);
        match *name {
            WEIGHT => {
                let w = col
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or("bad weights")?;
                weights = Some(w.clone());
            }
            UPDATES => {
                let u = col
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or("bad update mask")?;
                updates = Some(u.clone());
            }
            other => return Err(format!("unknown extra column {other}")),
        }
    }
    let fields: Vec<Arc<Field>> = schema.fields().iter().take(n).cloned().collect();
    let mut meta = schema.metadata().clone();
    meta.remove(EXTRA_KEY);
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    let data =
        RecordBatch::try_new(schema, rb.columns()[..n].to_vec()).map_err(|e| e.to_string())?;
    Ok(ChangeBatch {
        data,
        weights,
        updates,
    })
}
