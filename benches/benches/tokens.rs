//! Completion-token and watermark operations, in operations per second:
//! what one ingress answer (encode a token) and one `completion_status`
//! request (decode it, load its lane's watermark) cost, and what the owner
//! pays to publish a lane's position after applying a batch.
//!
//! Run: `cargo bench -p sluice-benches --bench tokens [-- --quick] [filter]`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sluice::token::{Lanes, Token};
use sluice_benches::{Bench, SplitMix64};

/// Operations per measured iteration, so one sample is long enough for the
/// clock (each operation is nanoseconds).
const OPS: u64 = 4096;
/// Lanes of one table: one per sending shard. 16 is a large server's shard
/// count; `total` walks all of them.
const LANES: usize = 16;
const TOKEN_CHARS: usize = 34;

fn main() {
    let mut bench = Bench::new();
    let mut rng = SplitMix64(7);
    let tokens: Vec<Token> = (0..OPS)
        .map(|_| Token {
            run_id: rng.next_u64(),
            pipeline_id: rng.next_u64() as u32,
            table: rng.below(16) as u16,
            lane: rng.below(LANES as u64) as u16,
            position: rng.below(1 << 40),
        })
        .collect();
    let texts: Vec<String> = tokens.iter().map(Token::encode).collect();
    for (t, s) in tokens.iter().zip(&texts) {
        assert_eq!(Token::decode(s), Ok(*t), "round trip");
    }
    let text_bytes = OPS * TOKEN_CHARS as u64;

    bench.run("token", "encode (String)", text_bytes, OPS, "ops", || {
        let mut n = 0;
        for t in &tokens {
            n += (black_box(t.encode()).len() == TOKEN_CHARS) as u64;
        }
        n
    });
    // The server's path: into a response buffer it reuses, no allocation.
    let mut out = Vec::with_capacity(TOKEN_CHARS * OPS as usize);
    bench.run(
        "token",
        "encode_into (reused buffer)",
        text_bytes,
        OPS,
        "ops",
        || {
            out.clear();
            for t in &tokens {
                t.encode_into(&mut out);
            }
            black_box(&out);
            (out.len() / TOKEN_CHARS) as u64
        },
    );
    bench.run("token", "decode", text_bytes, OPS, "ops", || {
        let mut n = 0;
        for s in &texts {
            n += black_box(Token::decode(black_box(s))).is_ok() as u64;
        }
        n
    });
    // Wrong length is refused before any base64 work; a right-length token
    // with a bad character costs a decode attempt. Both must stay cheap:
    // anyone can send them.
    let bad: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i % 2 == 0 {
                s[1..].to_string()
            } else {
                format!("{}*", &s[1..])
            }
        })
        .collect();
    bench.run("token", "decode malformed", 0, OPS, "ops", || {
        let mut n = 0;
        for s in &bad {
            n += black_box(Token::decode(black_box(s))).is_err() as u64;
        }
        n
    });

    let lanes = Lanes::new(LANES);
    let mut position = 0u64;
    bench.run(
        "lanes",
        "publish (owner, uncontended)",
        0,
        OPS,
        "ops",
        || {
            for i in 0..OPS {
                position += 1;
                lanes.publish(i as usize % LANES, position);
            }
            OPS
        },
    );
    bench.run(
        "lanes",
        "covers (reader, uncontended)",
        0,
        OPS,
        "ops",
        || {
            let mut n = 0;
            for t in &tokens {
                // Every position is below what was published: all covered.
                n += lanes.covers(usize::from(t.lane), black_box(t.position) % 1024) as u64;
            }
            n
        },
    );
    bench.run("lanes", "total (16 lanes)", 0, OPS, "ops", || {
        let mut n = 0;
        for _ in 0..OPS {
            n += (black_box(lanes.total()) > 0) as u64;
        }
        n
    });
    // completion_status end to end minus HTTP: decode the text, check the
    // watermark of its lane.
    bench.run(
        "completion",
        "decode + covers",
        text_bytes,
        OPS,
        "ops",
        || {
            let mut n = 0;
            for s in &texts {
                let t = Token::decode(black_box(s)).expect("valid");
                n += lanes.covers(usize::from(t.lane), t.position % 1024) as u64;
            }
            n
        },
    );

    // Readers while an owner on another thread keeps publishing: the
    // watermark's cache line moves between cores, as it does when another
    // shard answers completion_status during ingest. The stop flag bounds
    // the publisher to this case.
    let shared = Arc::new(Lanes::new(LANES));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut p = 1024u64;
            while !stop.load(Ordering::Relaxed) {
                p += 1;
                shared.publish(p as usize % LANES, p);
            }
        })
    };
    // Let every lane pass 1024 before measuring, so every read is covered.
    while shared.total() < 1024 * LANES as u64 {
        std::hint::spin_loop();
    }
    bench.run(
        "lanes",
        "covers (reader, owner publishing)",
        0,
        OPS,
        "ops",
        || {
            let mut n = 0;
            for t in &tokens {
                n += shared.covers(usize::from(t.lane), black_box(t.position) % 1024) as u64;
            }
            n
        },
    );
    stop.store(true, Ordering::Relaxed);
    publisher.join().expect("publisher thread");

    println!("## tokens: completion tokens and lane watermarks");
    println!();
    println!("- {OPS} operations per sample; tokens are {TOKEN_CHARS} characters (MB/s counts their text)");
    println!("- lanes: one table with {LANES} lanes, each on its own cache line; `publish` is a");
    println!("  Release store, `covers` an Acquire load; the last case reads while another");
    println!("  thread publishes (with 2 cores, it competes with the publisher for time)");
    bench.print_table();
}
