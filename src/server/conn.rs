//! One connection: read heads, dispatch, stream bodies, write responses.
//!
//! The read buffer is allocated once per connection (`read_buffer_bytes`)
//! and a request's head and body are parsed in place: body bytes go from
//! this buffer straight into the decoder. Responses accumulate in `out` and
//! are written only when the connection would otherwise wait for input, so
//! a pipelined burst is answered with one write.

use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use glommio::net::TcpStream;

use super::routes::{self, Route};
use super::transport::Transport;
use super::{egress, endpoints, ingress, metrics};
use crate::error::ApiError;
use crate::http::body::BodyDecoder;
use crate::http::head::{self, Framing, HeadLimits, RequestHead};
use crate::http::response;
use crate::http::target::{self, Target};
use crate::shard::{idem, Shard};

/// A request refused before its body was read (unknown table, bad
/// parameter) has its body read and dropped up to this size, so the
/// connection can be kept; a bigger body closes it instead.
const DRAIN_BYTES_MAX: u64 = 1 << 20;

/// Most bytes drained during a lingering close.
const LINGER_BYTES_MAX: usize = 1 << 20;

/// What a handler left of the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyState {
    /// Not read: the connection cannot be reused after answering.
    Unread,
    /// Read to its end: the connection may be kept alive.
    Done,
    /// Framing broke, a limit hit or a timeout mid-body: close.
    Broken,
}

/// A failed request: the error and how far the body got.
pub type Failure = (ApiError, BodyState);

pub struct Conn<'a> {
    pub shard: &'a Shard,
    stream: Transport,
    pub buf: Vec<u8>,
    /// Unconsumed input is `buf[start..end]`.
    start: usize,
    end: usize,
    out: Vec<u8>,
    limits: HeadLimits,
    /// Every request's target is parsed into this one (its Strings reused).
    target: Target,
}

/// Most refused connections lingering at once per shard; past it a refused
/// connection is closed without an answer, so a connection flood cannot
/// hold unbounded sockets open in lingering closes.
const REFUSING_MAX: usize = 1024;

/// Read buffer of a refused connection: it only drains input it discards.
const REFUSE_BUFFER_BYTES: usize = 4096;

/// Serve HTTP requests; when one asks for a change stream, return the
/// connection for it (it then counts against the egress limit, not
/// `connections_per_shard_max`).
pub async fn serve(shard: &Rc<Shard>, tcp: TcpStream) -> Option<(Transport, egress::EgressParams)> {
    // Responses are small and latency matters more than segment count.
    let _ = tcp.set_nodelay(true);
    let stream = Transport::new(tcp, shard.tls.as_ref()).ok()?;
    let mut c = Conn::new(shard, stream, shard.buffers.take());
    let listen = c.run().await;
    let Conn { stream, buf, .. } = c;
    shard.buffers.give(buf);
    listen.map(|params| (stream, params))
}

/// A request between its head and its answer (`Shard::in_flight`).
struct InFlight<'a>(&'a Shard);

impl<'a> InFlight<'a> {
    fn enter(shard: &'a Shard) -> InFlight<'a> {
        shard.in_flight.set(shard.in_flight.get() + 1);
        InFlight(shard)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
    }
}

/// What a request asks of the connection.
pub enum Reply {
    /// Answer with this status and JSON body.
    Body(u16, Vec<u8>),
    /// Answer 200 with this body of another content type.
    Typed(&'static str, Vec<u8>),
    /// Become a change stream (the connection leaves the HTTP loop).
    Listen(egress::EgressParams),
}

/// Answer 503 `ApiConnectionLimit` to a connection past the cap and close
/// it. It takes no pooled read buffer and does not count toward the cap.
pub async fn refuse(shard: &Shard, stream: TcpStream) {
    if shard.refusing.get() >= REFUSING_MAX || shard.tls.is_some() {
        // (A TLS handshake only to refuse is not worth a core's time: the
        // client sees the connection close and retries later.)
        return;
    }
    shard.refusing.set(shard.refusing.get() + 1);
    let mut c = Conn::new(
        shard,
        Transport::Plain(stream),
        vec![0; REFUSE_BUFFER_BYTES],
    );
    let e = ApiError::TooManyConnections;
    shard.reg.shard_metrics[shard.id]
        .responses
        .count(e.status());
    c.respond_error(&e, false);
    c.linger().await;
    shard.refusing.set(shard.refusing.get() - 1);
}

impl<'a> Conn<'a> {
    fn new(shard: &'a Shard, stream: Transport, buf: Vec<u8>) -> Self {
        Conn {
            shard,
            stream,
            buf,
            start: 0,
            end: 0,
            out: Vec::with_capacity(4096),
            target: Target::default(),
            limits: HeadLimits {
                head_bytes_max: shard.cfg.http.head_bytes_max,
                headers_max: shard.cfg.http.headers_max,
                uri_bytes_max: shard.cfg.http.uri_bytes_max,
            },
        }
    }

