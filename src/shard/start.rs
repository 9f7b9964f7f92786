//! Starting the shards: channels of the mesh, executors pinned to cores,
//! listeners bound (shard 0 first, so that port 0 resolves to one port that
//! the others then share through SO_REUSEPORT).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};

use super::recovery::{self, Recovered};
use super::{receive_loop, Registry, Shard, ShardWal, TableStore, ToOwner};
use crate::auth::Authenticator;
use crate::config::Validated;

/// Running shards.
pub struct Started {
    /// The address actually bound (port 0 resolved).
    pub listen: SocketAddr,
    pub registry: Arc<Registry>,
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
}

impl Started {
    /// Wait for every shard to stop (they run until the process exits).
    pub fn join(self) -> Result<(), String> {
        for h in self.handles {
            h.join().map_err(|e| format!("a shard failed: {e}"))?;
        }
        Ok(())
    }
}

type Mesh = (
    Vec<Vec<Option<SharedSender<ToOwner>>>>,
    Vec<Vec<SharedReceiver<ToOwner>>>,
);

/// One bounded channel per ordered pair of distinct shards.
fn mesh(shards: usize, depth: usize) -> Mesh {
    let mut senders: Vec<Vec<Option<SharedSender<ToOwner>>>> = (0..shards)
        .map(|_| (0..shards).map(|_| None).collect())
        .collect();
    let mut receivers: Vec<Vec<SharedReceiver<ToOwner>>> =
        (0..shards).map(|_| Vec::new()).collect();
    for (from, row) in senders.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(depth);
                *slot = Some(tx);
                receivers[to].push(rx);
            }
        }
    }
    (senders, receivers)
}

/// Start every shard; returns once all listen.
pub fn run(cfg: Validated) -> Result<Started, String> {
    refuse_shared_port(cfg.listen)?;
    let faults = crate::wal::faults::FaultPlan::from_env()?;
    let tls = match &cfg.tls {
        Some(t) => Some(crate::server::transport::server_config(t, &cfg.base_dir)?),
        None => None,
    };
    if let Some(f) = &faults {
        tracing::warn!(plan = ?f, "SLUICE_FAULTS is set: injecting storage faults (tests only)");
    }
    let cfg = Arc::new(cfg);
    let registry = Arc::new(Registry::new(&cfg));
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.data_dir.display()))?;
    super::lifecycle::load(&registry, &cfg.data_dir)?;
    let recovered = recovery::recover(&cfg, &registry)?;
    report(&recovered);
    let Recovered {
        mut stores,
        past_runs,
        next_seq,
        ..
    } = recovered;
    registry
        .past_runs
        .set(past_runs)
        .unwrap_or_else(|_| unreachable!("set once"));
    let (senders, receivers) = mesh(cfg.shards, cfg.ingest.channel_batches_max);
    let mut handles = Vec::with_capacity(cfg.shards);
    let mut listen = cfg.listen;
    // Read by each executor as it sets up its rings (see the config docs).
    glommio::set_coop_taskrun(cfg.io_uring_coop_taskrun);
    for (id, (tx, rx)) in senders.into_iter().zip(receivers).enumerate() {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let (cfg, registry) = (cfg.clone(), registry.clone());
        let owned = owned_stores(&registry, &mut stores, id);
        let seq = next_seq[id];
        let faults = faults.clone();
        let tls = tls.clone();
        let core = cfg.cores[id];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&format!("shard-{id}"))
            // Short spin before sleeping: a burst of small requests on a
            // busy shard should not pay a wake-up per request.
            .spin_before_park(Duration::from_micros(cfg.spin_before_park_us))
            // Long tasks (a big body's decode loop) give way this often,
            // so that other connections' I/O is looked at: with glommio's
            // default of 100 ms, 1 MiB bodies with the log had twice the
            // p99 latency (loadtest/server-ab.sh, README's Results).
            .preempt_timer(Duration::from_micros(cfg.task_quota_us))
            .spawn(move || async move {
                let start = ShardStart {
                    id,
                    cfg,
                    registry,
                    stores: owned,
                    seq,
                    faults,
                    tls,
                };
                shard_main(start, tx, rx, listen, ready_tx).await;
            })
            .map_err(|e| format!("cannot start shard {id} on core {core}: {e}"))?;
        let bound = ready_rx
            .recv()
            .map_err(|_| format!("shard {id} stopped while starting"))??;
        listen = bound;
        handles.push(handle);
    }
    if cfg.io_uring_coop_taskrun && glommio::coop_taskrun_refused() {
        tracing::warn!(
            "io_uring_coop_taskrun: the kernel refused IORING_SETUP_COOP_TASKRUN (it needs \
             Linux 5.19); shards run with the default rings"
        );
    }
    Ok(Started {
        listen,
        registry,
        handles,
    })
}

