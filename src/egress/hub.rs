//! The owner's side of a table's change streams: who listens, what each
//! still has to write, and which tokens wait for them.
//!
//! Every committed batch (synced to the log, or applied when there is no
//! log) is one *step* of its table. A token completes only once its rows'
//! step has been written to every `backpressure=true` listener that was
//! open when the step was committed (Feldera's "every output connector has
//! written the result"): until then its lane position waits in `pending`,
//! in step order, so lanes are still published in order. A listener that
//! cannot keep up is bounded by `egress.queue_bytes_max`: one that holds
//! tokens is cut off (its task writes why, then closes); one that does not
//! (`backpressure=false`) skips its oldest queued steps and is told how
//! many records it missed. Either way ingestion never waits for a reader.
//!
//! Hubs live on the owning shard only (`Rc`, `RefCell`): listeners are
//! handed to the owner before they subscribe, so nothing here is shared.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

use crate::decode::ChangeBatch;
use crate::shard::{add, TableRt};

/// Where a listener stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    Live,
    /// Its queue passed the bound while it held tokens: it is cut off.
    Overflowed,
    /// Its connection is gone (write failed or timed out).
    Closed,
}

/// A committed batch waiting for a listener: its step, the batch, and the
/// log position after it when it is the last of its table in its group
/// commit (where a stream may resume from: `from=<position>`).
pub type Queued = (u64, ChangeBatch, Option<LogPosition>);

/// (segment, byte offset) in the owner's log: everything before it.
pub type LogPosition = (u64, u64);

/// One listener (an egress connection), shared by the hub and its task.
pub struct Sub {
    /// `backpressure=true`: tokens wait until this listener wrote their step.
    pub holds: bool,
    queue: RefCell<VecDeque<Queued>>,
    queued_bytes: Cell<usize>,
    bytes_max: usize,
    /// Every step up to this one is written (or predates the listener).
    written: Cell<u64>,
    /// Records skipped by a `backpressure=false` listener, not yet reported.
    skipped: Cell<u64>,
    state: Cell<SubState>,
    bell: LocalSender<()>,
}

impl Sub {
    pub fn state(&self) -> SubState {
        self.state.get()
    }

    pub fn written(&self) -> u64 {
        self.written.get()
    }

    /// Take up to `bytes_max` bytes of queued steps (at least one), oldest
    /// first, and the count of records skipped since the last call.
    pub fn take(&self, out: &mut Vec<Queued>, bytes_max: usize) -> u64 {
        let mut q = self.queue.borrow_mut();
        let mut bytes = 0;
        while let Some((_, b, _)) = q.front() {
            let n = crate::shard::batch_bytes(b);
            if !out.is_empty() && bytes + n > bytes_max {
                break;
            }
            bytes += n;
            out.push(q.pop_front().expect("front exists"));
        }
        self.queued_bytes.set(self.queued_bytes.get() - bytes);
        self.skipped.replace(0)
    }

    fn live_holder(&self) -> bool {
        self.holds && self.state.get() == SubState::Live
    }

    fn push(&self, step: u64, batch: &ChangeBatch, position: Option<LogPosition>) {
        if self.state.get() != SubState::Live {
            return;
        }
        let n = crate::shard::batch_bytes(batch);
        let queued = self.queued_bytes.get();
        // One batch is always taken: a listener that keeps up must not be
        // cut off because a single batch is bigger than the bound.
        if queued > 0 && queued + n > self.bytes_max {
            if self.holds {
                self.state.set(SubState::Overflowed);
                self.queue.borrow_mut().clear();
                self.queued_bytes.set(0);
                let _ = self.bell.try_send(());
                return;
            }
            self.skip_until_fits(n);
        }
        self.queued_bytes.set(self.queued_bytes.get() + n);
        self.queue
            .borrow_mut()
            .push_back((step, batch.clone(), position));
        // Full means the task is already due to look.
        let _ = self.bell.try_send(());
    }

    /// Drop the oldest queued steps until `n` more bytes fit (or none is
    /// left).
    fn skip_until_fits(&self, n: usize) {
        let mut q = self.queue.borrow_mut();
        while self.queued_bytes.get() > 0 && self.queued_bytes.get() + n > self.bytes_max {
            let Some((step, b, _)) = q.pop_front() else {
                break;
            };
            self.queued_bytes
                .set(self.queued_bytes.get() - crate::shard::batch_bytes(&b));
            self.skipped.set(self.skipped.get() + b.num_rows() as u64);
            self.written.set(step);
        }
    }
}

