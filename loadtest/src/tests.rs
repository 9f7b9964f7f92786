//! End-to-end tests: the load loop against a tiny blocking HTTP server, plus
//! the loopback guard and CLI parsing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;

use super::*;

#[test]
fn loopback_guard() {
    assert!(resolve_target("10.0.0.1:8080", false).is_err());
    assert!(resolve_target("127.0.0.2:8080", false).is_ok());
    assert!(resolve_target("[::1]:8080", false).is_ok());
    assert!(resolve_target("[::ffff:127.0.0.1]:8080", false).is_ok());
    assert!(resolve_target("[2001:db8::1]:80", false).is_err());
    assert!(resolve_target("10.0.0.1:8080", true).is_ok());
}

/// What the in-test server saw.
#[derive(Default)]
struct Seen {
    posts: AtomicU64,
    rows: AtomicU64,
    body_bytes: AtomicU64,
    gets: AtomicU64,
}

/// A std-thread HTTP/1.1 server: one thread per connection, keep-alive,
/// Content-Length or chunked request bodies, answers like sluice would.
fn spawn_server() -> (SocketAddr, Arc<Seen>) {
    spawn_slow_server(Duration::ZERO)
}

/// The same server, sleeping `delay` before each answer: a slow service.
fn spawn_slow_server(delay: Duration) -> (SocketAddr, Arc<Seen>) {
    spawn_plain_server(delay, 0)
}

/// The plain server with `serve`'s options.
fn spawn_plain_server(delay: Duration, close_every: u64) -> (SocketAddr, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let seen = s2.clone();
            c.set_nodelay(true).unwrap();
            thread::spawn(move || serve(c, &seen, delay, close_every));
        }
    });
    (addr, seen)
}

/// Serves one connection (plain, or TLS through rustls's `StreamOwned`);
/// with `close_every` > 0, every that many answers carry `Connection:
/// close` and end the connection, after reading what the client sends
/// until it closes too (a lingering close: closing with unread input would
/// reset the connection, and a reset can discard answers the client has
/// not read yet).
fn serve<S: Read + Write>(c: S, seen: &Seen, delay: Duration, close_every: u64) {
    let mut r = BufReader::new(c);
    let mut line = String::new();
    let mut answered = 0u64;
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let is_get = line.starts_with("GET ");
        let (mut len, mut chunked) = (0usize, false);
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            chunked |= l == "transfer-encoding: chunked";
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let n = usize::from_str_radix(line.trim_end(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(len, 0);
            r.read_exact(&mut body).unwrap();
        }
        let reply: &str = if is_get {
            seen.gets.fetch_add(1, Relaxed);
            r#"{"status":"complete"}"#
        } else {
            seen.posts.fetch_add(1, Relaxed);
            seen.rows
                .fetch_add(body.iter().filter(|&&b| b == b'\n').count() as u64, Relaxed);
            seen.body_bytes.fetch_add(body.len() as u64, Relaxed);
            r#"{"token":"x"}"#
        };
        thread::sleep(delay);
        answered += 1;
        let close = close_every > 0 && answered.is_multiple_of(close_every);
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n{reply}",
            reply.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        let w = r.get_mut();
        if w.write_all(resp.as_bytes())
            .and_then(|_| w.flush())
            .is_err()
        {
            return;
        }
        if close {
            // Unread pipelined requests are discarded, never counted.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            return;
        }
    }
}

fn args(extra: &[&str]) -> Args {
    let mut v = vec!["sluice-load"];
    v.extend_from_slice(extra);
    Args::parse_from(v)
}

fn run_against(addr: SocketAddr, a: &Args, cfg: impl FnOnce(&mut RunConfig)) -> client::Stats {
    let pool = build_pool(a).unwrap();
    let mut c = RunConfig {
        addr,
        connections: a.connections,
        depth: depth(a).unwrap(),
        warmup: Duration::ZERO,
        duration: a.duration_s.map(Duration::from_secs_f64),
        requests: a.requests,
        timeout: Duration::from_secs(5),
        progress: false,
        completion: None,
        sample: None,
        open_loop: open_loop(a).unwrap(),
        server_pids: Vec::new(),
        tls: tls_target(a).unwrap(),
    };
    cfg(&mut c);
    // Unbound: tests run in parallel and must not fight over one core.
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .make()
        .unwrap();
    ex.run(client::run(c, pool))
}

