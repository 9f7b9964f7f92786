//! Body decoding throughput: sluice's CSV/JSON decoders against arrow-csv,
//! arrow-json (same bytes, same Arrow schema) and, for JSON, serde_json
//! parsing each line into a `Value` (a reference point: no Arrow at all).
//!
//! Bodies are ~1 MiB of deterministic rows, fed in 64 KiB chunks as the
//! server reads them, decoded into 8192-row batches.
//!
//! Run: `cargo bench -p sluice-benches --bench decode [-- --quick] [filter]`.

use std::sync::Arc;

use arrow_schema::SchemaRef;
use sluice::decode::{new_decoder, CsvOptions, DecodeOptions, Format, JsonFlavor, UpdateFormat};
use sluice::table::{parse_program, Table};
use sluice_benches::{Bench, SplitMix64};

const BODY_BYTES: usize = 1 << 20;
const CHUNK_BYTES: usize = 64 * 1024;
const BATCH_ROWS: usize = 8192;

/// The "bench" table of the server's default config, and a narrower one.
const PROGRAM: &str = "
CREATE TABLE bench (
    c0 BIGINT, c1 VARCHAR, c2 DOUBLE, c3 BOOLEAN, c4 DATE,
    c5 TIMESTAMP, c6 INT, c7 DECIMAL(10, 2), c8 VARCHAR, c9 SMALLINT
);
CREATE TABLE narrow (a BIGINT, b INT, c DOUBLE, d VARCHAR, e DATE, f BOOLEAN);
";

/// One row's field texts, as they appear in CSV; JSON quotes the strings.
struct Field {
    text: String,
    quoted_in_json: bool,
}

fn date(rng: &mut SplitMix64) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        rng.range(1990, 2030),
        rng.range(1, 12),
        rng.range(1, 28)
    )
}

fn float(rng: &mut SplitMix64) -> String {
    let v = rng.range(-10_000_000, 10_000_000);
    format!("{}.{:03}", v / 1000, v.unsigned_abs() % 1000)
}

fn word(rng: &mut SplitMix64, lo: usize, hi: usize) -> String {
    let mut s = String::new();
    rng.word(lo, hi, &mut s);
    s
}

fn row_bench(rng: &mut SplitMix64) -> Vec<Field> {
    let num = |text: String| Field {
        text,
        quoted_in_json: false,
    };
    let string = |text: String| Field {
        text,
        quoted_in_json: true,
    };
    let c7 = rng.range(-9_999_999, 9_999_999);
    let c5 = format!(
        "{} {:02}:{:02}:{:02}",
        date(rng),
        rng.range(0, 23),
        rng.range(0, 59),
        rng.range(0, 59)
    );
    vec![
        num(rng.range(-1_000_000_000, 1_000_000_000).to_string()),
        string(word(rng, 4, 12)),
        num(float(rng)),
        num(if rng.below(2) == 0 { "true" } else { "false" }.into()),
        string(date(rng)),
        string(c5),
        num(rng.range(-100_000, 100_000).to_string()),
        num(format!(
            "{}{}.{:02}",
            if c7 < 0 { "-" } else { "" },
            c7.unsigned_abs() / 100,
            c7.unsigned_abs() % 100
        )),
        string(word(rng, 2, 8)),
        num(rng.range(-1000, 1000).to_string()),
    ]
}

fn row_narrow(rng: &mut SplitMix64) -> Vec<Field> {
    let num = |text: String| Field {
        text,
        quoted_in_json: false,
    };
    vec![
        num(rng.range(0, 1_000_000_000_000).to_string()),
        num(rng.range(-1_000_000, 1_000_000).to_string()),
        num(float(rng)),
        Field {
            text: word(rng, 4, 14),
            quoted_in_json: true,
        },
        Field {
            text: date(rng),
            quoted_in_json: true,
        },
        num(if rng.below(2) == 0 { "true" } else { "false" }.into()),
    ]
}

/// Rows of `table` until the body would pass `BODY_BYTES`; returns the
/// body and its row count.
fn body(table: &Table, format: Format, seed: u64) -> (Vec<u8>, u64) {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(BODY_BYTES);
    let mut rows = 0;
    let mut line = String::new();
    loop {
        let fields = match table.ident.canonical.as_str() {
            "bench" => row_bench(&mut rng),
            _ => row_narrow(&mut rng),
        };
        line.clear();
        match format {
            Format::Csv => {
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(&f.text);
                }
            }
            Format::Json => {
                line.push('{');
                for (i, (f, c)) in fields.iter().zip(&table.columns).enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push('"');
                    line.push_str(&c.ident.name);
                    line.push_str("\":");
                    if f.quoted_in_json {
                        line.push('"');
                        line.push_str(&f.text);
                        line.push('"');
                    } else {
                        line.push_str(&f.text);
                    }
                }
                line.push('}');
            }
        }
        line.push('\n');
        if out.len() + line.len() > BODY_BYTES {
            return (out, rows);
        }
        out.extend_from_slice(line.as_bytes());
        rows += 1;
    }
}

fn options(format: Format) -> DecodeOptions {
    DecodeOptions {
        format,
        update_format: UpdateFormat::Raw,
        array: false,
        batch_rows: BATCH_ROWS,
        batch_bytes: 1 << 20,
        record_bytes_max: 16 << 20,
        json_depth_max: 128,
        json_flavor: JsonFlavor::Default,
        csv: CsvOptions::default(),
    }
}