/// A batch just committed, as `commit` takes it.
pub struct Committed<'b> {
    pub lane: usize,
    /// The lane position after the batch.
    pub end: u64,
    pub batch: &'b ChangeBatch,
    /// See `Queued`.
    pub position: Option<LogPosition>,
}

/// One table's listeners and the tokens waiting for them.
#[derive(Default)]
pub struct Hub {
    subs: Vec<Rc<Sub>>,
    /// Steps committed in this run.
    steps: u64,
    /// (step, lane, end) committed but not yet written to every holder.
    pending: VecDeque<(u64, usize, u64)>,
}

/// The hubs of every table, indexed [pipeline][table]; only the owner's
/// tables ever see a listener or a commit.
pub struct Hubs {
    tables: Vec<Vec<RefCell<Hub>>>,
}

impl Hubs {
    pub fn new(tables_per_pipeline: impl Iterator<Item = usize>) -> Hubs {
        Hubs {
            tables: tables_per_pipeline
                .map(|n| (0..n).map(|_| RefCell::default()).collect())
                .collect(),
        }
    }

    /// A batch is committed: queue it for every listener, then publish its
    /// lane position, or keep it pending while a holder has not written it.
    pub fn commit(&self, at: (usize, usize), t: &TableRt, c: Committed<'_>) {
        let Committed {
            lane,
            end,
            batch: b,
            position,
        } = c;
        let mut h = self.tables[at.0][at.1].borrow_mut();
        h.steps += 1;
        let step = h.steps;
        // Before the lane: whoever sees the token complete sees its step.
        add(&t.owner_stats.steps, 1);
        if h.subs.is_empty() && h.pending.is_empty() {
            t.lanes.publish(lane, end);
            return;
        }
        for s in &h.subs {
            s.push(step, b, position);
        }
        h.pending.push_back((step, lane, end));
        release(&mut h, t);
    }

    /// A new listener: it sees steps committed from now on.
    pub fn subscribe(&self, at: (usize, usize), holds: bool, bytes_max: usize) -> Listener {
        let mut h = self.tables[at.0][at.1].borrow_mut();
        let (bell, rx) = local_channel::new_bounded(1);
        let sub = Rc::new(Sub {
            holds,
            queue: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
            bytes_max,
            written: Cell::new(h.steps),
            skipped: Cell::new(0),
            state: Cell::new(SubState::Live),
            bell,
        });
        h.subs.push(sub.clone());
        Listener { sub, bell: rx }
    }

    pub fn listeners(&self, at: (usize, usize)) -> usize {
        self.tables[at.0][at.1].borrow().subs.len()
    }

    /// A listener wrote every step up to `step`.
    pub fn written(&self, at: (usize, usize), t: &TableRt, sub: &Sub, step: u64) {
        sub.written.set(sub.written.get().max(step));
        release(&mut self.tables[at.0][at.1].borrow_mut(), t);
    }

    /// A listener is gone: it holds nothing any more.
    pub fn unsubscribe(&self, at: (usize, usize), t: &TableRt, sub: &Rc<Sub>) {
        if sub.state.get() == SubState::Live {
            sub.state.set(SubState::Closed);
        }
        let mut h = self.tables[at.0][at.1].borrow_mut();
        h.subs.retain(|s| !Rc::ptr_eq(s, sub));
        release(&mut h, t);
    }
}

/// A listener's handle for its connection task.
pub struct Listener {
    pub sub: Rc<Sub>,
    /// Rings when a step is queued or the state changes.
    pub bell: LocalReceiver<()>,
}

/// Publish, in step order, every pending step all live holders wrote.
fn release(h: &mut Hub, t: &TableRt) {
    let floor = h
        .subs
        .iter()
        .filter(|s| s.live_holder())
        .map(|s| s.written.get())
        .min()
        .unwrap_or(u64::MAX);
    while let Some(&(step, lane, end)) = h.pending.front() {
        if step > floor {
            break;
        }
        t.lanes.publish(lane, end);
        h.pending.pop_front();
    }
}