fn assert_counts_match(st: &client::Stats, seen: &Seen) {
    assert_eq!(st.io_errors + st.parse_errors + st.non_2xx(), 0);
    assert_eq!(st.requests + st.warmup_requests, seen.posts.load(Relaxed));
    assert_eq!(st.status[200], st.requests);
}

#[test]
fn one_second_run_counts_match_server() {
    let (addr, seen) = spawn_server();
    let a = args(&[
        "--connections",
        "4",
        "--duration-s",
        "1",
        "--rows-per-request",
        "3",
    ]);
    let st = run_against(addr, &a, |_| {});
    assert!(st.requests > 100, "only {} requests in 1 s", st.requests);
    assert_counts_match(&st, &seen);
    assert_eq!(st.rows, seen.rows.load(Relaxed));
    assert_eq!(st.rows, st.requests * 3);
    assert_eq!(st.body_bytes, seen.body_bytes.load(Relaxed));
    assert_eq!(st.hist.len(), st.requests);
    assert!(st.elapsed >= Duration::from_millis(900));
    println!("{}", report::summary(&st, "in-test server"));
}

#[test]
fn pipelined_bursts_count_match_server() {
    let (addr, seen) = spawn_server();
    // 101 is no multiple of 8: the last burst is short, not over the limit.
    let a = args(&[
        "--connections",
        "2",
        "--pipelining",
        "8",
        "--requests",
        "101",
        "--rows-per-request",
        "2",
    ]);
    let st = run_against(addr, &a, |_| {});
    assert_counts_match(&st, &seen);
    assert_eq!((st.requests, st.warmup_requests), (101, 0));
    assert_eq!(st.rows, 202);
    assert_eq!(st.rows, seen.rows.load(Relaxed));
    assert_eq!(st.body_bytes, seen.body_bytes.load(Relaxed));
    assert_eq!(st.hist.len(), 101);
    // Timed runs too, warm-up included.
    let (addr, seen) = spawn_server();
    let a = args(&[
        "--connections",
        "3",
        "--pipelining",
        "5",
        "--duration-s",
        "0.5",
    ]);
    let st = run_against(addr, &a, |c| c.warmup = Duration::from_millis(100));
    assert_counts_match(&st, &seen);
    assert!(
        st.requests > 100 && st.warmup_requests > 0,
        "{}",
        st.requests
    );
}

#[test]
fn pipelined_requests_a_closing_server_leaves_unanswered_are_errors() {
    // Every 5th answer closes its connection, so of each burst of 8 the
    // last 3 are never answered: 10 bursts, 50 answers, 30 failures.
    let (addr, seen) = spawn_plain_server(Duration::ZERO, 5);
    let a = args(&[
        "--connections",
        "1",
        "--pipelining",
        "8",
        "--requests",
        "80",
    ]);
    let st = run_against(addr, &a, |_| {});
    assert_eq!((st.requests, st.status[200]), (50, 50));
    assert_eq!(seen.posts.load(Relaxed), 50);
    assert_eq!((st.io_errors, st.parse_errors, st.connects), (30, 0, 10));
    let e = st.last_error.as_deref().unwrap();
    assert!(e.contains("3 pipelined requests unanswered"), "{e}");
}

/// A bad answer in the middle of a burst is a parse error and the requests
/// behind it are unanswered: a server that answers a burst of 4 with two
/// good responses and then garbage.
#[test]
fn a_bad_answer_mid_burst_fails_itself_and_the_rest() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n{\"token\":\"x\"}";
        let mut first = [0u8; 1];
        c.read_exact(&mut first).unwrap();
        c.write_all(format!("{ok}{ok}garbage\r\n\r\n").as_bytes())
            .unwrap();
        // Until the client hangs up (no reset while answers are unread).
        let _ = std::io::copy(&mut c, &mut std::io::sink());
    });
    let a = args(&["--connections", "1", "--pipelining", "4", "--requests", "4"]);
    let st = run_against(addr, &a, |_| {});
    assert_eq!((st.requests, st.status[200]), (2, 2));
    assert_eq!((st.parse_errors, st.io_errors), (1, 1));
    assert!(st.last_error.as_deref().unwrap().contains("BadStatusLine"));
}

