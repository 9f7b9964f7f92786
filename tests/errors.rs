//! Every error answer over loopback: status, error_code, details, and
//! whether the connection survives.

mod common;

use common::{Client, Server};

fn status_code(c: &mut Client, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let r = c.request(method, path, &[], body);
    let code = if r.body.is_empty() {
        String::new()
    } else {
        r.error_code()
    };
    (r.status, code)
}

#[test]
fn request_errors_have_feldera_codes_and_keep_the_connection() {
    let s = Server::start(1, "");
    let mut c = s.client();
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        (
            "POST",
            "/v0/pipelines/nope/ingress/t1",
            b"1\n",
            404,
            "UnknownPipelineName",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/nope",
            b"1\n",
            404,
            "UnknownInputStream",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=xml",
            b"1\n",
            400,
            "UnknownInputFormat",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=csv&force=True",
            b"1\n",
            400,
            "ParserConfigParseError",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=json&array=1",
            b"{}",
            400,
            "ParserConfigParseError",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=csv&format=json",
            b"1\n",
            400,
            "ParserConfigParseError",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=json&update_format=redis",
            b"{}",
            400,
            "InputFormatNotSupported",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=json&json_flavor=avro",
            b"{}",
            400,
            "ParserConfigParseError",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=csv&delimiter=ab",
            b"1\n",
            400,
            "ParserConfigParseError",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=csv&header=yes",
            b"1\n",
            400,
            "ParserConfigParseError",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=json&update_format=snowflake",
            b"{}",
            400,
            "InputFormatNotSupported",
        ),
        (
            "POST",
            "/v0/pipelines/p/ingress/t1?format=json&update_format=bogus",
            b"{}",
            400,
            "ParserConfigParseError",
        ),
        (
            "GET",
            "/v0/pipelines/p/completion_status?token=garbage",
            b"",
            400,
            "InvalidParam",
        ),
        (
            "GET",
            "/v0/pipelines/p/completion_status",
            b"",
            400,
            "InvalidParam",
        ),
        (
            "GET",
            "/v0/pipelines/nope/completion_status?token=x",
            b"",
            404,
            "UnknownPipelineName",
        ),
        ("GET", "/v0/nothing", b"", 404, "NotFound"),
        (
            "GET",
            "/v0/pipelines/p/ingress/t1",
            b"",
            405,
            "MethodNotAllowed",
        ),
        ("DELETE", "/v0/config", b"", 405, "MethodNotAllowed"),
    ];
    for (method, path, body, status, code) in cases {
        let got = status_code(&mut c, method, path, body);
        assert_eq!(got, (*status, code.to_string()), "{method} {path}");
    }
    // The connection is still usable after all of those.
    assert_eq!(c.get("/healthz").status, 200);
}

#[test]
fn parse_errors_list_records_and_keep_good_rows() {
    let s = Server::start(1, "");
    let mut c = s.client();
    let r = c.post(
        "/v0/pipelines/p/ingress/t1?format=csv",
        b"1,a,1.0,true\nx,b,1.0,true\n3,c,zz,true\n4,d,1,false\n",
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error_code"], "ParseErrors");
    assert_eq!(v["details"]["num_errors"], 2);
    let errs = v["details"]["errors"].as_array().unwrap();
    assert_eq!(errs[0]["event_number"], 2);
    assert_eq!(errs[0]["field"], "id");
    assert_eq!(errs[0]["invalid_text"], "x");
    assert_eq!(errs[1]["event_number"], 3);
    assert_eq!(errs[1]["field"], "score");
    assert!(v["message"].as_str().unwrap().contains("ingested"));
    // Good records were kept (Feldera does the same; see the README).
    let st = common::table_stats(&mut c, "p", "t1");
    assert_eq!(st["total_records"], 2);
    assert_eq!(st["num_parse_errors"], 2);
    // Decoders are reused between requests: nothing carries over, neither
    // record numbers nor an unfinished record nor the errors.
    let r = c.post(
        "/v0/pipelines/p/ingress/t1?format=csv",
        b"5,e,1,true\n6,\"unfinished",
    );
    assert_eq!(r.status, 400);
    let errs = r.json()["details"]["errors"].clone();
    assert_eq!(errs[0]["event_number"], 2, "{errs}");
    let r = c.post("/v0/pipelines/p/ingress/t1?format=csv", b"7,g,1,true\n");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = c.post("/v0/pipelines/p/ingress/t1?format=csv", b"oops\n");
    assert_eq!(r.json()["details"]["errors"][0]["event_number"], 1);
    assert_eq!(r.json()["details"]["num_errors"], 1);
    assert_eq!(common::table_stats(&mut c, "p", "t1")["total_records"], 4);
}

#[test]
fn tokens_of_other_pipelines_and_earlier_runs_are_gone() {
    let cfg = |port: u16| {
        format!(
            "listen = \"127.0.0.1:{port}\"\n[[pipeline]]\nname = \"a\"\nsql = \"CREATE TABLE t (x INT)\"\n\
             [[pipeline]]\nname = \"b\"\nsql = \"CREATE TABLE t (x INT)\"\n"
        )
    };
    let s = Server::start_with(1, &cfg(0));
    let mut c = s.client();
    let r = c.post("/v0/pipelines/a/ingress/t", b"1\n");
    let token = r.json()["token"].as_str().unwrap().to_string();
    common::wait_complete(&mut c, "a", &token);
    let r = c.get(&format!("/v0/pipelines/b/completion_status?token={token}"));
    assert_eq!((r.status, r.error_code().as_str()), (410, "TokenExpired"));
    drop(c);
    drop(s);
    let s2 = Server::start_with(1, &cfg(0));
    let mut c = s2.client();
    let r = c.get(&format!("/v0/pipelines/a/completion_status?token={token}"));
    assert_eq!(r.status, 410, "a token of an earlier run");
}

#[test]
fn limits_answer_their_status_and_close() {
    let s = Server::start(
        1,
        "[http]\nbody_bytes_max = 100\nheaders_max = 10\nuri_bytes_max = 200\nhead_bytes_max = 2048\n",
    );
    // Content-Length over the limit: 413 before the body is read.
    let mut c = s.client();
    c.send(b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (413, "PayloadTooLarge")
    );
    assert!(c.is_closed());
    // Chunked body that grows past the limit: 413 mid-stream.
    let mut c = s.client();
    let chunk = format!("40\r\n{}\r\n", "1,a,1,true\n".repeat(6).get(..64).unwrap());
    c.send(b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send(chunk.repeat(3).as_bytes());
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413);
    // Too many headers: 431.
    let mut c = s.client();
    let mut req = String::from("GET /healthz HTTP/1.1\r\n");
    for i in 0..20 {
        req.push_str(&format!("X-{i}: v\r\n"));
    }
    req.push_str("\r\n");
    c.send(req.as_bytes());
    assert_eq!(c.read_response().unwrap().status, 431);
    assert!(c.is_closed());
    // Head too large: 431.
    let mut c = s.client();
    c.send(
        format!(
            "GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(4000)
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response().unwrap().status, 431);
    // URI too long: 414.
    let mut c = s.client();
    c.send(format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(300)).as_bytes());
    assert_eq!(c.read_response().unwrap().status, 414);
}

#[test]
fn framing_errors_are_400_then_close() {
    let s = Server::start(1, "");
    let bad: &[&[u8]] = &[
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n",
    ];
    for req in bad {
        let mut c = s.client();
        c.send(req);
        let r = c.read_response().unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(req));
        assert!(c.is_closed(), "{}", String::from_utf8_lossy(req));
    }
}

