//! A request answered with `Connection: close` while more input follows it
//! on the connection (a pipelined request): the server must not close on
//! unread input, which resets the connection, and a reset can discard the
//! answer before the client reads it. It lingers, draining, so the client
//! reads the answer, then a clean end of stream, and its writes succeed.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use common::Server;

#[test]
fn a_closing_answer_with_a_pipelined_request_behind_it_ends_cleanly() {
    let s = Server::start(1, "");
    let row = "1,a,1.5,true\n";
    let mut burst = format!(
        "POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{row}",
        row.len()
    )
    .into_bytes();
    // More than the read buffer (256 KiB) takes, so some of it is still
    // in the kernel, unread, when the first answer is sent.
    let body = row.repeat(40_000);
    burst.extend_from_slice(
        format!(
            "POST /v0/pipelines/p/ingress/t1?format=csv HTTP/1.1\r\nHost: x\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let mut c = TcpStream::connect(s.addr).unwrap();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let sent = w.write_all(&burst);
        let _ = w.shutdown(Shutdown::Write);
        sent
    });
    let mut got = Vec::new();
    let end = c.read_to_end(&mut got);
    // A server that closed on the unread rest resets the connection, and
    // the client's write of it fails (on loopback the answer itself still
    // arrives, ahead of the reset; across a network it may not).
    let sent = writer.join().unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(
        end.is_ok(),
        "the connection was reset after the answer: {end:?}"
    );
    assert!(sent.is_ok(), "the server reset the connection: {sent:?}");
    // On loopback a reset may come after everything above succeeded; it
    // then waits as the socket's pending error.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let pending = c.take_error().unwrap();
    assert!(
        pending.is_none(),
        "the server reset the connection: {pending:?}"
    );
    // Only the first request was served.
    let mut cl = s.client();
    let t1 = common::table_stats(&mut cl, "p", "t1");
    assert_eq!(t1["total_records"], 1, "{t1}");
}
