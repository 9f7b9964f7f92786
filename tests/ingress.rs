//! Loopback integration tests of ingestion: the real binary, two shards,
//! raw HTTP/1.1 over std sockets.

mod common;

use common::{table_stats, wait_complete, Server};

const T1: &str = "/v0/pipelines/p/ingress/t1";
const T2: &str = "/v0/pipelines/p/ingress/t2";

#[test]
fn csv_and_json_to_tables_on_different_shards() {
    let s = Server::start(2, "");
    let mut c = s.client();
    // t1 is owned by shard 0, t2 by shard 1 (round-robin in declaration
    // order); this connection lands on either, so one of them is remote.
    let r = c.post(
        &format!("{T1}?format=csv"),
        b"1,alice,1.5,true\n2,bob,,false\n3,\"c, d\",2e3,true",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tok1 = r.json()["token"].as_str().unwrap().to_string();
    let r = c.post(
        &format!("{T2}?format=json&update_format=raw"),
        br#"{"id": 1, "amount": "12.50", "day": "2026-11-28", "at": "2026-11-28 10:00:00"}
{"id": 2, "amount": 3.25, "day": null}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tok2 = r.json()["token"].as_str().unwrap().to_string();
    let r = c.post(
        &format!("{T2}?format=json&update_format=insert_delete&array=true"),
        br#"[{"insert": {"id": 3}}, {"delete": {"id": 1}}]"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let tok3 = r.json()["token"].as_str().unwrap().to_string();
    for t in [&tok1, &tok2, &tok3] {
        wait_complete(&mut c, "p", t);
    }
    let s1 = table_stats(&mut c, "p", "t1");
    assert_eq!(s1["total_records"], 3);
    assert_eq!(s1["owner_shard"], 0);
    assert_eq!(s1["num_parse_errors"], 0);
    let s2 = table_stats(&mut c, "p", "t2");
    assert_eq!(s2["total_records"], 4);
    assert_eq!(s2["applied_records"], 4);
    assert_eq!(s2["owner_shard"], 1);
    assert_eq!(s2["total_requests"], 2);
}

#[test]
fn chunked_bodies_and_name_matching() {
    let s = Server::start(2, "");
    let mut c = s.client();
    // Chunk boundaries fall inside fields and rows on purpose.
    let payload = "1,a,,true\n2,b,,\n";
    let mut body = String::new();
    for piece in [&payload[..5], &payload[5..8], &payload[8..]] {
        body.push_str(&format!("{:x}\r\n{piece}\r\n", piece.len()));
    }
    body.push_str("0\r\n\r\n");
    c.send(
        format!(
            "POST /v0/pipelines/p/ingress/T1?format=csv HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        )
        .as_bytes(),
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    assert_eq!(table_stats(&mut c, "p", "t1")["total_records"], 2);
    // A quoted table name must match exactly; unquoted is case-insensitive.
    assert_eq!(
        c.post("/v0/pipelines/p/ingress/%22Quoted%22", b"1\n")
            .status,
        200
    );
    assert_eq!(c.post("/v0/pipelines/p/ingress/QUOTED", b"1\n").status, 404);
    assert_eq!(
        c.post("/v0/pipelines/p/ingress/%22quoted%22", b"1\n")
            .status,
        404
    );
}

#[test]
fn pipelined_burst_is_answered_in_order() {
    let s = Server::start(2, "");
    let mut c = s.client();
    let mut burst = Vec::new();
    let n = 64;
    for i in 0..n {
        let (path, body) = if i % 3 == 2 {
            (
                "/v0/pipelines/p/ingress/nope".to_string(),
                "1\n".to_string(),
            )
        } else {
            (format!("{T1}?format=csv"), format!("{i},x,1,true\n"))
        };
        burst.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    c.send(&burst);
    let mut last = String::new();
    for i in 0..n {
        let r = c.read_response().unwrap();
        if i % 3 == 2 {
            assert_eq!(r.status, 404, "response {i}");
            assert_eq!(r.error_code(), "UnknownInputStream");
        } else {
            assert_eq!(r.status, 200, "response {i}");
            last = r.json()["token"].as_str().unwrap().to_string();
        }
    }
    wait_complete(&mut c, "p", &last);
    let ok = (0..n).filter(|i| i % 3 != 2).count();
    assert_eq!(table_stats(&mut c, "p", "t1")["applied_records"], ok);
}

#[test]
fn body_larger_than_batch_streams_in_batches() {
    let s = Server::start(2, "[ingest]\nbatch_rows = 100\n");
    let mut c = s.client();
    let rows = 25_000;
    let mut body = String::new();
    for i in 0..rows {
        body.push_str(&format!(
            "{{\"id\": {i}, \"name\": \"row {i}\", \"score\": {i}.5, \"ok\": true}}\n"
        ));
    }
    let r = c.post(
        &format!("{T1}?format=json&update_format=raw"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    let st = table_stats(&mut c, "p", "t1");
    assert_eq!(st["applied_records"], rows);
    assert_eq!(st["total_bytes"], body.len());
    assert!(st["applied_batches"].as_u64().unwrap() >= (rows / 100) as u64);
}

#[test]
fn tokens_never_complete_before_their_rows_are_applied() {
    // Several connections (spread over both shards by the kernel) write to
    // tables owned by both shards; whenever a token reads complete, the
    // owner must already have appended at least that connection's rows.
    let s = Server::start(2, "[ingest]\nbatch_rows = 7\n");
    let addr = s.addr;
    let threads: Vec<_> = (0..6)
        .map(|k| {
            std::thread::spawn(move || {
                let mut c = common::Client::connect(addr);
                let table = if k % 2 == 0 { "t1" } else { "t2" };
                let mut sent = 0u64;
                for req in 0..40 {
                    let rows = 1 + (req * 7 + k) % 23;
                    let body: String = (0..rows).map(|i| format!("{i},x,1,true\n")).collect();
                    let body = if table == "t2" {
                        (0..rows)
                            .map(|i| format!("{i},1.00,2026-01-01,\n"))
                            .collect()
                    } else {
                        body
                    };
                    let r = c.post(
                        &format!("/v0/pipelines/p/ingress/{table}?format=csv"),
                        body.as_bytes(),
                    );
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    sent += rows as u64;
                    let token = r.json()["token"].as_str().unwrap().to_string();
                    wait_complete(&mut c, "p", &token);
                    let applied = table_stats(&mut c, "p", table)["applied_records"]
                        .as_u64()
                        .unwrap();
                    assert!(
                        applied >= sent,
                        "complete at {applied} applied < {sent} sent"
                    );
                }
                sent
            })
        })
        .collect();
    let mut totals = [0u64; 2];
    for (k, t) in threads.into_iter().enumerate() {
        totals[k % 2] += t.join().unwrap();
    }
    let mut c = s.client();
    assert_eq!(table_stats(&mut c, "p", "t1")["applied_records"], totals[0]);
    assert_eq!(table_stats(&mut c, "p", "t2")["applied_records"], totals[1]);
}

#[test]
fn csv_header_and_delimiter_parameters() {
    let s = Server::start(2, "");
    let mut c = s.client();
    // Header names the columns in another order; `;` separates; a tab too.
    let r = c.post(
        "/v0/pipelines/p/ingress/t1?format=csv&header=true&delimiter=;",
        b"name;id\nx;1\ny;2\n",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    let r = c.post(
        "/v0/pipelines/p/ingress/t1?format=csv&delimiter=%09",
        b"3\tz\n",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    let st = table_stats(&mut c, "p", "t1");
    assert_eq!(st["applied_records"], 3, "{st}");
    assert_eq!(st["num_parse_errors"], 0, "{st}");
}

#[test]
fn csv_null_text_parameter() {
    let s = Server::start(1, "");
    let mut l = common::listener::Listener::open(&s, "t1?format=json");
    let mut c = s.client();
    // `\N` (percent-encoded) is NULL unquoted, text quoted.
    let r = c.post(
        "/v0/pipelines/p/ingress/t1?format=csv&null=%5CN",
        b"1,\\N,\\N,true\n2,\"\\N\",1.5,\\N\n",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    let got = l.data()["json_data"].clone();
    assert_eq!(
        got,
        serde_json::json!([
            {"insert": {"id": 1, "name": null, "score": null, "ok": true}},
            {"insert": {"id": 2, "name": "\\N", "score": 1.5, "ok": null}},
        ])
    );
    // In a NOT NULL column it is a parse error; a bad null text is a 400.
    let r = c.post(
        "/v0/pipelines/p/ingress/t1?format=csv&null=NULL",
        b"NULL,a,,\n",
    );
    assert_eq!((r.status, r.error_code().as_str()), (400, "ParseErrors"));
    for bad in ["", "%22", "a,b", &"x".repeat(33)] {
        let r = c.post(
            &format!("/v0/pipelines/p/ingress/t1?format=csv&null={bad}"),
            b"1,a,,\n",
        );
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "ParserConfigParseError"),
            "{bad}"
        );
    }
}

/// Every other test runs with `io_uring_coop_taskrun` on (the default);
/// the kernel's default rings serve just the same, across shards.
#[test]
fn rings_without_coop_taskrun_serve_too() {
    let s = Server::start(2, "io_uring_coop_taskrun = false");
    let mut c = s.client();
    for (path, body) in [(T1, "1,a,1.5,true\n"), (T2, "1,2.50,2026-12-07,\n")] {
        let r = c.post(&format!("{path}?format=csv"), body.as_bytes());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    }
    assert_eq!(table_stats(&mut c, "p", "t1")["total_records"], 1);
    assert_eq!(table_stats(&mut c, "p", "t2")["total_records"], 1);
}