#[test]
fn expect_continue_is_answered_before_the_body() {
    let s = Server::start(1, "");
    let mut c = s.client();
    c.send(b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 13\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 100);
    c.send(b"1,a,1.0,true\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 200);
    // A request that fails routing gets its error instead of 100.
    c.send(b"POST /v0/pipelines/p/ingress/zz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 13\r\n\r\n");
    assert_eq!(c.read_response().unwrap().status, 404);
}

#[test]
fn slow_heads_and_stalled_bodies_time_out() {
    let s = Server::start(
        1,
        "[http]\nheader_timeout_ms = 300\nbody_idle_timeout_ms = 300\nkeepalive_timeout_ms = 300\n",
    );
    // A head trickling in past header_timeout_ms: 408, then close.
    let mut c = s.client();
    let started = std::time::Instant::now();
    c.send(b"GET /healthz HTTP/1.1\r\n");
    std::thread::sleep(std::time::Duration::from_millis(150));
    c.send(b"Host: x\r\n");
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.error_code().as_str()), (408, "RequestTimeout"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(c.is_closed());
    // A body that stops arriving: 408, then close.
    let mut c = s.client();
    c.send(
        b"POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n1,a,",
    );
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 408);
    // An idle keep-alive connection is closed quietly.
    let mut c = s.client();
    assert_eq!(c.get("/healthz").status, 200);
    assert!(c.is_closed());
}

/// The socket's read timer stays armed between reads (the glommio patch),
/// so it fires during some later, shorter wait: that wait must go on, not
/// time out. A body trickles in, each gap a third of `body_idle_timeout_ms`,
/// for three times that timeout in all; then the same connection answers
/// again after idle gaps shorter than `keepalive_timeout_ms`, and closes
/// when idle for that long.
#[test]
fn reads_each_shorter_than_the_timeout_never_time_out() {
    let s = Server::start(
        1,
        "[http]\nbody_idle_timeout_ms = 600\nkeepalive_timeout_ms = 600\nheader_timeout_ms = 5000\n",
    );
    let mut c = s.client();
    let rows: Vec<String> = (0..9).map(|i| format!("{i},n{i}\n")).collect();
    let len: usize = rows.iter().map(|r| r.len()).sum();
    c.send(
        format!(
            "POST /v0/pipelines/p/ingress/t1 HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n"
        )
        .as_bytes(),
    );
    for row in &rows {
        std::thread::sleep(std::time::Duration::from_millis(200));
        c.send(row.as_bytes());
    }
    assert_eq!(c.read_response().unwrap().status, 200);
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(c.get("/healthz").status, 200);
    }
    // The last idle wait starts with a timer armed in an earlier one, due
    // before its deadline: the re-armed timer still closes the connection
    // at keepalive_timeout_ms (600 ms), not never.
    let idle = std::time::Instant::now();
    assert!(c.is_closed());
    assert!(idle.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn connections_past_the_cap_get_503() {
    let s = Server::start(1, "[http]\nconnections_per_shard_max = 2\n");
    // The readiness probe's connection may not be reaped yet: retry until
    // each of the two allowed connections is served.
    let served = || loop {
        let mut c = s.client();
        if c.get("/healthz").status == 200 {
            return c;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let a = served();
    let _b = served();
    let mut c = s.client();
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "ApiConnectionLimit")
    );
    assert_eq!(r.header("Retry-After"), Some("1"));
    drop(a);
    // Once a connection closes, a new one is served again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut d = s.client();
        if d.get("/healthz").status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cap never freed up"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
