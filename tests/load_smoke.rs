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

/// `--columns server`: sluice-load asks the server for a table of every
/// column type (nested ones, unsigned, binary, UUID, VARIANT, quoted names)
/// and its generated rows, CSV and JSON, all decode: every record applied,
/// no parse error. The quoted columns are NOT NULL, so a JSON key the server
/// does not match (which would leave the column NULL) is an error here. The generator's own tests check values with independent
/// parsers; this checks them against the decoder they are for.
#[test]
fn generated_rows_of_every_type_decode() {
    let sql = "CREATE TABLE \"Every\" (a TINYINT, b SMALLINT NOT NULL, c INT, d BIGINT, \
         e TINYINT UNSIGNED, f SMALLINT UNSIGNED, g INT UNSIGNED, h BIGINT UNSIGNED NOT NULL, \
         i BOOLEAN, j REAL, k DOUBLE, l DECIMAL(12, 2), m DECIMAL(5), n CHAR(3) NOT NULL, \
         o VARCHAR(8), p STRING, q DATE, r TIME, s TIMESTAMP, t BINARY(4) NOT NULL, \
         u VARBINARY(10) NOT NULL, v BYTEA, w UUID, x VARIANT NOT NULL, y INT ARRAY, \
         z MAP<VARCHAR, DOUBLE>, \"CamelCase\" ROW(id INT, \"Tag\" VARCHAR, d DATE) NOT NULL, \
         aa DATE ARRAY ARRAY, ab MAP<INT, ROW(x BOOLEAN, y VARCHAR ARRAY)>, \
         \"Quoted\" BIGINT NOT NULL);";
    let s = Server::start_with(
        1,
        &format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{sql}'''\n"),
    );
    for format in ["csv", "json"] {
        let out = Command::new(sluice_load())
            .args(["--target", &s.addr.to_string(), "--pipeline", "p"])
            .args([
                "--table",
                "Every",
                "--columns",
                "server",
                "--format",
                format,
            ])
            .args([
                "--rows-per-request",
                "25",
                "--requests",
                "40",
                "--connections",
                "2",
            ])
            .arg("--json-report")
            .arg(s.dir.join("every.json"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("status     200: 40"),
            "{format}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The report records the types the server gave, not just `server`.
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s.dir.join("every.json")).unwrap()).unwrap();
        assert_eq!(r["config"]["columns_from"], "server");
        let cols = r["config"]["columns"].as_str().unwrap();
        assert!(cols.contains(",uuid,variant,int array,"), "{cols}");
        assert!(
            cols.ends_with("map<int, row(x boolean, y varchar array)>,bigint"),
            "{cols}"
        );
        assert_eq!(r["config"]["names"][29], "\"Quoted\"");
    }
    let mut c = s.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = common::table_stats(&mut c, "p", "Every");
        assert_eq!(st["num_parse_errors"], 0, "{st}");
        if st["applied_records"] == 2000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{st}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
