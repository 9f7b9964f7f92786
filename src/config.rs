//! Configuration: one documented, validated struct read from TOML, with
//! command-line overrides. Every field names its unit last and states its
//! default; `docs/config.md` repeats them for operators.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::table::{parse_program, Table};

/// The configuration `cargo run` serves when no `--config` is given: one
/// pipeline, `demo`, with tables covering every supported type.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default-config.toml");

/// Every key with its default and a comment (`src/config-reference.toml`).
const REFERENCE_TOML: &str = include_str!("config-reference.toml");

/// What `sluice --print-default-config` prints: every key with its default
/// and a comment, then the embedded demo pipeline, so that the text is a
/// complete configuration a server starts with as it is.
pub fn reference_config() -> String {
    let demo = DEFAULT_CONFIG_TOML
        .find("[[pipeline]]")
        .map_or("", |at| &DEFAULT_CONFIG_TOML[at..]);
    format!("{REFERENCE_TOML}\n{demo}")
}

/// Compile-time ceilings that runtime knobs are validated against.
pub const SHARDS_MAX: usize = 256;
pub const PIPELINES_MAX: usize = 64;
pub const TABLES_MAX: usize = 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address every shard listens on (SO_REUSEPORT). Default 127.0.0.1:8080.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Number of shards (executors, one per core). Default: usable cores.
    pub shards: Option<usize>,
    /// CPU cores to pin shards to, in shard order. Default: 0, 1, 2, ...
    pub cores: Option<Vec<usize>>,
    /// How long an idle shard spins before it sleeps, microseconds: a
    /// burst of small requests then does not pay a wake-up per request, at
    /// the cost of that much CPU after each burst. Default 50.
    #[serde(default = "default_spin_before_park_us")]
    pub spin_before_park_us: u64,
    /// How long a shard runs tasks before it looks for I/O again,
    /// microseconds (glommio's preemption timer): a long body being decoded
    /// gives way at the next chunk after this much time. 500..=100000:
    /// glommio can sleep with tasks runnable (until its next event) when
    /// the timer fires before its first check, and a quota shorter than a
    /// thread may be descheduled for makes that likelier. Default 2000.
    #[serde(default = "default_task_quota_us")]
    pub task_quota_us: u64,
    /// Set up each shard's io_uring with `IORING_SETUP_COOP_TASKRUN`: a
    /// socket completion waits for the shard's next system call instead of
    /// interrupting it (an IPI per completion). Default true; the kernel
    /// needs 5.19, older ones get the ring without it.
    #[serde(default = "default_true")]
    pub io_uring_coop_taskrun: bool,
    /// Where durable state lives. Default ./sluice-data.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub egress: EgressConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// HTTPS instead of HTTP when present.
    pub tls: Option<TlsConfig>,
    #[serde(default, rename = "pipeline")]
    pub pipelines: Vec<PipelineConfig>,
    pub auth: Option<AuthConfig>,
}

/// HTTP limits and timeouts, per connection unless stated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Request line plus headers, bytes. Over it: 431. Default 65536.
    pub head_bytes_max: usize,
    /// Header fields per request. Over it: 431. Default 100.
    pub headers_max: usize,
    /// Request target length, bytes. Over it: 414. Default 8192.
    pub uri_bytes_max: usize,
    /// Request body, bytes. Over it: 413 (before reading when
    /// Content-Length says so). Default 1 GiB.
    pub body_bytes_max: u64,
    /// Time to receive a whole request head once its first byte arrived.
    /// Over it: 408 and close. Default 10000.
    pub header_timeout_ms: u64,
    /// Longest silence while a body is being received. Over it: 408 and
    /// close. Default 30000.
    pub body_idle_timeout_ms: u64,
    /// Idle keep-alive connection with no request started: closed.
    /// Default 60000.
    pub keepalive_timeout_ms: u64,
    /// After an error that closes the connection, how long unread input is
    /// drained so the client sees the response (lingering close). Default 2000.
    pub linger_ms: u64,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish
    /// (and logs to sync) before the process exits anyway. Default 10000.
    pub shutdown_grace_ms: u64,
    /// Per-connection read buffer, bytes; must exceed head_bytes_max.
    /// Default 262144.
    pub read_buffer_bytes: usize,
    /// Open connections per shard; past it new ones get 503 and close.
    /// Default 10000.
    pub connections_per_shard_max: usize,
    /// Read buffers a shard keeps for new connections when old ones close.
    /// Default 64.
    pub idle_buffers_max: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            head_bytes_max: 64 * 1024,
            headers_max: 100,
            uri_bytes_max: 8 * 1024,
            body_bytes_max: 1 << 30,
            header_timeout_ms: 10_000,
            body_idle_timeout_ms: 30_000,
            keepalive_timeout_ms: 60_000,
            linger_ms: 2_000,
            shutdown_grace_ms: 10_000,
            read_buffer_bytes: 256 * 1024,
            connections_per_shard_max: 10_000,
            idle_buffers_max: 64,
        }
    }
}

