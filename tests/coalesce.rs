//! Small requests sharing batches (`shard::coalesce`), over the wire.

mod common;

use std::time::{Duration, Instant};

use common::{tempdir, Client, Server, TEST_SQL};

/// Every coalesced request is answered within about
/// `ingest.backpressure_wait_ms` of joining, as a request sending its own
/// batch is: the flusher must not give each queued batch a fresh wait of
/// its own while the owner takes none.
#[test]
fn overloaded_owner_answers_every_queued_request_in_time() {
    // One row per batch, so each request is a batch of its own; 15 KB rows
    // fill the 64 KiB log buffer in a few batches and each write takes 2 s.
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\n[ingest]\nbackpressure_wait_ms = 300\nbatch_rows = 1\n\
         [wal]\nbuffer_bytes_max = 65536\n\
         [[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n"
    );
    let s = Server::start_env(
        1,
        &cfg,
        tempdir(),
        true,
        &[("SLUICE_FAULTS", "write_delay_ms=2000")],
        &[],
    );
    let n = 24;
    let mut clients: Vec<Client> = (0..n).map(|_| s.client()).collect();
    let name = "x".repeat(15_000);
    let reqs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let body = format!("{i},{name},,\n");
            format!(
                "POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();
    let started = Instant::now();
    for (c, r) in clients.iter_mut().zip(&reqs) {
        c.send(r);
    }
    let mut slowest = Duration::ZERO;
    let mut statuses = Vec::new();
    for c in &mut clients {
        let r = c.read_response().unwrap();
        statuses.push(r.status);
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the owner was never overloaded: {statuses:?}"
    );
    // Admission (300 ms) plus one hand-over (300 ms), with slack for a busy
    // machine; a fresh wait per queued batch took 24 x 300 ms = 7.2 s.
    assert!(
        slowest < Duration::from_millis(3000),
        "slowest answer after {slowest:?}: {statuses:?}"
    );
}
