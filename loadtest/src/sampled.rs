//! Completion latency during the run (`--completion-sample N`): every Nth
//! measured response's token goes to a bounded queue, and `POLLERS` poller
//! tasks (`client::sample_poller`), each with its own connection, take the
//! oldest and ask `completion_status` until it is complete. The latency
//! recorded is from the response's arrival to the poll that saw
//! `complete`: an upper bound, by one poll round trip (1 ms interval) plus
//! the token's wait in the queue, which is reported too (`queue_hist`): if
//! that wait is not small, sample less (a larger N).
//!
//! Each poller adds at most one GET per millisecond to the load; the queue
//! holds at most `QUEUE_MAX` tokens and counts what it had to drop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Instant;

use hdrhistogram::Histogram;

const QUEUE_MAX: usize = 4096;
/// Poller tasks (and connections).
pub const POLLERS: usize = 8;

/// What the poller measured.
#[derive(Debug)]
pub struct SampledStats {
    /// Microseconds from response to `complete`.
    pub hist: Histogram<u64>,
    /// Microseconds each token waited in the queue before its first poll.
    pub queue_hist: Histogram<u64>,
    pub dropped: u64,
    /// Tokens that never completed within the timeout, or got an error.
    pub failed: u64,
}

/// The queue between connection tasks and the poller.
pub struct Sampler {
    pub every: u64,
    queue: RefCell<VecDeque<(String, Instant)>>,
    stats: RefCell<SampledStats>,
    /// Set when the load is over: the poller drains the queue and stops.
    done: Cell<bool>,
}

impl Sampler {
    pub fn new(every: u64) -> Sampler {
        Sampler {
            every: every.max(1),
            queue: RefCell::new(VecDeque::new()),
            stats: RefCell::new(SampledStats {
                hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
                queue_hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
                dropped: 0,
                failed: 0,
            }),
            done: Cell::new(false),
        }
    }

    /// A connection's `n`th measured 2xx response carried `token`.
    pub fn offer(&self, n: u64, token: &str, at: Instant) {
        if !n.is_multiple_of(self.every) {
            return;
        }
        let mut q = self.queue.borrow_mut();
        if q.len() >= QUEUE_MAX {
            self.stats.borrow_mut().dropped += 1;
        } else {
            q.push_back((token.to_string(), at));
        }
    }

    pub fn finish(&self) {
        self.done.set(true);
    }

    /// The oldest queued token; `None` when empty.
    pub fn next(&self) -> Option<(String, Instant)> {
        let next = self.queue.borrow_mut().pop_front();
        if let Some((_, at)) = &next {
            let waited = at.elapsed().as_micros() as u64;
            self.stats
                .borrow_mut()
                .queue_hist
                .saturating_record(waited.max(1));
        }
        next
    }

    pub fn is_done(&self) -> bool {
        self.done.get()
    }

    /// A sampled token completed `us` microseconds after its response, or
    /// (`None`) never did.
    pub fn record(&self, us: Option<u64>) {
        let mut st = self.stats.borrow_mut();
        match us {
            Some(us) => st.hist.saturating_record(us.max(1)),
            None => st.failed += 1,
        }
    }

    pub fn take_stats(&self) -> SampledStats {
        self.stats.replace(SampledStats {
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            queue_hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            dropped: 0,
            failed: 0,
        })
    }
}
