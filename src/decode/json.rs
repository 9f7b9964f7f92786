//! (in progress)
use super::{ChangeBatch, DecodeOptions, Decoder, ParseErrors};
use crate::table::Table;
use std::sync::Arc;
pub struct JsonDecoder {
    errors: ParseErrors,
}
impl JsonDecoder {
    pub fn new(_t: Arc<Table>, _o: DecodeOptions) -> Self {
        JsonDecoder {
            errors: ParseErrors::default(),
        }
    }
}
impl Decoder for JsonDecoder {
    fn decode(&mut self, chunk: &[u8]) -> usize {
        chunk.len()
    }
    fn batch_full(&self) -> bool {
        false
    }
    fn flush(&mut self) -> Option<ChangeBatch> {
        None
    }
    fn finish(&mut self) -> Option<ChangeBatch> {
        None
    }
    fn records(&self) -> u64 {
        0
    }
    fn errors(&self) -> &ParseErrors {
        &self.errors
    }
}
