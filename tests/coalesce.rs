//! Small requests sharing batches (`shard::coalesce`), over the wire.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server};

/// Every coalesced request is answered within about
/// `ingest.backpressure_wait_ms` of joining, as a request sending its own
/// batch is: the flusher must not give each queued batch a fresh wait of
/// its own while the owner takes none.
#[test]
fn overloaded_owner_answers_every_queued_request_in_time() {
    // One row per batch, so each request is a batch of its own; 15 KB rows
    // fill the 64 KiB log buffer in a few batches and each write takes 2 s.
    let s = Server::start_slow_disk(1, "backpressure_wait_ms = 300\nbatch_rows = 1", 2000);
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

/// A table whose owner is stuck holds up only its own coalesced requests:
/// another table's, on the same accepting shards, are answered at once
/// (with one hand-over queue per shard they waited up to a whole
/// `backpressure_wait_ms` behind the stuck table's batches).
#[test]
fn a_stuck_owner_does_not_hold_up_other_tables() {
    // Owners go round-robin in declaration order: t1 on shard 0, t2 on
    // shard 1. One 15 KB row per batch fills shard 0's 64 KiB log buffer
    // in a few batches, and each write takes 6 s, so t1's queued batches
    // wait out their 3 s; t2's rows are small and shard 1's buffer has
    // room for them. A one-batch channel to each owner makes t1's batches
    // wait on either accepting shard, however the kernel spreads the
    // connections over the two.
    let s = Server::start_slow_disk(
        2,
        "backpressure_wait_ms = 3000\nbatch_rows = 1\nchannel_batches_max = 1",
        6000,
    );
    let post = |table: &str, body: &str| {
        format!(
            "POST /v0/pipelines/p/ingress/{table}?format=csv HTTP/1.1\r\nHost: x\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let name = "x".repeat(15_000);
    let mut stuck: Vec<Client> = (0..24).map(|_| s.client()).collect();
    for (i, c) in stuck.iter_mut().enumerate() {
        c.send(&post("t1", &format!("{i},{name},,\n")));
    }
    // Until t1's owner's log buffer is full: its batches now wait, queued.
    let mut m = s.client();
    let full = "sluice_log_buffer_bytes{shard=\"0\"} ";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8(m.get("/metrics").body).unwrap();
        let bytes: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(full))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if bytes >= 65536 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "t1's owner never filled its log buffer"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Sixteen connections: SO_REUSEPORT spreads them over both shards, so
    // some share a shard with t1's queued batches.
    let mut others: Vec<Client> = (0..16).map(|_| s.client()).collect();
    let started = Instant::now();
    for (i, c) in others.iter_mut().enumerate() {
        c.send(&post("t2", &format!("{i},1.50,2024-01-02,\n")));
    }
    let mut slowest = Duration::ZERO;
    for c in &mut others {
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(1500),
        "t2 waited {slowest:?} behind t1's stuck owner"
    );
    let statuses: Vec<u16> = stuck
        .iter_mut()
        .map(|c| c.read_response().unwrap().status)
        .collect();
    assert!(
        statuses.contains(&503),
        "t1's owner was never stuck: {statuses:?}"
    );
}
