//! `GET /metrics` and `GET /v0/pipelines/{p}/metrics`: Prometheus text.
//! Table series come from the registry's counters (each written by one
//! shard), shard series from `shard::metrics`.

use std::fmt::Write;
use std::sync::atomic::AtomicU64;

use super::endpoints::pipeline_rt;
use crate::error::ApiError;
use crate::shard::{get, LaneStats, PipelineRt, Shard, TableRt};

/// How a table series reads its value.
type Read = fn(&TableRt) -> u64;

/// A table counter summed over the lanes (sending shards).
fn lanes(t: &TableRt, f: fn(&LaneStats) -> &AtomicU64) -> u64 {
    t.lane_stats.iter().map(|l| get(f(l))).sum()
}

/// (name, type, help, value) of every per-table series.
const TABLE_SERIES: [(&str, &str, &str, Read); 8] = [
    (
        "sluice_input_requests_total",
        "counter",
        "Ingress requests.",
        |t| lanes(t, |l| &l.requests),
    ),
    (
        "sluice_input_bytes_total",
        "counter",
        "Ingress body bytes.",
        |t| lanes(t, |l| &l.bytes),
    ),
    (
        "sluice_input_records_total",
        "counter",
        "Records decoded and sent to the owner.",
        |t| lanes(t, |l| &l.records),
    ),
    (
        "sluice_input_parse_errors_total",
        "counter",
        "Records that failed to parse.",
        |t| lanes(t, |l| &l.parse_errors),
    ),
    (
        "sluice_table_applied_records_total",
        "counter",
        "Records applied by the owner (those recovered at start included).",
        |t| get(&t.owner_stats.records_applied),
    ),
    (
        "sluice_table_processed_records",
        "gauge",
        "Records whose tokens are complete (the sum of the lane watermarks).",
        |t| t.lanes.total(),
    ),
    (
        "sluice_table_stored_bytes",
        "gauge",
        "Memory the owner keeps of applied batches.",
        |t| get(&t.owner_stats.stored_bytes),
    ),
    (
        "sluice_table_steps_total",
        "counter",
        "Batches committed in this run (the steps change streams count).",
        |t| get(&t.owner_stats.steps),
    ),
];

/// Every table of `pipeline` (or of every pipeline), then the shards.
pub fn render(shard: &Shard, pipeline: Option<&str>) -> Result<String, ApiError> {
    let pipelines: Vec<&PipelineRt> = match pipeline {
        Some(name) => vec![pipeline_rt(shard, name)?],
        None => shard.reg.pipelines.iter().collect(),
    };
    let mut out = String::with_capacity(8192);
    for (name, kind, help, read) in TABLE_SERIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for p in &pipelines {
            for t in &p.tables {
                let (pl, tl) = (label(&p.name), label(&t.table.ident.name));
                let _ = writeln!(
                    out,
                    "{name}{{pipeline=\"{pl}\",table=\"{tl}\"}} {}",
                    read(t)
                );
            }
        }
    }
    crate::shard::metrics::render_shards(&shard.reg.shard_metrics, &mut out);
    Ok(out)
}

/// A label value with `\`, `"` and line breaks escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