/// SO_REUSEPORT would let a second server bind our port and silently take
/// half the connections. A plain bind (no SO_REUSEPORT) fails while any
/// listener holds the port, so try one first and release it.
fn refuse_shared_port(addr: SocketAddr) -> Result<(), String> {
    if addr.port() == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| format!("cannot listen on {addr}: {e} (is another server running?)"))
}

/// What one shard starts from.
struct ShardStart {
    id: usize,
    cfg: Arc<Validated>,
    registry: Arc<Registry>,
    /// [pipeline][table]: the recovered stores of the tables it owns.
    stores: Vec<Vec<Option<TableStore>>>,
    /// Sequence number of its next log segment.
    seq: u64,
    /// Injected storage faults (tests only).
    faults: Option<crate::wal::faults::FaultPlan>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Take the stores of the tables shard `id` owns out of `all`.
fn owned_stores(
    reg: &Registry,
    all: &mut [Vec<Option<TableStore>>],
    id: usize,
) -> Vec<Vec<Option<TableStore>>> {
    reg.pipelines
        .iter()
        .zip(all.iter_mut())
        .map(|(p, stores)| {
            p.tables
                .iter()
                .zip(stores.iter_mut())
                .map(|(t, s)| if t.owner == id { s.take() } else { None })
                .collect()
        })
        .collect()
}

fn report(r: &Recovered) {
    for (path, why) in &r.quarantined {
        tracing::error!(
            moved_to = %path.display(),
            why = %why,
            "QUARANTINED a corrupt log segment: its records are not loaded and are lost to this \
             server (tokens of earlier runs may still report them complete)"
        );
    }
    for (path, at) in &r.truncated {
        tracing::warn!(
            segment = %path.display(),
            at,
            "torn log tail cut (a write in progress at the last stop; never acknowledged)"
        );
    }
    if r.records > 0 || r.skipped > 0 {
        tracing::info!(
            records = r.records,
            skipped = r.skipped,
            "recovered the log (skipped: records of tables no longer declared, or with other \
             columns)"
        );
    }
}

async fn shard_main(
    start: ShardStart,
    tx: Vec<Option<SharedSender<ToOwner>>>,
    rx: Vec<SharedReceiver<ToOwner>>,
    listen: SocketAddr,
    ready: mpsc::Sender<Result<SocketAddr, String>>,
) {
    let ShardStart {
        id,
        cfg,
        registry,
        stores,
        seq,
        faults,
        tls,
    } = start;
    let auth = match cfg
        .auth
        .as_ref()
        .map(|a| Authenticator::new(a, &cfg.base_dir))
    {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            let _ = ready.send(Err(format!("[auth]: {e}")));
            return;
        }
    };
    let listener = match glommio::net::TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot listen on {listen}: {e}")));
            return;
        }
    };
    let bound = listener.local_addr().unwrap_or(listen);
    // Report the bound address first: the next shard is only started after
    // this, and connecting a channel end waits for its peer to connect.
    let _ = ready.send(Ok(bound));
    // Connect every channel end concurrently (spawned tasks), then wait.
    let tx: Vec<_> = tx
        .into_iter()
        .map(|s| s.map(|s| glommio::spawn_local(s.connect())))
        .collect();
    let rx: Vec<_> = rx
        .into_iter()
        .map(|r| glommio::spawn_local(r.connect()))
        .collect();
    let mut senders = Vec::with_capacity(tx.len());
    for s in tx {
        senders.push(match s {
            Some(task) => Some(task.await),
            None => None,
        });
    }
    let wal = cfg
        .wal
        .enabled
        .then(|| Rc::new(ShardWal::new(&cfg.wal, registry.clone(), id)));
    let shard = Rc::new(Shard::new(
        id,
        registry.clone(),
        cfg.clone(),
        super::Front { auth, tls },
        senders,
        stores,
        wal.clone(),
    ));
    if let Some(w) = &wal {
        let dir = recovery::shard_dir(&cfg.data_dir, id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::error!(dir = %dir.display(), error = %e, "cannot create the log directory");
            std::process::exit(1);
        }
        let hubs = shard.egress.clone();
        w.begin_at(seq);
        let task = w.clone().sync_loop(
            registry,
            hubs,
            super::wal::LogAt {
                cfg: cfg.wal.clone(),
                dir,
                shard: id,
                seq,
                faults,
            },
        );
        glommio::spawn_local(task).detach();
    }
    for r in rx {
        let r = r.await;
        glommio::spawn_local(receive_loop(shard.clone(), r)).detach();
    }
    glommio::spawn_local(super::coalesce::flush_loop(shard.clone())).detach();
    crate::server::accept_loop(shard.clone(), listener).await;
    // Stopping: connections and the log go on (returning would drop their
    // tasks) while the main thread waits for every shard to drain.
    shard.drain().await;
}
