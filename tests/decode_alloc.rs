//! Steady-state decoding does not allocate per record: counted with a
//! global allocator (this file holds one test, which runs the checks in
//! turn, so nothing else allocates concurrently).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sluice::decode::*;
use sluice::table::*;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only
// counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn table() -> Arc<Table> {
    let col = |n: &str, t| Column {
        ident: Ident::new(n, false),
        sql_type: t,
        nullable: true,
        default: None,
    };
    Arc::new(Table::new(
        Ident::new("t", false),
        vec![
            col("a", SqlType::Int),
            col("b", SqlType::Varchar(None)),
            col("c", SqlType::Double),
            col(
                "d",
                SqlType::Decimal {
                    precision: 10,
                    scale: 2,
                },
            ),
            col("e", SqlType::Timestamp),
        ],
        vec![],
    ))
}

/// Allocations while decoding `body` in 4 KiB chunks, batches of 1000.
fn allocations(format: Format, body: &[u8]) -> usize {
    let opts = DecodeOptions {
        format,
        update_format: UpdateFormat::Raw,
        array: false,
        batch_rows: 1000,
        batch_bytes: 1 << 24,
        record_bytes_max: 1 << 16,
        json_depth_max: 32,
        json_flavor: JsonFlavor::Default,
        csv: CsvOptions::default(),
    };
    let mut d = new_decoder(table(), opts);
    let mut batches = 0;
    let before = ALLOCS.load(Ordering::Relaxed);
    for chunk in body.chunks(4096) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = d.decode(rest);
            rest = &rest[n..];
            if d.batch_full() {
                // Dropped at once: the batch's own buffers are not counted
                // as the decoder's, but they were allocated by it.
                batches += usize::from(d.flush().is_some());
            }
        }
    }
    batches += usize::from(d.finish().is_some());
    assert_eq!(batches, 20);
    assert!(d.errors().is_empty());
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn decoder_allocations() {
    no_allocation_per_record();
    reset_and_small_body_do_not_allocate();
}

fn no_allocation_per_record() {
    let rows = 20_000;
    let mut csv = Vec::new();
    let mut json = Vec::new();
    for i in 0..rows {
        let line = format!(
            "{i},name {i},{i}.5,{}.25,2024-01-01 00:00:{:02}\n",
            i % 1000,
            i % 60
        );
        csv.extend_from_slice(line.as_bytes());
        let v = format!(
            "{{\"a\": {i}, \"b\": \"name {i}\", \"c\": {i}.5, \"d\": {}.25, \"e\": \"2024-01-01 00:00:{:02}\"}}\n",
            i % 1000,
            i % 60
        );
        json.extend_from_slice(v.as_bytes());
    }
    // Per batch: a few buffers per column (values, validity, the arrays
    // and the RecordBatch), nothing per row.
    let csv_allocs = allocations(Format::Csv, &csv);
    assert!(csv_allocs < rows / 20, "CSV: {csv_allocs} allocations");
    let json_allocs = allocations(Format::Json, &json);
    eprintln!("allocations for {rows} rows: CSV {csv_allocs}, JSON {json_allocs}");
    assert!(json_allocs < rows / 20, "JSON: {json_allocs} allocations");
}

/// A reused decoder serves small requests without allocating: after
/// warm-up, `reset` + `decode` of a one-row body allocates nothing, and
/// sealing its batch allocates only the exact-size arrays handed out.
fn reset_and_small_body_do_not_allocate() {
    for format in [Format::Csv, Format::Json] {
        let opts = DecodeOptions {
            format,
            update_format: UpdateFormat::Raw,
            array: false,
            batch_rows: 8192,
            batch_bytes: 1 << 20,
            record_bytes_max: 1 << 20,
            json_depth_max: 32,
            json_flavor: JsonFlavor::Default,
            csv: CsvOptions::default(),
        };
        let body: &[u8] = match format {
            Format::Csv => b"1,abc,1.5,12.50,2026-01-01 10:00:00\n",
            Format::Json => {
                b"{\"a\": 1, \"b\": \"abc\", \"c\": 1.5, \"d\": 12.50, \"e\": \"2026-01-01 10:00:00\"}\n"
            }
        };
        let mut d = new_decoder(table(), opts);
        let cycle = |d: &mut Box<dyn Decoder>| {
            d.reset();
            assert_eq!(d.decode(body), body.len());
            assert!(d.errors().is_empty());
        };
        for _ in 0..3 {
            cycle(&mut d);
            assert_eq!(d.finish().map(|b| b.num_rows()), Some(1));
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..1000 {
            cycle(&mut d);
        }
        let decode_allocs = ALLOCS.load(Ordering::Relaxed) - before;
        assert_eq!(decode_allocs, 0, "{format:?}: reset + decode allocated");
        let before = ALLOCS.load(Ordering::Relaxed);
        let batch = d.finish();
        let seal_allocs = ALLOCS.load(Ordering::Relaxed) - before;
        drop(batch);
        eprintln!("{format:?}: sealing a one-row batch: {seal_allocs} allocations");
        // Per column about three (values, Arc'd array, buffer headers),
        // plus the RecordBatch: nothing proportional to reserved capacity.
        assert!(seal_allocs <= 40, "{format:?}: {seal_allocs} allocations");
    }
}
