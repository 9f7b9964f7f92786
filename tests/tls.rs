//! HTTPS (`[tls]`): TLS 1.2 and 1.3 with curl against a test CA, plain
//! HTTP refused on the TLS port. (The Python client over HTTPS is in
//! tests/python_client.rs.)

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::Server;

fn curl(ca: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert", ca.to_str().unwrap()])
        .args(args)
        .output()
        .expect("the curl command (scripts/test.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn https_with_tls_1_2_and_1_3_and_no_plain_http() {
    let dir = common::tempdir();
    let (ca, cert, key) = common::tls::test_ca(&dir);
    let s = Server::start(
        1,
        &format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    let base = format!("https://127.0.0.1:{}", s.addr.port());
    for version in [
        ["--tlsv1.2", "--tls-max", "1.2"],
        ["--tlsv1.3", "--tls-max", "1.3"],
    ] {
        let (ok, text) = curl(
            &ca,
            &[
                version[0],
                version[1],
                version[2],
                &format!("{base}/healthz"),
            ],
        );
        assert!(ok && text.contains("healthy"), "{version:?}: {text}");
        let url = format!("{base}/v0/pipelines/p/ingress/t1?format=csv");
        let (ok, text) = curl(
            &ca,
            &[
                version[0],
                version[1],
                version[2],
                "--data-binary",
                "1,a,,\n",
                &url,
            ],
        );
        assert!(ok && text.contains("token"), "{version:?}: {text}");
    }
    // The certificate is checked: without the CA curl refuses.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", &format!("{base}/healthz")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    raw.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