    /// Serve requests until the connection closes, or until one asks for
    /// a change stream, which is returned with every earlier answer sent.
    async fn run(&mut self) -> Option<egress::EgressParams> {
        loop {
            let head = match self.read_head().await {
                Ok(Some(h)) => h,
                Ok(None) => {
                    let _ = self.flush().await;
                    return None;
                }
                Err(e) => {
                    self.respond_error(&e, false);
                    self.linger().await;
                    return None;
                }
            };
            let base = self.start;
            self.start += head.len;
            let has_body = head.framing != Framing::None;
            // Counted until its answer is sent (or the connection closed),
            // so that a graceful stop waits for it.
            let _in_flight = InFlight::enter(self.shard);
            let began = Instant::now();
            let stopping = self.shard.reg.stopping.load(Ordering::Acquire);
            let mut target = std::mem::take(&mut self.target);
            let handled = if stopping {
                Err((ApiError::ShuttingDown, BodyState::Unread))
            } else {
                self.handle(base, &head, &mut target).await
            };
            self.target = target;
            let metrics = &self.shard.reg.shard_metrics[self.shard.id];
            let status = match &handled {
                Ok(Reply::Body(status, _)) => *status,
                Ok(_) => 200,
                Err((e, _)) => e.status(),
            };
            metrics.responses.count(status);
            metrics
                .request_latency
                .record(began.elapsed().as_micros() as u64);
            let (keep, state) = match handled {
                Ok(Reply::Body(status, body)) => {
                    let keep = head.keep_alive && !self.shard.reg.stopping.load(Ordering::Acquire);
                    self.respond(status, &[], &body, keep);
                    (keep, BodyState::Done)
                }
                Ok(Reply::Typed(content_type, body)) => {
                    let keep = head.keep_alive && !self.shard.reg.stopping.load(Ordering::Acquire);
                    response::write(&mut self.out, 200, &[], Some(content_type), &body, keep);
                    (keep, BodyState::Done)
                }
                Ok(Reply::Listen(params)) => {
                    return self.flush().await.is_ok().then_some(params);
                }
                Err((e, mut state)) => {
                    if state == BodyState::Unread && has_body && self.may_drain(&e, &head) {
                        state = match self.discard_body(&head, DRAIN_BYTES_MAX).await {
                            Ok(()) => BodyState::Done,
                            Err(_) => BodyState::Broken,
                        };
                    }
                    let keep = head.keep_alive
                        && (state == BodyState::Done || !has_body)
                        && !self.shard.reg.stopping.load(Ordering::Acquire);
                    self.respond_error(&e, keep);
                    (keep, state)
                }
            };
            if !keep {
                // Closing on input not read resets the connection, and a
                // reset can discard this answer before the client reads it.
                // So linger unless nothing can follow: input already buffered
                // past this request is a pipelined one, and a client that
                // asked to keep the connection (closed by a stop) may have
                // sent more.
                let more_input = self.start < self.end || head.keep_alive;
                if (state == BodyState::Done || !has_body) && !more_input {
                    let _ = self.flush().await;
                    let _ = self.stream.shutdown(std::net::Shutdown::Both).await;
                } else {
                    self.linger().await;
                }
                return None;
            }
            if self.shard.reg.stopping.load(Ordering::Acquire) {
                // A stop began after this answer was queued: send it while
                // the request still counts as in flight.
                let _ = self.flush().await;
            }
        }
    }

