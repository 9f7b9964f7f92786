//! The write-ahead log over real restarts: acknowledged rows survive
//! SIGKILL, tokens of the earlier run resolve, positions continue, torn
//! tails are cut and corruption refuses to start.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{table_stats, tempdir, wait_complete, Server, TEST_SQL};
use sluice::token::Token;
use sluice::wal::{record, segment};

fn config() -> String {
    format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n")
}

/// Push `n` one-row CSV requests to t1 (owned by shard 0) and t2 (shard
/// 1); returns the tokens, each waited on.
fn push(s: &Server, from: usize, n: usize) -> Vec<String> {
    let mut c = s.client();
    let mut tokens = Vec::new();
    for i in from..from + n {
        for (table, row) in [
            ("t1", format!("{i},n{i},1.5,true\n")),
            ("t2", format!("{i},1.25,2026-01-02,2026-01-02 03:04:05\n")),
        ] {
            let r = c.post(
                &format!("/v0/pipelines/p/ingress/{table}?format=csv"),
                row.as_bytes(),
            );
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let token = r.json()["token"].as_str().unwrap().to_string();
            wait_complete(&mut c, "p", &token);
            tokens.push(token);
        }
    }
    tokens
}

fn applied(s: &Server, table: &str) -> u64 {
    table_stats(&mut s.client(), "p", table)["applied_records"]
        .as_u64()
        .unwrap()
}

fn status(s: &Server, token: &str) -> (u16, String) {
    let r = s
        .client()
        .get(&format!("/v0/pipelines/p/completion_status?token={token}"));
    let body = r.json();
    let what = body["status"]
        .as_str()
        .or(body["error_code"].as_str())
        .unwrap_or("")
        .to_string();
    (r.status, what)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("data/wal/shard-000"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn acknowledged_rows_survive_sigkill_and_tokens_resolve() {
    let dir = tempdir();
    let a = Server::start_in(2, &config(), dir.clone(), false);
    let old = push(&a, 0, 20);
    drop(a); // SIGKILL
    let b = Server::start_in(2, &config(), dir.clone(), false);
    assert_eq!((applied(&b, "t1"), applied(&b, "t2")), (20, 20));
    // Tokens of the killed run are complete: their rows are in the log.
    for t in &old {
        assert_eq!(status(&b, t), (200, "complete".into()));
    }
    // A position that run never logged: its rows were lost, not complete.
    let mut lost = Token::decode(&old[0]).unwrap();
    lost.position += 1000;
    assert_eq!(status(&b, &lost.encode()), (410, "TokenLost".into()));
    // Positions continue: new tokens complete, counts add up.
    let new = push(&b, 20, 5);
    assert_eq!((applied(&b, "t1"), applied(&b, "t2")), (25, 25));
    drop(b);
    // A third run still resolves both earlier runs' tokens.
    let c = Server::start_in(2, &config(), dir.clone(), true);
    assert_eq!((applied(&c, "t1"), applied(&c, "t2")), (25, 25));
    for t in old.iter().chain(&new) {
        assert_eq!(status(&c, t), (200, "complete".into()));
    }
}

#[test]
fn a_torn_tail_is_cut_and_corruption_refuses_to_start() {
    let dir = tempdir();
    let a = Server::start_in(2, &config(), dir.clone(), false);
    push(&a, 0, 3);
    drop(a);
    // A record header half written at the crash.
    let last = segments(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let mut data_end = segment::HEADER_BYTES;
    while let record::Frame::Good { len, .. } = record::frame(&bytes[data_end..]) {
        data_end += len;
    }
    bytes.truncate(data_end);
    bytes.extend_from_slice(&[7, 0, 0]);
    std::fs::write(&last, &bytes).unwrap();
    let b = Server::start_in(2, &config(), dir.clone(), false);
    assert_eq!(applied(&b, "t1"), 3);
    drop(b);
    // A flipped bit inside an acknowledged record.
    let first = segments(&dir).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[100] ^= 0x10;
    std::fs::write(&first, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", dir.join("sluice.toml").to_str().unwrap()])
        .args([
            "--shards",
            "2",
            "--data-dir",
            dir.join("data").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt at byte"), "{err}");
    assert!(
        err.contains(first.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn many_small_concurrent_requests_survive_a_restart() {
    let dir = tempdir();
    let a = Server::start_in(2, &config(), dir.clone(), false);
    let addr = a.addr;
    let threads: Vec<_> = (0..8)
        .map(|k| {
            std::thread::spawn(move || {
                let mut c = common::Client::connect(addr);
                let mut last = String::new();
                for i in 0..50 {
                    let row = format!("{},x,1.0,false\n", k * 1000 + i);
                    let r = c.post("/v0/pipelines/p/ingress/t1?format=csv", row.as_bytes());
                    assert_eq!(r.status, 200);
                    last = r.json()["token"].as_str().unwrap().to_string();
                }
                wait_complete(&mut c, "p", &last);
                last
            })
        })
        .collect();
    let tokens: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(applied(&a, "t1"), 400);
    drop(a);
    let b = Server::start_in(2, &config(), dir.clone(), false);
    assert_eq!(applied(&b, "t1"), 400);
    for t in &tokens {
        assert_eq!(status(&b, t), (200, "complete".into()));
    }
    // Small batches were merged into fewer log records than requests.
    let records: usize = segments(&dir).iter().map(|p| frames(p)).sum();
    assert!(records < 400, "{records} log records for 400 requests");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whole records in a segment file.
fn frames(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let (mut at, mut n) = (segment::HEADER_BYTES, 0);
    while let record::Frame::Good { len, .. } = record::frame(&bytes[at..]) {
        at += len;
        n += 1;
    }
    n
}