/// As the server drives a decoder: 64 KiB chunks, flush whenever the batch
/// is full, `finish` at the end of the body.
fn sluice_decode(table: &Arc<Table>, opts: &DecodeOptions, body: &[u8]) -> u64 {
    let mut dec = new_decoder(table.clone(), opts.clone());
    let mut rows = 0;
    for chunk in body.chunks(CHUNK_BYTES) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = dec.decode(rest);
            rest = &rest[n..];
            if dec.batch_full() {
                if let Some(b) = dec.flush() {
                    rows += b.num_rows() as u64;
                }
            } else {
                assert!(rest.is_empty(), "decoder stalled without a full batch");
            }
        }
    }
    if let Some(b) = dec.finish() {
        rows += b.num_rows() as u64;
    }
    let errors = dec.errors();
    assert!(
        errors.total == 0 && !errors.fatal,
        "sluice reported errors: {:?}",
        errors.listed.first()
    );
    rows
}

fn arrow_csv_decode(schema: &SchemaRef, body: &[u8]) -> u64 {
    let mut dec = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build_decoder();
    let mut rows = 0;
    for chunk in body.chunks(CHUNK_BYTES) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = dec.decode(rest).expect("arrow-csv decode");
            rest = &rest[n..];
            if dec.capacity() == 0 {
                if let Some(b) = dec.flush().expect("arrow-csv flush") {
                    rows += b.num_rows() as u64;
                }
            }
        }
    }
    // An empty buffer ends the last record.
    dec.decode(&[]).expect("arrow-csv end");
    if let Some(b) = dec.flush().expect("arrow-csv flush") {
        rows += b.num_rows() as u64;
    }
    rows
}

fn arrow_json_decode(schema: &SchemaRef, body: &[u8]) -> u64 {
    let mut dec = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(BATCH_ROWS)
        .build_decoder()
        .expect("arrow-json decoder");
    let mut rows = 0;
    for chunk in body.chunks(CHUNK_BYTES) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = dec.decode(rest).expect("arrow-json decode");
            rest = &rest[n..];
            // It stops short only when the batch is full.
            if !rest.is_empty() {
                if let Some(b) = dec.flush().expect("arrow-json flush") {
                    rows += b.num_rows() as u64;
                }
            }
        }
    }
    if let Some(b) = dec.flush().expect("arrow-json flush") {
        rows += b.num_rows() as u64;
    }
    rows
}

fn serde_json_lines(body: &[u8]) -> u64 {
    let mut rows = 0;
    for line in body.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line).expect("serde_json");
        std::hint::black_box(&v);
        rows += 1;
    }
    rows
}

fn main() {
    let tables: Vec<Arc<Table>> = parse_program(PROGRAM)
        .expect("bench program")
        .into_iter()
        .map(Arc::new)
        .collect();
    let mut bench = Bench::new();
    let mut ratios = Vec::new();
    let mut shapes = Vec::new();
    for format in [Format::Json, Format::Csv] {
        for table in &tables {
            let fmt = match format {
                Format::Csv => "csv",
                Format::Json => "json",
            };
            let group = format!("{fmt}/{}", table.ident.name);
            let (body, rows) = body(table, format, 0x5eed ^ table.columns.len() as u64);
            let bytes = body.len() as u64;
            // SLUICE_BENCH_DUMP=DIR writes each body out, for profiling the
            // decoder alone on it (`decode_speed 0 file DIR/csv-bench.csv`).
            if let Ok(dir) = std::env::var("SLUICE_BENCH_DUMP") {
                let path = format!("{dir}/{fmt}-{}.{fmt}", table.ident.name);
                std::fs::write(&path, &body).expect("SLUICE_BENCH_DUMP: write a body");
            }
            shapes.push(format!(
                "{group}: {rows} rows, {bytes} bytes, {:.1} bytes/row",
                bytes as f64 / rows as f64
            ));
            let opts = options(format);
            let schema = table.schema.clone();
            bench.run(&group, "sluice", bytes, rows, "rows", || {
                sluice_decode(table, &opts, &body)
            });
            let baseline = match format {
                Format::Csv => {
                    bench.run(&group, "arrow-csv", bytes, rows, "rows", || {
                        arrow_csv_decode(&schema, &body)
                    });
                    "arrow-csv"
                }
                Format::Json => {
                    bench.run(&group, "arrow-json", bytes, rows, "rows", || {
                        arrow_json_decode(&schema, &body)
                    });
                    bench.run(&group, "serde_json Value/line", bytes, rows, "rows", || {
                        serde_json_lines(&body)
                    });
                    "arrow-json"
                }
            };
            if let (Some(s), Some(a)) = (bench.get(&group, "sluice"), bench.get(&group, baseline)) {
                ratios.push(format!(
                    "| {group} | {baseline} | {:.2} | {:.2} |",
                    a.median() / s.median(),
                    a.best() / s.best()
                ));
            }
        }
    }
    println!("## decode: 1 MiB bodies, 64 KiB chunks, {BATCH_ROWS}-row batches");
    println!();
    for s in &shapes {
        println!("- {s}");
    }
    bench.print_table();
    if !ratios.is_empty() {
        println!();
        println!("| case | baseline | sluice/baseline throughput (median) | (best) |");
        println!("|---|---|---:|---:|");
        for r in &ratios {
            println!("{r}");
        }
    }
}
