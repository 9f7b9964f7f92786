//! `POST /v0/pipelines/{p}/egress/{table}`: a table's change stream.
//!
//! The shard that accepted the request checks it, then hands the socket to
//! the table's owner (a duplicated descriptor over the mesh), which writes
//! the stream itself: committed batches never cross shards again, and the
//! owner knows at once when a listener has written a step, which tokens
//! wait for (see `egress::hub`). The response is chunked JSON lines, as
//! Feldera's; it ends only when the reader goes, falls too far behind
//! (`EgressReaderTooSlow`, as a last line), or stops reading for
//! `egress.write_timeout_ms`.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpStream;

use super::ingress::{bad, param};
use super::transport::Transport;
use crate::egress::chunk::Cursor;
use crate::egress::{ChunkEncoder, Format, Listener, LogPosition, SubState};
use crate::error::ApiError;
use crate::http::target::Target;
use crate::shard::Shard;
use crate::wal::tail::{SegmentReader, Snapshot};

/// Bytes of queued batches encoded into one write.
const WRITE_BATCH_BYTES: usize = 4 << 20;

/// An idle stream gets a `processed_steps` line this often, so that a
/// reader that went away is noticed (the write fails) and its slot freed.
const IDLE_MARKER_MS: u64 = 5_000;

/// What an egress request asks for, checked by the accepting shard.
#[derive(Debug, Clone, Copy)]
pub struct EgressParams {
    pub pipeline: u16,
    pub table: u16,
    pub format: Format,
    /// Tokens wait for this listener (Feldera's `backpressure`, default
    /// true); `false`: it skips changes when it falls behind instead.
    pub backpressure: bool,
    /// Where the stream starts: `None` at the present (`from=latest`);
    /// else first the table's changes in this owner's log from there on
    /// (`from=earliest`, or `from=<position>` as a stream's lines give
    /// it), then live ones.
    pub from: Option<Start>,
    /// HTTP/1.1: chunked; HTTP/1.0: the body ends when the stream closes.
    pub chunked: bool,
}

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    /// Just after a line that carried this `position`.
    At(LogPosition),
}

/// An egress connection on its way to the table's owner.
pub struct Handoff {
    pub fd: OwnedFd,
    /// The TLS session of an HTTPS connection.
    pub tls: Option<Box<rustls::ServerConnection>>,
    pub params: EgressParams,
}

/// Check the request's parameters. `send_snapshot=true` asks for a table
/// state sluice does not keep; `from=earliest` replays the log instead.
pub fn params(
    shard: &Shard,
    target: &Target,
    pipeline: &str,
    table: &str,
) -> Result<EgressParams, ApiError> {
    let (pi, ti) = shard.reg.resolve(pipeline, table)?;
    let format = match param(target, "format")? {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(f) => return Err(ApiError::UnknownFormat { format: f.into() }),
    };
    let flag = |name: &str, default: bool| match param(target, name)? {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(bad(name, v, "expected 'true' or 'false'")),
    };
    let backpressure = flag("backpressure", true)?;
    // `json_data` is always an array of changes: `array` changes nothing.
    flag("array", false)?;
    if flag("send_snapshot", false)? {
        return Err(bad(
            "send_snapshot",
            "true",
            "tables keep no snapshot here: listen before sending the rows",
        ));
    }
    let from = match param(target, "from")? {
        None | Some("latest") => None,
        Some("earliest") => Some(Start::Earliest),
        Some(v) => Some(Start::At(position(v).ok_or_else(|| {
            bad(
                "from",
                v,
                "expected 'latest', 'earliest' or a position such as '3:4096'",
            )
        })?)),
    };
    if from.is_some() && !shard.cfg.wal.enabled {
        return Err(bad(
            "from",
            param(target, "from")?.unwrap_or(""),
            "the log is disabled (wal.enabled = false): there is nothing to replay",
        ));
    }
    Ok(EgressParams {
        pipeline: pi as u16,
        table: ti as u16,
        format,
        backpressure,
        from,
        chunked: true,
    })
}

/// `segment:offset`, as lines carry it.
fn position(v: &str) -> Option<LogPosition> {
    let (s, o) = v.split_once(':')?;
    Some((s.parse().ok()?, o.parse().ok()?))
}