#[test]
fn chunked_json_with_warmup_and_request_limit() {
    let (addr, seen) = spawn_server();
    let a = args(&[
        "--format",
        "json",
        "--chunked",
        "--connections",
        "3",
        "--requests",
        "500",
        "--body-bytes",
        "3000",
    ]);
    let st = run_against(addr, &a, |c| c.warmup = Duration::from_millis(200));
    assert_eq!(st.requests, 500);
    assert!(st.warmup_requests > 0);
    assert_counts_match(&st, &seen);
    // Warm-up requests are excluded from rows, so compare only totals seen.
    assert!(seen.rows.load(Relaxed) >= st.rows);
    assert!(st.body_bytes <= 500 * 3000);
}

#[test]
fn completion_polls_last_tokens() {
    let (addr, seen) = spawn_server();
    let a = args(&["--connections", "2", "--requests", "50", "--api-key", "k"]);
    let st = run_against(addr, &a, |c| {
        c.completion = Some(CompletionConfig {
            path_prefix: "/v0/pipelines/demo/completion_status?token=".into(),
            host: "test".into(),
            api_key: Some("k".into()),
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(1),
        })
    });
    assert_counts_match(&st, &seen);
    let c = st.completion.unwrap();
    assert_eq!((c.polled, c.completed, c.failed), (2, 2, 0));
    assert_eq!(seen.gets.load(Relaxed), 2);
}

#[test]
fn sampled_completion_latency_polls_every_nth_token() {
    let (addr, seen) = spawn_server();
    let a = args(&["--connections", "2", "--requests", "40"]);
    let st = run_against(addr, &a, |c| {
        c.sample = Some((
            5,
            CompletionConfig {
                path_prefix: "/v0/pipelines/demo/completion_status?token=".into(),
                host: "test".into(),
                api_key: None,
                timeout: Duration::from_secs(5),
                poll_interval: Duration::from_millis(1),
            },
        ))
    });
    assert_counts_match(&st, &seen);
    let s = st.sampled.unwrap();
    // 40 requests over 2 connections (split unevenly, as they race):
    // tokens 0, 5, 10, .. of each, so 8 to 10 samples, each polled.
    assert!((8..=10).contains(&s.hist.len()), "{} samples", s.hist.len());
    assert_eq!((s.failed, s.dropped), (0, 0));
    assert_eq!(seen.gets.load(Relaxed), s.hist.len());
    // Each latency covers at least one poll round trip over loopback.
    assert!(s.hist.min() >= 10, "{} us", s.hist.min());
}

#[test]
fn dead_target_counts_io_errors_and_stops() {
    // Bind then drop: nothing listens on this port any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let a = args(&["--connections", "2", "--duration-s", "0.3"]);
    let st = run_against(addr, &a, |_| {});
    assert_eq!(st.requests, 0);
    assert!(st.io_errors > 0);
}

#[test]
fn cli_defaults_and_conflicts() {
    let a = args(&[]);
    assert_eq!(a.target, "127.0.0.1:8080");
    assert_eq!((a.connections, a.rows_per_request), (16, 1));
    assert_eq!(gen::parse_columns(&a.columns).unwrap().len(), 10);
    assert!(Args::try_parse_from(["x", "--rows-per-request", "2", "--body-bytes", "9"]).is_err());
    assert!(build_pool(&args(&["--names", "a,b"])).is_err());
    assert_eq!(depth(&a), Ok(1));
    assert_eq!(depth(&args(&["--pipelining", "256"])), Ok(256));
    assert!(depth(&args(&["--pipelining", "0"])).is_err());
    assert!(depth(&args(&["--pipelining", "257"])).is_err());
    assert!(Args::try_parse_from(["x", "--pipelining", "2", "--rate", "10"]).is_err());
}

