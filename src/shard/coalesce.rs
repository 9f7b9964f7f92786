//! Small requests share batches.
//!
//! Why: a one-row request used to become a ten-column Arrow batch of its
//! own, then a message to the owner, a store entry and a log record. A
//! profile of one-row CSV requests put a quarter of the shard's time there
//! (sealing the arrays alone was 12%), against about 5% for decoding.
//! Here the bodies of small requests (`ingest.coalesce_bytes_max`, whole in
//! the read buffer) are decoded into one shared decoder per
//! (table, options) with `end_body`/`next_body`, so their rows share a
//! batch; a flusher task seals the batch and hands it over once the
//! requests that were runnable together have all joined.
//!
//! Semantics are those of a request sending its own batch: a request is
//! answered only after the owner took the batch holding its last row (its
//! token names that batch's end, which covers its rows), or 503 when the
//! owner did not take it within `ingest.backpressure_wait_ms` of the first
//! request joining it (then nothing of that batch was taken): batches
//! queued behind a stuck owner do not each get a fresh wait.
//! Each body keeps its own parse errors and record numbers. A request holds
//! its `Sending` count until answered, so a pause or stop still waits for
//! its rows to be handed over.
//!
//! Hand-over runs per table: one task per table with sealed batches takes
//! them in the order they were sealed (a request whose rows span two
//! batches gets the second's position as its token, so the first must be
//! taken first), while the flusher goes on sealing. So a table whose owner
//! is stuck holds up only its own requests, not other tables' sharing this
//! shard (with one queue for all, they waited up to a whole
//! `backpressure_wait_ms` behind it).
//!
//! Bounds: one open group per decoder key in use, each at most one batch;
//! sealed groups each hold at least one waiting request, so they are
//! bounded by the shard's connections; one hand-over task per table.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::{add, DecoderKey, Shard};
use crate::decode::{ChangeBatch, DecodeOptions, Decoder, ParseErrors};
use crate::table::Table;

/// Where a request learns what became of the batch holding its rows:
/// the lane position after it, or `None` (the owner did not take it).
#[derive(Default)]
pub struct Slot {
    result: Cell<Option<Option<u64>>>,
    waker: Cell<Option<Waker>>,
}

