//! (in progress)
pub const HEADERS_CAP: usize = 256;
