//! Pipeline states (Feldera's `deployment_status`): Running, Paused,
//! Stopped. Each pipeline's state is one atomic in the registry, read by
//! every shard at the start of each ingress request, and kept across
//! restarts in `data_dir/pipeline-states.json` (written whole, synced, then
//! renamed over the old file, so a crash leaves the old or the new one).
//!
//! What a state does to ingress: Running takes rows; Paused holds a request
//! without reading its body (TCP back-pressure) until the pipeline resumes
//! or `ingest.paused_wait_ms` passes (then 503 with `Retry-After`), unless
//! it says `force=true`, which ingests as if running; Stopped answers 503 at
//! once. Rows already accepted are not affected by any state: they are
//! applied, logged and streamed as usual.
//!
//! Pause and stop are barriers (`Senders`): when they return, no shard
//! hands over another batch of a request without `force` until a resume,
//! whether the request is new or halfway through its body. A request in
//! progress meets the new state at its next batch and is held there (its
//! body not read further) exactly as a new request is held at its start.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::Registry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running = 0,
    Paused = 1,
    Stopped = 2,
}

impl State {
    /// Feldera's name, as `deployment_status` reports it.
    pub fn name(self) -> &'static str {
        match self {
            State::Running => "Running",
            State::Paused => "Paused",
            State::Stopped => "Stopped",
        }
    }

    fn from_name(s: &str) -> Option<State> {
        match s {
            "Running" => Some(State::Running),
            "Paused" => Some(State::Paused),
            "Stopped" => Some(State::Stopped),
            _ => None,
        }
    }
}

/// A pipeline's state, shared by all shards.
#[derive(Debug)]
pub struct StateCell(AtomicU8);

impl Default for StateCell {
    fn default() -> Self {
        StateCell(AtomicU8::new(State::Running as u8))
    }
}

impl StateCell {
    /// SeqCst, as `Senders` needs (a plain load on x86).
    pub fn get(&self) -> State {
        match self.0.load(Ordering::SeqCst) {
            0 => State::Running,
            1 => State::Paused,
            _ => State::Stopped,
        }
    }

    fn set(&self, s: State) {
        self.0.store(s as u8, Ordering::SeqCst);
    }
}

/// Per pipeline, per shard: batches being handed to owners right now, of
/// all requests and of those without `force`. A sender counts itself in
/// and then reads the state; a pause (stop) sets the state and then waits
/// for the counts of requests without `force` (of all requests) to be
/// zero. All four operations are SeqCst, so of a sender and a state change
/// running at once, at least one sees the other: either the sender sees
/// the new state (and holds its batch), or the change waits for the
/// sender. The counters of a shard have a cache line of their own, so
/// that senders on different cores do not share one.
#[derive(Debug)]
pub struct Senders(Box<[Counts]>);

#[derive(Debug, Default)]
#[repr(align(64))]
struct Counts {
    all: AtomicU32,
    unforced: AtomicU32,
}

/// A sender counted in; counted out when dropped.
pub struct Sending<'a> {
    counts: &'a Counts,
    force: bool,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if !self.force {
            self.counts.unforced.fetch_sub(1, Ordering::SeqCst);
        }
        self.counts.all.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Senders {
    pub fn new(shards: usize) -> Senders {
        Senders((0..shards).map(|_| Counts::default()).collect())
    }

    /// Count a sender on `shard` in (read the state after this).
    pub fn enter(&self, shard: usize, force: bool) -> Sending<'_> {
        let counts = &self.0[shard];
        counts.all.fetch_add(1, Ordering::SeqCst);
        if !force {
            counts.unforced.fetch_add(1, Ordering::SeqCst);
        }
        Sending { counts, force }
    }

    /// No sender of a request without `force` (of any request: `all`).
    fn idle(&self, all: bool) -> bool {
        self.0.iter().all(|c| {
            let n = if all { &c.all } else { &c.unforced };
            n.load(Ordering::SeqCst) == 0
        })
    }

    /// After a pause (`all` false: `force` requests go on) or a stop
    /// (`all` true): wait until no sender that may have read the old state
    /// is still handing a batch over, polling (a hand-over takes at most
    /// `ingest.backpressure_wait_ms`, then gives up). False when `within`
    /// passed first.
    pub async fn drained(&self, all: bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.idle(all) {
            if Instant::now() >= deadline {
                return false;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        true
    }
}

fn states_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pipeline-states.json")
}

/// Load the states saved by an earlier run (pipelines not named there, or
/// no file at all: Running).
pub fn load(reg: &Registry, data_dir: &Path) -> Result<(), String> {
    let path = states_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let saved: BTreeMap<String, String> =
        serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))?;
    for p in &reg.pipelines {
        if let Some(s) = saved.get(&p.name) {
            let state = State::from_name(s)
                .ok_or_else(|| format!("{}: unknown state {s:?}", path.display()))?;
            p.state.set(state);
        }
    }
    Ok(())
}

/// Change a pipeline's state (every shard sees it at once) and save every
/// state durably. Blocking file I/O and a lock shared by the shards: run it
/// off the executor (`spawn_blocking`). A failed save is reported; the
/// state still applies to this run.
pub fn change(reg: &Registry, pipeline: usize, to: State, data_dir: &Path) -> std::io::Result<()> {
    // One change at a time across shards keeps the saved file equal to the
    // last change, which two shards saving at once could otherwise reorder.
    let _one_at_a_time = reg.state_lock.lock().unwrap_or_else(|e| e.into_inner());
    reg.pipelines[pipeline].state.set(to);
    let all: BTreeMap<&str, &str> = reg
        .pipelines
        .iter()
        .map(|p| (p.name.as_str(), p.state.get().name()))
        .collect();
    let path = states_path(data_dir);
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(&all).expect("strings serialize"))?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(data_dir)?.sync_all()
}
