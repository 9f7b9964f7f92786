//! An owner's in-memory store of applied batches, bounded per table.
//!
//! Until the durable log exists this is where applied rows live. It keeps
//! the most recent batches up to `table_memory_bytes_max` and drops the
//! oldest past it (counted in stats), so memory stays bounded whatever the
//! ingest volume.

use std::collections::VecDeque;

use crate::decode::ChangeBatch;

pub struct TableStore {
    batches: VecDeque<ChangeBatch>,
    bytes: usize,
    bytes_max: usize,
}

/// What one append did, for the owner's counters.
pub struct Appended {
    pub evicted_batches: u64,
}

impl TableStore {
    pub fn new(bytes_max: usize) -> TableStore {
        TableStore {
            batches: VecDeque::new(),
            bytes: 0,
            bytes_max,
        }
    }

    pub fn append(&mut self, batch: ChangeBatch) -> Appended {
        self.bytes += batch_bytes(&batch);
        self.batches.push_back(batch);
        let mut evicted = 0;
        while self.bytes > self.bytes_max && self.batches.len() > 1 {
            let old = self.batches.pop_front().expect("len > 1");
            self.bytes -= batch_bytes(&old);
            evicted += 1;
        }
        Appended {
            evicted_batches: evicted,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

fn batch_bytes(b: &ChangeBatch) -> usize {
    b.data.get_array_memory_size() + b.weights.as_ref().map_or(0, |w| w.len() * 8)
}
