//! Concatenating change batches of one table (rows, weights, update
//! masks), for the owner's store and the log's group commit: many small
//! batches cost far more, in memory and in log records, than one.

use arrow_array::cast::AsArray;
use arrow_array::{Array, FixedSizeBinaryArray, Int64Array};

use crate::decode::ChangeBatch;

/// One batch with the rows of `parts` in order. Weights are kept only if
/// some part has them (a part without weights is all +1).
pub fn concat(parts: &[ChangeBatch]) -> ChangeBatch {
    let schema = parts[0].data.schema();
    let data = arrow_select::concat::concat_batches(&schema, parts.iter().map(|b| &b.data))
        .expect("parts of one table's store share its schema");
    let weights = parts.iter().any(|b| b.weights.is_some()).then(|| {
        let mut w = Vec::with_capacity(data.num_rows());
        for b in parts {
            match &b.weights {
                Some(a) => w.extend_from_slice(a.values()),
                None => w.resize(w.len() + b.num_rows(), 1),
            }
        }
        Int64Array::from(w)
    });
    let updates = parts.iter().any(|b| b.updates.is_some()).then(|| {
        let width = parts
            .iter()
            .find_map(|b| b.updates.as_ref())
            .map_or(0, |u| u.value_length());
        let arrays: Vec<FixedSizeBinaryArray> = parts
            .iter()
            .map(|b| match &b.updates {
                Some(u) => u.clone(),
                None => FixedSizeBinaryArray::new_null(width, b.num_rows()),
            })
            .collect();
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a as &dyn Array).collect();
        let merged = arrow_select::concat::concat(&refs).expect("same width");
        merged.as_fixed_size_binary().clone()
    });
    ChangeBatch {
        data,
        weights,
        updates,
    }
}

/// Memory a batch holds (its buffers), bytes.
pub fn batch_bytes(b: &ChangeBatch) -> usize {
    b.data.get_array_memory_size()
        + b.weights.as_ref().map_or(0, |w| w.len() * 8)
        + b.updates.as_ref().map_or(0, |u| u.get_array_memory_size())
}
