//! `sluice-load`: a single-core load generator for Feldera's REST ingress API,
//! as served by sluice.
//!
//! One pinned glommio executor drives N keep-alive connections that cycle
//! through a pool of pre-generated request bodies, so the measured loop is
//! only write / read / parse / record.

mod chart;
mod client;
mod gen;
mod host;
mod http;
mod report;
mod sampled;
mod schema;
mod tls;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use glommio::{LocalExecutorBuilder, Placement};

use crate::client::{CompletionConfig, OpenLoop, RunConfig};
use crate::gen::{Format, RowGen};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
}

/// What the target speaks: the request line and content type differ, the
/// bodies do not, so one run's bytes can be compared across systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PeerArg {
    /// Feldera's ingress API (sluice): `/v0/pipelines/{p}/ingress/{t}`.
    Feldera,
    /// ClickHouse's HTTP interface: `/?query=INSERT INTO {t} FORMAT CSV`
    /// (or `JSONEachRow`, which is what the JSON bodies are: one object a line).
    Clickhouse,
}

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Load generator for sluice's Feldera-compatible ingress API",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Server address. Only loopback is accepted unless --allow-remote.
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: String,
    /// Permit a non-loopback target (load tests here must stay on loopback).
    #[arg(long)]
    allow_remote: bool,
    #[arg(long, default_value = "demo")]
    pipeline: String,
    #[arg(long, default_value = "t")]
    table: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// The API the target speaks (same bodies either way).
    #[arg(long, value_enum, default_value = "feldera")]
    peer: PeerArg,
    /// POST to this path (and query) instead of the one --peer builds, sent
    /// as given (percent-encode it yourself).
    #[arg(long)]
    path: Option<String>,
    /// Write the request bodies to DIR (body-NNNN.csv or .json, the pool in
    /// the order it is sent) and exit without sending: the same bytes for
    /// tools that do not speak HTTP (psql COPY, pyarrow).
    #[arg(long, value_name = "DIR")]
    dump_bodies: Option<std::path::PathBuf>,
    /// Comma list of column types, e.g. `bigint,varchar(20),decimal(10,2),int array`
    /// (every type sluice takes, nested ones included), or `server`: ask the
    /// target for the table's columns, names and types (`GET
    /// /v0/pipelines/{pipeline}`).
    #[arg(long, default_value = gen::DEFAULT_COLUMNS)]
    columns: String,
    /// Column names for JSON rows (default c0, c1, ...; with `--columns
    /// server`, the table's).
    #[arg(long, value_delimiter = ',')]
    names: Option<Vec<String>>,
    /// Rows per request body.
    #[arg(long, default_value_t = 1, conflicts_with = "body_bytes")]
    rows_per_request: usize,
    /// Instead of a row count, fill each body up to about this many bytes.
    #[arg(long)]
    body_bytes: Option<usize>,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Closed loop: each connection writes this many requests back to back
    /// (small ones in one write), then reads their answers in order (HTTP/1.1
    /// pipelining, as wrk's pipeline script); latency counts from the write.
    #[arg(long, default_value_t = 1, conflicts_with = "rate")]
    pipelining: usize,
    /// Measured run length (default 10 s unless --requests is given).
    #[arg(long)]
    duration_s: Option<f64>,
    /// Stop after this many measured requests.
    #[arg(long)]
    requests: Option<u64>,
    /// Unmeasured warm-up before the measured run.
    #[arg(long, default_value_t = 0.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Send bodies with Transfer-Encoding: chunked instead of Content-Length.
    #[arg(long)]
    chunked: bool,
    /// After the run, poll completion_status for each connection's last token.
    #[arg(long)]
    completion: bool,
    /// During the run, measure how long after its response every Nth
    /// token (per connection) reports complete (one extra polling
    /// connection; see loadtest/README.md).
    #[arg(long)]
    completion_sample: Option<u64>,
    /// Give up on completion polling after this long.
    #[arg(long, default_value_t = 30.0)]
    completion_timeout_s: f64,
    /// Per-operation (connect, write, read) timeout.
    #[arg(long, default_value_t = 10.0)]
    timeout_s: f64,
    /// Distinct pre-generated bodies to cycle through (default: up to 256, ~64 MB).
    #[arg(long)]
    pool: Option<usize>,
    #[arg(long)]
    json_report: Option<std::path::PathBuf>,
    /// Write the latency distribution as HdrHistogram `.hgrm` text.
    #[arg(long)]
    hgrm: Option<std::path::PathBuf>,
    /// CPU to pin the generator to (default: the last online CPU).
    #[arg(long)]
    core: Option<usize>,
    /// Sent as `Authorization: Bearer KEY`.
    #[arg(long)]
    api_key: Option<String>,
    /// Open loop: send this many requests per second in total, on a fixed
    /// schedule shared out over the connections; latency counts from when
    /// each request was due (coordinated-omission corrected, as wrk2).
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: a request sent more than this after it was due counts as
    /// a late send.
    #[arg(long, default_value_t = 1.0)]
    late_ms: f64,
    /// Server process whose CPU time to read before and after the measured
    /// run (rows and MB per server CPU-second), or `auto`: the processes
    /// listening on the target's port (found through /proc).
    #[arg(long)]
    server_pid: Option<String>,
    /// Speak HTTPS (TLS 1.2 or 1.3 by rustls) on every connection,
    /// completion polling included. Needs --ca-file or --insecure: no
    /// system roots are loaded.
    #[arg(long)]
    tls: bool,
    /// With --tls: trust the certificates in this PEM file (the CA that
    /// signed the server's certificate).
    #[arg(long, value_name = "PEM", requires = "tls")]
    ca_file: Option<std::path::PathBuf>,
    /// With --tls: accept ANY server certificate, unverified (the handshake
    /// signatures are still checked, so the cost is real). For benchmarking
    /// only: it offers no protection against an impostor.
    #[arg(long, requires = "tls", conflicts_with = "ca_file")]
    insecure: bool,
    /// With --tls: the name the server's certificate must carry, sent as
    /// SNI when it is a DNS name (default: the --target's host; an IP
    /// address is matched against the certificate's IP SANs).
    #[arg(long, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Draw latency percentile distributions (.hgrm files or --json-report
    /// files) as one SVG chart, on HdrHistogram's 1/(1-p) axis.
    Chart(chart::ChartArgs),
}

