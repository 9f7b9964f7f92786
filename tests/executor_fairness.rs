//! The patched executor looks for I/O completions while its task queue is
//! still busy (`vendor/glommio/SLUICE-PATCH.md`, change 5).
//!
//! A connection that yields between requests and finds its next one there
//! runs again without ever emptying the run queue. Upstream glommio polled
//! for I/O only once the queue was empty or its preemption timer fired
//! (100 ms by default), so a connection waiting on a readiness poll was not
//! woken for that long. Here one task yields in a loop, as such
//! connections do together, while another waits to read a socket whose
//! bytes arrive meanwhile. The reader must be woken within a few hundred
//! of the spinner's turns (the patch: at most 64 tasks between two polls),
//! not after the preemption timer: at ~100 ns a turn, 100 ms is about a
//! million turns. Counted in turns, not timed, so a slow machine cannot
//! fail it.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use futures_lite::AsyncReadExt;
use glommio::net::TcpListener;
use glommio::LocalExecutorBuilder;

/// Turns the spinner may take after the bytes were sent before the reader
/// has them. Generous: the patch allows about 64.
const TURNS_MAX: u64 = 5_000;
/// The spinner gives up here, well before the 100 ms timer could fire on a
/// fast machine (a failure then shows as `TURNS_GIVE_UP` turns).
const TURNS_GIVE_UP: u64 = 200_000;

#[test]
fn io_completions_are_seen_while_tasks_keep_yielding() {
    let ex = LocalExecutorBuilder::default()
        .make()
        .expect("an executor starts");
    let turns = ex.run(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let mut server = listener.accept().await.expect("accept");
        let got = Rc::new(Cell::new(false));
        let reader = glommio::spawn_local({
            let got = got.clone();
            async move {
                let mut buf = [0u8; 16];
                // Nothing to read yet: this arms a readiness poll and waits.
                let n = server.read(&mut buf).await.expect("read");
                assert_eq!(&buf[..n], b"ping");
                got.set(true);
            }
        });
        // Let the reader reach its wait before the bytes are sent.
        futures_lite::future::yield_now().await;
        assert!(!got.get(), "the reader had nothing to read yet");
        client.write_all(b"ping").expect("write");
        let mut turns = 0u64;
        while !got.get() && turns < TURNS_GIVE_UP {
            futures_lite::future::yield_now().await;
            turns += 1;
        }
        reader.await;
        turns
    });
    assert!(
        turns <= TURNS_MAX,
        "the reader was woken only after {turns} turns of a yielding task"
    );
}