impl Slot {
    fn set(&self, r: Option<u64>) {
        self.result.set(Some(r));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Wait for the flusher's verdict.
    pub async fn wait(&self) -> Option<u64> {
        poll_fn(|cx| match self.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Rows of several requests being gathered in one decoder.
struct Group {
    key: DecoderKey,
    decoder: Box<dyn Decoder>,
    waiters: Vec<Rc<Slot>>,
    /// When its first waiter joined: the owner must take the batch within
    /// `ingest.backpressure_wait_ms` of that, however long the flusher
    /// took to get to it.
    since: Option<Instant>,
    /// Body bytes decoded into the current batch.
    bytes: usize,
    /// The batch limits, to tell whether another body fits whole.
    rows_max: usize,
    bytes_max: usize,
}

/// A batch ready to hand over, and who waits for it.
struct Sealed {
    pipeline: usize,
    table: usize,
    batch: ChangeBatch,
    waiters: Vec<Rc<Slot>>,
    /// Give up handing it over (503) past this.
    deadline: Instant,
}

/// What decoding a body into a shared batch gave the request.
pub struct Joined {
    pub errors: ParseErrors,
    pub records: u64,
    /// The batches holding its rows, in order (none when it had none).
    pub slots: Vec<Rc<Slot>>,
}

#[derive(Default)]
pub struct Coalescer {
    open: RefCell<Vec<Group>>,
    sealed: RefCell<VecDeque<Sealed>>,
    /// The flusher, parked while there is nothing to seal or dispatch.
    flusher: Cell<Option<Waker>>,
    /// Per (pipeline, table) with a hand-over task running: the batches
    /// it has still to hand over, in seal order.
    lanes: RefCell<Vec<(LaneKey, VecDeque<Sealed>)>>,
}

/// (pipeline, table): the batches of one table hand over in order.
type LaneKey = (usize, usize);

impl Coalescer {
    /// Decode `body`, a whole request body, into the shared batch of `key`
    /// (synchronously: no other request can interleave its bytes).
    pub fn join(
        &self,
        shard: &Shard,
        key: DecoderKey,
        table: &Arc<Table>,
        opts: DecodeOptions,
        body: &[u8],
    ) -> Joined {
        let wait = backpressure_wait(shard);
        let mut open = self.open.borrow_mut();
        let at = match open.iter().position(|g| g.key == key) {
            Some(i) => {
                if !open[i].fits(body.len()) {
                    self.seal(&mut open[i], wait);
                }
                i
            }
            None => {
                let decoder = shard.decoders.take(key, table, opts.clone());
                open.push(Group {
                    key,
                    decoder,
                    waiters: Vec::new(),
                    since: None,
                    bytes: 0,
                    rows_max: opts.batch_rows,
                    bytes_max: opts.batch_bytes,
                });
                open.len() - 1
            }
        };
        let g = &mut open[at];
        let mut slots = Vec::new();
        // Rows of this body in the current batch: beyond `before`.
        let mut before = g.decoder.batch_rows();
        g.decoder.next_body();
        g.bytes += body.len();
        let mut rest = body;
        loop {
            let n = g.decoder.decode(rest);
            rest = &rest[n..];
            if rest.is_empty() {
                g.decoder.end_body();
            }
            if g.decoder.batch_full() {
                // A body larger than what `fits` allows for: its rows
                // span two batches, and it waits for both.
                slots.push(g.wait_here());
                self.seal(g, wait);
                before = 0;
            }
            if rest.is_empty() {
                break;
            }
        }
        if g.decoder.batch_rows() > before {
            slots.push(g.wait_here());
        }
        let joined = Joined {
            errors: g.decoder.errors().clone(),
            records: g.decoder.records(),
            slots,
        };
        drop(open);
        if let Some(w) = self.flusher.take() {
            w.wake();
        }
        joined
    }

    /// Move the group's batch, with its waiters, to the flusher's queue.
    fn seal(&self, g: &mut Group, wait: Duration) {
        let waiters = std::mem::take(&mut g.waiters);
        let since = g.since.take().unwrap_or_else(Instant::now);
        g.bytes = 0;
        if let Some(batch) = g.decoder.flush() {
            self.sealed.borrow_mut().push_back(Sealed {
                pipeline: g.key.pipeline as usize,
                table: g.key.table as usize,
                batch,
                waiters,
                deadline: since + wait,
            });
        } else {
            // No rows: nothing to wait for.
            debug_assert!(waiters.is_empty(), "waiters without rows");
        }
    }

    /// Seal every open group and give its decoder back to the pool.
    fn seal_all(&self, shard: &Shard) {
        let wait = backpressure_wait(shard);
        let groups: Vec<Group> = self.open.borrow_mut().drain(..).collect();
        for mut g in groups {
            self.seal(&mut g, wait);
            shard.decoders.give(g.key, g.decoder);
        }
    }

    fn idle(&self) -> bool {
        self.open.borrow().is_empty() && self.sealed.borrow().is_empty()
    }
}

fn backpressure_wait(shard: &Shard) -> Duration {
    Duration::from_millis(shard.cfg.ingest.backpressure_wait_ms)
}

impl Group {
    /// A request with rows in the current batch waits for it; the batch's
    /// hand-over deadline counts from when its first such request joined
    /// (the clock is read for that one only).
    fn wait_here(&mut self) -> Rc<Slot> {
        let slot = Rc::new(Slot::default());
        self.waiters.push(slot.clone());
        self.since.get_or_insert_with(Instant::now);
        slot
    }

    /// Can a body of `len` bytes join without filling the batch? A record
    /// takes at least two bytes (one and its line break; the last one may
    /// lack it), so it adds at most `len / 2 + 1` rows.
    fn fits(&self, len: usize) -> bool {
        self.decoder.batch_rows() + len / 2 + 1 < self.rows_max && self.bytes + len < self.bytes_max
    }
}

/// The shard's flusher: whenever requests have joined, let every task that
/// is runnable now run first (their requests join the same batches), then
/// seal the open batches and pass each to its table's hand-over task.
pub async fn flush_loop(shard: Rc<Shard>) {
    let c = &shard.coalesce;
    loop {
        poll_fn(|cx| {
            if c.idle() {
                c.flusher.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        futures_lite::future::yield_now().await;
        c.seal_all(&shard);
        loop {
            let Some(s) = c.sealed.borrow_mut().pop_front() else {
                break;
            };
            let key = (s.pipeline, s.table);
            let mut lanes = c.lanes.borrow_mut();
            match lanes.iter_mut().find(|(k, _)| *k == key) {
                // Its task is running and takes it after the ones before.
                Some((_, queue)) => queue.push_back(s),
                None => {
                    lanes.push((key, VecDeque::from([s])));
                    // glommio runs a task spawned into the current queue
                    // at once, and it borrows `lanes`.
                    drop(lanes);
                    glommio::spawn_local(hand_over(shard.clone(), key)).detach();
                }
            }
        }
    }
}

/// Hand a table's sealed batches to its owner one after another, answering
/// their waiters, until none is left.
async fn hand_over(shard: Rc<Shard>, key: LaneKey) {
    let c = &shard.coalesce;
    loop {
        let next = {
            let mut lanes = c.lanes.borrow_mut();
            let at = lanes
                .iter()
                .position(|(k, _)| *k == key)
                .expect("a hand-over task has its lane");
            let next = lanes[at].1.pop_front();
            if next.is_none() {
                lanes.swap_remove(at);
            }
            next
        };
        let Some(s) = next else { return };
        let rows = s.batch.num_rows() as u64;
        let sent = shard.submit_by(s.pipeline, s.table, s.batch, s.deadline);
        let end = sent.await.ok();
        if end.is_some() {
            let t = &shard.reg.pipelines[s.pipeline].tables[s.table];
            add(&t.lane_stats[shard.id].records, rows);
        }
        for w in s.waiters {
            w.set(end);
        }
    }
}