#[test]
fn open_loop_keeps_the_schedule() {
    let (addr, seen) = spawn_server();
    // 1000 req/s: 100 warm-up slots in the first 100 ms, then 300 measured
    // ones, which take 300 ms however fast the server is.
    let a = args(&["--connections", "3", "--requests", "300", "--rate", "1000"]);
    let st = run_against(addr, &a, |c| c.warmup = Duration::from_millis(100));
    assert_counts_match(&st, &seen);
    assert_eq!((st.requests, st.warmup_requests), (300, 100));
    assert!(
        st.elapsed >= Duration::from_millis(290),
        "{:?}: not paced",
        st.elapsed
    );
    let o = st.open.as_ref().unwrap();
    assert_eq!(o.unsent, 0);
    assert_eq!(o.service_hist.len(), 300);
    // Latency from the slot includes the timer's wake-up delay, so it is
    // never below the service time.
    assert!(st.hist.value_at_quantile(0.5) >= o.service_hist.value_at_quantile(0.5));
    println!("{}", report::summary(&st, "open loop"));
}

#[test]
fn open_loop_counts_the_stall_a_closed_loop_hides() {
    // One connection, 200 req/s asked (a slot every 5 ms), 20 ms per
    // answer: at most ~25 of the 100 slots in 0.5 s can be served.
    let (addr, seen) = spawn_slow_server(Duration::from_millis(20));
    let a = args(&["--connections", "1", "--duration-s", "0.5", "--rate", "200"]);
    let st = run_against(addr, &a, |_| {});
    assert_counts_match(&st, &seen);
    let o = st.open.as_ref().unwrap();
    // A loaded machine can only stretch the 20 ms: a loose floor (two
    // answers take 40 ms of the 500).
    assert!((2..=30).contains(&st.requests), "{} sent", st.requests);
    // Every slot is either sent or counted unsent.
    assert_eq!(st.requests + o.unsent, 100);
    // All but the first went late, and latency from the slot grew with the
    // backlog while the service time stayed about 20 ms.
    assert!(o.late_sends >= st.requests - 1, "{} late", o.late_sends);
    // Relative, not absolute, as a loaded machine stretches both: the
    // second request alone waited a whole service time past its slot.
    let (service, due) = (o.service_hist.max(), st.hist.max());
    assert!(
        due > service + 10_000,
        "from due {due} us, service {service} us"
    );
    let r = report::summary(&st, "slow");
    assert!(r.contains("the schedule was not kept"), "{r}");
}

#[test]
fn own_slots_table() {
    // (first slot, stride, lo, hi, how many of j, j+stride, .. are in lo..hi)
    let cases = [
        (0, 1, 0, 10, 10),
        (2, 3, 0, 10, 3), // 2 5 8
        (2, 3, 6, 10, 1), // 8
        (2, 3, 6, 8, 0),  // none: 8 is not below 8
        (9, 4, 0, 9, 0),  // past hi already
        (1, 4, 0, 100, 25),
        (0, 5, 3, 4, 0),
    ];
    for (j, stride, lo, hi, want) in cases {
        assert_eq!(
            client::own_slots_between(j, stride, lo, hi),
            want,
            "{j} {stride} {lo} {hi}"
        );
        let brute = (j..hi)
            .step_by(stride as usize)
            .filter(|s| *s >= lo)
            .count() as u64;
        assert_eq!(brute, want);
    }
}

