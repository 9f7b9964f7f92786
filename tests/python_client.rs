//! The official Feldera Python client (`feldera==0.369.0`, installed by the
//! test command into `.venv`) against the real binary.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_PYTHON") {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh (it installs the pinned Feldera client) \
         or set SLUICE_PYTHON",
        venv.display()
    );
    venv
}

fn run_client(url: &str, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_test.py");
    let out = Command::new(python())
        .arg(script)
        .arg(url)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_client_pushes_and_waits() {
    let s = Server::start(2, "");
    run_client(&format!("http://{}", s.addr), &[]);
}

#[test]
fn python_client_with_api_key() {
    let (key, hash) = sluice::auth::keygen();
    let (wrong, _) = sluice::auth::keygen();
    let s = Server::start(2, &format!("[auth]\napi_key_hashes = [\"{hash}\"]\n"));
    run_client(&format!("http://{}", s.addr), &[&key, &wrong]);
}
