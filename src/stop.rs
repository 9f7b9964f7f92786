//! Stopping gracefully on SIGTERM or SIGINT.
//!
//! The two signals are blocked in every thread (the mask is set before
//! the shards start, and threads inherit it) and taken synchronously by
//! the main thread with `sigwait`, so no handler runs in a shard's
//! executor. On the first one the shards stop accepting (their listeners
//! close), answer requests that arrive on open connections with 503
//! `ServerShuttingDown`, finish the requests in flight, and sync their
//! logs; the main thread waits for all of that (bounded by
//! `http.shutdown_grace_ms`) and the process exits 0. A second signal
//! exits at once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::shard::Registry;

/// The signals that stop the server.
pub struct StopSignals(libc::sigset_t);

impl StopSignals {
    /// Block SIGTERM and SIGINT in this thread and every thread it starts
    /// from now on. Call before starting the shards.
    pub fn block() -> StopSignals {
        // SAFETY: sigset_t is plain data that sigemptyset initialises; the
        // calls only read and write that set and this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            StopSignals(set)
        }
    }

    /// Wait for one of them; its name.
    pub fn wait(&self) -> &'static str {
        let mut sig = 0;
        // SAFETY: the set was initialised by `block`; sigwait writes the
        // signal number into `sig`.
        unsafe { libc::sigwait(&self.0, &mut sig) };
        if sig == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    }
}

// SAFETY: a sigset_t is plain data with no thread affinity.
unsafe impl Send for StopSignals {}

/// Begin a graceful stop and wait until every shard has drained (nothing
/// in flight, every applied batch synced), or `grace` has passed. True if
/// drained.
pub fn drain(reg: &Registry, grace: Duration) -> bool {
    reg.stopping.store(true, Ordering::Release);
    let deadline = Instant::now() + grace;
    // Shards recompute their flag about every 10 ms. Done when every flag
    // stayed true while every shard recomputed it twice: then none is a
    // stale flag of a shard too busy to tick (a batch sent to an owner
    // just before its sender drained shows up in the owner's next tick).
    let ticks = || -> Vec<u64> {
        reg.drain_ticks
            .iter()
            .map(|t| t.load(Ordering::Acquire))
            .collect()
    };
    let all_drained = || reg.drained.iter().all(|d| d.load(Ordering::Acquire));
    let mut since: Option<Vec<u64>> = None;
    while Instant::now() < deadline {
        if !all_drained() {
            since = None;
        } else if let Some(start) = &since {
            let fresh = ticks()
                .iter()
                .zip(start)
                .all(|(now, then)| *now >= then + 2);
            if fresh && all_drained() {
                return true;
            }
        } else {
            since = Some(ticks());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
