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

use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;

use super::ingress::{bad, param};
use crate::egress::{ChunkEncoder, Format, Listener, SubState};
use crate::error::ApiError;
use crate::http::target::Target;
use crate::shard::Shard;

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
}

/// An egress connection on its way to the table's owner.
pub struct Handoff {
    pub fd: OwnedFd,
    pub params: EgressParams,
}

/// Check the request's parameters. `from`, other than `latest`, and
/// `send_snapshot=true` ask for history, which sluice does not serve yet.
pub fn params(
    shard: &Shard,
    target: &Target,
    pipeline: &str,
    table: &str,
) -> Result<EgressParams, ApiError> {
    let reg = &shard.reg;
    let pi = reg
        .pipeline_index(pipeline)
        .ok_or_else(|| ApiError::UnknownPipeline {
            pipeline: pipeline.into(),
        })?;
    let ti = reg.pipelines[pi]
        .table_index(table)
        .ok_or_else(|| ApiError::UnknownTable {
            pipeline: pipeline.into(),
            table: table.into(),
        })?;
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
    match param(target, "from")? {
        None | Some("latest") => {}
        Some(v) => return Err(bad("from", v, "only 'latest' is supported")),
    }
    Ok(EgressParams {
        pipeline: pi as u16,
        table: ti as u16,
        format,
        backpressure,
    })
}

/// Give the connection to the owner: duplicate its descriptor (glommio
/// sockets cannot be taken apart), then drop ours.
pub async fn hand_off(shard: &Rc<Shard>, stream: TcpStream, params: EgressParams) {
    // SAFETY: `stream` owns an open socket for the duration of this call;
    // F_DUPFD_CLOEXEC returns a new descriptor (or -1) that nothing else
    // owns, so wrapping it in OwnedFd gives it exactly one owner.
    let fd = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    drop(stream);
    if fd < 0 {
        // Out of descriptors: the client sees the connection close.
        return;
    }
    // SAFETY: see above; `fd` is valid and unowned.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    shard.hand_off(Handoff { fd, params }).await;
}

/// On the owner: answer and stream until the reader goes.
pub async fn listen(shard: Rc<Shard>, h: Handoff) {
    // SAFETY: the descriptor is an open, connected TCP socket that this
    // Handoff owned alone; the stream takes that ownership over.
    let mut stream = unsafe { TcpStream::from_raw_fd(h.fd.into_raw_fd()) };
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
    let _ = stream.set_write_timeout(Some(Duration::from_millis(
        shard.cfg.egress.write_timeout_ms,
    )));
    let _ = serve(&shard, &mut stream, p, &l).await;
    let t = &shard.reg.pipelines[at.0].tables[at.1];
    shard.egress.unsubscribe(at, t, &l.sub);
    let _ = stream.shutdown(std::net::Shutdown::Both).await;
}

/// Write the response head, a first `processed_steps` line, then every
/// queued step as it comes.
async fn serve(
    shard: &Shard,
    stream: &mut TcpStream,
    p: EgressParams,
    l: &Listener,
) -> std::io::Result<()> {
    let at = (p.pipeline as usize, p.table as usize);
    let t = &shard.reg.pipelines[at.0].tables[at.1];
    let mut enc = ChunkEncoder::new(p.format, t.table.clone());
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    let mut lines = Vec::new();
    let mut seq_no = 0;
    enc.marker(seq_no, l.sub.written(), &mut lines);
    seq_no += 1;
    chunk(&mut out, &lines);
    stream.write_all(&out).await?;
    let mut taken = Vec::new();
    loop {
        if l.sub.state() == SubState::Overflowed {
            let e = ApiError::EgressTooSlow {
                limit: shard.cfg.egress.queue_bytes_max,
            };
            lines.clear();
            enc.notice(
                serde_json::from_slice(&e.body()).expect("our own JSON"),
                &mut lines,
            );
            out.clear();
            chunk(&mut out, &lines);
            out.extend_from_slice(b"0\r\n\r\n");
            return stream.write_all(&out).await;
        }
        taken.clear();
        let skipped = l.sub.take(&mut taken, WRITE_BATCH_BYTES);
        lines.clear();
        if skipped > 0 {
            let note = serde_json::json!({
                "sequence_number": seq_no,
                "skipped_records": skipped,
                "message": "this reader fell behind by more than egress.queue_bytes_max; \
                    these changes were skipped (backpressure=false)",
            });
            enc.notice(note, &mut lines);
            seq_no += 1;
        }
        for (step, b) in &taken {
            enc.batch(seq_no, *step, b, &mut lines);
            seq_no += 1;
            glommio::yield_if_needed().await;
        }
        if lines.is_empty() {
            if !wait(l).await {
                enc.marker(seq_no, l.sub.written(), &mut lines);
                seq_no += 1;
            } else {
                continue;
            }
        }
        out.clear();
        chunk(&mut out, &lines);
        stream.write_all(&out).await?;
        if let Some((step, _)) = taken.last() {
            shard.egress.written(at, t, &l.sub, *step);
        }
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

/// `data` as one HTTP/1.1 chunk.
fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    use std::io::Write;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}
