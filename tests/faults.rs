//! Storage faults injected into the log writer (`SLUICE_FAULTS`, see
//! `src/wal/faults.rs`): after a failed write or sync nothing more is
//! acknowledged and the server exits 70; a full disk refuses new rows with
//! 503 until space is back, and loses nothing.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::listener::Listener;
use common::{tempdir, wait_complete, Client, Server, TEST_SQL};

fn config() -> String {
    format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n")
}

/// 100 rows with ids `first..first + 100`.
fn body(first: u64) -> String {
    (first..first + 100)
        .map(|id| format!("{id},some text for bulk,0.5,true\n"))
        .collect()
}

fn post(c: &mut Client, first: u64) -> common::Response {
    c.post(
        "/v0/pipelines/p/ingress/t1?format=csv",
        body(first).as_bytes(),
    )
}

fn status(c: &mut Client, token: &str) -> (u16, String) {
    let r = c.get(&format!("/v0/pipelines/p/completion_status?token={token}"));
    let s = r.json()["status"].as_str().unwrap_or("").to_string();
    (r.status, s)
}

/// Ids in the table's log, through egress replay (`n` expected, and no
/// more: the owner's count of rows applied, recovered ones included).
fn logged(s: &Server, n: usize) -> BTreeSet<u64> {
    let t1 = common::table_stats(&mut s.client(), "p", "t1");
    assert_eq!(t1["applied_records"], n, "{t1}");
    let mut l = Listener::open(s, "t1?from=earliest&format=csv");
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        let text = l.data()["text_data"].as_str().unwrap().to_string();
        for line in text.lines() {
            assert!(ids.insert(line.split(',').next().unwrap().parse().unwrap()));
        }
    }
    ids
}

/// Push until the log fails; then check that nothing more is
/// acknowledged, the server exits 70, and a restart keeps exactly the
/// rows of the tokens that were complete.
fn fail_stop(faults: &str) {
    let dir = tempdir();
    let mut s = Server::start_env(
        1,
        &config(),
        dir.clone(),
        false,
        &[("SLUICE_FAULTS", faults)],
        &[],
    );
    let mut c = s.client();
    let mut acked: Vec<(String, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 0.. {
        assert!(Instant::now() < deadline, "the injected fault never fired");
        let r = post(&mut c, n * 100);
        if r.status == 503 {
            assert_eq!(r.error_code(), "LogWriteFailed");
            break;
        }
        assert_eq!(r.status, 200);
        acked.push((r.json()["token"].as_str().unwrap().to_string(), n * 100));
    }
    // After the failure: no new rows, and no token completes any more. One
    // lane, so the complete tokens are a prefix.
    assert_eq!(post(&mut c, 999_900).status, 503);
    let complete: Vec<bool> = acked
        .iter()
        .map(|(t, _)| status(&mut c, t).1 == "complete")
        .collect();
    let done = complete.iter().take_while(|c| **c).count();
    assert!(complete[done..].iter().all(|c| !c), "{complete:?}");
    assert!(done < acked.len(), "the failed write acknowledged its rows");
    std::thread::sleep(Duration::from_millis(300));
    for (t, _) in &acked[done..] {
        assert_eq!(status(&mut c, t).1, "inprogress");
    }
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(70));
    drop(s);
    // A restart without faults: complete tokens stay complete. The others
    // resolve against the log: complete if the failed write or sync still
    // left their rows in it (after a failed sync the data may well be on
    // disk), 410 if not; either way the log holds exactly the rows of the
    // complete ones.
    let s = Server::start_in(1, &config(), dir, true);
    let mut c = s.client();
    let mut want = BTreeSet::new();
    for (i, (t, first)) in acked.iter().enumerate() {
        match status(&mut c, t) {
            (200, st) if st == "complete" => want.extend(*first..*first + 100),
            (410, _) => assert!(i >= done, "a complete token was lost: {t}"),
            other => panic!("{t}: {other:?}"),
        }
    }
    assert!(want.len() >= done * 100);
    assert_eq!(logged(&s, want.len()), want);
}

