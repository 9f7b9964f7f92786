//! Shards: one glommio executor per core, pinned, each with its own
//! SO_REUSEPORT listener. A shard decodes the requests it accepts and sends
//! sealed batches to the owner of the target table over bounded glommio
//! shared channels (one per shard pair, FIFO); the owner applies them in
//! arrival order and publishes the lane watermark.

mod buffers;
pub mod coalesce;
mod concat;
mod decoders;
pub mod idem;
pub mod lifecycle;
pub mod metrics;
pub mod recovery;
mod registry;
mod start;
mod store;
mod wal;

pub use buffers::BufferPool;
pub use concat::{batch_bytes, concat};
pub use decoders::{DecoderKey, DecoderPool};
pub use registry::{add, get, LaneStats, OwnerStats, PipelineRt, Registry, TableRt};
pub use start::{run, Started};
pub use store::TableStore;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use glommio::sync::Semaphore;

use crate::auth::Authenticator;
use crate::config::Validated;
use crate::decode::ChangeBatch;
use crate::egress::Hubs;
use crate::wal::record::RecordHead;
pub use wal::ShardWal;

/// A batch on its way to its table's owner.
pub struct Applied {
    pub pipeline: u16,
    pub table: u16,
    /// The sending shard.
    pub lane: u16,
    /// Lane position just after this batch's last row.
    pub end: u64,
    pub batch: ChangeBatch,
    /// A keyed batch's request id on the sending shard, which waits for
    /// the owner's verdict (`ToOwner::Keyed`).
    pub reply: Option<u64>,
}

/// The owner did not take a batch within `ingest.backpressure_wait_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

/// `fut`, unless `deadline` passes first (then `Overloaded`; `fut` is
/// dropped, so it must be cancel-safe).
async fn within<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Overloaded> {
    let left = deadline.saturating_duration_since(Instant::now());
    futures_lite::future::or(async { Ok(fut.await) }, async {
        glommio::timer::sleep(left).await;
        Err(Overloaded)
    })
    .await
}

/// What a shard sends a table's owner over the mesh.
// `Apply` is the hot, large variant; boxing it would cost an allocation per
// batch to save bytes on the rare `Listen`.
#[allow(clippy::large_enum_variant)]
pub enum ToOwner {
    Apply(Applied),
    /// An egress connection, handed over so that the owner writes the
    /// table's changes to it directly (see `server::egress`).
    Listen(crate::server::egress::Handoff),
    /// The owner's verdict on a keyed batch, back to its sender: the first
    /// attempt's origin when the key was known (the rows were not applied).
    Keyed {
        req: u64,
        original: Option<idem::Origin>,
    },
}

/// The shard's side of the mesh to one other shard.
struct Link {
    sender: ConnectedSender<ToOwner>,
    /// Held from position assignment until the batch is enqueued, so lane
    /// positions are enqueued in order even when the channel is full and
    /// several connections wait on it.
    gate: Semaphore,
}

/// How a shard meets clients: credentials to check, TLS to speak.
pub struct Front {
    pub auth: Option<Authenticator>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// One shard's state. Lives on its executor (`Rc`), never crosses threads.
pub struct Shard {
    pub id: usize,
    pub reg: Arc<Registry>,
    pub cfg: Arc<Validated>,
    pub auth: Option<Authenticator>,
    /// HTTPS settings (`[tls]`), shared read-only by every shard.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    links: Vec<Option<Rc<Link>>>,
    /// Next position of this shard's lane, per [pipeline][table].
    lane_next: RefCell<Vec<Vec<u64>>>,
    /// Stores of the tables this shard owns, per [pipeline][table].
    stores: RefCell<Vec<Vec<Option<TableStore>>>>,
    /// Open connections, for `connections_per_shard_max`.
    pub connections: std::cell::Cell<usize>,
    /// Refused connections still lingering, bounded by the server.
    pub refusing: std::cell::Cell<usize>,
    /// Requests between their head and their answer.
    pub in_flight: std::cell::Cell<usize>,
    /// Idle connection read buffers.
    pub buffers: BufferPool,
    /// Idle decoders, reused across requests.
    pub decoders: DecoderPool,
    /// Small requests' rows gathered into shared batches.
    pub coalesce: coalesce::Coalescer,
    /// The log this shard appends the batches it applies to (`None` when
    /// `wal.enabled = false`).
    wal: Option<Rc<ShardWal>>,
    /// Change-stream listeners of the tables this shard owns.
    pub egress: Rc<Hubs>,
    /// Keyed requests of this shard waiting for their owner's verdict.
    replies: idem::Replies,
}

impl Shard {
    fn new(
        id: usize,
        reg: Arc<Registry>,
        cfg: Arc<Validated>,
        front: Front,
        senders: Vec<Option<ConnectedSender<ToOwner>>>,
        stores: Vec<Vec<Option<TableStore>>>,
        wal: Option<Rc<ShardWal>>,
    ) -> Shard {
        // Positions continue where the recovered log ends.
        let lane_next = reg
            .pipelines
            .iter()
            .map(|p| p.tables.iter().map(|t| t.lanes.applied(id)).collect())
            .collect();
        let buffers = BufferPool::new(cfg.http.read_buffer_bytes, cfg.http.idle_buffers_max);
        let decoders = DecoderPool::new(cfg.ingest.idle_decoders_max);
        let egress = Rc::new(Hubs::new(reg.pipelines.iter().map(|p| p.tables.len())));
        Shard {
            buffers,
            decoders,
            coalesce: coalesce::Coalescer::default(),
            id,
            reg,
            cfg,
            auth: front.auth,
            tls: front.tls,
            links: senders
                .into_iter()
                .map(|s| {
                    s.map(|sender| {
                        Rc::new(Link {
                            sender,
                            gate: Semaphore::new(1),
                        })
                    })
                })
                .collect(),
            lane_next: RefCell::new(lane_next),
            stores: RefCell::new(stores),
            connections: std::cell::Cell::new(0),
            refusing: std::cell::Cell::new(0),
            in_flight: std::cell::Cell::new(0),
            wal,
            egress,
            replies: idem::Replies::default(),
        }
    }