    /// Route, authenticate and run one request. The body has not been read.
    async fn handle(
        &mut self,
        base: usize,
        head: &RequestHead,
        target: &mut Target,
    ) -> Result<Reply, Failure> {
        let unread = |e| (e, BodyState::Unread);
        let at = |r: &Range<usize>| base + r.start..base + r.end;
        target::parse_into(&self.buf[at(&head.target)], target).map_err(|e| {
            unread(ApiError::Http {
                status: 400,
                what: format!("invalid request target: {e:?}"),
            })
        })?;
        let target = &*target;
        let route = routes::route(head.method, target).map_err(unread)?;
        if route.needs_auth() {
            if let Some(auth) = &self.shard.auth {
                let value = head.authorization.as_ref().map(|r| &self.buf[at(r)]);
                auth.check(value)
                    .map_err(|_| unread(ApiError::AuthenticationFailed))?;
            }
        }
        if let Route::Ingress { pipeline, table } = &route {
            let key = match &head.idempotency_key {
                Some(r) => Some(
                    idem::check_key(&self.buf[at(r)])
                        .map_err(|why| unread(ApiError::InvalidIdempotencyKey { why }))?
                        .to_string(),
                ),
                None => None,
            };
            let key = key.as_deref();
            let (status, body) = ingress::handle(self, head, target, pipeline, table, key).await?;
            return Ok(Reply::Body(status, body));
        }
        if let Route::Egress { pipeline, table } = &route {
            let mut params = egress::params(self.shard, target, pipeline, table).map_err(unread)?;
            params.chunked = head.version == 1;
            self.skip_body(head, DRAIN_BYTES_MAX).await?;
            return Ok(Reply::Listen(params));
        }
        if let Route::Lifecycle { pipeline, action } = &route {
            self.skip_body(head, self.shard.cfg.http.body_bytes_max)
                .await?;
            endpoints::lifecycle(self.shard, pipeline, action, target)
                .await
                .map_err(|e| (e, BodyState::Done))?;
            // Accepted, as Feldera answers; the state has already changed.
            return Ok(Reply::Body(202, b"{}".to_vec()));
        }
        if let Route::Metrics { pipeline } = &route {
            self.skip_body(head, self.shard.cfg.http.body_bytes_max)
                .await?;
            let text = metrics::render(self.shard, *pipeline).map_err(|e| (e, BodyState::Done))?;
            return Ok(Reply::Typed("text/plain; version=0.0.4", text.into_bytes()));
        }
        // Other endpoints take no body; read and drop one if sent.
        self.skip_body(head, self.shard.cfg.http.body_bytes_max)
            .await?;
        let (status, body) =
            endpoints::handle(self.shard, &route, target).map_err(|e| (e, BodyState::Done))?;
        Ok(Reply::Body(status, body))
    }

    /// Read and drop the body of a request that needs none, first telling
    /// a client that waits for `100 Continue` to send it.
    async fn skip_body(&mut self, head: &RequestHead, max: u64) -> Result<(), Failure> {
        if head.expect_continue && head.framing != Framing::None {
            self.send_continue().await.map_err(|_| {
                (
                    ApiError::Http {
                        status: 400,
                        what: "connection failed while sending 100 Continue".into(),
                    },
                    BodyState::Broken,
                )
            })?;
        }
        self.discard_body(head, max).await
    }

