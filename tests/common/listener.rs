//! A change stream (`POST .../egress/{table}`) read through its chunked
//! framing, line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::Server;

/// A change stream, read line by line through its chunked framing.
pub struct Listener {
    r: BufReader<TcpStream>,
    /// Decoded payload not yet returned as lines.
    pending: Vec<u8>,
    pub status: u16,
    pub head: String,
}

impl Listener {
    pub fn open(s: &Server, query: &str) -> Listener {
        let mut stream = TcpStream::connect(s.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "POST /v0/pipelines/p/egress/{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(r.read_line(&mut line).unwrap() > 0, "closed in the head");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head[9..12].parse().unwrap();
        Listener {
            r,
            pending: Vec::new(),
            status,
            head,
        }
    }

    /// The next line as JSON; `None` at the end of the stream.
    pub fn line(&mut self) -> Option<Value> {
        loop {
            if let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=nl).collect();
                return Some(serde_json::from_slice(&line).expect("a JSON line"));
            }
            let mut size = String::new();
            if self.r.read_line(&mut size).ok()? == 0 {
                return None;
            }
            let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
            if n == 0 {
                return None;
            }
            let mut data = vec![0; n + 2];
            self.r.read_exact(&mut data).ok()?;
            assert_eq!(&data[n..], b"\r\n");
            self.pending.extend_from_slice(&data[..n]);
        }
    }

    /// Lines until one has data (skipping `processed_steps` markers).
    pub fn data(&mut self) -> Value {
        loop {
            let l = self.line().expect("the stream ended");
            if l.get("json_data").is_some() || l.get("text_data").is_some() {
                return l;
            }
        }
    }
}