    /// This shard's lane position for a table: a token at it covers every
    /// batch this shard has sent so far.
    pub fn lane_position(&self, pipeline: usize, table: usize) -> u64 {
        self.lane_next.borrow()[pipeline][table]
    }

    fn advance_lane(&self, pipeline: usize, table: usize, rows: u64) -> u64 {
        let mut lanes = self.lane_next.borrow_mut();
        lanes[pipeline][table] += rows;
        lanes[pipeline][table]
    }

    /// Send a batch to its table's owner (or apply it here when this shard
    /// owns the table). Returns the lane position after it. Waits when the
    /// owner's queue is full: that wait is the back-pressure that stops this
    /// connection from reading its socket; past `ingest.backpressure_wait_ms`
    /// it gives up (`Overloaded`) with nothing sent and no position taken.
    pub async fn submit(
        &self,
        pipeline: usize,
        table: usize,
        batch: ChangeBatch,
    ) -> Result<u64, Overloaded> {
        Ok(self.send(pipeline, table, batch, None).await?.0)
    }

    /// `submit`, giving up at `deadline` rather than
    /// `ingest.backpressure_wait_ms` from now: for a batch whose requests
    /// have been waiting since before this call (`coalesce`).
    pub async fn submit_by(
        &self,
        pipeline: usize,
        table: usize,
        batch: ChangeBatch,
        deadline: Instant,
    ) -> Result<u64, Overloaded> {
        Ok(self
            .send_by(pipeline, table, batch, None, deadline)
            .await?
            .0)
    }

    /// `submit`, for a batch that may carry a reply request id; returns
    /// the position after it and, when the owner is this shard, the
    /// verdict on a keyed batch.
    async fn send(
        &self,
        pipeline: usize,
        table: usize,
        batch: ChangeBatch,
        reply: Option<u64>,
    ) -> Result<(u64, Option<idem::Origin>), Overloaded> {
        let wait = Duration::from_millis(self.cfg.ingest.backpressure_wait_ms);
        self.send_by(pipeline, table, batch, reply, Instant::now() + wait)
            .await
    }

    /// `send`, giving up at `deadline`.
    async fn send_by(
        &self,
        pipeline: usize,
        table: usize,
        batch: ChangeBatch,
        reply: Option<u64>,
        deadline: Instant,
    ) -> Result<(u64, Option<idem::Origin>), Overloaded> {
        let t = &self.reg.pipelines[pipeline].tables[table];
        let rows = batch.num_rows() as u64;
        if t.owner == self.id {
            self.wait_for_log_room(deadline).await?;
            add(&t.lane_stats[self.id].batches_sent, 1);
            let end = self.advance_lane(pipeline, table, rows);
            let msg = Applied {
                pipeline: pipeline as u16,
                table: table as u16,
                lane: self.id as u16,
                end,
                batch,
                reply: None,
            };
            return Ok((end, self.apply(msg).await));
        }
        let link = self.links[t.owner]
            .as_ref()
            .expect("a link to every other shard");
        // Both waits are cancel-safe: nothing is taken before they end.
        let _permit = within(deadline, link.gate.acquire_permit(1))
            .await?
            .expect("the gate is never closed");
        // The position is only taken once the batch is in the channel; the
        // gate keeps other tasks of this shard from sending meanwhile.
        let end = self.lane_position(pipeline, table) + rows;
        let msg = ToOwner::Apply(Applied {
            pipeline: pipeline as u16,
            table: table as u16,
            lane: self.id as u16,
            end,
            batch,
            reply,
        });
        // glommio's `send` waits for room before it takes the message, so
        // dropping it at the deadline sends nothing.
        if within(deadline, link.sender.send(msg)).await?.is_err() {
            // The owner's receiver only goes away when its executor stops,
            // which happens only at process exit.
            panic!("owner shard {} is gone", t.owner);
        }
        add(&t.lane_stats[self.id].batches_sent, 1);
        self.advance_lane(pipeline, table, rows);
        Ok((end, None))
    }

