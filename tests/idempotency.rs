//! `Idempotency-Key`: a repeated request returns the first attempt's token
//! and ingests nothing, across shards and restarts; keyed requests are
//! all or nothing.

mod common;

use common::listener::Listener;
use common::{wait_complete, Client, Response, Server};

fn keyed(c: &mut Client, key: &str, body: &str) -> Response {
    c.request(
        "POST",
        "/v0/pipelines/p/ingress/t1?format=csv",
        &[("Idempotency-Key", key)],
        body.as_bytes(),
    )
}

fn token(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_string()
}

/// Every id the table's log holds, in order (egress replay).
fn logged_ids(s: &Server, n: usize) -> Vec<i64> {
    let mut l = Listener::open(s, "t1?from=earliest&format=csv");
    let mut ids = Vec::new();
    while ids.len() < n {
        let text = l.data()["text_data"].as_str().unwrap().to_string();
        ids.extend(
            text.lines()
                .map(|r| r.split(',').next().unwrap().parse::<i64>().unwrap()),
        );
    }
    ids
}

#[test]
fn a_repeat_returns_the_first_token_and_ingests_nothing() {
    // Two shards, a connection each time: repeats reach the owner from
    // either shard, some through the mesh.
    let s = Server::start(2, "");
    let first = token(&keyed(&mut s.client(), "order-1", "1,a,,\n2,b,,\n"));
    for _ in 0..8 {
        assert_eq!(
            token(&keyed(&mut s.client(), "order-1", "1,a,,\n2,b,,\n")),
            first
        );
    }
    let other = token(&keyed(&mut s.client(), "order-2", "3,c,,\n"));
    assert_ne!(other, first);
    let mut c = s.client();
    wait_complete(&mut c, "p", &first);
    wait_complete(&mut c, "p", &other);
    let t1 = common::table_stats(&mut c, "p", "t1");
    assert_eq!(t1["applied_records"], 3, "{t1}");
    // The log holds each row once (a repeat logs no rows).
    let mut ids = logged_ids(&s, 3);
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3]);
}

#[test]
fn keys_survive_a_restart() {
    let dir = common::tempdir();
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{}'''\n",
        common::TEST_SQL
    );
    let first = {
        let s = Server::start_in(2, &cfg, dir.clone(), false);
        let mut c = s.client();
        let t = token(&keyed(&mut c, "k", "7,x,,\n"));
        wait_complete(&mut c, "p", &t);
        t
    };
    let s = Server::start_in(2, &cfg, dir, true);
    let mut c = s.client();
    // The earlier run's token, complete (its rows are in the log)...
    assert_eq!(token(&keyed(&mut c, "k", "7,x,,\n")), first);
    wait_complete(&mut c, "p", &first);
    // ...and the row once.
    let t = token(&keyed(&mut c, "k2", "8,y,,\n"));
    wait_complete(&mut c, "p", &t);
    assert_eq!(logged_ids(&s, 2), vec![7, 8]);
    assert_eq!(common::table_stats(&mut c, "p", "t1")["applied_records"], 2);
}

#[test]
fn keyed_requests_are_all_or_nothing_and_checked() {
    let s = Server::start(1, "[ingest]\nidempotent_bytes_max = 65536\n");
    let mut c = s.client();
    // A bad record: nothing of the request is ingested, and the key is
    // free for the corrected retry.
    let r = keyed(&mut c, "k", "1,a,,\nnot-a-number,b,,\n");
    assert_eq!((r.status, r.error_code().as_str()), (400, "ParseErrors"));
    let t = token(&keyed(&mut c, "k", "1,a,,\n2,b,,\n"));
    wait_complete(&mut c, "p", &t);
    assert_eq!(common::table_stats(&mut c, "p", "t1")["applied_records"], 2);
    for bad in ["has space", &"x".repeat(129)] {
        let r = keyed(&mut c, bad, "1,a,,\n");
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "InvalidIdempotencyKey")
        );
    }
    // Rows a keyed request must hold are bounded.
    let big = "1,some text,1.5,true\n".repeat(20_000);
    let r = keyed(&mut s.client(), "big", &big);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (413, "PayloadTooLarge")
    );
    assert_eq!(common::table_stats(&mut c, "p", "t1")["applied_records"], 2);
}
