//! Per-lane applied positions: written by the owning shard only, read by
//! any shard without locks.

use std::sync::atomic::{AtomicU64, Ordering};

/// An atomic on its own cache line: lanes of different writers must not
/// share a line, or every owner store would invalidate its neighbours.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct PaddedU64(pub AtomicU64);

/// One table's lanes (one per sending shard).
#[derive(Debug)]
pub struct Lanes {
    applied: Box<[PaddedU64]>,
}

impl Lanes {
    pub fn new(shards: usize) -> Lanes {
        Lanes {
            applied: (0..shards).map(|_| PaddedU64::default()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.applied.len()
    }

    pub fn is_empty(&self) -> bool {
        self.applied.is_empty()
    }

    /// Owner only: every position of `lane` below `position` is applied.
    /// Release pairs with the readers' Acquire: a reader that sees the new
    /// position also sees the applied data and counters written before.
    pub fn publish(&self, lane: usize, position: u64) {
        let slot = &self.applied[lane].0;
        debug_assert!(
            slot.load(Ordering::Relaxed) <= position,
            "lanes only advance"
        );
        slot.store(position, Ordering::Release);
    }

    pub fn applied(&self, lane: usize) -> u64 {
        self.applied[lane].0.load(Ordering::Acquire)
    }

    /// Is every record of `lane` before `position` applied?
    pub fn covers(&self, lane: usize, position: u64) -> bool {
        self.applied(lane) >= position
    }

    /// Sum over lanes: the table's applied record count.
    pub fn total(&self) -> u64 {
        (0..self.applied.len()).map(|l| self.applied(l)).sum()
    }
}