/// Decoding and hand-off to owner shards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// A decoded batch is sealed and sent to the table's owner at this many
    /// rows... Default 8192.
    pub batch_rows: usize,
    /// ...or once it spans this many body bytes. Default 1 MiB.
    pub batch_bytes: usize,
    /// Longest single record (CSV line, JSON value), bytes. Default 16 MiB.
    pub record_bytes_max: usize,
    /// Deepest JSON nesting. Default 128.
    pub json_depth_max: usize,
    /// Batches queued from one shard to one owner shard before the sender
    /// waits (back-pressure). Default 64.
    pub channel_batches_max: usize,
    /// Memory an owner keeps of each table's applied batches, bytes; the
    /// oldest are dropped past it (the durable log keeps everything).
    /// Default 64 MiB.
    pub table_memory_bytes_max: usize,
    /// Decoders a shard keeps between requests so that their column
    /// buffers are reused (each holds up to one batch). Default 32.
    pub idle_decoders_max: usize,
    /// A request whose whole body (`Content-Length`, no `Idempotency-Key`)
    /// is at most this many bytes and already read shares a batch with the
    /// other small requests of its shard and table (`shard::coalesce`);
    /// 0 turns sharing off. Default 16384.
    pub coalesce_bytes_max: usize,
    /// A request whose batch the table's owner does not take (its queue or
    /// log buffer full) within this long gets 503 `ServerOverloaded` and
    /// its connection closes. Default 10000.
    pub backpressure_wait_ms: u64,
    /// Ingress to a paused pipeline (without `force=true`) waits this long
    /// for a resume, reading nothing, then gets 503. Default 10000.
    pub paused_wait_ms: u64,
    /// `Idempotency-Key`s an owner remembers per table (the newest; about
    /// 200 bytes each). Default 65536.
    pub idempotency_keys_max: usize,
    /// Rows a keyed request may hold until its body ends (Arrow bytes);
    /// past it the request is refused with 413. Default 64 MiB.
    pub idempotent_bytes_max: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_rows: 8192,
            batch_bytes: 1 << 20,
            record_bytes_max: 16 << 20,
            json_depth_max: 128,
            channel_batches_max: 64,
            table_memory_bytes_max: 64 << 20,
            idle_decoders_max: 32,
            coalesce_bytes_max: 16 << 10,
            paused_wait_ms: 10_000,
            backpressure_wait_ms: 10_000,
            idempotency_keys_max: 65_536,
            idempotent_bytes_max: 64 << 20,
        }
    }
}

/// The write-ahead log under `data_dir/wal/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// Log applied batches and report tokens complete only once logged.
    /// `false` keeps rows in memory only (lost on restart). Default true.
    pub enabled: bool,
    /// `always`: a token completes only after the fdatasync that covers its
    /// rows (one sync serves every request waiting). `interval`: rows are
    /// written at once but synced at most every `fsync_interval_ms`, and
    /// tokens complete after the write: a crash can lose acknowledged rows
    /// of the last interval. Default always.
    pub fsync: FsyncPolicy,
    /// With `fsync = "interval"`. Default 100.
    pub fsync_interval_ms: u64,
    /// A segment file is closed and a new one started past this size,
    /// bytes. Default 64 MiB.
    pub segment_bytes_max: u64,
    /// Log bytes a shard may hold waiting for the disk; past it, owners
    /// stop taking batches (back-pressure up to the sockets). Default 32 MiB.
    pub buffer_bytes_max: usize,
    /// Each shard deletes its oldest segments while its log is larger,
    /// bytes (checked at each new segment). Default 1 GiB.
    pub retain_bytes_max: u64,
    /// Segments last written longer ago than this are deleted too,
    /// seconds; 0 (the default) keeps segments whatever their age. Checked
    /// when the log is written, at most once a minute.
    pub retain_age_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    Always,
    Interval,
}

