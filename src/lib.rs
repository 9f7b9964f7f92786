//! sluice: a shard-per-core ingest server for Feldera's REST ingress API.
//!
//! Layout follows the architecture: `http` (framing, no I/O), `decode`
//! (bodies into Arrow, no I/O), `table` (SQL catalog), `token`
//! (completion tokens and watermarks), `auth`, `shard` (executors and the
//! cross-shard mesh), `server` (connection loop and endpoints), `config`.

pub mod auth;
pub mod config;
pub mod decode;
pub mod egress;
pub mod error;
pub mod http;
pub mod log;
pub mod server;
pub mod shard;
pub mod stop;
pub mod table;
pub mod token;
pub mod wal;
