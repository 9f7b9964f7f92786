//! A pending I/O operation polled again and again by one task keeps one
//! waker for it (`vendor/glommio/SLUICE-PATCH.md`, change 6).
//!
//! A shard's accept loop races `accept` against a 10 ms stop check, so the
//! same pending accept is polled at every tick. Upstream glommio pushed a
//! clone of the task's waker onto the operation's list at every poll; each
//! clone holds a reference to the task, counted in an i16, and the 32,768th
//! panicked the shard ("Waker invariant broken"): 5.5 minutes after the
//! last new connection (a server left idle died at 336 s). Here one task
//! polls a pending accept more often than that, then a client connects and
//! the same accept must complete.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use glommio::net::TcpListener;
use glommio::LocalExecutorBuilder;

/// Polls of the pending accept: past the 32,767 references a task can hold.
const POLLS: u32 = 40_000;

#[test]
fn a_pending_accept_polled_many_times_keeps_one_waker() {
    let ex = LocalExecutorBuilder::default()
        .make()
        .expect("an executor starts");
    ex.run(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let mut accept = pin!(listener.accept());
        for poll in 0..POLLS {
            let pending =
                std::future::poll_fn(|cx| Poll::Ready(accept.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "accepted with no client, at poll {poll}");
        }
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let stream = accept.await.expect("the same accept completes");
        assert_eq!(
            stream.peer_addr().expect("peer address"),
            client.local_addr().expect("client address")
        );
    });
}

/// The same for a full shared channel (the mesh between shards): a send that
/// the backpressure wait gives up on leaves its waker in the channel's list,
/// and the task's next send must not add another. Here one task starts and
/// drops a send on a full channel more times than a task can be referenced,
/// then the channel drains and takes the next send.
#[test]
fn sends_given_up_on_a_full_shared_channel_keep_one_waker() {
    let (tx, rx) = glommio::channels::shared_channel::new_bounded::<u32>(1);
    let ex = LocalExecutorBuilder::default()
        .make()
        .expect("an executor starts");
    ex.run(async {
        let rx = glommio::spawn_local(rx.connect());
        let tx = tx.connect().await;
        let rx = rx.await;
        tx.try_send(0).expect("room for one");
        for poll in 0..POLLS {
            let mut send = pin!(tx.send(1));
            let pending =
                std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "sent into a full channel, at poll {poll}");
        }
        assert_eq!(rx.recv().await, Some(0));
        tx.send(2).await.expect("room again");
        assert_eq!(rx.recv().await, Some(2));
    });
}
