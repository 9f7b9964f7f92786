//! Logs: `tracing` events to stderr, as text or one JSON object per line,
//! at the configured level. The server logs each start, stop, state change
//! and error as one event with fields (shard, pipeline, path, ...), never
//! per request: the hot path stays free of logging.

use tracing::Level;

use crate::config::LogConfig;

/// Install the global subscriber (once, at startup).
pub fn init(cfg: &LogConfig) {
    let level = match cfg.level.as_str() {
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "debug" => Level::DEBUG,
        _ => Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests that start twice in one process) keeps the first.
    let _ = if cfg.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
