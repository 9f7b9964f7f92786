//! Shared by the decoder tests: building tables and driving a decoder the
//! way the connection loop does.

#![allow(dead_code)]

use std::sync::Arc;

use sluice::decode::*;
use sluice::table::*;

/// The decoder tests' options: raw rows, small limits (1024 rows, 1 MiB
/// per batch, 64 KiB per record, depth 8); tests change fields with
/// struct update syntax.
pub fn options(format: Format) -> DecodeOptions {
    DecodeOptions {
        format,
        update_format: UpdateFormat::Raw,
        array: false,
        batch_rows: 1024,
        batch_bytes: 1 << 20,
        record_bytes_max: 1 << 16,
        json_depth_max: 8,
        json_flavor: JsonFlavor::Default,
        csv: CsvOptions::default(),
    }
}

/// A column; a name written `"Like This"` is a quoted identifier.
pub fn col(name: &str, t: SqlType, nullable: bool, default: Option<&str>) -> Column {
    let (name, quoted) = unquote(name);
    Column {
        ident: Ident::new(name, quoted),
        sql_type: t,
        nullable,
        default: default.map(|d| DefaultValue::Text(d.into())),
    }
}

pub fn table(cols: Vec<Column>) -> Arc<Table> {
    Arc::new(Table::new(Ident::new("t", false), cols, vec![]))
}

pub struct Out {
    pub batches: Vec<ChangeBatch>,
    pub errors: ParseErrors,
    pub records: u64,
}

/// Drive a decoder the way the connection loop does: feed each chunk until
/// consumed, flushing whenever the batch is full.
pub fn run_chunks(t: &Arc<Table>, o: &DecodeOptions, chunks: &[&[u8]]) -> Out {
    let mut d = new_decoder(t.clone(), o.clone());
    run_on(&mut *d, chunks)
}

/// `run_chunks` with a given (possibly reused) decoder.
pub fn run_on(d: &mut dyn Decoder, chunks: &[&[u8]]) -> Out {
    let mut batches = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        loop {
            let n = d.decode(rest);
            rest = &rest[n..];
            if d.batch_full() {
                assert!(batches.len() < 100_000);
                batches.extend(d.flush());
            } else {
                assert!(rest.is_empty(), "decode stopped without a full batch");
            }
            if rest.is_empty() {
                break;
            }
        }
    }
    batches.extend(d.finish());
    Out {
        batches,
        errors: d.errors().clone(),
        records: d.records(),
    }
}

pub fn split_at(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    cuts.sort();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts {
        out.push(body[prev..c].to_vec());
        prev = c;
    }
    out.push(body[prev..].to_vec());
    out
}

pub fn assert_same(a: &Out, b: &Out) {
    assert_eq!(a.errors, b.errors);
    assert_eq!(a.records, b.records);
    assert_eq!(a.batches.len(), b.batches.len());
    for (x, y) in a.batches.iter().zip(&b.batches) {
        assert_eq!(x.data, y.data);
        assert_eq!(x.weights, y.weights);
    }
}