#[test]
fn server_cpu_is_read_for_the_measured_run() {
    // The in-test server runs on this process's threads, so its pid is ours.
    let (addr, _) = spawn_server();
    let a = args(&["--connections", "2", "--duration-s", "0.5"]);
    let st = run_against(addr, &a, |c| c.server_pids = vec![std::process::id()]);
    let u = st.host.as_ref().unwrap();
    assert!((0.45..3.0).contains(&u.window_s), "{}", u.window_s);
    // Busy for half a second on both sides: some ticks must have passed.
    assert!(u.server_cpu_s.unwrap() > 0.0);
    assert!(u.load_cpu_s.unwrap() > 0.0);
    let r = report::summary(&st, "cpu");
    assert!(
        r.contains("server cpu") && r.contains("per CPU-second"),
        "{r}"
    );
    let j = report::json_report(&st, serde_json::json!({}));
    assert!(
        j["host"]["server"]["per_cpu"]["rows_per_cpu_s"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(
        j["host"]["cpu_pressure"]["busy_threshold_avg10_pct"],
        host::PSI_BUSY_AVG10_PCT
    );
}

#[test]
fn open_loop_and_server_pid_arguments() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert!(open_loop(&args(&["--rate", "0"])).is_err());
    assert!(open_loop(&args(&["--rate", "2e6"])).is_err());
    let o = open_loop(&args(&["--rate", "100", "--late-ms", "2.5"]))
        .unwrap()
        .unwrap();
    assert_eq!((o.rate_per_s, o.late), (100.0, Duration::from_micros(2500)));
    assert!(open_loop(&args(&[])).unwrap().is_none());
    assert!(server_pids(Some("x"), addr).is_err());
    assert!(server_pids(Some("4294967295"), addr).is_err());
    let me = std::process::id().to_string();
    assert_eq!(server_pids(Some(&me), addr).unwrap().len(), 1);
    assert!(server_pids(None, addr).unwrap().is_empty());
    let Some(Command::Chart(c)) = args(&["chart", "--out", "x.svg", "a.hgrm", "b=c.json"]).command
    else {
        panic!("chart subcommand not parsed");
    };
    assert_eq!(c.inputs, ["a.hgrm", "b=c.json"]);
}

#[test]
fn peer_paths_and_body_dump() {
    assert_eq!(
        request_path(&args(&["--format", "json"]), "bench"),
        "/v0/pipelines/demo/ingress/bench?format=json&update_format=raw"
    );
    let ch = args(&["--peer", "clickhouse", "--table", "bench"]);
    assert_eq!(
        request_path(&ch, "bench"),
        "/?query=INSERT%20INTO%20bench%20FORMAT%20CSV"
    );
    let ch_json = args(&["--peer", "clickhouse", "--table", "t", "--format", "json"]);
    assert!(request_path(&ch_json, "t").ends_with("FORMAT%20JSONEachRow"));
    assert_eq!(request_path(&args(&["--path", "/x?y=1"]), "t"), "/x?y=1");
    // Completion tokens are Feldera's; another peer has none to poll.
    assert!(run(args(&["--peer", "clickhouse", "--completion"])).is_err());

    // The dump holds exactly the bodies the pool sends, in order.
    let dir = std::env::temp_dir().join(format!("sluice-load-dump-{}", std::process::id()));
    let dump = ["--rows-per-request", "5", "--pool", "3", "--dump-bodies"];
    let a = || args(&[&dump[..], &[dir.to_str().unwrap()]].concat());
    run(a()).unwrap();
    let pool = build_pool(&a()).unwrap();
    for (i, r) in pool.iter().enumerate() {
        let got = std::fs::read(dir.join(format!("body-{i:04}.csv"))).unwrap();
        assert!(r.wire.ends_with(&got));
        assert_eq!(got.len(), r.body_len);
        assert_eq!(got.iter().filter(|&&b| b == b'\n').count(), 5);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A throwaway CA and a server certificate it signed for 127.0.0.1 and
/// localhost (P-256 keys, quick to make), by the `openssl` command, in a
/// fresh directory: (dir, CA certificate, server certificate, server key).
fn test_ca(tag: &str) -> (std::path::PathBuf, String, String, String) {
    let dir = std::env::temp_dir().join(format!("sluice-load-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
        &[
            &["req"],
            &ec[..],
            &["-keyout", "key.pem", "-out", "csr.pem"],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "csr.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for (i, args) in steps.iter().enumerate() {
        // Distinct CA names, so a foreign CA is unknown, not a bad signer.
        let subj = if i == 0 {
            format!("/CN=sluice-load test CA {tag}")
        } else {
            "/CN=localhost".into()
        };
        let mut cmd = std::process::Command::new("openssl");
        cmd.current_dir(&dir).args(*args).args(["-days", "2"]);
        if i < 2 {
            cmd.args(["-subj", &subj]);
        }
        let out = cmd.output().expect("the openssl command");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let (ca, cert, key) = (p("ca.pem"), p("cert.pem"), p("key.pem"));
    (dir, ca, cert, key)
}

/// The in-test server over TLS (rustls, ring, its default session cache,
/// so clients can resume).
fn spawn_tls_server(cert: &str, key: &str, close_every: u64) -> (SocketAddr, Arc<Seen>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let cfg = Arc::new(cfg);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            c.set_nodelay(true).unwrap();
            let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let seen = s2.clone();
            thread::spawn(move || {
                serve(
                    rustls::StreamOwned::new(conn, c),
                    &seen,
                    Duration::ZERO,
                    close_every,
                )
            });
        }
    });
    (addr, seen)
}

fn tls_args(addr: SocketAddr, extra: &[&str]) -> Args {
    let t = addr.to_string();
    args(&[&["--target", t.as_str(), "--tls"], extra].concat())
}

#[test]
fn tls_run_verified_by_ca_counts_match_and_polls_over_tls() {
    let (dir, ca, cert, key) = test_ca("ok");
    let (addr, seen) = spawn_tls_server(&cert, &key, 0);
    let a = tls_args(
        addr,
        &[
            "--ca-file",
            &ca,
            "--connections",
            "4",
            "--requests",
            "300",
            "--rows-per-request",
            "3",
        ],
    );
    let poll = || CompletionConfig {
        path_prefix: "/v0/pipelines/demo/completion_status?token=".into(),
        host: "test".into(),
        api_key: None,
        timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(1),
    };
    let st = run_against(addr, &a, |c| {
        // The sampled poller opens a connection of its own; the final
        // completion polls reuse the load connections.
        c.sample = Some((50, poll()));
        c.completion = Some(poll());
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(st.last_error, None);
    assert_eq!(st.requests, 300);
    assert_counts_match(&st, &seen);
    assert_eq!(st.rows, seen.rows.load(Relaxed));
    assert_eq!(st.body_bytes, seen.body_bytes.load(Relaxed));
    // The 4 load connections and those of the sampling pollers that got a
    // token, no more: the final polls reuse the load connections.
    let most = 4 + crate::sampled::POLLERS as u64;
    assert!(
        (5..=most).contains(&st.connects),
        "{} connects",
        st.connects
    );
    let s = st.sampled.as_ref().unwrap();
    assert!(s.hist.len() >= 4, "{} samples", s.hist.len());
    assert_eq!((s.failed, s.dropped), (0, 0));
    let c = st.completion.as_ref().unwrap();
    assert_eq!((c.polled, c.completed, c.failed), (4, 4, 0));
    assert_eq!(seen.gets.load(Relaxed), s.hist.len() + 4);
}

#[test]
fn tls_reconnects_after_close_and_resumes() {
    let (dir, ca, cert, key) = test_ca("close");
    let (addr, seen) = spawn_tls_server(&cert, &key, 10);
    // By name this time: the certificate also carries DNS:localhost.
    let a = tls_args(
        addr,
        &[
            "--ca-file",
            &ca,
            "--server-name",
            "localhost",
            "--connections",
            "2",
            "--requests",
            "100",
        ],
    );
    let st = run_against(addr, &a, |_| {});
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(st.last_error, None);
    assert_counts_match(&st, &seen);
    // Each connection is closed after every 10th answer: about 10 new
    // handshakes, and the later ones resume a session of the first.
    assert!(st.connects >= 10, "{} connects", st.connects);
    assert!(
        st.resumed >= st.connects - 4,
        "{} of {} resumed",
        st.resumed,
        st.connects
    );
}

#[test]
fn tls_refuses_an_unknown_ca_or_a_wrong_name_unless_insecure() {
    let (dir, _, cert, key) = test_ca("bad");
    let (other_dir, other_ca, _, _) = test_ca("other");
    let (addr, seen) = spawn_tls_server(&cert, &key, 0);
    let run_with = |extra: &[&str]| {
        let a = tls_args(
            addr,
            &[
                &["--connections", "1", "--requests", "3", "--timeout-s", "2"],
                extra,
            ]
            .concat(),
        );
        run_against(addr, &a, |_| {})
    };
    let own_ca = dir.join("ca.pem");
    let own_ca = own_ca.to_str().unwrap();
    let unknown = run_with(&["--ca-file", &other_ca]);
    let wrong_name = run_with(&["--ca-file", own_ca, "--server-name", "sluice.example"]);
    let insecure = run_with(&["--insecure", "--server-name", "sluice.example"]);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&other_dir).unwrap();
    for (st, why) in [
        (&unknown, "UnknownIssuer"),
        (&wrong_name, "not valid for name"),
    ] {
        assert_eq!(st.requests, 0);
        assert_eq!(st.io_errors, 3);
        let e = st.last_error.as_deref().unwrap_or("");
        assert!(e.contains(why), "{e}");
    }
    assert_eq!(insecure.requests, 3);
    assert_eq!(insecure.last_error, None);
    assert_eq!(seen.posts.load(Relaxed), 3);
}

#[test]
fn tls_arguments() {
    assert!(tls_target(&args(&[])).unwrap().is_none());
    // No system roots: one of the two must be said.
    let e = tls_target(&args(&["--tls"])).err().unwrap();
    assert!(e.contains("--ca-file") && e.contains("--insecure"), "{e}");
    assert!(Args::try_parse_from(["x", "--insecure"]).is_err());
    assert!(Args::try_parse_from(["x", "--ca-file", "a.pem"]).is_err());
    assert!(Args::try_parse_from(["x", "--tls", "--insecure", "--ca-file", "a"]).is_err());
    assert!(tls_target(&args(&["--tls", "--ca-file", "/nonexistent.pem"])).is_err());
    use rustls::pki_types::ServerName;
    let name = |n: Option<&str>, t: &str| tls::server_name(n, t).unwrap();
    let ip = name(None, "127.0.0.1:8080");
    assert!(matches!(ip, ServerName::IpAddress(_)), "{ip:?}");
    assert_eq!(ip.to_str(), "127.0.0.1");
    let v6 = name(None, "[::1]:8443");
    assert!(matches!(v6, ServerName::IpAddress(_)), "{v6:?}");
    assert_eq!(v6.to_str(), "::1");
    let dns = name(None, "localhost:8080");
    assert!(matches!(dns, ServerName::DnsName(_)), "{dns:?}");
    assert_eq!(
        name(Some("sluice.test"), "127.0.0.1:1").to_str(),
        "sluice.test"
    );
    assert!(tls::server_name(Some("not a name!"), "x:1").is_err());
    let t = tls_target(&args(&["--tls", "--insecure"]))
        .unwrap()
        .unwrap();
    assert_eq!(t.config.alpn_protocols, [b"http/1.1".to_vec()]);
}

/// `--columns server` reads a Feldera descriptor: tables match by name as
/// SQL does (a quoted table exactly), case-sensitive fields keep their
/// quotes for JSON keys, and a missing table or a bad type says which.
#[test]
fn columns_from_a_pipeline_descriptor() {
    let d = serde_json::json!({"program_info": {"schema": {"inputs": [
        {"name": "orders", "case_sensitive": false, "fields": [
            {"name": "id", "case_sensitive": false, "columntype": {"type": "BIGINT", "nullable": false}},
            {"name": "Tag", "case_sensitive": true, "columntype": {"type": "VARCHAR(8) ARRAY", "nullable": true}},
        ]},
        {"name": "Quoted", "case_sensitive": true, "fields": [
            {"name": "x", "case_sensitive": false, "columntype": {"type": "INTERVAL", "nullable": true}},
        ]},
    ], "outputs": []}}});
    let t = schema::columns(&d, "ORDERS").unwrap();
    let (cols, names) = (t.cols, t.names);
    assert_eq!(t.url_name, "orders");
    assert_eq!(
        cols,
        [
            gen::ColType::BigInt,
            gen::ColType::Array(Box::new(gen::ColType::Varchar(Some(8))))
        ]
    );
    assert_eq!(names, ["id", "\"Tag\""]);
    let e = schema::columns(&d, "quoted").unwrap_err();
    assert!(
        e.contains("no table \"quoted\" (tables: orders, Quoted)"),
        "{e}"
    );
    // Quoted, a name matches exactly; a declared-quoted table goes quoted
    // into the URL.
    assert!(schema::columns(&d, "\"ORDERS\"").is_err());
    assert_eq!(
        schema::columns(&d, "\"orders\"").unwrap().url_name,
        "orders"
    );
    let e = schema::columns(&d, "Quoted").unwrap_err();
    assert!(e.starts_with("column x: unknown column type"), "{e}");
    assert!(schema::columns(&serde_json::json!({}), "t").is_err());
    // It is one or the other: names come from the server.
    let a = args(&["--columns", "server", "--names", "a"]);
    assert!(table_columns(&a).unwrap_err().contains("drop --names"));
    let a = args(&["--columns", "server", "--peer", "clickhouse"]);
    assert!(table_columns(&a).unwrap_err().contains("--peer"));
}
