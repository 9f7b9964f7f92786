//! `sluice export` from a running server's log, read back by pyarrow.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{tempdir, wait_complete, Server, TEST_SQL};

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_PYTHON") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
}

const CHECK: &str = r#"
import sys, pyarrow as pa, decimal, datetime
t = pa.ipc.open_file(sys.argv[1]).read_all()
assert t.column_names == ["id", "amount", "day", "at", "_sluice_weight", "_sluice_update"], t.column_names
rows = sorted(zip(*(t.column(i).to_pylist() for i in range(5))), key=lambda r: (r[0], r[4]))
assert rows == [
    (1, decimal.Decimal("12.50"), datetime.date(2026, 1, 2), datetime.datetime(2026, 1, 2, 3, 4, 5, 250000), 1),
    (2, None, None, None, -1),
    (2, decimal.Decimal("-0.01"), datetime.date(1999, 12, 31), None, 1),
], rows
assert t.column("_sluice_update").null_count == 3
print("ok")
"#;

#[test]
fn export_of_a_live_log_reads_back_in_pyarrow() {
    let dir = tempdir();
    let config =
        format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n");
    let s = Server::start_in(2, &config, dir.clone(), true);
    let mut c = s.client();
    let body = r#"{"insert": {"id": 1, "amount": "12.50", "day": "2026-01-02", "at": "2026-01-02T03:04:05.25Z"}}
{"insert": {"id": 2, "amount": -0.01, "day": "1999-12-31"}}
{"delete": {"id": 2}}"#;
    let r = c.post("/v0/pipelines/p/ingress/t2?format=json", body.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    let out = dir.join("t2.arrow");
    let run = common::export(&dir, "T2", &out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("wrote 3 rows"), "{stdout}");
    let check = Command::new(python())
        .args(["-c", CHECK])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // A table the pipeline does not have is an error naming it.
    let run = common::export(&dir, "nope", &out);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("has no table \"nope\""));
}
