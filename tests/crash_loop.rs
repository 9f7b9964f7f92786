//! SIGKILL under load, 20 times over one data directory: every row whose
//! token reports `complete` after the restart is in the log exactly once,
//! no row of a token reported lost is, and nothing is in the log that no
//! client sent.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use common::{tempdir, Client, Server, TEST_SQL};

const KILLS: u64 = 20;
const THREADS: u64 = 4;
const ROWS_PER_REQUEST: u64 = 5;

fn config() -> String {
    format!("listen = \"127.0.0.1:0\"\n[[pipeline]]\nname = \"p\"\nsql = '''{TEST_SQL}'''\n")
}

/// Rows of one request: ids `first..first + ROWS_PER_REQUEST`.
fn body(first: u64) -> Vec<u8> {
    (first..first + ROWS_PER_REQUEST)
        .map(|id| format!("{id},r{id},0.5,true\n"))
        .collect::<String>()
        .into_bytes()
}

/// What one client thread did: the first id of every request it sent
/// (answered or not), and (token, first id) of those answered 200.
type Pushed = (Vec<u64>, Vec<(String, u64)>);

/// Push from `THREADS` connections until the server dies.
fn load(s: &Server, run: u64, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Pushed>> {
    (0..THREADS)
        .map(|k| {
            let (addr, stop) = (s.addr, stop.clone());
            std::thread::spawn(move || {
                let (mut tried, mut acked) = (Vec::new(), Vec::new());
                let Ok(mut c) = Client::try_connect(addr) else {
                    return (tried, acked);
                };
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let first = run * 100_000_000 + k * 1_000_000 + n * ROWS_PER_REQUEST;
                    let path = "/v0/pipelines/p/ingress/t1?format=csv";
                    tried.push(first);
                    match c.try_request("POST", path, &[], &body(first)) {
                        Ok(r) if r.status == 200 => {
                            acked.push((r.json()["token"].as_str().unwrap().to_string(), first))
                        }
                        _ => break,
                    }
                }
                (tried, acked)
            })
        })
        .collect()
}

#[test]
fn sigkill_loop_loses_no_completed_row_and_invents_none() {
    let dir = tempdir();
    let mut sent: HashSet<u64> = HashSet::new();
    let mut must_have: HashSet<u64> = HashSet::new();
    // Rows of tokens reported lost: one request is one batch, logged whole
    // or not at all, so none of them may be in the log.
    let mut must_not_have: HashSet<u64> = HashSet::new();
    let mut pending: Vec<(String, u64)> = Vec::new();
    let (mut complete, mut lost) = (0, 0);
    for run in 0..=KILLS {
        let s = Server::start_in(2, &config(), dir.clone(), false);
        // Tokens of the run killed before: complete means logged.
        let mut c = s.client();
        for (token, first) in pending.drain(..) {
            let r = c.get(&format!("/v0/pipelines/p/completion_status?token={token}"));
            match (r.status, r.json()["status"].as_str()) {
                (200, Some("complete")) => {
                    complete += 1;
                    must_have.extend(first..first + ROWS_PER_REQUEST);
                }
                (410, _) => {
                    lost += 1;
                    must_not_have.extend(first..first + ROWS_PER_REQUEST);
                }
                other => panic!(
                    "token {token}: {other:?} {}",
                    String::from_utf8_lossy(&r.body)
                ),
            }
        }
        if run == KILLS {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let threads = load(&s, run, stop.clone());
        std::thread::sleep(Duration::from_millis(100 + (run * 37) % 250));
        drop(s); // SIGKILL mid-load
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let (tried, acked) = t.join().unwrap();
            for first in tried {
                sent.extend(first..first + ROWS_PER_REQUEST);
            }
            pending.extend(acked);
        }
    }
    assert!(
        complete > 100,
        "{complete} complete tokens: the load did too little"
    );
    // Everything in the log, by id.
    let out = dir.join("t1.arrow");
    let export = common::export(&dir, "t1", &out);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let file = std::fs::File::open(&out).unwrap();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for batch in arrow_ipc::reader::FileReader::try_new(file, None).unwrap() {
        let batch = batch.unwrap();
        for id in batch.column(0).as_primitive::<Int64Type>().values() {
            *seen.entry(*id as u64).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "rows logged twice: {twice:?}");
    let invented: Vec<_> = seen
        .keys()
        .filter(|id| !sent.contains(id))
        .take(5)
        .collect();
    assert!(invented.is_empty(), "rows no client sent: {invented:?}");
    let missing: Vec<_> = must_have
        .iter()
        .filter(|id| !seen.contains_key(id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "rows of complete tokens missing: {missing:?}"
    );
    let wrongly_lost: Vec<_> = must_not_have
        .iter()
        .filter(|id| seen.contains_key(id))
        .take(5)
        .collect();
    assert!(
        wrongly_lost.is_empty(),
        "rows of tokens reported lost are logged: {wrongly_lost:?}"
    );
    eprintln!(
        "crash loop: {KILLS} kills, {complete} tokens complete, {lost} lost, {} rows logged",
        seen.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
