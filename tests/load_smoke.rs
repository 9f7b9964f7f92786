//! A short smoke run of the load generator (`sluice-load`, built with the
//! workspace by the test command) against the real server: its report's
//! counts match what the server says it applied, one request at a time and
//! pipelined.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{wait_complete, Server, TEST_SQL};

/// The load generator's binary, built on first use: a workspace `cargo
/// test` compiles the `sluice-load` package only as a test harness.
fn sluice_load() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_BIN_EXE_sluice")).with_file_name("sluice-load");
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "sluice-load",
            "--bin",
            "sluice-load",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(
        built.success() && p.exists(),
        "cannot build {}",
        p.display()
    );
    p
}

#[test]
fn sluice_load_counts_match_the_server() {
    let sql = format!(
        "{TEST_SQL}\nCREATE TABLE bench (c0 BIGINT, c1 VARCHAR, c2 DOUBLE, c3 BOOLEAN, c4 DATE, \
         c5 TIMESTAMP, c6 INT, c7 DECIMAL(10, 2), c8 VARCHAR, c9 SMALLINT);"
    );
    let s = Server::start_with(
        1,
        &format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{sql}'''\n"),
    );
    let report = s.dir.join("report.json");
    for format in ["csv", "json"] {
        let out = Command::new(sluice_load())
            .args([
                "--target",
                &s.addr.to_string(),
                "--pipeline",
                "p",
                "--table",
                "bench",
            ])
            .args([
                "--format",
                format,
                "--rows-per-request",
                "10",
                "--connections",
                "4",
            ])
            // JSON's run is pipelined: sluice answers a burst in order.
            .args(["--pipelining", if format == "json" { "4" } else { "1" }])
            .args(["--requests", "200", "--completion", "--json-report"])
            .arg(&report)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["status"]["200"], r["requests"], "{format}: {r}");
    }
    // Every row sent (warm-up none, 2 x 200 requests of 10 rows) applied.
    let mut c = s.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = common::table_stats(&mut c, "p", "bench");
        if st["applied_records"] == 4000 {
            assert_eq!(st["num_parse_errors"], 0, "{st}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{st}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let token = c
        .post("/v0/pipelines/p/ingress/bench?format=csv", b"")
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    wait_complete(&mut c, "p", &token);
}
