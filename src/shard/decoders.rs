//! Idle decoders kept per shard, so a request reuses the column buffers of
//! an earlier one instead of allocating a batch's worth of memory: for a
//! one-row request that allocation would cost more than the decoding.

use std::cell::RefCell;
use std::sync::Arc;

use crate::decode::{self, CsvOptions, DecodeOptions, Decoder, Format, JsonFlavor, UpdateFormat};
use crate::table::Table;

/// What makes two requests' decoders interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderKey {
    pub pipeline: u16,
    pub table: u16,
    pub format: Format,
    pub update_format: UpdateFormat,
    pub json_flavor: JsonFlavor,
    pub csv: CsvOptions,
    pub array: bool,
}

/// A bounded set of idle decoders (`ingest.idle_decoders_max`). A decoder is
/// taken for the length of one request and given back after; past the bound
/// the least recently returned is dropped, so memory stays bounded whatever
/// the mix of tables and formats.
pub struct DecoderPool {
    idle: RefCell<Vec<(DecoderKey, Box<dyn Decoder>)>>,
    idle_max: usize,
}

impl DecoderPool {
    pub fn new(idle_max: usize) -> DecoderPool {
        DecoderPool {
            idle: RefCell::new(Vec::with_capacity(idle_max)),
            idle_max,
        }
    }

    /// A decoder for `key`, reset for a new body: reused when one is idle.
    pub fn take(
        &self,
        key: DecoderKey,
        table: &Arc<Table>,
        opts: DecodeOptions,
    ) -> Box<dyn Decoder> {
        let mut idle = self.idle.borrow_mut();
        // Most recently returned first: its buffers are warm in cache.
        if let Some(i) = idle.iter().rposition(|(k, _)| *k == key) {
            let (_, mut d) = idle.remove(i);
            d.reset();
            return d;
        }
        decode::new_decoder(table.clone(), opts)
    }

    pub fn give(&self, key: DecoderKey, decoder: Box<dyn Decoder>) {
        if self.idle_max == 0 {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        if idle.len() == self.idle_max {
            idle.remove(0);
        }
        idle.push((key, decoder));
    }
}
