//! One log record: a frame (length, CRC32C) around a small header and an
//! Arrow IPC stream of the batch.
//!
//! Frame layout (little-endian):
//!
//! ```text
//! u32 body_len | u32 crc32c(body) | u32 crc32c(the 8 bytes before) | body
//! body = u8 kind | u64 run | u32 pipeline | u32 table | u16 lane | u64 end | payload | u8 0xA5
//! ```
//!
//! The last byte, `END_MARK`, is in segments of version 2 on (not 1): a
//! frame never ends in zeros, so zeros where its end should be can only be
//! space a torn write never reached (`recover.rs`). Readers need not strip
//! it: the IPC reader stops at the stream's end marker.
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
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamEncoder;
use arrow_schema::{DataType, Field, Schema};

use crate::decode::ChangeBatch;

/// Frame bytes before the body.
pub const FRAME_HEADER_BYTES: usize = 12;
/// The last byte of every frame (format version 2 on): not zero, and with
/// four bits set, so no single flipped bit makes it zero.
pub const END_MARK: u8 = 0xA5;
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
    let record = Encoded::new(head, batch);
    let start = out.len();
    out.resize(start + record.frame_bytes(), 0);
    record.write_to(&mut out[start..]);
}

/// One record, encoded but not yet laid out: its header and the pieces of
/// its IPC payload. The batch's buffers are pieces as they are (Arrow's
/// `StreamEncoder` shares them), so the log copies each byte of a batch
/// once, straight into the block it writes to disk (`write_to`).
pub struct Encoded {
    head: [u8; BODY_HEADER_BYTES],
    pieces: Vec<Buffer>,
    /// Frame bytes in all.
    len: usize,
}

impl Encoded {
    /// The whole record, schema message included (`encoders::Encoders`
    /// reuses that message across a table's records).
    pub fn new(head: RecordHead, batch: &ChangeBatch) -> Encoded {
        Encoded::from_pieces(head, ipc_pieces(batch))
    }

    /// The record of an IPC stream already in pieces.
    pub(super) fn from_pieces(head: RecordHead, pieces: Vec<Buffer>) -> Encoded {
        let mut h = [0; BODY_HEADER_BYTES];
        h[0] = KIND_BATCH;
        h[1..9].copy_from_slice(&head.run.to_le_bytes());
        h[9..13].copy_from_slice(&head.pipeline.to_le_bytes());
        h[13..17].copy_from_slice(&head.table.to_le_bytes());
        h[17..19].copy_from_slice(&head.lane.to_le_bytes());
        h[19..27].copy_from_slice(&head.end.to_le_bytes());
        let payload: usize = pieces.iter().map(Buffer::len).sum();
        Encoded {
            head: h,
            pieces,
            len: FRAME_HEADER_BYTES + BODY_HEADER_BYTES + payload + 1,
        }
    }

    /// Bytes `write_to` writes.
    pub fn frame_bytes(&self) -> usize {
        self.len
    }

    /// Lay the frame out in `out`, exactly `frame_bytes()` long.
    pub fn write_to(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.len, "a frame fills its slot exactly");
        let (frame, body) = out.split_at_mut(FRAME_HEADER_BYTES);
        let mut at = BODY_HEADER_BYTES;
        body[..at].copy_from_slice(&self.head);
        // The checksum is taken from the pieces as they are copied, while
        // they are in cache, rather than from the copy afterwards.
        let mut crc = crc32c::crc32c(&self.head);
        for piece in &self.pieces {
            body[at..at + piece.len()].copy_from_slice(piece);
            crc = crc32c::crc32c_append(crc, piece);
            at += piece.len();
        }
        body[at] = END_MARK;
        crc = crc32c::crc32c_append(crc, &[END_MARK]);
        let len = u32::try_from(body.len()).expect("a record body is far below 4 GiB");
        frame[..4].copy_from_slice(&len.to_le_bytes());
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        let head_crc = crc32c::crc32c(&frame[..8]);
        frame[8..12].copy_from_slice(&head_crc.to_le_bytes());
    }
}

/// The batch as one IPC stream (schema, batch, end marker), in pieces.
pub(super) fn ipc_pieces(batch: &ChangeBatch) -> Vec<Buffer> {
    let rb = with_extras(batch);
    let mut enc = StreamEncoder::try_new(&rb.schema()).expect("types the log can write");
    let mut pieces = enc.encode(&rb).expect("an uncompressed batch encodes");
    pieces.extend(enc.finish().expect("an end marker encodes"));
    pieces
}

/// The batch with its weight and update columns appended, as the log
/// stores it (`sluice.extra` names them).
pub(super) fn with_extras(batch: &ChangeBatch) -> RecordBatch {
    let data = &batch.data;
    let mut fields: Vec<Arc<Field>> = data.schema().fields().iter().cloned().collect();
    let mut extra = Vec::new();
    if batch.weights.is_some() {
        fields.push(Arc::new(Field::new(WEIGHT, DataType::Int64, false)));
        extra.push(WEIGHT);
    }
    if let Some(u) = &batch.updates {
        fields.push(Arc::new(Field::new(UPDATES, u.data_type().clone(), true)));
        extra.push(UPDATES);
    }
    // The batch's own metadata (an idempotency key) travels along.
    let mut meta = data.schema_ref().metadata().clone();
    meta.insert(EXTRA_KEY.to_string(), extra.join(","));
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    RecordBatch::try_new(schema, columns_with_extras(batch))
        .expect("same rows, schema from columns")
}

