//! Throughput of the body decoders on 1 MiB bodies of the `bench` table,
//! fed in 64 KiB chunks; one decoder reused (reset) across bodies.
//! `cargo run --release --example decode_speed [cpu-seconds] [csv|json|small|types]`
//! (`types`: CSV of ten columns of one SQL type at a time, ns per field,
//! to see where conversion time goes; `file PATH`: one body read from PATH,
//! CSV or JSON by its extension, e.g. a body `sluice-load --dump-bodies` wrote,
//! to compare the decoder alone with the server on the harness's rows.)
//! Times are CPU time of the thread. `DECODE_SQL` replaces the table.
//! Instructions, noise-free: `valgrind --tool=callgrind
//! --toggle-collect='decode_speed::warm_body' ... decode_speed 0 file BODY`
//! (a body on a warm decoder; `decode_speed::speed` counts the first).

use std::sync::Arc;
use std::time::Duration;

/// CPU time of this thread (the machine is shared: wall time is noisy).
struct Instant(Duration);

impl Instant {
    fn now() -> Instant {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Instant(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
    fn elapsed(&self) -> Duration {
        Instant::now().0 - self.0
    }
}

use sluice::decode::*;
use sluice::table::{parse_program, Table};

const SQL: &str = "CREATE TABLE bench (c0 BIGINT, c1 VARCHAR, c2 DOUBLE, c3 BOOLEAN, \
    c4 DATE, c5 TIMESTAMP, c6 INT, c7 DECIMAL(10, 2), c8 VARCHAR, c9 SMALLINT)";

fn bodies() -> (Vec<u8>, Vec<u8>) {
    let (mut csv, mut json) = (Vec::new(), Vec::new());
    let mut i: u64 = 0;
    while csv.len() < 1 << 20 || json.len() < 1 << 20 {
        let (c0, c2, c3) = (
            i * 7919 % 1_000_003,
            (i % 977) as f64 * 1.25,
            i.is_multiple_of(3),
        );
        let (d, s, c6, c9) = (1 + i % 28, i % 60, i % 100_000, i % 300);
        let c1 = format!("name {}", i % 5000);
        let c7 = format!("{}.{:02}", i % 10_000, i % 100);
        let c4 = format!("2026-01-{d:02}");
        let c5 = format!("2026-01-{d:02} 10:{:02}:{s:02}", i % 60);
        if csv.len() < 1 << 20 {
            // A third of the rows quote a field with a comma in it, as
            // sluice-load's generated rows do.
            let c1 = if i.is_multiple_of(3) {
                format!("\"{c1}, q\"")
            } else {
                c1.clone()
            };
            csv.extend(format!("{c0},{c1},{c2},{c3},{c4},{c5},{c6},{c7},x{i},{c9}\n").as_bytes());
        }
        if json.len() < 1 << 20 {
            json.extend(format!(
                "{{\"c0\":{c0},\"c1\":\"{c1}\",\"c2\":{c2},\"c3\":{c3},\"c4\":\"{c4}\",\"c5\":\"{c5}\",\"c6\":{c6},\"c7\":{c7},\"c8\":\"x{i}\",\"c9\":{c9}}}\n"
            ).as_bytes());
        }
        i += 1;
    }
    (csv, json)
}

fn opts(format: Format) -> DecodeOptions {
    DecodeOptions {
        format,
        update_format: UpdateFormat::Raw,
        array: false,
        batch_rows: 8192,
        batch_bytes: 1 << 20,
        record_bytes_max: 16 << 20,
        json_depth_max: 128,
        json_flavor: JsonFlavor::Default,
        csv: CsvOptions::default(),
    }
}

fn run(d: &mut dyn Decoder, body: &[u8]) -> usize {
    let mut rows = 0;
    for chunk in body.chunks(64 << 10) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = d.decode(rest);
            rest = &rest[n..];
            if d.batch_full() {
                rows += d.flush().map_or(0, |b| b.num_rows());
            }
        }
    }
    rows += d.finish().map_or(0, |b| b.num_rows());
    assert!(d.errors().is_empty(), "{:?}", d.errors().listed.first());
    rows
}

/// Returns the decoder, warm, for `warm_body`.
fn speed(name: &str, t: &Arc<Table>, format: Format, body: &[u8], secs: f64) -> Box<dyn Decoder> {
    let mut d = new_decoder(t.clone(), opts(format));
    let rows = run(&mut *d, body);
    let (mut n, start) = (0u32, Instant::now());
    while start.elapsed() < Duration::from_secs_f64(secs) {
        d.reset();
        run(&mut *d, body);
        n += 1;
    }
    let mbs = body.len() as f64 * n as f64 / start.elapsed().as_secs_f64() / 1e6;
    println!(
        "{name}: {mbs:.0} MB/s ({rows} rows/body, {} bytes)",
        body.len()
    );
    d
}

/// With 0 seconds, one more body on the warm decoder, for callgrind:
/// `--toggle-collect='decode_speed::warm_body'` counts a steady-state body,
/// `decode_speed::speed` the first one, whose buffers grow from empty.
#[inline(never)]
fn warm_body(mut d: Box<dyn Decoder>, body: &[u8], secs: f64) {
    if secs == 0.0 {
        d.reset();
        run(&mut *d, body);
    }
}