/// Refuses non-loopback targets unless explicitly allowed: every address the
/// name resolves to must be loopback, so a DNS name cannot sneak past.
fn resolve_target(target: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target:?}: {e}"))?
        .collect();
    let first = *addrs
        .first()
        .ok_or(format!("{target:?} resolves to nothing"))?;
    if !allow_remote {
        if let Some(bad) = addrs.iter().find(|a| !is_loopback(a.ip())) {
            return Err(format!(
                "{bad} is not a loopback address; load tests may only target \
                 127.0.0.0/8 or ::1 (pass --allow-remote to override)"
            ));
        }
    }
    Ok(first)
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        // ::ffff:127.x.y.z is the same loopback host seen through IPv6.
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Deepest `--pipelining`: past a few dozen requests in flight per
/// connection nothing is saved (the writes are already gathered), and the
/// answers of a burst must fit the socket buffers, which the generator does
/// not drain until the whole burst is written.
const PIPELINING_MAX: usize = 256;

fn depth(a: &Args) -> Result<usize, String> {
    if !(1..=PIPELINING_MAX).contains(&a.pipelining) {
        return Err(format!(
            "--pipelining must be between 1 and {PIPELINING_MAX}"
        ));
    }
    Ok(a.pipelining)
}

fn secs(s: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("--{what} must be a non-negative number"))
}

fn fmt_q_name(f: FormatArg) -> &'static str {
    match f {
        FormatArg::Csv => "csv",
        FormatArg::Json => "json",
    }
}

