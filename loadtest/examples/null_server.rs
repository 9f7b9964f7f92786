//! A do-nothing ingress server for calibrating `sluice-load` itself.
//!
//! It frames requests (Content-Length or chunked), discards the bodies and
//! answers `200 {"token":"x"}` (or `{"status":"complete"}` to GETs), so a run
//! against it measures the generator's ceiling rather than a real server.
//! Pinned to one core so the generator can have the other.
//!
//! `cargo run --release -p sluice-load --example null_server [ADDR] [CORE]`

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

const POST_REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"token\":\"x\"}";
const GET_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n{\"status\":\"complete\"}";

/// Where the request framer is: bodies are skipped, never buffered whole,
/// so megabyte bodies cost one read buffer.
enum State {
    Head,
    Body(usize),
    ChunkSize,
    /// Chunk bytes left plus the CRLF after them.
    ChunkData(usize),
    /// After the zero chunk: the final CRLF (trailers are not supported).
    ChunkEnd,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Consumes what it can from `buf`, appending one reply per complete
/// request to `out`. Returns bytes consumed; the rest waits for more input.
fn advance(state: &mut State, buf: &[u8], out: &mut Vec<u8>, served: &Cell<u64>) -> usize {
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        match state {
            State::Head => {
                let Some(end) = find(rest, b"\r\n\r\n") else {
                    return pos;
                };
                let head = std::str::from_utf8(&rest[..end]).unwrap_or("");
                let mut len = 0;
                let mut chunked = false;
                for line in head.split("\r\n").skip(1) {
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    } else if k.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = v.trim().eq_ignore_ascii_case("chunked");
                    }
                }
                pos += end + 4;
                if head.starts_with("GET ") {
                    out.extend_from_slice(GET_REPLY);
                } else if chunked {
                    *state = State::ChunkSize;
                } else {
                    *state = State::Body(len);
                }
            }
            State::Body(n) => {
                let take = (*n).min(rest.len());
                pos += take;
                *n -= take;
                if *n > 0 {
                    return pos;
                }
                out.extend_from_slice(POST_REPLY);
                served.set(served.get() + 1);
                *state = State::Head;
            }
            State::ChunkSize => {
                let Some(end) = find(rest, b"\r\n") else {
                    return pos;
                };
                let hex = std::str::from_utf8(&rest[..end]).unwrap_or("0");
                let hex = hex.split(';').next().unwrap_or("0").trim();
                let n = usize::from_str_radix(hex, 16).unwrap_or(0);
                pos += end + 2;
                *state = if n == 0 {
                    State::ChunkEnd
                } else {
                    State::ChunkData(n + 2)
                };
            }
            State::ChunkData(n) => {
                let take = (*n).min(rest.len());
                pos += take;
                *n -= take;
                if *n > 0 {
                    return pos;
                }
                *state = State::ChunkSize;
            }
            State::ChunkEnd => {
                if rest.len() < 2 {
                    return pos;
                }
                pos += 2;
                out.extend_from_slice(POST_REPLY);
                served.set(served.get() + 1);
                *state = State::Head;
            }
        }
    }
}

async fn serve(mut s: TcpStream, served: Rc<Cell<u64>>) {
    let mut buf = vec![0u8; 256 * 1024];
    let (mut start, mut end) = (0, 0);
    let mut out = Vec::with_capacity(4096);
    let mut state = State::Head;
    loop {
        if start == end {
            (start, end) = (0, 0);
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let n = match s.read(&mut buf[end..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        end += n;
        start += advance(&mut state, &buf[start..end], &mut out, &served);
        if !out.is_empty() {
            if s.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8089".into());
    let core: usize = args
        .next()
        .map_or(0, |c| c.parse().expect("CORE is a number"));
    // The runtime settings sluice uses by default (`io_uring_coop_taskrun`,
    // `spin_before_park_us`), so that this stays the ceiling of the same
    // runtime rather than of a slower one.
    glommio::set_coop_taskrun(true);
    let ex = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name("null-server")
        .spin_before_park(Duration::from_micros(50))
        .make()
        .expect("executor");
    ex.run(async move {
        let l = TcpListener::bind(&addr).expect("bind");
        eprintln!("null_server listening on {addr}, core {core}");
        let served = Rc::new(Cell::new(0u64));
        let s2 = served.clone();
        glommio::spawn_local(async move {
            let mut last = 0;
            loop {
                glommio::timer::sleep(Duration::from_secs(1)).await;
                if s2.get() != last {
                    eprintln!("null_server: {} req/s", s2.get() - last);
                    last = s2.get();
                }
            }
        })
        .detach();
        loop {
            match l.accept().await {
                Ok(s) => {
                    _ = s.set_nodelay(true);
                    glommio::spawn_local(serve(s, served.clone())).detach();
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    });
}