    /// This shard owns the table: wait (bounded) until its log has room,
    /// so that the wait, if any, happens before the batch is taken.
    async fn wait_for_log_room(&self, deadline: Instant) -> Result<(), Overloaded> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        while !wal.has_room() {
            if Instant::now() >= deadline {
                return Err(Overloaded);
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Owner side: log the batch, store it, count it. The watermark is
    /// published last (so a reader that sees the position sees the rest
    /// too): by the log's sync task once the batch is on disk, or here
    /// when there is no log.
    pub async fn apply(&self, mut msg: Applied) -> Option<idem::Origin> {
        // Before any await: a repeat arriving meanwhile must see the key.
        let original = self.dedupe(&mut msg);
        let (p, ti, lane) = (msg.pipeline as usize, msg.table as usize, msg.lane as usize);
        let pipeline = &self.reg.pipelines[p];
        let t = &pipeline.tables[ti];
        debug_assert_eq!(t.owner, self.id, "only the owner applies");
        if let Some(wal) = &self.wal {
            let head = RecordHead {
                run: self.reg.run_id,
                pipeline: pipeline.id,
                table: recovery::table_key(&t.table.ident.canonical),
                lane: msg.lane,
                end: msg.end,
            };
            wal.log(head, &msg.batch, (p, ti, lane)).await;
        }
        let rows = msg.batch.num_rows() as u64;
        let mut stores = self.stores.borrow_mut();
        let store = stores[p][ti].as_mut().expect("owner has the store");
        let appended = store.append(msg.batch.clone());
        let s = &t.owner_stats;
        add(&s.batches_applied, 1);
        add(&s.records_applied, rows);
        add(&s.evicted_batches, appended.evicted_batches);
        s.stored_bytes
            .store(store.bytes() as u64, std::sync::atomic::Ordering::Relaxed);
        s.stored_batches
            .store(store.len() as u64, std::sync::atomic::Ordering::Relaxed);
        drop(stores);
        if self.wal.is_none() {
            let c = crate::egress::Committed {
                lane,
                end: msg.end,
                batch: &msg.batch,
                position: None,
            };
            self.egress.commit((p, ti), t, c);
        }
        original
    }

    /// During a stop: mark this shard drained once nothing is in flight
    /// and its log holds everything applied, synced; checked every 10 ms.
    /// Recomputed every tick, since another shard may still send batches
    /// to tables this one owns (its own requests in flight).
    pub async fn drain(&self) {
        loop {
            let log_idle = self.wal.as_ref().is_none_or(|w| w.is_idle());
            let drained = self.in_flight.get() == 0 && log_idle && self.all_applied();
            self.reg.drained[self.id].store(drained, std::sync::atomic::Ordering::Release);
            let ticks = &self.reg.drain_ticks[self.id];
            ticks.fetch_add(1, std::sync::atomic::Ordering::Release);
            glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Has every batch sent to a table this shard owns been applied?
    fn all_applied(&self) -> bool {
        self.reg.pipelines.iter().all(|p| {
            p.tables.iter().filter(|t| t.owner == self.id).all(|t| {
                let sent: u64 = t.lane_stats.iter().map(|l| get(&l.batches_sent)).sum();
                let o = &t.owner_stats;
                sent + get(&o.batches_recovered) == get(&o.batches_applied)
            })
        })
    }

    /// The log's committed end on this shard: `None` without a log,
    /// `Some(None)` before this run's first write.
    pub fn log_end(&self) -> Option<Option<(u64, u64)>> {
        self.wal.as_ref().map(|w| w.end())
    }

    /// Hand an egress connection to the owner of its table (or serve it
    /// here when this shard owns it).
    pub async fn hand_off(self: &Rc<Self>, h: crate::server::egress::Handoff) {
        let owner =
            self.reg.pipelines[h.params.pipeline as usize].tables[h.params.table as usize].owner;
        if owner == self.id {
            crate::server::egress::listen(self.clone(), h).await;
            return;
        }
        let link = self.links[owner]
            .as_ref()
            .expect("a link to every other shard");
        if link.sender.send(ToOwner::Listen(h)).await.is_err() {
            panic!("owner shard {owner} is gone");
        }
    }
}

/// Owner loop for one peer's channel: apply batches in arrival order.
async fn receive_loop(shard: std::rc::Rc<Shard>, rx: ConnectedReceiver<ToOwner>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            ToOwner::Apply(a) => {
                shard.apply(a).await;
            }
            ToOwner::Keyed { req, original } => shard.replies.deliver(req, original),
            ToOwner::Listen(h) => {
                glommio::spawn_local(crate::server::egress::listen(shard.clone(), h)).detach();
            }
        }
    }
}
