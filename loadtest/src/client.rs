//! The load loop: one glommio executor, N keep-alive connection tasks.
//!
//! Everything shares one thread, so the stats live in a `RefCell` with no
//! atomics: a connection task records its sample between two awaits and the
//! progress task reads the same counters.
//!
//! Two ways to pace requests. Closed loop (the default): each connection
//! sends its next request when the previous answer arrives, so latencies
//! are service times, and a slow server simply gets fewer requests: the
//! stall is hidden from the percentiles ("coordinated omission"). Open loop
//! (`OpenLoop`, as wrk2 does): requests follow a fixed schedule at a
//! constant rate, each connection taking every Nth slot; a request that
//! cannot go on time (its connection still waits for an earlier answer) is
//! sent as soon as possible, and its latency counts from the slot's time, so
//! a stall shows up in every request it delayed.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::net::TcpStream;
use glommio::timer::sleep;
use hdrhistogram::Histogram;

use crate::host::{Snapshot, Usage};
use crate::http::{self, Head, RecvBuf, Request};
use crate::sampled::Sampler;
use crate::tls::{Stream, TlsTarget};

pub struct RunConfig {
    pub addr: SocketAddr,
    pub connections: usize,
    /// Closed loop: requests each connection writes together before it
    /// reads their answers (HTTP/1.1 pipelining; 1 = one at a time).
    pub depth: usize,
    pub warmup: Duration,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    /// Bound on connect, each write and each read; a stuck server ends the
    /// run instead of hanging it.
    pub timeout: Duration,
    pub progress: bool,
    /// `Some(prefix)`: after the run, poll `prefix + token` with GETs; the
    /// prefix is the pre-serialised path up to `?token=`.
    pub completion: Option<CompletionConfig>,
    /// `Some((n, poll))`: during the run, measure the completion latency of
    /// every nth response's token (`sampled.rs`).
    pub sample: Option<(u64, CompletionConfig)>,
    /// `Some`: open loop at a constant rate instead of closed loop.
    pub open_loop: Option<OpenLoop>,
    /// Server processes whose CPU time is read when measuring starts and
    /// ends (`host.rs`); CPU pressure and the generator's own CPU are read
    /// whatever this holds.
    pub server_pids: Vec<u32>,
    /// `Some`: HTTPS; every connection, completion polling's included,
    /// handshakes when it connects.
    pub tls: Option<TlsTarget>,
}

#[derive(Clone, Copy, Debug)]
pub struct OpenLoop {
    /// Requests per second over all connections, warm-up included.
    pub rate_per_s: f64,
    /// A request sent later than this after its slot counts as a late send.
    pub late: Duration,
}

impl OpenLoop {
    /// When slot `j` (0-based over all connections) is due.
    fn due(&self, start: Instant, j: u64) -> Instant {
        start + Duration::from_secs_f64(j as f64 / self.rate_per_s)
    }

    /// Slots due before `t`, i.e. the first slot due at or after it.
    fn slots_before(&self, start: Instant, t: Instant) -> u64 {
        (t.saturating_duration_since(start).as_secs_f64() * self.rate_per_s).ceil() as u64
    }
}

/// What only an open-loop run measures.
pub struct OpenStats {
    pub rate_per_s: f64,
    pub late: Duration,
    /// Send to response, microseconds: the latency a closed-loop run would
    /// report (`Stats::hist` counts from the slot's time instead).
    pub service_hist: Histogram<u64>,
    /// Measured requests sent more than `late` after their slot.
    pub late_sends: u64,
    /// The latest send, microseconds after its slot.
    pub lateness_us_max: u64,
    /// Measured slots due before the deadline that were never sent because
    /// their connection was still behind when the run ended; their latency
    /// would have been at least the time from their slot to the end.
    pub unsent: u64,
}

pub struct CompletionConfig {
    /// Everything before the token value, e.g. `/v0/.../completion_status?token=`.
    pub path_prefix: String,
    pub host: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub poll_interval: Duration,
}

