//! Change streams (`POST .../egress/{table}`) over loopback: what a
//! listener reads, how tokens wait for listeners, and how slow readers are
//! bounded.

mod common;

use std::time::{Duration, Instant};

use common::listener::Listener;
use common::{wait_complete, Client, Server};
use serde_json::json;

fn post(c: &mut Client, table: &str, query: &str, body: &str) -> String {
    let r = c.post(
        &format!("/v0/pipelines/p/ingress/{table}?{query}"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_string()
}

#[test]
fn listeners_read_every_change_in_json_and_csv() {
    // Two shards: the listeners are handed to the table's owner whichever
    // shard accepted them.
    let s = Server::start(2, "");
    let mut json_l = Listener::open(&s, "t2?format=json");
    let mut csv_l = Listener::open(&s, "t2?format=csv");
    assert_eq!(json_l.status, 200);
    assert!(json_l.head.contains("Transfer-Encoding: chunked"));
    let first = json_l.line().unwrap();
    assert_eq!(first, json!({"sequence_number": 0, "processed_steps": 0}));
    let mut c = s.client();
    let body = r#"{"insert": {"id": 1, "amount": "12.50", "day": "2024-02-29", "at": "2024-02-29T23:59:59.25Z"}}
{"delete": {"id": 2, "amount": null, "day": null, "at": null}}"#;
    let token = post(
        &mut c,
        "t2",
        "format=json&update_format=insert_delete",
        body,
    );
    wait_complete(&mut c, "p", &token);
    let got = json_l.data();
    assert_eq!(
        got["json_data"],
        json!([
            {"insert": {"id": 1, "amount": 12.50, "day": "2024-02-29", "at": "2024-02-29 23:59:59.250000"}},
            {"delete": {"id": 2, "amount": null, "day": null, "at": null}},
        ])
    );
    assert_eq!(got["processed_steps"], 1);
    let got = csv_l.data();
    assert_eq!(
        got["text_data"],
        "1,12.50,2024-02-29,2024-02-29 23:59:59.250000,1\n2,,,,-1\n"
    );
    // A weighted row is that many copies.
    let token = post(
        &mut c,
        "t2",
        "format=json&update_format=weighted",
        r#"{"weight": 3, "data": {"id": 7}}"#,
    );
    wait_complete(&mut c, "p", &token);
    let rows = json_l.data()["json_data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["insert"]["id"] == 7));
    assert_eq!(csv_l.data()["text_data"], "7,,,,3\n");
    // completion_status reports the step the token's rows are in.
    let st = c.get(&format!("/v0/pipelines/p/completion_status?token={token}"));
    assert_eq!(st.json()["step"], 2);
}

#[test]
fn what_a_listener_writes_posts_back_unchanged() {
    let s = Server::start(1, "");
    let mut l = Listener::open(&s, "t1?format=csv");
    let mut c = s.client();
    let body = "1,\"a,\"\"b\"\"\",0.1,true\n2,,,\n3,\"\",-0.0,false\n";
    let token = post(&mut c, "t1", "format=csv", body);
    wait_complete(&mut c, "p", &token);
    let text = l.data()["text_data"].as_str().unwrap().to_string();
    assert_eq!(
        text,
        "1,\"a,\"\"b\"\"\",0.1,true,1\n2,,,,1\n3,\"\",-0.0,false,1\n"
    );
    // The trailing weight is an extra field, which ingress ignores: the
    // same rows again, read back identically.
    let token = post(&mut c, "t1", "format=csv", &text);
    wait_complete(&mut c, "p", &token);
    assert_eq!(l.data()["text_data"], text);
}

#[test]
fn tokens_wait_for_a_holding_listener_and_slow_ones_are_cut_off() {
    let s = Server::start(
        1,
        "[egress]\nqueue_bytes_max = 65536\nwrite_timeout_ms = 60000\n",
    );
    // A listener that never reads: once the socket buffers fill, the
    // owner queues for it, passes the bound and cuts it off.
    let mut stalled = Listener::open(&s, "t1?format=json");
    let mut c = s.client();
    // Small batches (each far below the bound) adding up to ~9 MB of JSON:
    // the queue only grows once the socket buffers are full.
    let row = "1,some text to make the rows longer than a few bytes,2.5,true\n";
    let body = row.repeat(100);
    let mut last = String::new();
    for _ in 0..1000 {
        last = post(&mut c, "t1", "format=csv", &body);
    }
    // Every token completes: the stalled reader was cut off rather than
    // holding them (or ingestion) forever.
    wait_complete(&mut c, "p", &last);
    let mut tail = None;
    while let Some(l) = stalled.line() {
        tail = Some(l);
    }
    let tail = tail.unwrap();
    assert_eq!(tail["error_code"], "EgressReaderTooSlow", "{tail}");
    assert_eq!(tail["details"]["queue_bytes_max"], 65536);
}

#[test]
fn a_listener_without_backpressure_skips_and_holds_nothing() {
    let s = Server::start(
        1,
        "[egress]\nqueue_bytes_max = 65536\nwrite_timeout_ms = 60000\n",
    );
    let mut l = Listener::open(&s, "t1?format=json&backpressure=false");
    let mut c = s.client();
    let body = "1,some text to make the rows longer than a few bytes,2.5,true\n".repeat(100);
    let mut last = String::new();
    for _ in 0..1000 {
        last = post(&mut c, "t1", "format=csv", &body);
    }
    wait_complete(&mut c, "p", &last);
    // Reading now: some changes arrive, and the stream says how many
    // records it skipped.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut rows, mut skipped) = (0u64, 0u64);
    while rows + skipped < 100_000 {
        assert!(Instant::now() < deadline, "rows {rows} skipped {skipped}");
        let line = l.line().unwrap();
        skipped += line["skipped_records"].as_u64().unwrap_or(0);
        rows += line["json_data"].as_array().map_or(0, |a| a.len() as u64);
    }
    assert_eq!(rows + skipped, 100_000);
    assert!(skipped > 0);
}

#[test]
fn listener_requests_are_checked() {
    let s = Server::start(1, "[egress]\nconnections_per_table_max = 1\n");
    let mut c = s.client();
    let cases = [
        ("nope?format=json", 404, "UnknownInputStream"),
        ("t1?format=xml", 400, "UnknownInputFormat"),
        ("t1?backpressure=maybe", 400, "ParserConfigParseError"),
        ("t1?from=yesterday", 400, "ParserConfigParseError"),
        ("t1?send_snapshot=true", 400, "ParserConfigParseError"),
    ];
    for (q, status, code) in cases {
        let r = c.post(&format!("/v0/pipelines/p/egress/{q}"), b"");
        assert_eq!((r.status, r.error_code().as_str()), (status, code), "{q}");
    }
    let _one = Listener::open(&s, "t1");
    let two = Listener::open(&s, "t1");
    assert_eq!(two.status, 503);
    assert!(two.head.contains("Retry-After: 1"));
    // Another table has its own limit.
    assert_eq!(Listener::open(&s, "t2").status, 200);
}

#[test]
fn a_token_waits_until_every_holding_listener_wrote_its_rows() {
    let s = Server::start(1, "[egress]\nqueue_bytes_max = 268435456\n");
    let mut l = Listener::open(&s, "t1?format=json");
    let mut c = s.client();
    // Far more JSON (~27 MB) than the socket buffers hold while the
    // listener does not read (receive buffers grow only as the application
    // reads), so the owner's writes to it block.
    let body = "1,some text to make the rows longer than a few bytes,2.5,true\n".repeat(10_000);
    let mut last = String::new();
    for _ in 0..30 {
        last = post(&mut c, "t1", "format=csv", &body);
    }
    let status = |c: &mut Client| {
        let r = c.get(&format!("/v0/pipelines/p/completion_status?token={last}"));
        r.json()["status"].as_str().unwrap().to_string()
    };
    for _ in 0..5 {
        assert_eq!(status(&mut c), "inprogress");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rows = 0;
    while rows < 300_000 {
        rows += l.data()["json_data"].as_array().unwrap().len();
    }
    assert_eq!(rows, 300_000);
    wait_complete(&mut c, "p", &last);
}

#[test]
fn without_the_log_changes_stream_once_applied() {
    let s = Server::start(2, "[wal]\nenabled = false\n");
    let mut l = Listener::open(&s, "t3?format=json");
    let mut c = s.client();
    let token = post(
        &mut c,
        "t3",
        "format=json&update_format=insert_delete",
        r#"{"insert": {"id": 1, "v": "a"}}
{"update": {"id": 1, "v": "b"}}"#,
    );
    wait_complete(&mut c, "p", &token);
    // A partial update keeps only the columns it gave.
    assert_eq!(
        l.data()["json_data"],
        json!([{"insert": {"id": 1, "v": "a"}}, {"update": {"id": 1, "v": "b"}}])
    );
}

#[test]
fn from_earliest_replays_the_log_then_streams_live_across_restarts() {
    let dir = common::tempdir();
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{}'''\n",
        common::TEST_SQL
    );
    let ids = |l: &mut Listener, n: usize| -> Vec<i64> {
        let mut got = Vec::new();
        while got.len() < n {
            for item in l.data()["json_data"].as_array().unwrap() {
                got.push(item["insert"]["id"].as_i64().unwrap());
            }
        }
        got
    };
    {
        let s = Server::start_in(2, &cfg, dir.clone(), false);
        let mut c = s.client();
        for i in 0..3 {
            let token = post(&mut c, "t1", "format=csv", &format!("{i},a,,\n"));
            wait_complete(&mut c, "p", &token);
        }
        post(&mut c, "t2", "format=csv", "100,,,\n");
    }
    // A new run on the same data: the earlier run's rows come first, from
    // the log, then this run's, then live ones; other tables' rows never.
    let s = Server::start_in(2, &cfg, dir.clone(), true);
    let mut c = s.client();
    let token = post(&mut c, "t1", "format=csv", "3,b,,\n");
    wait_complete(&mut c, "p", &token);
    let mut l = Listener::open(&s, "t1?from=earliest");
    assert_eq!(l.status, 200);
    assert_eq!(ids(&mut l, 4), vec![0, 1, 2, 3]);
    let token = post(&mut c, "t1", "format=csv", "4,c,,\n");
    wait_complete(&mut c, "p", &token);
    assert_eq!(ids(&mut l, 1), vec![4]);
    // Without the log there is nothing to replay.
    let s = Server::start(1, "[wal]\nenabled = false\n");
    let r = s
        .client()
        .post("/v0/pipelines/p/egress/t1?from=earliest", b"");
    assert_eq!(r.status, 400);
}

#[test]
fn replay_reads_records_larger_than_its_read_window() {
    // One batch per body: records of ~2 MB, larger than the 1 MiB read
    // window, and spread over window boundaries.
    let s = Server::start(1, "[ingest]\nbatch_rows = 100000\nbatch_bytes = 16777216\n");
    let mut c = s.client();
    let mut next = 0;
    let mut last = String::new();
    for _ in 0..3 {
        let body: String = (next..next + 30_000)
            .map(|i| format!("{i},a name long enough to make the records big,1.5,true\n"))
            .collect();
        next += 30_000;
        last = post(&mut c, "t1", "format=csv", &body);
    }
    wait_complete(&mut c, "p", &last);
    let mut l = Listener::open(&s, "t1?from=earliest&format=csv");
    let mut ids = Vec::new();
    while ids.len() < 90_000 {
        let text = l.data()["text_data"].as_str().unwrap().to_string();
        ids.extend(
            text.lines()
                .map(|r| r.split(',').next().unwrap().parse::<i64>().unwrap()),
        );
    }
    assert_eq!(ids, (0..90_000).collect::<Vec<_>>());
}

#[test]
fn a_reader_that_keeps_up_is_never_cut_off_by_one_big_batch() {
    let s = Server::start(1, "[egress]\nqueue_bytes_max = 65536\n");
    let mut l = Listener::open(&s, "t1?format=json");
    let mut c = s.client();
    // One batch of ~2000 rows: bigger than the bound on its own.
    let body = "1,some text to make the rows longer than a few bytes,2.5,true\n".repeat(2000);
    let token = post(&mut c, "t1", "format=csv", &body);
    wait_complete(&mut c, "p", &token);
    let mut rows = 0;
    while rows < 2000 {
        let line = l.data();
        rows += line["json_data"].as_array().unwrap().len();
    }
    assert_eq!(rows, 2000);
}

#[test]
fn weighted_rows_stream_in_bounded_lines() {
    let s = Server::start(1, "");
    let mut l = Listener::open(&s, "t1?format=json");
    let mut c = s.client();
    // 3000 rows of weight 100: 300,000 items, some 30 MB of JSON.
    let body: String = (0..3000)
        .map(|i| format!("{{\"weight\": 100, \"data\": {{\"id\": {i}}}}}\n"))
        .collect();
    let token = post(&mut c, "t1", "format=json&update_format=weighted", &body);
    let heavy = post(
        &mut c,
        "t1",
        "format=json&update_format=weighted",
        r#"{"weight": -5000, "data": {"id": 9}}"#,
    );
    // The listener holds the tokens: read before waiting for them.
    let (mut items, mut lines) = (0, 0);
    while items < 300_000 {
        let line = l.data();
        lines += 1;
        let n = line["json_data"].as_array().unwrap().len();
        items += n;
        assert!(n * 20 < 1_200_000, "a line of {n} items is not bounded");
        // Only the line that ends the step says it is processed.
        assert_eq!(
            line.get("processed_steps").is_some(),
            items == 300_000,
            "{items}"
        );
    }
    assert_eq!(items, 300_000);
    assert!(lines > 10, "{lines} lines");
    wait_complete(&mut c, "p", &token);
    wait_complete(&mut c, "p", &heavy);
    // Past 100 copies: one item carrying its weight.
    let last = l.data();
    assert_eq!(
        last["json_data"],
        json!([{"weight": -5000, "delete": {"id": 9, "name": null, "score": null, "ok": null}}])
    );
}

#[test]
fn http_1_0_and_expect_continue_listeners() {
    use std::io::{BufRead, BufReader, Read, Write};
    let s = Server::start(1, "");
    // HTTP/1.0: no chunked framing, the body ends when the stream does.
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    raw.write_all(b"POST /v0/pipelines/p/egress/t1 HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(raw.try_clone().unwrap());
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(r.read_line(&mut head).unwrap() > 0);
    }
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(!head.contains("chunked"), "{head}");
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    assert_eq!(first, "{\"sequence_number\":0,\"processed_steps\":0}\n");
    // Expect: 100-continue with a body: 100, then the stream.
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    raw.write_all(b"POST /v0/pipelines/p/egress/t1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 25];
    raw.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    raw.write_all(b"{}").unwrap();
    let mut r = BufReader::new(raw);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

#[test]
fn from_a_position_resumes_after_the_line_that_gave_it() {
    let s = Server::start(1, "");
    let mut c = s.client();
    let mut live = Listener::open(&s, "t1?format=json");
    for i in 1..=3 {
        let token = post(&mut c, "t1", "format=csv", &format!("{i},r,,\n"));
        wait_complete(&mut c, "p", &token);
    }
    let id = |line: &serde_json::Value| line["json_data"][0]["insert"]["id"].as_i64().unwrap();
    // Live lines carry positions; so do replayed ones, the same ones.
    let live_lines: Vec<_> = (0..3).map(|_| live.data()).collect();
    let mut replay = Listener::open(&s, "t1?format=json&from=earliest");
    let replayed: Vec<_> = (0..3).map(|_| replay.data()).collect();
    for (a, b) in live_lines.iter().zip(&replayed) {
        assert_eq!((id(a), &a["position"]), (id(b), &b["position"]));
    }
    // Resuming after the first line: the second and third, then live.
    let after_first = replayed[0]["position"].as_str().unwrap();
    let mut resumed = Listener::open(&s, &format!("t1?format=json&from={after_first}"));
    assert_eq!(id(&resumed.data()), 2);
    assert_eq!(id(&resumed.data()), 3);
    let token = post(&mut c, "t1", "format=csv", "4,r,,\n");
    wait_complete(&mut c, "p", &token);
    assert_eq!(id(&resumed.data()), 4);
    // A position this log never gave ends the stream with the reason.
    let mut gone = Listener::open(&s, "t1?format=json&from=999:0");
    let mut last = None;
    while let Some(l) = gone.line() {
        last = Some(l);
    }
    assert_eq!(last.unwrap()["error_code"], "EgressReplayFailed");
    let r = c.post("/v0/pipelines/p/egress/t1?from=3-4", b"");
    assert_eq!(r.status, 400);
}