/// HTTPS: a certificate chain and its key, PEM files (relative paths are
/// relative to the config file). No defaults: both are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Server logs (stderr): one line per start, stop, state change and error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info` or `debug`. Default `info`.
    pub level: String,
    /// `text` (human) or `json` (one object per line). Default `text`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// Change streams (`POST .../egress/{table}`), per owning shard.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Egress connections one table may have open; past it a new one gets
    /// 503 `EgressConnectionLimit`. Default 64.
    pub connections_per_table_max: usize,
    /// Changes queued for one egress connection, bytes of Arrow buffers.
    /// Past it a reader with `backpressure=true` is disconnected (with a
    /// last line saying why) and one with `backpressure=false` skips the
    /// oldest queued changes (and is told how many). Default 64 MiB.
    pub queue_bytes_max: usize,
    /// A write to an egress connection that makes no progress for this
    /// long disconnects it: a reader that stopped reading must not hold
    /// back tokens forever. Default 10000.
    pub write_timeout_ms: u64,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            connections_per_table_max: 64,
            queue_bytes_max: 64 << 20,
            write_timeout_ms: 10_000,
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            enabled: true,
            fsync: FsyncPolicy::Always,
            fsync_interval_ms: 100,
            segment_bytes_max: 64 << 20,
            buffer_bytes_max: 32 << 20,
            retain_bytes_max: 1 << 30,
            retain_age_s: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Pipeline name as used in URLs: [A-Za-z0-9_-], 1 to 64 bytes.
    pub name: String,
    /// A SQL program of CREATE TABLE statements.
    pub sql: String,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_data_dir() -> PathBuf {
    "./sluice-data".into()
}

fn default_spin_before_park_us() -> u64 {
    50
}

fn default_task_quota_us() -> u64 {
    2000
}

fn default_true() -> bool {
    true
}

/// A validated configuration, ready to serve.
#[derive(Debug, Clone)]
pub struct Validated {
    pub listen: SocketAddr,
    pub shards: usize,
    pub cores: Vec<usize>,
    pub spin_before_park_us: u64,
    pub task_quota_us: u64,
    pub io_uring_coop_taskrun: bool,
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub ingest: IngestConfig,
    pub wal: WalConfig,
    pub egress: EgressConfig,
    pub log: LogConfig,
    pub tls: Option<TlsConfig>,
    pub pipelines: Vec<(String, Vec<Table>)>,
    pub auth: Option<AuthConfig>,
    /// Directory of the config file; relative key paths resolve against it.
    pub base_dir: PathBuf,
    /// `--quarantine-corrupt`: start without a corrupt log segment (moved
    /// to `data_dir/wal/quarantine`) instead of refusing to start.
    pub quarantine_corrupt: bool,
}

/// Parse TOML text. Errors name the key (toml's messages do).
pub fn parse(text: &str) -> Result<Config, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

fn check(ok: bool, key: &str, why: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("invalid value for `{key}`: {why}"))
    }
}