pub struct Stats {
    /// Request latency in microseconds, measured requests only: from the
    /// send (closed loop) or from the slot's time (open loop) to the end of
    /// the response.
    pub hist: Histogram<u64>,
    pub requests: u64,
    pub rows: u64,
    pub body_bytes: u64,
    pub wire_bytes: u64,
    /// Responses by status code (index = code), measured requests only.
    pub status: Vec<u64>,
    pub warmup_requests: u64,
    pub io_errors: u64,
    pub parse_errors: u64,
    pub connects: u64,
    /// TLS handshakes that resumed an earlier session (of `connects`).
    pub resumed: u64,
    /// The most recent transport or framing error, to explain error counts.
    pub last_error: Option<String>,
    /// From the end of warm-up to the last response.
    pub elapsed: Duration,
    pub completion: Option<CompletionStats>,
    pub sampled: Option<crate::sampled::SampledStats>,
    pub open: Option<OpenStats>,
    /// CPU and pressure over the measured run.
    pub host: Option<Usage>,
    /// Live totals including warm-up, for the progress line.
    pub live_requests: u64,
    pub live_body_bytes: u64,
}

#[derive(Default)]
pub struct CompletionStats {
    pub polled: usize,
    pub completed: usize,
    pub failed: usize,
    /// From each connection's last ingest response to `complete` observed.
    pub latencies: Vec<Duration>,
}

impl Stats {
    fn new() -> Self {
        Self {
            // 1 us .. 1 hour at 3 significant digits, like wrk2.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            requests: 0,
            rows: 0,
            body_bytes: 0,
            wire_bytes: 0,
            status: vec![0; 600],
            warmup_requests: 0,
            io_errors: 0,
            parse_errors: 0,
            connects: 0,
            resumed: 0,
            last_error: None,
            elapsed: Duration::ZERO,
            completion: None,
            sampled: None,
            open: None,
            host: None,
            live_requests: 0,
            live_body_bytes: 0,
        }
    }

    pub fn non_2xx(&self) -> u64 {
        self.status
            .iter()
            .enumerate()
            .filter(|(c, _)| !(200..300).contains(c))
            .map(|(_, n)| n)
            .sum()
    }
}

struct Ctx {
    cfg: RunConfig,
    pool: Vec<Request>,
    stats: RefCell<Stats>,
    /// Measured requests started, to honour `--requests`.
    claimed: Cell<u64>,
    measure_start: Instant,
    deadline: Option<Instant>,
    sampler: Option<Rc<Sampler>>,
    /// When the open-loop schedule (and the run) began.
    start: Instant,
    /// Open loop: the first slot due after warm-up, so the first measured.
    slot_first_measured: u64,
    /// Open loop: the first slot past the end of the run (`--requests`).
    slot_end: Option<u64>,
}

/// What a connection task hands back: its socket (reused for completion
/// polling) and the last token it was given.
struct ConnEnd {
    stream: Option<Stream>,
    rb: RecvBuf,
    last_token: Option<String>,
    last_done: Option<Instant>,
}