    /// Read until a whole head is buffered. `Ok(None)`: the peer closed or
    /// stayed idle between requests.
    async fn read_head(&mut self) -> Result<Option<RequestHead>, ApiError> {
        let header_timeout = Duration::from_millis(self.shard.cfg.http.header_timeout_ms);
        let mut deadline: Option<Instant> = None;
        loop {
            if self.start < self.end {
                let parsed = head::parse(&self.buf[self.start..self.end], &self.limits);
                match parsed {
                    Ok(Some(h)) => return Ok(Some(h)),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(ApiError::Http {
                            status: e.status(),
                            what: format!("invalid request head: {e:?}"),
                        })
                    }
                }
                deadline.get_or_insert_with(|| Instant::now() + header_timeout);
            }
            if self.stream.handshaking() {
                // A TLS handshake counts as the head: bounded from its start.
                deadline.get_or_insert_with(|| Instant::now() + header_timeout);
            }
            let timeout = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(self.shard.cfg.http.keepalive_timeout_ms),
            };
            match self.read_more(timeout).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && deadline.is_some() => {
                    return Err(ApiError::Http {
                        status: 408,
                        what: "request head not received in time (http.header_timeout_ms)".into(),
                    })
                }
                Err(_) => return Ok(None),
            }
        }
    }

    /// Read more input after `end`, compacting first. Flushes pending
    /// responses, since the peer may be waiting for them.
    async fn read_more(&mut self, timeout: Duration) -> std::io::Result<usize> {
        let answered = !self.out.is_empty();
        self.flush().await?;
        if answered && self.start == self.end {
            // An answer just left and nothing more is buffered: the client
            // sends its next request only once it has the answer. Let the
            // other runnable connections go first, so that under load the
            // request is usually there when this one reads, and the read
            // needs no readiness poll through io_uring.
            futures_lite::future::yield_now().await;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Cannot happen: heads are capped below the buffer size and
            // bodies are consumed as they arrive.
            return Err(std::io::Error::other("read buffer full"));
        }
        if timeout.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let n = self.stream.read(&mut self.buf[self.end..], timeout).await?;
        self.end += n;
        Ok(n)
    }

    /// Bytes read past the request head (its body, perhaps more).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// A `Content-Length` body of `n` bytes already whole in the read
    /// buffer: consume it and return its range of `buf` (valid until the
    /// next read); `None` when not all of it has arrived.
    pub fn take_whole_body(&mut self, n: usize) -> Option<Range<usize>> {
        if self.end - self.start < n {
            return None;
        }
        self.start += n;
        Some(self.start - n..self.start)
    }

    /// The next piece of body payload, as a range of `buf` valid until the
    /// next call; `None` at the end of the body.
    pub async fn next_body_chunk(
        &mut self,
        body: &mut BodyDecoder,
        done: &mut bool,
    ) -> Result<Option<Range<usize>>, Failure> {
        let idle = Duration::from_millis(self.shard.cfg.http.body_idle_timeout_ms);
        while !*done {
            if body.is_done() {
                *done = true;
                break;
            }
            if self.start == self.end {
                match self.read_more(idle).await {
                    Ok(0) => return Err((closed_mid_body(), BodyState::Broken)),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        return Err((
                            ApiError::Http {
                                status: 408,
                                what: "request body stalled (http.body_idle_timeout_ms)".into(),
                            },
                            BodyState::Broken,
                        ))
                    }
                    Err(_) => return Err((closed_mid_body(), BodyState::Broken)),
                }
            }
            let p = body.decode(&self.buf[self.start..self.end]).map_err(|e| {
                (
                    ApiError::Http {
                        status: 400,
                        what: format!("invalid request body framing: {e:?}"),
                    },
                    BodyState::Broken,
                )
            })?;
            let data = self.start + p.data.start..self.start + p.data.end;
            self.start += p.consumed;
            *done = p.done;
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Drain the body of a refused request to keep the connection? Not
    /// for auth failures and oversize bodies (never read what we refuse),
    /// nor after `Expect: 100-continue` (the client waits for our answer
    /// and may never send the body).
    fn may_drain(&self, e: &ApiError, head: &RequestHead) -> bool {
        let small = match head.framing {
            Framing::Length(n) => n <= DRAIN_BYTES_MAX,
            _ => true,
        };
        small
            && !head.expect_continue
            && !matches!(
                e,
                ApiError::AuthenticationFailed | ApiError::BodyTooLarge { .. }
            )
    }

    /// Read and drop a body of at most `max` bytes.
    async fn discard_body(&mut self, head: &RequestHead, max: u64) -> Result<(), Failure> {
        let mut body = BodyDecoder::new(head.framing);
        let mut done = false;
        let mut total = 0u64;
        while let Some(r) = self.next_body_chunk(&mut body, &mut done).await? {
            total += r.len() as u64;
            if total > max {
                return Err((ApiError::BodyTooLarge { limit: max }, BodyState::Broken));
            }
        }
        Ok(())
    }

    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_alive: bool,
    ) {
        response::write(
            &mut self.out,
            status,
            headers,
            Some("application/json"),
            body,
            keep_alive,
        );
    }

    fn respond_error(&mut self, e: &ApiError, keep_alive: bool) {
        self.respond(e.status(), e.headers(), &e.body(), keep_alive);
    }

    /// `Expect: 100-continue`: tell the client to send the body now that
    /// routing, auth and limits have passed.
    pub async fn send_continue(&mut self) -> std::io::Result<()> {
        response::write_continue(&mut self.out);
        self.flush().await
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let r = self.stream.write_all(&self.out).await;
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Answer, stop sending, then drain unread input for a while so the
    /// client's TCP stack does not discard our response on a reset.
    async fn linger(&mut self) {
        if self.flush().await.is_err() {
            return;
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write).await;
        let deadline = Instant::now() + Duration::from_millis(self.shard.cfg.http.linger_ms);
        let mut drained = 0;
        while drained < LINGER_BYTES_MAX {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.stream.read(&mut self.buf, left).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    }
}

fn closed_mid_body() -> ApiError {
    ApiError::Http {
        status: 400,
        what: "connection closed before the body ended".into(),
    }
}