/// The table's column types and JSON names: from `--columns` and
/// `--names`, or with `--columns server` from the target.
fn table_columns(a: &Args) -> Result<schema::TableCols, String> {
    if a.columns.eq_ignore_ascii_case("server") {
        if a.peer != PeerArg::Feldera {
            return Err(
                "--columns server asks a Feldera API; give the types for this --peer".into(),
            );
        }
        if a.names.is_some() {
            return Err("--columns server takes the names from the server; drop --names".into());
        }
        let tls = tls_target(a)?;
        let f = schema::Fetch {
            addr: resolve_target(&a.target, a.allow_remote)?,
            host: &a.target,
            pipeline: &a.pipeline,
            api_key: a.api_key.as_deref(),
            tls: tls.as_ref(),
            timeout: secs(a.timeout_s, "timeout-s")?.max(Duration::from_millis(1)),
        };
        return schema::fetch(&f, &a.table);
    }
    let cols = gen::parse_columns(&a.columns)?;
    let names = match &a.names {
        Some(n) if n.len() != cols.len() => {
            return Err(format!(
                "--names has {} names for {} columns",
                n.len(),
                cols.len()
            ))
        }
        Some(n) => n.clone(),
        None => (0..cols.len()).map(|i| format!("c{i}")).collect(),
    };
    Ok(schema::TableCols {
        cols,
        names,
        url_name: a.table.clone(),
    })
}

fn build_pool(a: &Args) -> Result<Vec<http::Request>, String> {
    pool_for(a, table_columns(a)?)
}

/// The request pool for a table's columns.
fn pool_for(a: &Args, table: schema::TableCols) -> Result<Vec<http::Request>, String> {
    let schema::TableCols {
        cols,
        names,
        url_name,
    } = table;
    let (format, ctype) = match a.format {
        FormatArg::Csv => (Format::Csv, "text/csv"),
        FormatArg::Json => (Format::Json, "application/json"),
    };
    let path = request_path(a, &url_name);
    let params = http::RequestParams {
        host: &a.target,
        path: &path,
        content_type: ctype,
        api_key: a.api_key.as_deref(),
        chunked: a.chunked,
    };
    let mut g = RowGen::new(cols, names, format, a.seed);
    let mut body = Vec::new();
    let mut pool = Vec::new();
    loop {
        body.clear();
        let rows = g.write_body(&mut body, a.rows_per_request, a.body_bytes);
        pool.push(http::build_post(&params, &body, rows));
        // Enough distinct bodies that caches do not flatter the server, but
        // bounded (~64 MB) so big bodies do not exhaust memory.
        let want = a
            .pool
            .unwrap_or_else(|| (64 << 20) / pool[0].wire.len().max(1))
            .clamp(1, 256);
        if pool.len() >= want {
            return Ok(pool);
        }
    }
}

/// The POST target; `table` as the URL names it (`TableCols::url_name`).
fn request_path(a: &Args, table: &str) -> String {
    if let Some(p) = &a.path {
        return p.clone();
    }
    let fmt_q = fmt_q_name(a.format);
    match a.peer {
        PeerArg::Feldera => format!(
            "/v0/pipelines/{}/ingress/{}?format={fmt_q}&update_format=raw",
            http::pct(&a.pipeline),
            http::pct(table)
        ),
        PeerArg::Clickhouse => {
            let ch_format = match a.format {
                FormatArg::Csv => "CSV",
                FormatArg::Json => "JSONEachRow",
            };
            let q = format!("INSERT INTO {} FORMAT {ch_format}", a.table);
            format!("/?query={}", http::pct(&q))
        }
    }
}

/// The path and query a pre-built request goes to, from its request line.
fn request_line_path(r: &http::Request) -> String {
    let line = r.wire.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    line.split(' ').nth(1).unwrap_or_default().to_string()
}

/// `--dump-bodies`: the pool's bodies as files, so non-HTTP peers read the
/// very bytes the HTTP peers are sent.
fn dump_bodies(dir: &std::path::Path, a: &Args, pool: &[http::Request]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ext = fmt_q_name(a.format);
    let (mut bytes, mut rows) = (0usize, 0u64);
    for (i, r) in pool.iter().enumerate() {
        // The body is the tail of the wire request (Content-Length framing).
        let body = &r.wire[r.wire.len() - r.body_len..];
        let p = dir.join(format!("body-{i:04}.{ext}"));
        std::fs::write(&p, body).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        bytes += body.len();
        rows += r.rows;
    }
    println!(
        "wrote {} bodies, {bytes} bytes, {rows} rows to {}",
        pool.len(),
        dir.display()
    );
    Ok(())
}