impl Config {
    /// Check every value and parse the SQL programs.
    pub fn validate(self, base_dir: &Path) -> Result<Validated, String> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|e| format!("invalid value for `listen` ({}): {e}", self.listen))?;
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = self.shards.unwrap_or(usable);
        check(
            (1..=SHARDS_MAX).contains(&shards),
            "shards",
            &format!("must be 1..={SHARDS_MAX}"),
        )?;
        let cores = match self.cores {
            Some(c) => {
                check(c.len() == shards, "cores", "must list one core per shard")?;
                c
            }
            None => (0..shards).map(|i| i % usable).collect(),
        };
        check(
            (500..=100_000).contains(&self.task_quota_us),
            "task_quota_us",
            "must be 500..=100000",
        )?;
        let h = &self.http;
        check(
            h.head_bytes_max >= 1024,
            "http.head_bytes_max",
            "must be >= 1024",
        )?;
        check(
            (1..=crate::http::head::HEADERS_COUNT_CAP).contains(&h.headers_max),
            "http.headers_max",
            &format!("must be 1..={}", crate::http::head::HEADERS_COUNT_CAP),
        )?;
        check(h.uri_bytes_max >= 64, "http.uri_bytes_max", "must be >= 64")?;
        check(
            h.read_buffer_bytes > h.head_bytes_max,
            "http.read_buffer_bytes",
            "must exceed http.head_bytes_max",
        )?;
        check(
            h.connections_per_shard_max >= 1,
            "http.connections_per_shard_max",
            "must be >= 1",
        )?;
        for (key, v) in [
            ("http.header_timeout_ms", h.header_timeout_ms),
            ("http.body_idle_timeout_ms", h.body_idle_timeout_ms),
            ("http.keepalive_timeout_ms", h.keepalive_timeout_ms),
        ] {
            check(v >= 1, key, "must be >= 1")?;
        }
        let i = &self.ingest;
        check(i.batch_rows >= 1, "ingest.batch_rows", "must be >= 1")?;
        check(i.batch_bytes >= 1, "ingest.batch_bytes", "must be >= 1")?;
        check(
            i.record_bytes_max >= 64,
            "ingest.record_bytes_max",
            "must be >= 64",
        )?;
        check(
            (1..=1024).contains(&i.json_depth_max),
            "ingest.json_depth_max",
            "must be 1..=1024",
        )?;
        check(
            i.channel_batches_max >= 1,
            "ingest.channel_batches_max",
            "must be >= 1",
        )?;
        check(
            i.idempotency_keys_max >= 1,
            "ingest.idempotency_keys_max",
            "must be >= 1",
        )?;
        check(
            i.idempotent_bytes_max >= 1 << 16,
            "ingest.idempotent_bytes_max",
            "must be >= 65536",
        )?;
        check(
            matches!(self.log.level.as_str(), "error" | "warn" | "info" | "debug"),
            "log.level",
            "must be error, warn, info or debug",
        )?;
        check(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format",
            "must be text or json",
        )?;
        let e = &self.egress;
        check(
            e.connections_per_table_max >= 1,
            "egress.connections_per_table_max",
            "must be >= 1",
        )?;
        check(
            e.queue_bytes_max >= 1 << 16,
            "egress.queue_bytes_max",
            "must be >= 65536",
        )?;
        check(
            e.write_timeout_ms >= 1,
            "egress.write_timeout_ms",
            "must be >= 1",
        )?;
        let w = &self.wal;
        check(
            w.segment_bytes_max >= 1 << 20,
            "wal.segment_bytes_max",
            "must be >= 1 MiB",
        )?;
        check(
            w.retain_bytes_max >= w.segment_bytes_max,
            "wal.retain_bytes_max",
            "must be >= wal.segment_bytes_max",
        )?;
        check(
            w.buffer_bytes_max >= 1 << 16,
            "wal.buffer_bytes_max",
            "must be >= 64 KiB",
        )?;
        check(
            w.fsync_interval_ms >= 1,
            "wal.fsync_interval_ms",
            "must be >= 1",
        )?;
        check(
            (1..=PIPELINES_MAX).contains(&self.pipelines.len()),
            "pipeline",
            &format!("declare 1..={PIPELINES_MAX} [[pipeline]] tables"),
        )?;
        let mut pipelines: Vec<(String, Vec<Table>)> = Vec::new();
        for p in self.pipelines {
            check(
                !p.name.is_empty()
                    && p.name.len() <= 64
                    && p.name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "pipeline.name",
                &format!("{:?}: use 1 to 64 of [A-Za-z0-9_-]", p.name),
            )?;
            check(
                !pipelines.iter().any(|(n, _)| *n == p.name),
                "pipeline.name",
                &format!("{:?} is declared twice", p.name),
            )?;
            let tables = parse_program(&p.sql)
                .map_err(|e| format!("pipeline {:?}: SQL error at {e}", p.name))?;
            check(
                !tables.is_empty() && tables.len() <= TABLES_MAX,
                "pipeline.sql",
                &format!("{:?}: declare 1..={TABLES_MAX} tables", p.name),
            )?;
            pipelines.push((p.name, tables));
        }
        if let Some(auth) = &self.auth {
            // Loading keys here makes a bad key file a startup error.
            crate::auth::Authenticator::new(auth, base_dir)
                .map_err(|e| format!("invalid [auth]: {e}"))?;
        }
        Ok(Validated {
            listen,
            shards,
            cores,
            spin_before_park_us: self.spin_before_park_us,
            task_quota_us: self.task_quota_us,
            io_uring_coop_taskrun: self.io_uring_coop_taskrun,
            data_dir: self.data_dir,
            http: self.http,
            ingest: self.ingest,
            wal: self.wal,
            egress: self.egress,
            log: self.log,
            tls: self.tls,
            pipelines,
            auth: self.auth,
            base_dir: base_dir.to_path_buf(),
            quarantine_corrupt: false,
        })
    }
}

#[cfg(test)]
mod tests;
