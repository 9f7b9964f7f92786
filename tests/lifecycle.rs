//! Pipeline states over HTTP: pause holds ingress (reading nothing) until a
//! resume or `ingest.paused_wait_ms`, `force=true` ingests anyway, stop
//! refuses at once, and the state survives a restart.

mod common;

use std::time::{Duration, Instant};

use common::{tempdir, wait_complete, Client, Server, TEST_SQL};

fn config() -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n[ingest]\npaused_wait_ms = 400\n\
         [[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n"
    )
}

fn act(c: &mut Client, action: &str) {
    let r = c.post(&format!("/v0/pipelines/p/{action}"), b"");
    assert_eq!(
        r.status,
        202,
        "{action}: {}",
        String::from_utf8_lossy(&r.body)
    );
}

fn state(c: &mut Client) -> String {
    let d = c.get("/v0/pipelines/p").json();
    d["deployment_status"].as_str().unwrap().to_string()
}

fn push(c: &mut Client, query: &str) -> common::Response {
    c.post(
        &format!("/v0/pipelines/p/ingress/t1?format=csv{query}"),
        b"1,a,,\n",
    )
}

#[test]
fn pause_holds_force_ingests_stop_refuses_and_states_persist() {
    let dir = tempdir();
    let s = Server::start_in(2, &config(), dir.clone(), false);
    let mut c = s.client();
    assert_eq!(state(&mut c), "Running");
    act(&mut c, "pause");
    assert_eq!(state(&mut c), "Paused");
    // Held for paused_wait_ms, then 503 with Retry-After.
    let started = Instant::now();
    let r = push(&mut c, "");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!((r.status, r.error_code().as_str()), (503, "PipelinePaused"));
    assert_eq!(r.header("Retry-After"), Some("1"));
    // force=true ingests while paused.
    let r = push(&mut c, "&force=true");
    assert_eq!(r.status, 200);
    wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    // A request held while paused proceeds once the pipeline resumes.
    let addr = s.addr;
    let held = std::thread::spawn(move || push(&mut Client::connect(addr), "").status);
    std::thread::sleep(Duration::from_millis(100));
    act(&mut c, "resume");
    assert_eq!(held.join().unwrap(), 200);
    assert_eq!(state(&mut c), "Running");
    // Stopped: refused at once; pause and resume are not actions on it.
    act(&mut c, "stop");
    let r = push(&mut c, "&force=true");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "PipelineInteractionNotDeployed")
    );
    let r = c.post("/v0/pipelines/p/resume", b"");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "IllegalPipelineAction")
    );
    drop(s);
    // The state survives a restart; start (as paused, then running).
    let s = Server::start_in(2, &config(), dir, true);
    let mut c = s.client();
    assert_eq!(state(&mut c), "Stopped");
    act(&mut c, "start?initial=paused");
    assert_eq!(state(&mut c), "Paused");
    act(&mut c, "start");
    assert_eq!(push(&mut c, "").status, 200);
    let st = c.get("/v0/pipelines/p/stats").json();
    assert_eq!(st["global_metrics"]["state"], "Running");
}

/// Pause is a barrier for requests already past their admission: rows of
/// a request admitted while running are not taken once pause has returned.
/// The request is held at its next batch (its body not read further) and
/// completes after the resume; with no resume, it gets the 503 a new
/// request gets, saying how many of its records were taken before the
/// pause (and the stats count those).
#[test]
fn pause_holds_a_request_already_streaming() {
    // One row per batch: the first row is handed over before the pause.
    let config = config().replace(
        "paused_wait_ms = 400",
        "paused_wait_ms = 1500\nbatch_rows = 1",
    );
    let s = Server::start_with(2, &config);
    let mut c = s.client();
    let records = |c: &mut Client| {
        common::table_stats(c, "p", "t1")["total_records"]
            .as_u64()
            .unwrap()
    };
    let head = "POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    for resume in [true, false] {
        let before = records(&mut c);
        let mut up = Client::connect(s.addr);
        // Admitted while running; its first row is handed over.
        up.send(format!("{head}6\r\n1,a,,\n\r\n").as_bytes());
        let deadline = Instant::now() + Duration::from_secs(10);
        while records(&mut c) != before + 1 {
            assert!(Instant::now() < deadline, "first row never taken");
            std::thread::sleep(Duration::from_millis(10));
        }
        act(&mut c, "pause");
        // Its second row must not go in while paused.
        up.send(b"6\r\n2,b,,\n\r\n0\r\n\r\n");
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(records(&mut c), before + 1, "taken while paused");
        if resume {
            act(&mut c, "resume");
            let r = up.read_response().unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
            assert_eq!(records(&mut c), before + 2);
        } else {
            let r = up.read_response().unwrap();
            assert_eq!((r.status, r.error_code().as_str()), (503, "PipelinePaused"));
            assert_eq!(r.json()["details"]["records_taken"], 1);
            assert_eq!(records(&mut c), before + 1);
            act(&mut c, "resume");
        }
    }
}
