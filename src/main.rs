//! `sluice`: args -> config -> validate -> start shards -> join.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use sluice::config::{self, DEFAULT_CONFIG_TOML};
use sluice::stop::StopSignals;

/// mimalloc rather than glibc malloc: with many small requests a shard
/// allocates and frees tens of small Arrow buffers per request, and glibc's
/// per-thread arenas spent up to a fifth of the shard's CPU on them
/// (`malloc_consolidate`, heap trims and regrowth with `mprotect`; perf
/// with one-row requests, loadtest/quick-bench.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Shard-per-core ingest server for Feldera's REST ingress API"
)]
struct Args {
    /// TOML configuration file (default: the embedded demo configuration).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Listen address, overrides `listen`.
    #[arg(long)]
    listen: Option<String>,
    /// Number of shards, overrides `shards`.
    #[arg(long)]
    shards: Option<usize>,
    /// Data directory, overrides `data_dir`.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Start even if a log segment is corrupt: move it to
    /// `data_dir/wal/quarantine` and go on without its records (they are
    /// lost); of a shard's last segment only the damaged rest is moved and
    /// the records before the damage are kept. Without it, a corrupt
    /// segment stops startup.
    #[arg(long)]
    quarantine_corrupt: bool,
    /// Print every configuration key with its default and what it does (a
    /// complete, commented TOML with the demo pipeline), then exit.
    #[arg(long)]
    print_default_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new API key and the SHA-256 digest to put in `[auth] api_key_hashes`.
    Keygen,
    /// Write a table's retained changes (from the log in the data directory)
    /// to an Arrow IPC file, with `_sluice_weight` and `_sluice_update` columns.
    Export {
        #[arg(long)]
        pipeline: String,
        #[arg(long)]
        table: String,
        /// Output file (Arrow IPC file format).
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    // A panic in any shard takes the whole server down: a server with a
    // dead executor would accept connections it can never serve.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));
    let args = Args::parse();
    if args.print_default_config {
        print!("{}", config::reference_config());
        return ExitCode::SUCCESS;
    }
    let result = match &args.command {
        Some(Command::Keygen) => {
            let (key, hash) = sluice::auth::keygen();
            println!("API key (give to the client; it is not stored): {key}");
            println!("Hash (put in [auth] api_key_hashes):            {hash}");
            Ok(())
        }
        Some(Command::Export {
            pipeline,
            table,
            out,
        }) => export(&args, pipeline, table, out),
        None => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::from(2)
        }
    }
}

fn export(args: &Args, pipeline: &str, table: &str, out: &Path) -> Result<(), String> {
    let cfg = load(args)?;
    let done = sluice::wal::export::export(&cfg, pipeline, table, out)?;
    println!(
        "wrote {} rows in {} batches to {}",
        done.rows,
        done.batches,
        out.display()
    );
    Ok(())
}

/// The configuration the arguments name, validated.
fn load(args: &Args) -> Result<config::Validated, String> {
    let (text, base_dir) = match &args.config {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        ),
        None => (DEFAULT_CONFIG_TOML.to_string(), PathBuf::from(".")),
    };
    let mut cfg = config::parse(&text).map_err(|e| match &args.config {
        Some(p) => format!("{}: {e}", p.display()),
        None => e,
    })?;
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
    }
    if args.shards.is_some() {
        cfg.shards = args.shards;
        cfg.cores = None;
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    let mut cfg = cfg.validate(&base_dir)?;
    cfg.quarantine_corrupt = args.quarantine_corrupt;
    Ok(cfg)
}

fn serve(args: Args) -> Result<(), String> {
    let cfg = load(&args)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create data_dir {}: {e}", cfg.data_dir.display()))?;
    let (shards, cores) = (cfg.shards, cfg.cores.clone());
    sluice::log::init(&cfg.log);
    let grace = Duration::from_millis(cfg.http.shutdown_grace_ms);
    let signals = StopSignals::block();
    let started = sluice::shard::run(cfg)?;
    println!(
        "sluice {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        started.listen
    );
    println!("shards: {shards} on cores {cores:?}");
    tracing::info!(listen = %started.listen, shards, cores = ?cores, "started");
    let reg = started.registry.clone();
    for p in &reg.pipelines {
        for t in &p.tables {
            println!(
                "  pipeline {} table {} -> shard {}",
                p.name, t.table.ident.name, t.owner
            );
        }
    }
    if let Some(p) = reg.pipelines.first() {
        if let Some(t) = p.tables.first() {
            println!(
                "try: curl -s -X POST 'http://{}/v0/pipelines/{}/ingress/{}?format=json&update_format=raw' -d '{}'",
                started.listen,
                p.name,
                t.table.ident.name,
                example_row(&t.table)
            );
        }
    }
    let name = signals.wait();
    tracing::info!(
        signal = name,
        grace_ms = grace.as_millis() as u64,
        "stopping: new connections refused, requests in flight finish, logs synced; a second \
         signal exits at once"
    );
    std::thread::spawn(move || {
        let name = signals.wait();
        tracing::warn!(signal = name, "second signal: exiting now");
        std::process::exit(1);
    });
    if sluice::stop::drain(&reg, grace) {
        tracing::info!("stopped cleanly");
        std::process::exit(0);
    }
    Err(format!(
        "requests were still in flight after http.shutdown_grace_ms ({} ms); exiting anyway \
         (their tokens resolve after a restart)",
        grace.as_millis()
    ))
}

/// A JSON row for the startup hint, with a plausible value per column.
fn example_row(t: &sluice::table::Table) -> String {
    use sluice::table::SqlType as T;
    let fields: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let v = match &c.sql_type {
                T::Boolean => "true".to_string(),
                T::TinyInt | T::SmallInt | T::Int | T::BigInt => "1".into(),
                T::UTinyInt | T::USmallInt | T::UInt | T::UBigInt => "1".into(),
                T::Real | T::Double => "1.5".into(),
                T::Decimal { .. } => "\"12.50\"".into(),
                T::Char(_) | T::Varchar(_) => "\"x\"".into(),
                T::Date => "\"2026-11-28\"".into(),
                T::Time => "\"12:00:00\"".into(),
                T::Timestamp => "\"2026-11-28 12:00:00\"".into(),
                T::Binary(_) | T::Varbinary(_) => "\"AAEC\"".into(),
                T::Uuid => "\"123e4567-e89b-12d3-a456-426614174000\"".into(),
                T::Variant => "{\"k\": [1, 2]}".into(),
                T::Array(_) => "[]".into(),
                T::Map(..) | T::Row(_) => "{}".into(),
            };
            format!("\"{}\": {v}", c.ident.name)
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}