fn small(t: &Arc<Table>) {
    let line = b"1,abc,1.5,true,2026-01-01,2026-01-01 10:00:00,3,12.50,x,7\n";
    let mut d = new_decoder(t.clone(), opts(Format::Csv));
    let n = 200_000;
    let start = Instant::now();
    for _ in 0..n {
        d.reset();
        d.decode(line);
        assert_eq!(d.finish().map(|b| b.num_rows()), Some(1));
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("one-row CSV request (reset+decode+finish incl. batch seal): {ns:.0} ns");
    let start = Instant::now();
    for _ in 0..n {
        d.reset();
        d.decode(line);
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("one-row CSV request, reset+decode only (no batch seal): {ns:.0} ns");
    let mut d = new_decoder(t.clone(), opts(Format::Json));
    let line = br#"{"c0":1,"c1":"abc","c2":1.5,"c3":true,"c4":"2026-01-01","c5":"2026-01-01 10:00:00","c6":3,"c7":12.50,"c8":"x","c9":7}
"#;
    let start = Instant::now();
    for _ in 0..n {
        d.reset();
        d.decode(line);
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("one-row JSON request, reset+decode only: {ns:.0} ns");
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(new_decoder(t.clone(), opts(Format::Csv)));
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("new CSV decoder: {ns:.0} ns");
}

/// CSV of ten columns of one type: nanoseconds per field, per type.
fn types(secs: f64, only: Option<String>) {
    type Gen = fn(u64) -> String;
    let cases: [(&str, Gen); 8] = [
        ("BIGINT", |i| (i * 7919 % 1_000_003).to_string()),
        ("SMALLINT", |i| (i % 300).to_string()),
        ("DOUBLE", |i| format!("{}", (i % 977) as f64 * 1.25)),
        ("BOOLEAN", |i| (i % 3 == 0).to_string()),
        ("VARCHAR", |i| format!("name {}", i % 5000)),
        ("DATE", |i| format!("2026-01-{:02}", 1 + i % 28)),
        ("TIMESTAMP", |i| {
            format!("2026-01-{:02} 10:{:02}:{:02}", 1 + i % 28, i % 60, i % 59)
        }),
        ("DECIMAL(10, 2)", |i| {
            format!("{}.{:02}", i % 10_000, i % 100)
        }),
    ];
    for (ty, gen) in cases {
        if only.as_ref().is_some_and(|o| !ty.starts_with(o.as_str())) {
            continue;
        }
        let cols: Vec<String> = (0..10).map(|c| format!("c{c} {ty}")).collect();
        let sql = format!("CREATE TABLE t ({})", cols.join(", "));
        let t = Arc::new(parse_program(&sql).unwrap().remove(0));
        let mut body = Vec::new();
        let mut i = 0u64;
        while body.len() < 1 << 20 {
            let row: Vec<String> = (0..10).map(|c| gen(i * 10 + c)).collect();
            body.extend(row.join(",").as_bytes());
            body.push(b'\n');
            i += 1;
        }
        let mut d = new_decoder(t.clone(), opts(Format::Csv));
        let (mut n, start) = (0u64, Instant::now());
        // At least once: `secs = 0` gives one body (for callgrind).
        loop {
            d.reset();
            run(&mut *d, &body);
            n += 1;
            if start.elapsed() >= Duration::from_secs_f64(secs) {
                break;
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / (n * i * 10) as f64;
        let mbs = body.len() as f64 * n as f64 / start.elapsed().as_secs_f64() / 1e6;
        println!(
            "{ty:>15}: {ns:5.1} ns/field, {mbs:5.0} MB/s ({} fields)",
            n * i * 10
        );
    }
}

fn main() {
    let secs = std::env::args().nth(1).map_or(1.0, |s| s.parse().unwrap());
    // DECODE_SQL: another table for the same bodies, e.g. one column made
    // VARCHAR to see what parsing that column costs.
    let sql = std::env::var("DECODE_SQL").unwrap_or_else(|_| SQL.to_string());
    let t = Arc::new(parse_program(&sql).unwrap().remove(0));
    let which = std::env::args().nth(2).unwrap_or_default();
    let (csv, json) = bodies();
    if which.is_empty() || which == "csv" {
        warm_body(speed("CSV", &t, Format::Csv, &csv, secs), &csv, secs);
    }
    if which.is_empty() || which == "json" {
        warm_body(speed("JSON", &t, Format::Json, &json, secs), &json, secs);
    }
    if which.is_empty() || which == "small" {
        small(&t);
    }
    if which == "file" {
        let path = std::env::args().nth(3).expect("file PATH");
        let body = std::fs::read(&path).unwrap();
        let format = if path.ends_with(".json") {
            Format::Json
        } else {
            Format::Csv
        };
        warm_body(speed(&path, &t, format, &body, secs), &body, secs);
    }
    if which == "types" {
        types(secs, std::env::args().nth(3));
    }
}
