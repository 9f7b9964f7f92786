//! Log records of one table share their IPC schema message and end marker.
//!
//! Why: every record is a whole Arrow IPC stream (schema, batch, end
//! marker) so that any Arrow reader decodes it alone. Building the schema
//! message (flatbuffers) for every record cost about 22,000 instructions,
//! 40% of encoding a merged record of one-row requests; reusing it took a
//! one-row request with the log from about 22,900 to 21,600 instructions
//! (`LOG=1 loadtest/request-instructions.sh`, two runs each). The message only
//! depends on the schema, so it is encoded once per table schema and its
//! bytes (a shared `Buffer`) reused; so is the end marker. A record's bytes
//! are exactly those of `record::Encoded::new` (a test compares them).
//!
//! Bounds: one entry per distinct (table schema, extra columns) written by
//! this shard, at most `CACHED_MAX`; past that, and for batches whose
//! schema carries per-request metadata (an idempotency key: a schema of
//! their own), records are encoded whole, as before.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{
    write_message, DictionaryTracker, IpcDataGenerator, IpcWriteOptions, StreamEncoder,
};
use arrow_schema::{DataType, SchemaRef};

use super::record::{columns_with_extras, ipc_pieces, with_extras, Encoded, RecordHead};
use crate::decode::ChangeBatch;
use crate::shard::idem::KEY_METADATA;

/// Schemas remembered per shard: a handful of tables times the extra
/// columns their batches carry.
const CACHED_MAX: usize = 64;

#[derive(Default)]
pub struct Encoders {
    cached: Vec<Cached>,
}

/// The extra columns a batch carries: weights, and the update mask with
/// its width in bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Extras {
    weights: bool,
    updates: Option<i32>,
}

impl Extras {
    fn of(batch: &ChangeBatch) -> Extras {
        Extras {
            weights: batch.weights.is_some(),
            updates: batch.updates.as_ref().map(|u| u.value_length()),
        }
    }
}

struct Cached {
    /// The batches' own schema, and the extra columns they carry.
    data: SchemaRef,
    extras: Extras,
    /// The records' schema: the batches' with the extra columns.
    schema: SchemaRef,
    /// An encoder that has already emitted its schema message: `encode`
    /// now yields only batch messages.
    encoder: StreamEncoder,
    schema_message: Buffer,
    end_marker: Buffer,
}

impl Encoders {
    /// The record of `batch` at `head`, as `Encoded::new` makes it.
    pub fn encode(&mut self, head: RecordHead, batch: &ChangeBatch) -> Encoded {
        let pieces = self.entry(batch).and_then(|c| c.pieces(batch));
        Encoded::from_pieces(head, pieces.unwrap_or_else(|| ipc_pieces(batch)))
    }

    fn entry(&mut self, batch: &ChangeBatch) -> Option<&mut Cached> {
        let data = batch.data.schema_ref();
        if data.metadata().contains_key(KEY_METADATA) {
            return None;
        }
        let extras = Extras::of(batch);
        // A table's batches share its `SchemaRef`: compare pointers first.
        // A batch built apart (the empty batch an idempotent repeat logs)
        // has an equal schema of its own. Without metadata, equal schemas
        // encode to the same bytes (metadata is a map, whose keys two
        // equal schemas may list in different orders), so compare those
        // by value, lest each such batch take an entry of its own.
        let at = self
            .cached
            .iter()
            .position(|c| c.extras == extras && Arc::ptr_eq(&c.data, data))
            .or_else(|| {
                let plain = data.metadata().is_empty();
                let same = |c: &Cached| c.extras == extras && plain && *c.data == **data;
                self.cached.iter().position(same)
            });
        let at = match at {
            Some(at) => at,
            None if self.cached.len() < CACHED_MAX => {
                self.cached.push(Cached::new(batch)?);
                self.cached.len() - 1
            }
            None => return None,
        };
        Some(&mut self.cached[at])
    }
}

impl Cached {
    /// `None` for a schema with dictionaries: their messages depend on
    /// what earlier batches of a stream sent, so records encode whole.
    fn new(batch: &ChangeBatch) -> Option<Cached> {
        let schema = with_extras(batch).schema();
        if schema
            .fields()
            .iter()
            .any(|f| has_dictionary(f.data_type()))
        {
            return None;
        }
        let opts = IpcWriteOptions::default();
        let message = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
            &schema,
            &mut DictionaryTracker::new(false),
            &opts,
        );
        let mut schema_message = Vec::new();
        write_message(&mut schema_message, message, &opts).ok()?;
        // An empty stream is the schema message, then the end marker.
        let empty = bytes(StreamEncoder::try_new(&schema).ok()?.finish().ok()?);
        let end_marker = empty.strip_prefix(schema_message.as_slice())?.to_vec();
        // The encoder emits the schema message with its first batch; after
        // that, batch messages only.
        let mut encoder = StreamEncoder::try_new(&schema).ok()?;
        let first = bytes(
            encoder
                .encode(&RecordBatch::new_empty(schema.clone()))
                .ok()?,
        );
        if !first.starts_with(&schema_message) || end_marker.is_empty() {
            return None;
        }
        Some(Cached {
            data: batch.data.schema(),
            extras: Extras::of(batch),
            schema,
            encoder,
            schema_message: Buffer::from_vec(schema_message),
            end_marker: Buffer::from_vec(end_marker),
        })
    }

    /// `None` if the batch does not fit the cached schema after all: the
    /// caller then encodes it whole.
    fn pieces(&mut self, batch: &ChangeBatch) -> Option<Vec<Buffer>> {
        let rb = RecordBatch::try_new(self.schema.clone(), columns_with_extras(batch)).ok()?;
        let body = self.encoder.encode(&rb).ok()?;
        let mut pieces = Vec::with_capacity(body.len() + 2);
        pieces.push(self.schema_message.clone());
        pieces.extend(body);
        pieces.push(self.end_marker.clone());
        Some(pieces)
    }
}

