//! The write-ahead log: each owning shard appends the batches it applies,
//! in segments of framed, checksummed records (`record.rs`, `segment.rs`),
//! and replays them at start (`recover.rs`).
//!
//! Recovery reads with std::fs before the shard's executor serves
//! (`shard/recovery.rs` routes the records); the writer (`writer.rs`)
//! appends with glommio DMA writes on the owner shard, driven by the group
//! commit in `shard/wal.rs`.
//! Recovery's torn-tail rule relies on how the writer must write: one
//! write in flight at a time, into the end of the file or into zeros the
//! writer synced ahead of it, so a crash leaves a prefix of what was
//! written, then zeros (or the file's end), never a hole before the write
//! in flight. That write may land in part: its first sectors, which
//! recovery cuts off as a torn tail, or, where it overwrote zeros, some
//! later sector without an earlier one (a disk keeps no order within a
//! write), which recovery reports as damage, for the operator to decide.

pub mod encoders;
pub mod export;
pub mod faults;
pub mod record;
pub mod recover;
pub mod segment;
pub mod tail;
pub mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod torn_tests;
