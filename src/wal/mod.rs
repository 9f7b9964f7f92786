//! The write-ahead log: each owning shard appends the batches it applies,
//! in segments of framed, checksummed records (`record.rs`, `segment.rs`),
//! and replays them at start (`recover.rs`).
//!
//! This module is the storage format and recovery, with no I/O runtime:
//! recovery reads with std::fs before the shard's executor serves. The
//! writer (group commit on the owner shard's file) is not wired yet: until
//! it is, the server keeps applied rows in memory only (README, Status).
//! Recovery's torn-tail rule relies on how the writer must write: one
//! write in flight at a time, never preallocating, so a crash leaves a
//! prefix of what was written (plus zero padding to a block after whole
//! records), never a hole.

pub mod record;
pub mod recover;
pub mod segment;

#[cfg(test)]
mod tests;