/// The batch's columns, then its weights and update mask if it has them.
pub(super) fn columns_with_extras(batch: &ChangeBatch) -> Vec<ArrayRef> {
    let mut columns: Vec<ArrayRef> = batch.data.columns().to_vec();
    if let Some(w) = &batch.weights {
        columns.push(Arc::new(w.clone()));
    }
    if let Some(u) = &batch.updates {
        columns.push(Arc::new(u.clone()));
    }
    columns
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

/// The whole length of the frame at `buf[0]`, if its header is there and
/// its checksum good.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let h = buf.get(..FRAME_HEADER_BYTES)?;
    let word = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let len = word(0) as usize;
    let good = crc32c::crc32c(&h[..8]) == word(8);
    (good && (BODY_HEADER_BYTES..=RECORD_BYTES_MAX).contains(&len))
        .then_some(FRAME_HEADER_BYTES + len)
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
    let Some(len) = frame_len(buf) else {
        return Frame::Bad;
    };
    let Some(body) = buf.get(FRAME_HEADER_BYTES..len) else {
        return Frame::Short;
    };
    if crc32c::crc32c(body).to_le_bytes() != h[4..8] {
        return Frame::Bad;
    }
    Frame::Good { body, len }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_array::{FixedSizeBinaryArray, Int64Array, StringArray};
    use arrow_buffer::NullBuffer;
    use arrow_ipc::writer::StreamWriter;

    use super::*;

    fn batch(n: usize, weighted: bool, updates: bool, key: bool) -> ChangeBatch {
        let mut meta = HashMap::new();
        if key {
            meta.insert("sluice.idempotency_key".to_string(), "k-1".to_string());
        }
        let schema = Arc::new(
            Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Utf8, true),
            ])
            .with_metadata(meta),
        );
        let ids = Int64Array::from_iter_values(0..n as i64);
        let names = StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| "é".repeat(i))));
        let data = RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names)]).unwrap();
        let weights = weighted.then(|| Int64Array::from_iter_values((0..n as i64).map(|i| -i)));
        let updates = updates.then(|| {
            let valid = NullBuffer::from_iter((0..n).map(|i| i % 2 == 0));
            FixedSizeBinaryArray::new(1, vec![0b10u8; n].into(), Some(valid))
        });
        ChangeBatch {
            data,
            weights,
            updates,
        }
    }

    /// What the log wrote before it encoded in pieces: Arrow's StreamWriter.
    fn stream_writer_bytes(batch: &ChangeBatch) -> Vec<u8> {
        let rb = with_extras(batch);
        let mut out = Vec::new();
        let mut w = StreamWriter::try_new(&mut out, &rb.schema()).unwrap();
        w.write(&rb).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    fn slice(b: &ChangeBatch, at: usize, n: usize) -> ChangeBatch {
        ChangeBatch {
            data: b.data.slice(at, n),
            weights: b.weights.as_ref().map(|w| w.slice(at, n)),
            updates: b.updates.as_ref().map(|u| u.slice(at, n)),
        }
    }

    #[test]
    fn pieces_are_the_bytes_of_arrows_stream_writer_and_read_back() {
        let mut cases = Vec::new();
        for n in [0, 1, 7, 300] {
            for (w, u, k) in [
                (false, false, false),
                (true, false, true),
                (true, true, false),
            ] {
                cases.push(batch(n, w, u, k));
            }
        }
        // Sliced arrays: offsets re-based, bitmaps shifted.
        let big = batch(300, true, true, true);
        cases.push(slice(&big, 3, 200));
        cases.push(slice(&big, 299, 1));
        for (i, b) in cases.iter().enumerate() {
            let head = RecordHead {
                run: 5,
                pipeline: 6,
                table: 7,
                lane: 8,
                end: 9 + i as u64,
            };
            let mut framed = vec![0xAA; 3];
            encode(head, b, &mut framed);
            let frame_bytes = &framed[3..];
            let (payload, mark) = frame_bytes[FRAME_HEADER_BYTES + BODY_HEADER_BYTES..]
                .split_last()
                .map(|(m, p)| (p, *m))
                .unwrap();
            assert_eq!(payload, &stream_writer_bytes(b)[..], "case {i}");
            assert_eq!(mark, END_MARK);
            let Frame::Good { body, len } = frame(frame_bytes) else {
                panic!("case {i}: the frame does not read back");
            };
            assert_eq!(len, frame_bytes.len());
            let (h, got) = decode(body).unwrap();
            assert_eq!(h, head);
            assert_eq!(got.data, b.data, "case {i}");
            assert_eq!(got.weights, b.weights);
            assert_eq!(got.updates, b.updates);
        }
    }
}
