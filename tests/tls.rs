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
    let (s, ca, dir) = common::tls::server(1, "");
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

/// A TLS client (rustls) that trusts the test CA.
fn tls_client(
    s: &Server,
    ca: &std::path::Path,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let tcp = std::net::TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn bodies_in_small_tls_records_and_big_https_streams() {
    let (s, ca, dir) = common::tls::server(1, "");
    // A 60 KB body sent as 1,000-byte TLS records (a write and a flush
    // each): rustls gets more ciphertext than its plaintext buffer takes
    // at once, which must not end the request.
    let rows = 2_000;
    let body: String = (0..rows)
        .map(|i| format!("{i},some text for a bigger row,1.5,true\n"))
        .collect();
    let mut c = tls_client(&s, &ca);
    let head = format!(
        "POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    for piece in body.as_bytes().chunks(1000) {
        c.write_all(piece).unwrap();
        c.flush().unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(9).any(|w| w == b"\"token\":\"") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // The rows, streamed back over HTTPS: far more than rustls's 64 KiB
    // send buffer in one write.
    let mut l = tls_client(&s, &ca);
    l.write_all(b"POST /v0/pipelines/p/egress/t1?format=csv&from=earliest HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut text = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while text.windows(5).filter(|w| w == b",1\\n\"").count() < 1
        && text.iter().filter(|&&b| b == b'\n').count() < rows
    {
        assert!(std::time::Instant::now() < deadline, "{} bytes", text.len());
        let n = l.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended after {} bytes", text.len());
        text.extend_from_slice(&buf[..n]);
        // Each row is one `\n` escape inside the JSON line's text_data.
        if text.windows(2).filter(|w| w == b"\\n").count() >= rows {
            break;
        }
    }
    assert!(text.windows(2).filter(|w| w == b"\\n").count() >= rows);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trickled_handshake_times_out_like_a_slow_head() {
    let (s, _ca, dir) = common::tls::server(
        1,
        "[http]\nheader_timeout_ms = 500\nkeepalive_timeout_ms = 1000\n",
    );
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    // A TLS record header for a ClientHello, then a byte every 300 ms.
    let started = std::time::Instant::now();
    let _ = raw.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]);
    let closed = loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        if raw.write_all(&[1]).is_err() {
            break true;
        }
        let mut b = [0u8; 64];
        match raw.read(&mut b) {
            Ok(0) => break true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break true,
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            break false;
        }
    };
    assert!(closed, "still open after 10 s");
    let _ = std::fs::remove_dir_all(&dir);
}