/// Give the connection to the owner: duplicate its descriptor (glommio
/// sockets cannot be taken apart), then drop ours.
pub async fn hand_off(shard: &Rc<Shard>, stream: Transport, params: EgressParams) {
    // A TLS session travels with the socket.
    let (tcp, tls) = match stream {
        Transport::Plain(t) => (t, None),
        Transport::Tls(t) => {
            let t = *t;
            (t.tcp, Some(Box::new(t.conn)))
        }
    };
    // SAFETY: `tcp` owns an open socket for the duration of this call;
    // F_DUPFD_CLOEXEC returns a new descriptor (or -1) that nothing else
    // owns, so wrapping it in OwnedFd gives it exactly one owner.
    let fd = unsafe { libc::fcntl(tcp.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    drop(tcp);
    if fd < 0 {
        // Out of descriptors: the client sees the connection close.
        return;
    }
    // SAFETY: see above; `fd` is valid and unowned.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    shard.hand_off(Handoff { fd, tls, params }).await;
}

/// On the owner: answer and stream until the reader goes.
pub async fn listen(shard: Rc<Shard>, h: Handoff) {
    // SAFETY: the descriptor is an open, connected TCP socket that this
    // Handoff owned alone; the stream takes that ownership over.
    let tcp = unsafe { TcpStream::from_raw_fd(h.fd.into_raw_fd()) };
    let mut stream = match h.tls {
        None => Transport::Plain(tcp),
        Some(conn) => Transport::with_session(tcp, *conn),
    };
    let p = h.params;
    let at = (p.pipeline as usize, p.table as usize);
    let limit = shard.cfg.egress.connections_per_table_max;
    if shard.egress.listeners(at) >= limit {
        let e = ApiError::EgressLimit { limit };
        let mut out = Vec::new();
        crate::http::response::write(
            &mut out,
            e.status(),
            e.headers(),
            Some("application/json"),
            &e.body(),
            false,
        );
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown(std::net::Shutdown::Both).await;
        return;
    }
    let l = shard
        .egress
        .subscribe(at, p.backpressure, shard.cfg.egress.queue_bytes_max);
    let _ = stream.tcp().set_write_timeout(Some(Duration::from_millis(
        shard.cfg.egress.write_timeout_ms,
    )));
    // Taken right after subscribing, with no await between: the log up to
    // here holds exactly the steps the listener will not get live.
    let replay = p.from.map(|start| {
        let dir = crate::shard::recovery::shard_dir(&shard.cfg.data_dir, shard.id);
        Snapshot::take(&dir, shard.log_end().flatten()).map(|s| (s, start))
    });
    let _ = serve(&shard, &mut stream, p, &l, replay).await;
    let t = &shard.reg.pipelines[at.0].tables[at.1];
    shard.egress.unsubscribe(at, t, &l.sub);
    let _ = stream.shutdown(std::net::Shutdown::Both).await;
}

/// Write the response head, a first `processed_steps` line, the replay if
/// asked, then every queued step as it comes.
async fn serve(
    shard: &Shard,
    stream: &mut Transport,
    p: EgressParams,
    l: &Listener,
    replay: Option<std::io::Result<(Snapshot, Start)>>,
) -> std::io::Result<()> {
    let at = (p.pipeline as usize, p.table as usize);
    let t = &shard.reg.pipelines[at.0].tables[at.1];
    let mut w = Writer {
        stream,
        enc: ChunkEncoder::new(p.format, t.table.clone()),
        chunked: p.chunked,
        seq_no: 0,
        lines: Vec::new(),
        out: Vec::new(),
    };
    w.head().await?;
    let steps = l.sub.written();
    w.marker(steps);
    w.flush().await?;
    if let Some(snapshot) = replay {
        if let Err(e) = w.replay(shard, at, snapshot, steps).await {
            // The log could not be read (or the reader went): say so and
            // end, rather than stream live changes after a gap.
            let note = serde_json::json!({
                "message": format!("replaying the log failed: {e}"),
                "error_code": "EgressReplayFailed",
                "details": {},
            });
            return w.end(note).await;
        }
    }
    let mut taken = Vec::new();
    loop {
        if l.sub.state() == SubState::Overflowed {
            let e = ApiError::EgressTooSlow {
                limit: shard.cfg.egress.queue_bytes_max,
            };
            return w
                .end(serde_json::from_slice(&e.body()).expect("our own JSON"))
                .await;
        }
        taken.clear();
        let skipped = l.sub.take(&mut taken, WRITE_BATCH_BYTES);
        if skipped > 0 {
            let note = serde_json::json!({
                "sequence_number": w.next_seq(),
                "skipped_records": skipped,
                "message": "this reader fell behind by more than egress.queue_bytes_max; \
                    these changes were skipped (backpressure=false)",
            });
            w.enc.notice(note, &mut w.lines);
        }
        for (step, b, position) in &taken {
            w.batch(*step, b, *position).await?;
        }
        if taken.is_empty() && skipped == 0 && !wait(l).await {
            w.marker(l.sub.written());
        }
        w.flush().await?;
        if let Some((step, _, _)) = taken.last() {
            shard.egress.written(at, t, &l.sub, *step);
        }
    }
}

/// Lines are written once this many bytes are pending.
const FLUSH_BYTES: usize = 1 << 20;

/// A stream's output: lines, framed as HTTP/1.1 chunks (or bare on
/// HTTP/1.0, where the body ends when the connection closes).
struct Writer<'s> {
    stream: &'s mut Transport,
    enc: ChunkEncoder,
    chunked: bool,
    seq_no: u64,
    /// Encoded lines not yet written.
    lines: Vec<u8>,
    /// `lines` framed, being written.
    out: Vec<u8>,
}

impl Writer<'_> {
    fn next_seq(&mut self) -> u64 {
        self.seq_no += 1;
        self.seq_no - 1
    }

    fn marker(&mut self, steps: u64) {
        let seq = self.next_seq();
        self.enc.marker(seq, steps, &mut self.lines);
    }

    async fn head(&mut self) -> std::io::Result<()> {
        let head: &[u8] = if self.chunked {
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        } else {
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        };
        self.stream.write_all(head).await
    }

    /// Encode one batch, writing every `FLUSH_BYTES` and yielding, so that
    /// neither memory nor the core is held by a big one.
    async fn batch(
        &mut self,
        step: u64,
        b: &crate::decode::ChangeBatch,
        position: Option<LogPosition>,
    ) -> std::io::Result<()> {
        let mut cur = Cursor::default();
        loop {
            let seq = self.next_seq();
            let done = self
                .enc
                .batch_part(seq, step, b, &mut cur, position, &mut self.lines);
            if self.lines.len() >= FLUSH_BYTES {
                self.flush().await?;
            }
            glommio::yield_if_needed().await;
            if done {
                return Ok(());
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        self.out.clear();
        if self.chunked {
            use std::io::Write;
            let _ = write!(self.out, "{:x}\r\n", self.lines.len());
        }
        self.out.extend_from_slice(&self.lines);
        if self.chunked {
            self.out.extend_from_slice(b"\r\n");
        }
        self.lines.clear();
        let r = self.stream.write_all(&self.out).await;
        // One huge line (a row with a giant value) must not pin its memory
        // for the life of the stream.
        for buf in [&mut self.lines, &mut self.out] {
            buf.shrink_to(2 * FLUSH_BYTES);
        }
        r
    }

    /// A last line (why the stream ends), then the end of the body.
    async fn end(&mut self, note: serde_json::Value) -> std::io::Result<()> {
        self.enc.notice(note, &mut self.lines);
        self.flush().await?;
        if self.chunked {
            self.stream.write_all(b"0\r\n\r\n").await?;
        }
        Ok(())
    }

    /// The table's changes still in the owner's log, oldest first, each
    /// line saying the stream is at `steps` (they all precede it).
    async fn replay(
        &mut self,
        shard: &Shard,
        at: (usize, usize),
        snapshot: std::io::Result<(Snapshot, Start)>,
        steps: u64,
    ) -> std::io::Result<()> {
        let (snapshot, start) = snapshot?;
        let (first, from) = match start {
            Start::Earliest => (0, 0),
            Start::At((seg, off)) => {
                if !snapshot.segments.iter().any(|(s, _)| *s == seg) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "position {seg}:{off} is not in this shard's log (retention \
                             deleted its segment, or it is not a position this table's \
                             owner gave)"
                        ),
                    ));
                }
                (seg, off)
            }
        };
        let pipeline = &shard.reg.pipelines[at.0];
        let t = &pipeline.tables[at.1].table;
        let key = crate::shard::recovery::table_key(&t.ident.canonical);
        for (seq, path) in snapshot.segments {
            if seq < first {
                continue;
            }
            let end = snapshot.live.filter(|(s, _)| *s == seq).map(|(_, e)| e);
            let at = if seq == first { from } else { 0 };
            let mut r = match SegmentReader::open(path, seq, at, end).await {
                Ok(r) => r,
                // Retention deleted it since the snapshot: what it held is
                // gone; later segments still follow in order.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            while let Some((head, batch, end)) = r.next().await? {
                let ours = head.pipeline == pipeline.id
                    && head.table == key
                    && batch.data.schema().fields() == t.schema.fields();
                if ours {
                    self.batch(steps, &batch, Some((seq, end))).await?;
                }
                glommio::yield_if_needed().await;
            }
            r.close().await;
        }
        self.flush().await
    }
}

/// Wait for the bell; `false` after `IDLE_MARKER_MS` of silence.
async fn wait(l: &Listener) -> bool {
    futures_lite::future::or(async { l.bell.recv().await.is_some() }, async {
        glommio::timer::sleep(Duration::from_millis(IDLE_MARKER_MS)).await;
        false
    })
    .await
}