#[derive(Debug)]
enum ConnError {
    Io(io::Error),
    Parse(http::ParseError),
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

/// Runs the whole load test on the current glommio executor.
pub async fn run(cfg: RunConfig, pool: Vec<Request>) -> Stats {
    assert!(!pool.is_empty(), "request pool must not be empty");
    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    // Neither bound given: the caller picks a default duration before this.
    let deadline = cfg.duration.map(|d| measure_start + d);
    let cfg_sampler = cfg.sample.as_ref().map(|(n, _)| Rc::new(Sampler::new(*n)));
    let slot_first_measured = cfg
        .open_loop
        .map_or(0, |o| o.slots_before(start, measure_start));
    // The open-loop `--requests` bound: that many slots after warm-up's.
    let slot_end = cfg
        .open_loop
        .zip(cfg.requests)
        .map(|(_, n)| slot_first_measured + n);
    let mut stats = Stats::new();
    stats.open = cfg.open_loop.map(|o| OpenStats {
        rate_per_s: o.rate_per_s,
        late: o.late,
        service_hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        late_sends: 0,
        lateness_us_max: 0,
        unsent: 0,
    });
    let ctx = Rc::new(Ctx {
        cfg,
        pool,
        stats: RefCell::new(stats),
        claimed: Cell::new(0),
        measure_start,
        deadline,
        sampler: cfg_sampler,
        start,
        slot_first_measured,
        slot_end,
    });
    // CPU readings bracket the measured part only; warm-up is not counted.
    let first = Rc::new(RefCell::new(None));
    let snap = {
        let (first, pids) = (first.clone(), ctx.cfg.server_pids.clone());
        glommio::spawn_local(async move {
            sleep(measure_start.saturating_duration_since(Instant::now())).await;
            *first.borrow_mut() = Some(Snapshot::take(&pids));
        })
    };
    let progress = ctx
        .cfg
        .progress
        .then(|| glommio::spawn_local(progress(ctx.clone())));
    let pollers: Vec<_> = match ctx.sampler {
        Some(_) => (0..crate::sampled::POLLERS)
            .map(|_| glommio::spawn_local(sample_poller(ctx.clone())))
            .collect(),
        None => Vec::new(),
    };
    let tasks: Vec<_> = (0..ctx.cfg.connections)
        .map(|i| glommio::spawn_local(conn_loop(i, ctx.clone())))
        .collect();
    let mut ends = Vec::with_capacity(tasks.len());
    for t in tasks {
        ends.push(t.await);
    }
    let last = Snapshot::take(&ctx.cfg.server_pids);
    // A run that ended before warm-up did (a dead target with --requests)
    // has no measured part, so no usage either.
    drop(snap);
    let first = first.borrow_mut().take();
    ctx.stats.borrow_mut().host =
        first.map(|f| Usage::between(&f, &last, ctx.cfg.server_pids.clone()));
    if let Some(s) = &ctx.sampler {
        s.finish();
        for p in pollers {
            p.await;
        }
        ctx.stats.borrow_mut().sampled = Some(s.take_stats());
    }
    let end = ends
        .iter()
        .filter_map(|e| e.last_done)
        .max()
        .unwrap_or(Instant::now());
    drop(progress); // dropping a glommio Task cancels it
    ctx.stats.borrow_mut().elapsed = end.saturating_duration_since(measure_start);
    if ctx.cfg.completion.is_some() {
        let c = completion(&ctx, ends).await;
        ctx.stats.borrow_mut().completion = Some(c);
    }
    // The cancelled progress task may still hold a reference to `ctx` until
    // the executor reaps it, so take the stats out rather than unwrap the Rc.
    ctx.stats.replace(Stats::new())
}

/// Connects, and with TLS handshakes (under the same timeouts).
async fn connect(ctx: &Ctx) -> io::Result<Stream> {
    ctx.stats.borrow_mut().connects += 1;
    let s = TcpStream::connect_timeout(ctx.cfg.addr, ctx.cfg.timeout).await?;
    // Requests are written whole; Nagle would only delay small ones.
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(ctx.cfg.timeout))?;
    s.set_write_timeout(Some(ctx.cfg.timeout))?;
    let s = Stream::connect(s, ctx.cfg.tls.as_ref()).await?;
    if s.resumed() == Some(true) {
        ctx.stats.borrow_mut().resumed += 1;
    }
    Ok(s)
}

/// Writes one request and reads exactly one response into `rb`.
async fn exchange(s: &mut Stream, rb: &mut RecvBuf, req: &[u8]) -> Result<Head, ConnError> {
    s.write_all(req).await?;
    Ok(recv_response(s, rb).await?.0)
}

/// Reads until `rb` holds one whole response at its start (leftover bytes
/// of the next pipelined response stay in `rb`). With it, when the read
/// that completed it returned, or `None` if no read was needed: a
/// pipelined answer that came with the one before it.
async fn recv_response(
    s: &mut Stream,
    rb: &mut RecvBuf,
) -> Result<(Head, Option<Instant>), ConnError> {
    if rb.data().is_empty() {
        // The answer cannot be here yet: let the other connections run
        // first, so that under load it usually is when this one reads and
        // the read needs no readiness poll through io_uring (as the server
        // does between requests, `Conn::read_more`).
        futures_lite::future::yield_now().await;
    }
    let mut read_at = None;
    loop {
        let mut need = 1;
        if let Some(h) = http::parse_head(rb.data()).map_err(ConnError::Parse)? {
            if rb.data().len() >= h.total_len() {
                return Ok((h, read_at));
            }
            need = h.total_len() - rb.data().len();
        }
        let n = s.read(rb.spare(need)).await?;
        read_at = Some(Instant::now());
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        rb.filled(n);
    }
}