/// The server pids to watch: none, one given, or those listening on the
/// target's port.
fn server_pids(arg: Option<&str>, addr: SocketAddr) -> Result<Vec<u32>, String> {
    match arg {
        None => Ok(Vec::new()),
        Some("auto") => {
            let pids = host::find_listeners(addr.port(), std::process::id());
            if pids.is_empty() {
                return Err(format!(
                    "--server-pid auto: no process of this user listens on port {} \
                     (pass the pid instead)",
                    addr.port()
                ));
            }
            Ok(pids)
        }
        Some(p) => {
            let pid: u32 = p
                .parse()
                .map_err(|_| format!("--server-pid takes a pid or `auto`, not {p:?}"))?;
            if !std::path::Path::new(&format!("/proc/{pid}/stat")).exists() {
                return Err(format!("--server-pid {pid}: no such process"));
            }
            Ok(vec![pid])
        }
    }
}

fn open_loop(a: &Args) -> Result<Option<OpenLoop>, String> {
    let Some(rate) = a.rate else {
        return Ok(None);
    };
    // Beyond a million requests per second one core could not keep any
    // schedule; below one a run would mostly sleep.
    if !(1.0..=1e6).contains(&rate) {
        return Err("--rate must be between 1 and 1000000 requests per second".into());
    }
    Ok(Some(OpenLoop {
        rate_per_s: rate,
        late: secs(a.late_ms / 1e3, "late-ms")?,
    }))
}

/// `--tls` and its options: the client settings, or `None` for plain HTTP.
fn tls_target(a: &Args) -> Result<Option<tls::TlsTarget>, String> {
    if !a.tls {
        return Ok(None);
    }
    let trust = match (&a.ca_file, a.insecure) {
        (Some(p), _) => tls::Trust::CaFile(p),
        (None, true) => tls::Trust::Insecure,
        (None, false) => {
            return Err(
                "--tls needs --ca-file PEM (no system roots are loaded here) \
                        or --insecure (benchmarking only)"
                    .into(),
            )
        }
    };
    Ok(Some(tls::TlsTarget {
        config: tls::client_config(trust)?,
        name: tls::server_name(a.server_name.as_deref(), &a.target)?,
    }))
}

