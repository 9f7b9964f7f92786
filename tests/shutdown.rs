//! SIGTERM: stop accepting, finish requests in flight, sync the log, exit
//! 0; a restart finds everything acknowledged. A second signal, or a
//! request that outlives the grace period, ends the process at once.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{tempdir, wait_complete, Client, Server, TEST_SQL};

fn config(extra: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n{extra}\n[[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n"
    )
}

/// A request whose head and first half of the body are sent.
fn half_sent(s: &Server, body: &str) -> Client {
    let mut c = s.client();
    let head = format!(
        "POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes());
    c.send(&body.as_bytes()[..body.len() / 2]);
    c
}

#[test]
fn sigterm_finishes_in_flight_requests_and_loses_nothing() {
    let dir = tempdir();
    let cfg = config("");
    let mut s = Server::start_in(2, &cfg, dir.clone(), false);
    let mut c = s.client();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let r = c.post(
            "/v0/pipelines/p/ingress/t1?format=csv",
            format!("{i},a,,\n").as_bytes(),
        );
        tokens.push(r.json()["token"].as_str().unwrap().to_string());
    }
    let body: String = (100..2100).map(|i| format!("{i},slow,,\n")).collect();
    let mut slow = half_sent(&s, &body);
    let mut idle = s.client();
    assert_eq!(idle.get("/healthz").status, 200);
    std::thread::sleep(Duration::from_millis(100));
    s.signal(libc::SIGTERM);
    // New connections are refused once every shard has closed its listener.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(s.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A new request on an open connection is refused, and it closes.
    let r = idle.get("/healthz");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "ServerShuttingDown")
    );
    assert!(idle.is_closed());
    // The request in flight finishes.
    slow.send(&body.as_bytes()[body.len() / 2..]);
    let r = slow.read_response().unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    tokens.push(r.json()["token"].as_str().unwrap().to_string());
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    drop(s);
    let s = Server::start_in(2, &cfg, dir, true);
    let mut c = s.client();
    for t in &tokens {
        wait_complete(&mut c, "p", t);
    }
    let t1 = common::table_stats(&mut c, "p", "t1");
    assert_eq!(t1["applied_records"], 2020, "{t1}");
}

#[test]
fn a_second_signal_or_the_grace_period_ends_it_at_once() {
    // A request that never finishes holds the stop: a second signal ends
    // the process right away...
    let mut s = Server::start(1, "");
    let _stuck = half_sent(&s, &"1,a,,\n".repeat(100));
    std::thread::sleep(Duration::from_millis(100));
    s.signal(libc::SIGTERM);
    assert_eq!(
        s.wait_exit(Duration::from_millis(300)),
        None,
        "waits for the request"
    );
    s.signal(libc::SIGINT);
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(1));
    // ...and without one, the grace period does, with a failure status.
    let mut s = Server::start(1, "[http]\nshutdown_grace_ms = 300\n");
    let mut stuck = half_sent(&s, &"1,a,,\n".repeat(100));
    std::thread::sleep(Duration::from_millis(100));
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(5)), Some(2));
    assert!(stuck.read_response().is_err() || stuck.is_closed());
}

#[test]
fn logs_are_one_json_object_per_line_when_asked() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let dir = tempdir();
    let cfg = dir.join("sluice.toml");
    std::fs::write(&cfg, config("[log]\nformat = \"json\"\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "exited before listening"
        );
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["fields"]["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"started"), "{err}");
    assert!(messages.contains(&"stopped cleanly"), "{err}");
    let stop = events.iter().find(|e| e["fields"]["signal"] == "SIGTERM");
    assert_eq!(stop.unwrap()["level"], "INFO", "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
