//! An owner's in-memory store of applied batches, bounded per table.
//!
//! Until the durable log exists this is where applied rows live. It keeps
//! the most recent batches up to `table_memory_bytes_max` and drops the
//! oldest past it (counted in stats), so memory stays bounded whatever the
//! ingest volume.
//!
//! Small batches (one per small request) are coalesced: they wait in `tail`
//! and are concatenated into one batch once `COALESCE_ROWS` rows or
//! `COALESCE_BATCHES` batches have gathered. Why: a one-row Arrow batch
//! costs ~1.2 KB of buffers and metadata for ~100 bytes of data, so a store
//! of them held a tenth of the rows its budget allows, and freeing them
//! oldest-first, tens of thousands later, made glibc's arena trim and
//! regrow its heap (`mprotect`) every few requests: ~15% of a shard's CPU
//! with one-row requests. Coalesced, the small batches are freed right
//! after the copy, while their memory is still hot.

use std::collections::VecDeque;

use super::concat::{batch_bytes, concat};
use super::idem::KeyTable;
use crate::decode::ChangeBatch;

/// A batch with fewer rows than this is coalesced rather than kept as is.
const SMALL_ROWS: usize = 256;
/// The tail is concatenated when it holds this many rows...
const COALESCE_ROWS: usize = 4096;
/// ...or this many batches.
const COALESCE_BATCHES: usize = 256;

pub struct TableStore {
    batches: VecDeque<ChangeBatch>,
    /// Small batches waiting to be concatenated; always newer than `batches`.
    tail: Vec<ChangeBatch>,
    tail_rows: usize,
    bytes: usize,
    bytes_max: usize,
    /// The table's newest idempotency keys (see `idem`).
    pub keys: KeyTable,
}

/// What one append did, for the owner's counters.
pub struct Appended {
    pub evicted_batches: u64,
}

impl TableStore {
    pub fn new(bytes_max: usize) -> TableStore {
        TableStore {
            batches: VecDeque::new(),
            tail: Vec::with_capacity(COALESCE_BATCHES),
            tail_rows: 0,
            bytes: 0,
            bytes_max,
            keys: KeyTable::new(1),
        }
    }

    /// Remember up to `max` idempotency keys.
    pub fn with_keys(mut self, max: usize) -> TableStore {
        self.keys = KeyTable::new(max);
        self
    }

    pub fn append(&mut self, batch: ChangeBatch) -> Appended {
        if batch.num_rows() == 0 {
            // A repeated keyed request: nothing to keep.
            return Appended { evicted_batches: 0 };
        }
        self.bytes += batch_bytes(&batch);
        if batch.num_rows() < SMALL_ROWS {
            self.tail_rows += batch.num_rows();
            self.tail.push(batch);
            if self.tail_rows >= COALESCE_ROWS || self.tail.len() >= COALESCE_BATCHES {
                self.coalesce();
            }
        } else {
            // Keep arrival order: what waits in the tail goes first.
            self.coalesce();
            self.batches.push_back(batch);
        }
        Appended {
            evicted_batches: self.evict(),
        }
    }

    /// Drop the oldest batches past the budget, never the newest one.
    fn evict(&mut self) -> u64 {
        let mut evicted = 0;
        while self.bytes > self.bytes_max && self.len() > 1 {
            let old = match self.batches.pop_front() {
                Some(b) => b,
                // Only with a budget smaller than the tail (tests, tiny
                // configs); the tail holds at most COALESCE_BATCHES.
                None => {
                    let b = self.tail.remove(0);
                    self.tail_rows -= b.num_rows();
                    b
                }
            };
            self.bytes -= batch_bytes(&old);
            evicted += 1;
        }
        evicted
    }

    /// Concatenate the tail into one batch at the end of `batches`.
    fn coalesce(&mut self) {
        match self.tail.len() {
            0 => return,
            1 => self.batches.extend(self.tail.pop()),
            _ => {
                let merged = concat(&self.tail);
                self.bytes -= self.tail.iter().map(batch_bytes).sum::<usize>();
                self.bytes += batch_bytes(&merged);
                self.tail.clear();
                self.batches.push_back(merged);
            }
        }
        self.tail_rows = 0;
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Batches held, counting each waiting small batch.
    pub fn len(&self) -> usize {
        self.batches.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum::<usize>() + self.tail_rows
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
