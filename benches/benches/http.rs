//! HTTP framing and token throughput: request-head parsing, chunked body
//! decoding, completion-token encode/decode.
//!
//! Run: `cargo bench -p sluice-benches --bench http [-- --quick] [filter]`.

use std::hint::black_box;

use sluice::http::body::BodyDecoder;
use sluice::http::head::{parse, Framing, HeadLimits, Method};
use sluice::token::Token;
use sluice_benches::{Bench, SplitMix64};

/// Operations per measured iteration for the small cases, so that one
/// sample is long enough for the clock.
const OPS: u64 = 1000;
const BODY_BYTES: usize = 1 << 20;
const READ_BYTES: usize = 64 * 1024;

/// A typical ingress request head (~200 bytes).
const HEAD: &[u8] =
    b"POST /v0/pipelines/default/ingress/bench?format=json&update_format=raw HTTP/1.1\r\n\
Host: localhost:8080\r\n\
Content-Length: 1048576\r\n\
Authorization: Bearer dGVzdC10b2tlbi1mb3ItYmVuY2g\r\n\
Content-Type: application/json\r\n\
\r\n";

/// `payload` in chunked transfer coding, `chunk` bytes per chunk.
fn chunked(payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / chunk * 12 + 16);
    for c in payload.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Decode a chunked body read `READ_BYTES` at a time; returns the number of
/// payload ranges handed out (one per chunk, more where a chunk straddles a
/// read). The payload is not touched: the decoder returns ranges, not
/// copies, so this measures the framing work only.
fn dechunk(wire: &[u8]) -> u64 {
    let mut dec = BodyDecoder::new(Framing::Chunked);
    let mut payload = 0u64;
    let mut ranges = 0u64;
    for read in wire.chunks(READ_BYTES) {
        let mut rest = read;
        while !rest.is_empty() && !dec.is_done() {
            let p = dec.decode(rest).expect("chunked body");
            black_box(&rest[p.data.clone()]);
            payload += p.data.len() as u64;
            ranges += !p.data.is_empty() as u64;
            rest = &rest[p.consumed..];
        }
    }
    assert!(dec.is_done());
    assert_eq!(payload, BODY_BYTES as u64);
    ranges
}

fn main() {
    let mut bench = Bench::new();
    let limits = HeadLimits::default();

    let head = parse(HEAD, &limits).expect("head").expect("complete head");
    assert_eq!(head.method, Method::Post);
    assert_eq!(head.framing, Framing::Length(1 << 20));
    assert!(head.authorization.is_some() && head.content_type.is_some());
    bench.run(
        "head parse",
        &format!("{} B head", HEAD.len()),
        HEAD.len() as u64 * OPS,
        OPS,
        "heads",
        || {
            let mut n = 0;
            for _ in 0..OPS {
                let h = parse(black_box(HEAD), &limits).unwrap().unwrap();
                n += (black_box(h).len == HEAD.len()) as u64;
            }
            n
        },
    );

    let mut rng = SplitMix64(42);
    let payload: Vec<u8> = (0..BODY_BYTES).map(|_| rng.next_u64() as u8).collect();
    for chunk in [64 * 1024, 4 * 1024] {
        let wire = chunked(&payload, chunk);
        let ranges = dechunk(&wire);
        bench.run(
            "chunked body 1 MiB, 64 KiB reads",
            &format!("{} KiB chunks", chunk / 1024),
            wire.len() as u64,
            ranges,
            "ranges",
            || dechunk(&wire),
        );
    }

    let tokens: Vec<Token> = (0..OPS)
        .map(|_| Token {
            run_id: rng.next_u64(),
            pipeline_id: rng.next_u64() as u32,
            table: rng.below(16) as u16,
            lane: rng.below(64) as u16,
            position: rng.below(1 << 40),
        })
        .collect();
    let texts: Vec<String> = tokens.iter().map(Token::encode).collect();
    for (t, s) in tokens.iter().zip(&texts) {
        assert_eq!(Token::decode(s), Ok(*t));
    }
    let text_bytes: u64 = texts.iter().map(|s| s.len() as u64).sum();
    bench.run("token", "encode", text_bytes, OPS, "ops", || {
        let mut n = 0;
        for t in &tokens {
            n += (black_box(t.encode()).len() == 34) as u64;
        }
        n
    });
    bench.run("token", "decode", text_bytes, OPS, "ops", || {
        let mut n = 0;
        for s in &texts {
            n += black_box(Token::decode(black_box(s))).is_ok() as u64;
        }
        n
    });

    println!("## http: head parsing, chunked bodies, completion tokens");
    println!();
    println!("- head: {} bytes, {OPS} parses per sample", HEAD.len());
    println!("- chunked: MB/s counts wire bytes; the decoder hands out payload ranges without");
    println!("  touching the payload, so this is framing cost only (ranges = chunks + straddles)");
    println!("- tokens: {OPS} per sample, 34 characters each");
    bench.print_table();
}
