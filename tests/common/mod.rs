//! Test support: run the real `sluice` binary on a loopback port and talk
//! raw HTTP/1.1 to it over std sockets (so tests control every byte).

#![allow(dead_code)]

pub mod listener;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    pub dir: PathBuf,
    /// Remove `dir` when dropped.
    owned: bool,
}

/// The demo pipeline's SQL plus tables the tests rely on.
pub const TEST_SQL: &str = r#"
CREATE TABLE t1 (id BIGINT NOT NULL, name VARCHAR, score DOUBLE, ok BOOLEAN);
CREATE TABLE t2 (id INT NOT NULL, amount DECIMAL(10, 2), day DATE, at TIMESTAMP);
CREATE TABLE "Quoted" (a INT);
CREATE TABLE t3 (id INT PRIMARY KEY, v VARCHAR);
"#;

impl Server {
    /// Start with `extra` TOML appended to a config with pipeline `p`.
    pub fn start(shards: usize, extra: &str) -> Server {
        Self::start_with(shards, &format!(
            "listen = \"127.0.0.1:0\"\n{extra}\n[[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n"
        ))
    }

    pub fn start_with(shards: usize, config: &str) -> Server {
        Self::start_in(shards, config, tempdir(), true)
    }

    /// Start on `dir` (config file and `data/` in it), which survives the
    /// server unless `owned`, so another server can start on the same data.
    pub fn start_in(shards: usize, config: &str, dir: PathBuf, owned: bool) -> Server {
        Self::start_env(shards, config, dir, owned, &[], &[])
    }

    /// A server on a slow disk: every log write takes `write_delay_ms`
    /// longer (an injected fault) and the log buffers 64 KiB, so an owner
    /// soon stops taking batches. `ingest` is the body of its `[ingest]`.
    #[allow(dead_code, reason = "not every test binary uses it")]
    pub fn start_slow_disk(shards: usize, ingest: &str, write_delay_ms: u64) -> Server {
        let cfg = format!(
            "listen = \"127.0.0.1:0\"\n[ingest]\n{ingest}\n[wal]\nbuffer_bytes_max = 65536\n\
             [[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n"
        );
        let faults = format!("write_delay_ms={write_delay_ms}");
        Self::start_env(
            shards,
            &cfg,
            tempdir(),
            true,
            &[("SLUICE_FAULTS", &faults)],
            &[],
        )
    }

    /// `start_in` with extra environment variables and arguments.
    pub fn start_env(
        shards: usize,
        config: &str,
        dir: PathBuf,
        owned: bool,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        let cfg = dir.join("sluice.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .envs(env.iter().copied())
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .arg("--shards")
            .arg(shards.to_string())
            .arg("--data-dir")
            .arg(dir.join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sluice");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("sluice exited before listening");
            }
            if let Some(rest) = line.trim().split("listening on http://").nth(1) {
                break rest.parse().unwrap();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        let s = Server {
            addr,
            child,
            dir,
            owned,
        };
        if config.contains("[tls]") {
            // Plain HTTP cannot probe an HTTPS port: it listens, that is all.
            return s;
        }
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = Client::try_connect(self.addr) {
                if let Ok(r) = c.try_request("GET", "/healthz", &[], b"") {
                    if r.status == 200 {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sluice did not become ready");
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Send the server a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill failed");
    }

    /// Wait (bounded) for the server to exit by itself; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn tempdir() -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("sluice-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn error_code(&self) -> String {
        self.json()["error_code"].as_str().unwrap_or("").to_string()
    }
}

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Self::try_connect(addr).expect("connect")
    }

    pub fn try_connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .expect("request")
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;
        self.read_response()
    }

    pub fn post(&mut self, path: &str, body: &[u8]) -> Response {
        self.request("POST", path, &[], body)
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// Read one response (Content-Length framed, as sluice always sends).
    pub fn read_response(&mut self) -> std::io::Result<Response> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let mut lines = head.split("\r\n");
                let status: u16 = lines
                    .next()
                    .unwrap()
                    .split(' ')
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let start = end + 4;
                while self.buf.len() < start + len {
                    self.fill()?;
                }
                let body = self.buf[start..start + len].to_vec();
                self.buf.drain(..start + len);
                return Ok(Response {
                    status,
                    headers,
                    body,
                });
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// After an error response, the server closes: reading gives EOF.
    pub fn is_closed(&mut self) -> bool {
        matches!(self.fill(), Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Poll completion_status until complete (bounded).
pub fn wait_complete(c: &mut Client, pipeline: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.get(&format!(
            "/v0/pipelines/{pipeline}/completion_status?token={token}"
        ));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        if r.json()["status"] == "complete" {
            return;
        }
        assert!(Instant::now() < deadline, "token {token} never completed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn table_stats(c: &mut Client, pipeline: &str, table: &str) -> serde_json::Value {
    let s = c.get(&format!("/v0/pipelines/{pipeline}/stats")).json();
    s["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["endpoint_name"] == table)
        .cloned()
        .unwrap_or_else(|| panic!("no stats for {table}: {s}"))
}

/// Run `sluice export` on a server directory made by `Server::start_in`.
pub fn export(dir: &std::path::Path, table: &str, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("export")
        .args(["--config", dir.join("sluice.toml").to_str().unwrap()])
        .args(["--data-dir", dir.join("data").to_str().unwrap()])
        .args([
            "--pipeline",
            "p",
            "--table",
            table,
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}