async fn conn_loop(id: usize, ctx: Rc<Ctx>) -> ConnEnd {
    let mut end = ConnEnd {
        stream: None,
        rb: RecvBuf::new(4096),
        last_token: None,
        last_done: None,
    };
    // Connections start at different pool offsets so they do not all send
    // the same body at once.
    let mut idx = id * 7919 % ctx.pool.len();
    // Measured 2xx responses of this connection, for sampling.
    let mut answered: u64 = 0;
    // Open loop: this connection's next slot; it takes every Nth.
    let stride = ctx.cfg.connections as u64;
    let mut slot = id as u64;
    // The pool indexes of one burst (`--pipelining`; one request without
    // it) and the buffer small requests are gathered in to be written once.
    let mut burst: Vec<usize> = Vec::with_capacity(ctx.cfg.depth);
    let mut gather: Vec<u8> = Vec::new();
    loop {
        // When the burst is due: now in closed loop, its slot in open loop.
        let (due, measured, k) = match ctx.cfg.open_loop {
            Some(o) => {
                let Some(due) = await_slot(&ctx, o, slot, stride).await else {
                    break;
                };
                slot += stride;
                (due, slot - stride >= ctx.slot_first_measured, 1)
            }
            None => {
                let now = Instant::now();
                let k = claim_closed(&ctx, now, ctx.cfg.depth);
                if k == 0 {
                    break;
                }
                (now, now >= ctx.measure_start, k)
            }
        };
        if end.stream.is_none() {
            match connect(&ctx).await {
                Ok(s) => {
                    end.stream = Some(s);
                    end.rb.clear();
                }
                Err(e) => {
                    {
                        // Each request of the burst failed to go out.
                        let mut st = ctx.stats.borrow_mut();
                        st.io_errors += k as u64;
                        st.last_error = Some(format!("connect: {e}"));
                    }
                    // Back off so a dead server does not become a busy loop
                    // (in open loop the slot is spent: it counts as failed).
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        burst.clear();
        for _ in 0..k {
            burst.push(idx);
            idx = (idx + 1) % ctx.pool.len();
        }
        let stream = end.stream.as_mut().expect("connected above");
        let t0 = Instant::now();
        // A burst written only in part may still have answers for its
        // first requests (a server that answered one with `Connection:
        // close` and closed): they are read before the rest count as failed,
        // and the write's error is the one reported.
        let mut write_error = send_burst(stream, &ctx.pool, &burst, &mut gather)
            .await
            .err();
        let mut failed = None;
        // Answers arrive in request order; each is timed from the burst's
        // send to the read that brought its last byte (one clock read per
        // read, not per answer).
        let mut got = 0;
        let mut closed = false;
        let mut done = t0;
        while got < k && !closed {
            let h = match recv_response(stream, &mut end.rb).await {
                Ok((h, read_at)) => {
                    done = read_at.unwrap_or(if got == 0 { Instant::now() } else { done });
                    h
                }
                Err(e) => {
                    failed = Some(write_error.take().map_or(e, ConnError::Io));
                    break;
                }
            };
            let req = &ctx.pool[burst[got]];
            got += 1;
            let times = Times { due, t0, done };
            book(&ctx, req, &h, times, measured);
            if (ctx.cfg.completion.is_some() || ctx.sampler.is_some())
                && (200..300).contains(&h.status)
            {
                let body = &end.rb.data()[h.head_len..h.total_len()];
                if let Some(t) = http::extract_token(body) {
                    if let (Some(s), true) = (&ctx.sampler, measured) {
                        s.offer(answered, &t, done);
                        answered += 1;
                    }
                    end.last_token = Some(t);
                }
            }
            end.last_done = Some(done);
            end.rb.consume(h.total_len());
            closed = h.close;
        }
        if got < k {
            // Every request of the burst left unanswered is a failed one.
            let mut st = ctx.stats.borrow_mut();
            st.io_errors += (k - got) as u64;
            match &failed {
                Some(ConnError::Io(e)) => st.last_error = Some(format!("io: {e}")),
                Some(ConnError::Parse(e)) => {
                    // A bad response fails itself (a parse error); the rest
                    // of the burst behind it is unanswered.
                    st.io_errors -= 1;
                    st.parse_errors += 1;
                    st.last_error = Some(format!("bad response: {e:?}"));
                }
                None => {
                    st.last_error = Some(format!(
                        "the server closed the connection with {} pipelined requests unanswered",
                        k - got
                    ))
                }
            }
        }
        if closed || got < k || write_error.is_some() {
            // Closed by the server, or the stream's framing is unknown now:
            // start afresh.
            end.stream = None;
        }
    }
    end
}

/// A request's due time (open loop: its slot), when its burst was written,
/// and when its answer was whole.
#[derive(Clone, Copy)]
struct Times {
    due: Instant,
    t0: Instant,
    done: Instant,
}

/// Counts one answered request in the run's stats.
fn book(ctx: &Ctx, req: &Request, h: &Head, t: Times, measured: bool) {
    let mut st = ctx.stats.borrow_mut();
    st.live_requests += 1;
    st.live_body_bytes += req.body_len as u64;
    if !measured {
        st.warmup_requests += 1;
        return;
    }
    // Closed loop counts from the send, after any reconnect, as it always
    // has; open loop from the slot.
    let from = if st.open.is_some() { t.due } else { t.t0 };
    let us = t.done.duration_since(from).as_micros() as u64;
    // Saturate rather than fail on absurd values.
    st.hist.saturating_record(us.max(1));
    if let Some(o) = &mut st.open {
        let service_us = t.done.duration_since(t.t0).as_micros() as u64;
        o.service_hist.saturating_record(service_us.max(1));
        let late = t.t0.saturating_duration_since(t.due);
        o.late_sends += u64::from(late > o.late);
        o.lateness_us_max = o.lateness_us_max.max(late.as_micros() as u64);
    }
    st.requests += 1;
    st.rows += req.rows;
    st.body_bytes += req.body_len as u64;
    st.wire_bytes += req.wire.len() as u64;
    st.status[usize::from(h.status).min(599)] += 1;
}

/// Most bytes of small requests gathered into one write; a request bigger
/// than this is written on its own, so a burst's memory stays bounded
/// whatever the body size and depth.
const GATHER_BYTES_MAX: usize = 64 * 1024;

/// Writes a burst's requests back to back, small ones gathered into as few
/// writes as `GATHER_BYTES_MAX` allows.
async fn send_burst(
    s: &mut Stream,
    pool: &[Request],
    burst: &[usize],
    gather: &mut Vec<u8>,
) -> io::Result<()> {
    if let [one] = burst {
        return s.write_all(&pool[*one].wire).await;
    }
    gather.clear();
    for &i in burst {
        let wire = &pool[i].wire;
        if gather.len() + wire.len() > GATHER_BYTES_MAX && !gather.is_empty() {
            s.write_all(gather).await?;
            gather.clear();
        }
        if wire.len() > GATHER_BYTES_MAX {
            s.write_all(wire).await?;
        } else {
            gather.extend_from_slice(wire);
        }
    }
    if !gather.is_empty() {
        s.write_all(gather).await?;
    }
    Ok(())
}

/// Closed loop: how many requests (up to `want`) to send at `now`, 0 when
/// the run is over. `--requests` counts attempts, failed connects
/// included, so a dead server ends a run that has no deadline instead of
/// spinning forever.
fn claim_closed(ctx: &Ctx, now: Instant, want: usize) -> usize {
    if ctx.deadline.is_some_and(|d| now >= d) {
        return 0;
    }
    if now >= ctx.measure_start {
        if let Some(limit) = ctx.cfg.requests {
            let k = limit.saturating_sub(ctx.claimed.get()).min(want as u64);
            ctx.claimed.set(ctx.claimed.get() + k);
            return k as usize;
        }
    }
    want
}

/// Open loop: waits until slot `j` is due and returns when that was; a
/// connection that is behind gets its due time at once. `None` when the
/// run is over: the slot is past `--requests` or the deadline, or the
/// deadline passed while this connection was behind, in which case its
/// measured slots that were due before the deadline are counted unsent.
async fn await_slot(ctx: &Ctx, o: OpenLoop, j: u64, stride: u64) -> Option<Instant> {
    if ctx.slot_end.is_some_and(|end| j >= end) {
        return None;
    }
    let due = o.due(ctx.start, j);
    if let Some(deadline) = ctx.deadline {
        if due >= deadline {
            return None;
        }
        if Instant::now() >= deadline {
            let end = o.slots_before(ctx.start, deadline);
            let unsent = own_slots_between(j, stride, ctx.slot_first_measured, end);
            if let Some(s) = &mut ctx.stats.borrow_mut().open {
                s.unsent += unsent;
            }
            return None;
        }
    }
    let now = Instant::now();
    if due > now {
        sleep(due - now).await;
    }
    Some(due)
}

/// How many of the slots `j, j + stride, j + 2 stride, ..` lie in `lo..hi`.
pub(crate) fn own_slots_between(j: u64, stride: u64, lo: u64, hi: u64) -> u64 {
    let first = if j >= lo {
        j
    } else {
        j + (lo - j).div_ceil(stride) * stride
    };
    if first < hi {
        (hi - first).div_ceil(stride)
    } else {
        0
    }
}

async fn progress(ctx: Rc<Ctx>) {
    let start = Instant::now();
    let (mut last_req, mut last_bytes) = (0u64, 0u64);
    loop {
        sleep(Duration::from_secs(1)).await;
        let st = ctx.stats.borrow();
        let (r, b) = (st.live_requests, st.live_body_bytes);
        let phase = if Instant::now() < ctx.measure_start {
            "warmup"
        } else {
            "run"
        };
        eprintln!(
            "[{:>4.0}s {phase}] {:>10} req/s {:>9.1} MB/s  total {} req, errors {}",
            start.elapsed().as_secs_f64(),
            r - last_req,
            (b - last_bytes) as f64 / 1e6,
            r,
            st.io_errors + st.parse_errors + st.non_2xx(),
        );
        (last_req, last_bytes) = (r, b);
    }
}

/// Polls completion_status for each connection's last token, concurrently,
/// reusing each connection's socket when it is still open.
async fn completion(ctx: &Rc<Ctx>, ends: Vec<ConnEnd>) -> CompletionStats {
    let tasks: Vec<_> = ends
        .into_iter()
        .filter(|e| e.last_token.is_some())
        .map(|e| glommio::spawn_local(poll_one(ctx.clone(), e)))
        .collect();
    let mut out = CompletionStats {
        polled: tasks.len(),
        ..Default::default()
    };
    for t in tasks {
        match t.await {
            Some(d) => {
                out.completed += 1;
                out.latencies.push(d);
            }
            None => out.failed += 1,
        }
    }
    out.latencies.sort();
    out
}

/// The `--completion-sample` poller: one connection, the sampled tokens
/// oldest first, each polled until complete (or the timeout).
async fn sample_poller(ctx: Rc<Ctx>) {
    let (s, cc) = match (&ctx.sampler, &ctx.cfg.sample) {
        (Some(s), Some((_, cc))) => (s.clone(), cc),
        _ => return,
    };
    let mut e = ConnEnd {
        stream: None,
        rb: RecvBuf::new(4096),
        last_token: None,
        last_done: None,
    };
    loop {
        let Some((token, at)) = s.next() else {
            if s.is_done() {
                return;
            }
            sleep(Duration::from_millis(1)).await;
            continue;
        };
        e.last_token = Some(token);
        e.last_done = Some(at);
        let got = poll_token(&ctx, &mut e, cc).await;
        s.record(got.map(|d| d.as_micros() as u64));
    }
}

async fn poll_one(ctx: Rc<Ctx>, mut e: ConnEnd) -> Option<Duration> {
    let cc = ctx.cfg.completion.as_ref()?;
    poll_token(&ctx, &mut e, cc).await
}

/// Poll `e.last_token` on `e`'s connection until complete; the time since
/// `e.last_done`, or `None` on an error status or the timeout.
async fn poll_token(ctx: &Ctx, e: &mut ConnEnd, cc: &CompletionConfig) -> Option<Duration> {
    let token = e.last_token.as_deref()?;
    let since = e.last_done?;
    let path = format!("{}{}", cc.path_prefix, http::pct(token));
    let req = http::build_get(&http::RequestParams {
        host: &cc.host,
        path: &path,
        content_type: "",
        api_key: cc.api_key.as_deref(),
        chunked: false,
    });
    let (timeout, interval) = (&cc.timeout, &cc.poll_interval);
    let give_up = Instant::now() + *timeout;
    while Instant::now() < give_up {
        if e.stream.is_none() {
            e.stream = connect(ctx).await.ok();
            e.rb.clear();
        }
        let Some(s) = e.stream.as_mut() else {
            sleep(*interval).await;
            continue;
        };
        match exchange(s, &mut e.rb, &req).await {
            Ok(h) => {
                let body = &e.rb.data()[h.head_len..h.total_len()];
                let complete = h.status == 200 && http::is_complete(body);
                let bad = !(200..300).contains(&h.status);
                e.rb.consume(h.total_len());
                if h.close {
                    e.stream = None;
                }
                if complete {
                    return Some(since.elapsed());
                }
                if bad {
                    return None;
                }
            }
            Err(_) => e.stream = None,
        }
        sleep(*interval).await;
    }
    None
}