fn bytes(pieces: Vec<Buffer>) -> Vec<u8> {
    pieces.iter().flat_map(|p| p.as_slice()).copied().collect()
}

fn has_dictionary(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => has_dictionary(f.data_type()),
        DataType::Struct(fs) => fs.iter().any(|f| has_dictionary(f.data_type())),
        DataType::Union(fs, _) => fs.iter().any(|(_, f)| has_dictionary(f.data_type())),
        DataType::RunEndEncoded(ends, values) => {
            has_dictionary(ends.data_type()) || has_dictionary(values.data_type())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow_array::{FixedSizeBinaryArray, Int64Array, StringArray};
    use arrow_buffer::NullBuffer;
    use arrow_schema::{Field, Schema};

    use super::*;

    /// `meta` more metadata keys (each map lists its keys in an order of
    /// its own, so two equal ones encode differently).
    fn table_with(name: &str, key: Option<&str>, meta: usize) -> SchemaRef {
        let meta: HashMap<String, String> = key
            .map(|k| (KEY_METADATA.to_string(), k.to_string()))
            .into_iter()
            .chain((0..meta).map(|i| (format!("m{i}"), i.to_string())))
            .collect();
        let fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new(name, DataType::Utf8, true),
        ];
        Arc::new(Schema::new(fields).with_metadata(meta))
    }

    fn table(name: &str, key: Option<&str>) -> SchemaRef {
        table_with(name, key, 0)
    }

    /// `updates`: the update mask's width in bytes, if the batch has one.
    fn batch(schema: &SchemaRef, n: usize, weighted: bool, updates: Option<i32>) -> ChangeBatch {
        let ids = Int64Array::from_iter_values(0..n as i64);
        let names = StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| "x".repeat(i))));
        let data = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(names)]);
        let weights = weighted.then(|| Int64Array::from_iter_values((0..n as i64).map(|i| i - 2)));
        let updates = updates.map(|width| {
            let valid = NullBuffer::from_iter((0..n).map(|i| i % 2 == 0));
            let bytes = vec![0b01u8; n * width as usize];
            FixedSizeBinaryArray::new(width, bytes.into(), Some(valid))
        });
        ChangeBatch {
            data: data.unwrap(),
            weights,
            updates,
        }
    }

    fn frame(e: &Encoded) -> Vec<u8> {
        let mut out = vec![0; e.frame_bytes()];
        e.write_to(&mut out);
        out
    }

    /// Records from the cache are byte for byte those encoded whole, for
    /// a sequence of batches of two tables, with and without extra
    /// columns, empty ones and keyed ones (not cached) interleaved, and
    /// batches whose schema equals a table's but is an `Arc` of its own
    /// (as an idempotent repeat's empty batch is: they share the table's
    /// entry), or whose update mask is wider.
    #[test]
    fn cached_records_are_the_whole_encoding() {
        let (a, b) = (table("a", None), table("b", None));
        let mut batches = Vec::new();
        for n in [1, 0, 7, 300, 2] {
            for (w, u) in [(false, false), (true, false), (true, true), (false, true)] {
                batches.push(batch(&a, n, w, u.then_some(1)));
                batches.push(batch(&b, n + 1, u, w.then_some(1)));
            }
            let keyed = table("a", Some("k-1"));
            batches.push(batch(&keyed, n, n.is_multiple_of(2), None));
            batches.push(batch(&table("a", None), n, false, None));
            batches.push(batch(&a, n, false, Some(2)));
        }
        // Equal schemas with metadata, in `Arc`s of their own: an entry each.
        for _ in 0..2 {
            batches.push(batch(&table_with("a", None, 20), 3, false, None));
        }
        let mut encoders = Encoders::default();
        for (i, batch) in batches.iter().enumerate() {
            let head = RecordHead {
                run: 1,
                pipeline: 2,
                table: 3,
                lane: 4,
                end: i as u64,
            };
            let cached = frame(&encoders.encode(head, batch));
            assert_eq!(cached, frame(&Encoded::new(head, batch)), "batch {i}");
        }
        // Two tables times four shapes of extra columns, the wider mask,
        // and the two schemas with metadata; keyed batches have a schema
        // of their own and are not remembered.
        assert_eq!(encoders.cached.len(), 11);
    }
}
