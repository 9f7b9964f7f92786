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
    // The operator's explicit choice: start past the damage. The segment is
    // its shard's last, so only the damaged rest is moved aside and the
    // segment is cut where the damaged record begins: here the first, so
    // no rows are left in it.
    let c = Server::start_env(
        2,
        &config(),
        dir.clone(),
        true,
        &[],
        &["--quarantine-corrupt"],
    );
    assert_eq!(
        std::fs::metadata(&first).unwrap().len(),
        segment::HEADER_BYTES as u64
    );
    let moved = std::fs::read_dir(dir.join("data/wal/quarantine"))
        .unwrap()
        .count();
    assert_eq!(moved, 1);
    push(&c, 10, 1);
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

/// A config of tables `ta` and `tb` in the given order; `extra` adds a
/// column to `ta`.
fn two_tables(first_tb: bool, extra: bool) -> String {
    let ta = format!(
        "CREATE TABLE ta (id BIGINT{});",
        if extra { ", more INT" } else { "" }
    );
    let tb = "CREATE TABLE tb (id BIGINT);".to_string();
    let sql = if first_tb {
        format!("{tb}\n{ta}")
    } else {
        format!("{ta}\n{tb}")
    };
    format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{sql}'''\n")
}

fn push_rows(s: &Server, table: &str, n: usize) -> String {
    let mut c = s.client();
    let body: String = (0..n).map(|i| format!("{i}\n")).collect();
    let r = c.post(
        &format!("/v0/pipelines/p/ingress/{table}?format=csv"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["token"].as_str().unwrap().to_string();
    wait_complete(&mut c, "p", &token);
    token
}

#[test]
fn tokens_survive_reordered_tables_and_a_changed_schema() {
    let dir = tempdir();
    let a = Server::start_in(1, &two_tables(false, false), dir.clone(), false);
    let ta = push_rows(&a, "ta", 100);
    let tb = push_rows(&a, "tb", 1);
    drop(a);
    // Tables swapped, and `ta` has another column: its old records are
    // not loaded, but its positions and both runs' tokens still hold.
    let b = Server::start_in(1, &two_tables(true, true), dir.clone(), false);
    assert_eq!(status(&b, &ta), (200, "complete".into()));
    assert_eq!(status(&b, &tb), (200, "complete".into()));
    let mut never = Token::decode(&tb).unwrap();
    never.position = 50; // within ta's positions, never logged on tb's lane
    assert_eq!(status(&b, &never.encode()), (410, "TokenLost".into()));
    let next = Token::decode(&push_rows(&b, "ta", 1)).unwrap();
    assert_eq!(
        next.position, 101,
        "ta's positions continue after a schema change"
    );
    // A second server on the same data directory refuses to start.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", dir.join("sluice.toml").to_str().unwrap()])
        .args(["--shards", "1", "--listen", "127.0.0.1:0"])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another sluice is running"));
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_keeps_positions_and_tokens_of_deleted_records() {
    let dir = tempdir();
    let cfg = format!(
        "listen = \"127.0.0.1:0\"\n[wal]\nsegment_bytes_max = 1048576\nretain_bytes_max = 1048576\n\
         [[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n"
    );
    let a = Server::start_in(1, &cfg, dir.clone(), false);
    let t1 = push(&a, 0, 3).remove(0);
    // Other traffic fills and rotates the log until t1's records are gone.
    let mut c = a.client();
    let row = "7,1.25,2026-01-02,2026-01-02 03:04:05\n";
    let body = row.repeat((1 << 20) / row.len());
    for _ in 0..4 {
        let r = c.post("/v0/pipelines/p/ingress/t2?format=csv", body.as_bytes());
        assert_eq!(r.status, 200);
        wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    }
    drop(a);
    assert!(dir.join("data/wal/shard-000/floor.json").exists());
    let b = Server::start_in(1, &cfg, dir.clone(), true);
    assert_eq!(applied(&b, "t1"), 0, "t1's records were deleted");
    assert_eq!(status(&b, &t1), (200, "complete".into()));
    let next = push(&b, 10, 1).remove(0);
    let (old, new) = (Token::decode(&t1).unwrap(), Token::decode(&next).unwrap());
    assert!(
        new.position > old.position,
        "{} then {}",
        old.position,
        new.position
    );
}