fn run(a: Args) -> Result<(), String> {
    if let Some(Command::Chart(c)) = &a.command {
        return chart::run(c);
    }
    if let Some(dir) = &a.dump_bodies {
        if a.chunked {
            return Err("--dump-bodies writes plain bodies; drop --chunked".into());
        }
        return dump_bodies(dir, &a, &build_pool(&a)?);
    }
    if a.peer != PeerArg::Feldera && (a.completion || a.completion_sample.is_some()) {
        return Err("completion tokens are Feldera's; drop --completion for this --peer".into());
    }
    let addr = resolve_target(&a.target, a.allow_remote)?;
    if a.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let duration = match (a.duration_s, a.requests) {
        (Some(d), _) => Some(secs(d, "duration-s")?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let warmup = secs(a.warmup_s, "warmup-s")?;
    let tls = tls_target(&a)?;
    let table = table_columns(&a)?;
    // What the report records as the columns: the types, resolved when
    // they came from the server.
    let columns: Vec<String> = table.cols.iter().map(|t| t.to_string()).collect();
    let names = table.names.clone();
    let pool = pool_for(&a, table)?;
    let poll = || CompletionConfig {
        path_prefix: format!(
            "/v0/pipelines/{}/completion_status?token=",
            http::pct(&a.pipeline)
        ),
        host: a.target.clone(),
        api_key: a.api_key.clone(),
        timeout: Duration::from_secs_f64(a.completion_timeout_s.max(0.0)),
        poll_interval: Duration::from_millis(1),
    };
    let completion = a.completion.then(poll);
    let sample = a.completion_sample.map(|n| (n.max(1), poll()));
    let cfg = RunConfig {
        addr,
        connections: a.connections,
        depth: depth(&a)?,
        warmup,
        duration,
        requests: a.requests,
        timeout: secs(a.timeout_s, "timeout-s")?.max(Duration::from_millis(1)),
        // Runs of unknown length may be long, so they get progress too.
        progress: duration.is_none_or(|d| d + warmup > Duration::from_secs(5)),
        completion,
        sample,
        open_loop: open_loop(&a)?,
        server_pids: server_pids(a.server_pid.as_deref(), addr)?,
        tls,
    };
    let server = cfg.server_pids.clone();
    let core = match a.core {
        Some(c) => c,
        None => glommio::CpuSet::online()
            .map_err(|e| format!("cannot list CPUs: {e}"))?
            .into_iter()
            .map(|l| l.cpu)
            .max()
            .unwrap_or(0),
    };
    let avg_body = pool.iter().map(|r| r.body_len).sum::<usize>() / pool.len();
    let avg_rows = pool.iter().map(|r| r.rows).sum::<u64>() as f64 / pool.len() as f64;
    let scheme = if a.tls { "https" } else { "http" };
    eprintln!(
        "sluice-load: {} {scheme} connections to {addr} on core {core}; {} bodies of ~{avg_body} bytes / {avg_rows:.1} rows ({:?}{}){}{}",
        a.connections,
        pool.len(),
        a.format,
        if a.chunked { ", chunked" } else { "" },
        a.rate.map_or(String::new(), |r| format!("; open loop at {r} req/s")),
        if server.is_empty() { String::new() } else { format!("; server pids {server:?}") },
    );
    // As the server does (`io_uring_coop_taskrun`): on loopback the server's
    // `sendto` runs this side's receive path, and without the flag every
    // response that completes one of our socket polls interrupts this core
    // (an inter-processor interrupt that the server's CPU pays for). The
    // servers of a comparison share that saving; loadtest/README.md has
    // the measurement.
    glommio::set_coop_taskrun(true);
    let ex = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("sluice-load")
        .make()
        .map_err(|e| format!("cannot start executor on core {core}: {e}"))?;
    let pool_len = pool.len();
    let path_sent = request_line_path(&pool[0]);
    let stats = ex.run(client::run(cfg, pool));
    let title = format!(
        "sluice-load {} {}/{} -> {scheme}://{addr}, {} connections, {}",
        fmt_q_name(a.format),
        a.pipeline,
        a.table,
        a.connections,
        match (a.rate, a.pipelining) {
            (Some(r), _) => format!("open loop at {r} req/s"),
            (None, 1) => "closed loop".into(),
            (None, d) => format!("closed loop, pipelining {d}"),
        },
    );
    print!("{}", report::summary(&stats, &title));
    if let Some(p) = &a.json_report {
        let config = serde_json::json!({
            "target": addr.to_string(), "pipeline": a.pipeline, "table": a.table,
            "format": fmt_q_name(a.format), "columns": columns.join(","), "names": names,
            "columns_from": if a.columns.eq_ignore_ascii_case("server") { "server" } else { "--columns" },
            "peer": format!("{:?}", a.peer).to_lowercase(), "path": path_sent,
            "rows_per_request": a.rows_per_request, "body_bytes": a.body_bytes,
            "connections": a.connections, "pipelining": a.pipelining, "duration_s": a.duration_s, "requests": a.requests,
            "warmup_s": a.warmup_s, "seed": a.seed, "chunked": a.chunked, "core": core,
            "pool": pool_len, "rate": a.rate, "late_ms": a.late_ms,
            "server_pid": a.server_pid, "tls": a.tls, "insecure": a.insecure,
            "ca_file": a.ca_file, "server_name": a.server_name,
        });
        let j = report::json_report(&stats, config);
        let text = serde_json::to_string_pretty(&j).expect("serialisable");
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = &a.hgrm {
        std::fs::write(p, report::hgrm(&stats.hist))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-load: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests;
