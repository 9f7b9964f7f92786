//! SIGKILL under load, 20 times over one data directory, with clients that
//! retry like the Python client does: every request carries an
//! `Idempotency-Key`, and a request that got no answer, or whose token the
//! next run reports lost, is sent again with the same key. At the end every
//! request has a complete token, and a replay of the table's log through
//! egress (`from=earliest`) holds each of its rows exactly once and no row
//! that no client sent.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::listener::Listener;
use common::{tempdir, wait_complete, Client, Server, TEST_SQL};

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

/// Send request `first` (its key is its first id); its token on a 200.
fn send(c: &mut Client, first: u64) -> Option<String> {
    let path = "/v0/pipelines/p/ingress/t1?format=csv";
    let key = first.to_string();
    match c.try_request("POST", path, &[("Idempotency-Key", &key)], &body(first)) {
        Ok(r) if r.status == 200 => Some(r.json()["token"].as_str()?.to_string()),
        _ => None,
    }
}

/// What one client thread did: every request it sent (answered or not),
/// and (token, first id) of those answered 200.
type Pushed = (Vec<u64>, Vec<(String, u64)>);

/// Push from `THREADS` connections until the server dies: first the
/// retries handed to each thread, then new requests.
fn load(
    s: &Server,
    run: u64,
    retries: Vec<u64>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Pushed>> {
    let mut shares: Vec<Vec<u64>> = vec![Vec::new(); THREADS as usize];
    for (i, first) in retries.into_iter().enumerate() {
        shares[i % THREADS as usize].push(first);
    }
    shares
        .into_iter()
        .zip(0..THREADS)
        .map(|(mut todo, k)| {
            let (addr, stop) = (s.addr, stop.clone());
            std::thread::spawn(move || {
                let (mut tried, mut acked) = (Vec::new(), Vec::new());
                let Ok(mut c) = Client::try_connect(addr) else {
                    return (tried, acked);
                };
                todo.reverse();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let new = run * 100_000_000 + k * 1_000_000 + n * ROWS_PER_REQUEST;
                    let first = todo.pop().unwrap_or(new);
                    tried.push(first);
                    match send(&mut c, first) {
                        Some(token) => acked.push((token, first)),
                        None => break,
                    }
                }
                (tried, acked)
            })
        })
        .collect()
}

#[test]
fn sigkill_loop_with_idempotent_retries_keeps_every_row_exactly_once() {
    let dir = tempdir();
    // Requests without a 200 yet, or whose token came back lost.
    let mut unacked: BTreeSet<u64> = BTreeSet::new();
    // Answered 200 in the run just killed: resolved by the next run.
    let mut pending: Vec<(String, u64)> = Vec::new();
    let mut done: BTreeSet<u64> = BTreeSet::new();
    let (mut complete, mut lost, mut retried) = (0, 0, 0);
    for run in 0..=KILLS {
        let s = Server::start_in(2, &config(), dir.clone(), false);
        let mut c = s.client();
        for (token, first) in pending.drain(..) {
            let r = c.get(&format!("/v0/pipelines/p/completion_status?token={token}"));
            match (r.status, r.json()["status"].as_str()) {
                (200, Some("complete")) => {
                    complete += 1;
                    done.insert(first);
                }
                (410, _) => {
                    lost += 1;
                    unacked.insert(first);
                }
                other => panic!(
                    "token {token}: {other:?} {}",
                    String::from_utf8_lossy(&r.body)
                ),
            }
        }
        if run == KILLS {
            // The last run lives: every request left is retried to the end.
            for first in std::mem::take(&mut unacked) {
                retried += 1;
                let token = send(&mut c, first).expect("a live server answers");
                wait_complete(&mut c, "p", &token);
                done.insert(first);
            }
            check_log(&s, &done);
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let retries: Vec<u64> = std::mem::take(&mut unacked).into_iter().collect();
        retried += retries.len();
        let threads = load(&s, run, retries, stop.clone());
        std::thread::sleep(Duration::from_millis(100 + (run * 37) % 250));
        drop(s); // SIGKILL mid-load
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let (tried, acked) = t.join().unwrap();
            unacked.extend(tried);
            for (token, first) in acked {
                unacked.remove(&first);
                pending.push((token, first));
            }
        }
    }
    assert!(
        complete > 100,
        "{complete} complete tokens: the load did too little"
    );
    eprintln!(
        "crash loop: {KILLS} kills, {} requests, {complete} tokens complete at restart, \
         {lost} lost, {retried} retries",
        done.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replay the table's log through egress: each row of every request
/// exactly once, nothing else.
fn check_log(s: &Server, done: &BTreeSet<u64>) {
    let want = done.len() * ROWS_PER_REQUEST as usize;
    // No more rows than that anywhere (recovered and applied this run).
    let t1 = common::table_stats(&mut s.client(), "p", "t1");
    assert_eq!(t1["applied_records"], want, "{t1}");
    let mut l = Listener::open(s, "t1?from=earliest&format=csv");
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut rows = 0;
    while rows < want {
        let text = l.data()["text_data"].as_str().unwrap().to_string();
        for line in text.lines() {
            let id: u64 = line.split(',').next().unwrap().parse().unwrap();
            *seen.entry(id).or_default() += 1;
            rows += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "rows logged twice: {twice:?}");
    let invented: Vec<_> = seen
        .keys()
        .filter(|id| !done.contains(&(*id - *id % ROWS_PER_REQUEST)))
        .take(5)
        .collect();
    assert!(invented.is_empty(), "rows no client sent: {invented:?}");
    let missing: Vec<_> = done
        .iter()
        .flat_map(|f| *f..*f + ROWS_PER_REQUEST)
        .filter(|id| !seen.contains_key(id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "rows of complete requests missing: {missing:?}"
    );
    assert_eq!(rows, want);
}
