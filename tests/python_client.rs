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
    run_client_env(url, args, &[]);
}

fn run_client_env(url: &str, args: &[&str], env: &[(&str, &str)]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_test.py");
    let out = Command::new(python())
        .envs(env.iter().copied())
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

#[test]
fn python_client_over_https_with_a_test_ca() {
    let (s, ca, dir) = common::tls::server(2, "");
    // The certificate names 127.0.0.1 and localhost; requests checks it
    // against the test CA (SLUICE_CA -> requests_verify).
    run_client_env(
        &format!("https://{}", s.addr),
        &[],
        &[("SLUICE_CA", ca.to_str().unwrap())],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
