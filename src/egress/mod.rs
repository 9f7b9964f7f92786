//! Data back out: change streams of tables (`POST .../egress/{table}`).
//!
//! `hub` keeps a table's listeners on its owning shard and holds tokens
//! until their rows are written to every listener that blocks them;
//! `chunk`, `json`, `csv` and `text` turn committed batches into the lines
//! of the stream. The connection side lives in `server::egress`.

pub mod chunk;
mod csv;
pub mod hub;
pub mod json;
pub mod text;

pub use chunk::{ChunkEncoder, Format};
pub use hub::{Committed, Hubs, Listener, LogPosition, Sub, SubState};