#[test]
fn a_failed_write_stops_acknowledgement_and_the_process() {
    fail_stop("write_eio_after_bytes=300000");
}

#[test]
fn a_failed_sync_stops_acknowledgement_and_the_process() {
    fail_stop("sync_eio_after=20");
}

#[test]
fn a_full_disk_refuses_new_rows_until_space_is_back_and_loses_nothing() {
    let s = Server::start_env(
        1,
        &config(),
        tempdir(),
        true,
        &[(
            "SLUICE_FAULTS",
            "write_enospc_after_bytes=200000,enospc_ms=1500",
        )],
        &[],
    );
    let mut c = s.client();
    let mut acked: Vec<(String, u64)> = Vec::new();
    let (mut refused, mut back) = (0, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Push until refused, then keep trying until taken again.
    for n in 0.. {
        if back {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "refused {refused}, acked {}",
            acked.len()
        );
        let r = post(&mut c, n * 100);
        match r.status {
            200 => {
                acked.push((r.json()["token"].as_str().unwrap().to_string(), n * 100));
                back = refused > 0;
            }
            503 => {
                assert_eq!(r.error_code(), "StorageFull");
                assert_eq!(r.header("Retry-After"), Some("5"));
                refused += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("{other}"),
        }
    }
    assert!(refused > 0);
    // Every acknowledged request completes, its rows logged once.
    for (t, _) in &acked {
        wait_complete(&mut c, "p", t);
    }
    let want: BTreeSet<u64> = acked.iter().flat_map(|(_, f)| *f..*f + 100).collect();
    assert_eq!(logged(&s, want.len()), want);
}

#[test]
fn a_slow_disk_pushes_back_then_answers_503_overloaded() {
    // Every write takes 2 s, the log buffers 64 KiB and each channel one
    // batch: a big body soon finds its owner not taking batches.
    let s = Server::start_slow_disk(
        2,
        "backpressure_wait_ms = 300\nchannel_batches_max = 1\nbatch_rows = 100",
        2000,
    );
    let mut c = s.client();
    let started = Instant::now();
    let r = post(&mut c, 0);
    assert_eq!(r.status, 200, "a small request fits");
    let big: String = (0..20_000)
        .map(|i| format!("{i},some text for bulk,0.5,true\n"))
        .collect();
    let r = c.post("/v0/pipelines/p/ingress/t1?format=csv", big.as_bytes());
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "ServerOverloaded")
    );
    assert_eq!(r.header("Retry-After"), Some("2"));
    assert!(
        c.is_closed(),
        "the rest of the body was not read: the connection closes"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // The server is still serving: a client that retries as told is taken
    // once the backlog is written, and its rows complete.
    let mut c = s.client();
    assert_eq!(c.get("/healthz").status, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let token = loop {
        let r = post(&mut s.client(), 100);
        if r.status == 200 {
            break r.json()["token"].as_str().unwrap().to_string();
        }
        assert_eq!(r.error_code(), "ServerOverloaded");
        assert!(Instant::now() < deadline, "never taken again");
        std::thread::sleep(Duration::from_millis(500));
    };
    wait_complete(&mut c, "p", &token);
}

#[test]
fn an_overloaded_owner_is_refused_before_the_body_is_sent() {
    // One slow write holds the 64 KiB log buffer full for 10 s; a request
    // that waits for 100 Continue gets the 503 instead, its body unsent.
    let s = Server::start_slow_disk(1, "backpressure_wait_ms = 300", 10000);
    // Fill: the first write takes 10 s, so what follows waits in the buffer.
    let mut c = s.client();
    for n in 0..40 {
        let r = post(&mut c, n * 100);
        if r.status == 503 {
            break;
        }
    }
    let mut c = s.client();
    c.send(
        b"POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\n\
          Expect: 100-continue\r\nContent-Length: 6\r\n\r\n",
    );
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "ServerOverloaded")
    );
}
