//! Per-shard counters and histograms for `GET /metrics` (Prometheus text).
//!
//! Each shard writes only its own `ShardMetrics` (single writer, so plain
//! load+store, no read-modify-write), and any shard reads all of them to
//! answer a scrape. Histograms have fixed buckets chosen for what they
//! time: a request (100 µs .. 10 s) and a log write plus fdatasync.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::registry::{add, get};

/// Bucket upper bounds, microseconds.
pub const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A latency histogram with one writer.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is +Inf.
    counts: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn record(&self, us: u64) {
        let i = BUCKETS_US.partition_point(|&b| b < us);
        add(&self.counts[i], 1);
        add(&self.sum_us, us);
    }

    /// Prometheus lines of the histogram `name` with `labels` (`k="v"`).
    fn render(hs: &[(&Histogram, String)], name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (h, labels) in hs {
            let mut cum = 0;
            for (i, c) in h.counts.iter().enumerate() {
                cum += get(c);
                let le = BUCKETS_US
                    .get(i)
                    .map_or("+Inf".to_string(), |b| format!("{}", *b as f64 / 1e6));
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cum}");
            }
            let sum = get(&h.sum_us) as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {cum}"
            );
        }
    }
}

/// Answers by status code, 100..=599.
pub struct StatusCounts([AtomicU64; 500]);

impl Default for StatusCounts {
    fn default() -> Self {
        StatusCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl StatusCounts {
    pub fn count(&self, status: u16) {
        if let Some(c) = self.0.get((status as usize).wrapping_sub(100)) {
            add(c, 1);
        }
    }
}

/// What one shard counts about itself.
#[derive(Default)]
#[repr(align(128))]
pub struct ShardMetrics {
    pub responses: StatusCounts,
    /// Head parsed to answer queued.
    pub request_latency: Histogram,
    /// One log write, with its fdatasync when the policy syncs.
    pub log_write_latency: Histogram,
    pub connections: AtomicU64,
    /// Batches waiting in the log's current group, bytes.
    pub log_buffer_bytes: AtomicU64,
}

impl ShardMetrics {
    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }
}

/// The per-shard part of a scrape.
pub fn render_shards(shards: &[ShardMetrics], out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP sluice_http_responses_total HTTP answers by status.\n\
         # TYPE sluice_http_responses_total counter"
    );
    for (i, m) in shards.iter().enumerate() {
        for (j, c) in m.responses.0.iter().enumerate() {
            let n = get(c);
            if n > 0 {
                let status = j + 100;
                let _ = writeln!(
                    out,
                    "sluice_http_responses_total{{shard=\"{i}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }
    gauge(
        shards,
        "sluice_connections",
        "Open HTTP connections.",
        out,
        |m| get(&m.connections),
    );
    gauge(
        shards,
        "sluice_log_buffer_bytes",
        "Batches waiting for the log's next write, bytes.",
        out,
        |m| get(&m.log_buffer_bytes),
    );
    let label = |i: usize| format!("shard=\"{i}\"");
    let req: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.request_latency, label(i)))
        .collect();
    Histogram::render(
        &req,
        "sluice_http_request_duration_seconds",
        "From a request's head to its answer.",
        out,
    );
    let log: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.log_write_latency, label(i)))
        .collect();
    Histogram::render(
        &log,
        "sluice_log_write_duration_seconds",
        "One group commit: write, and fdatasync when the policy syncs.",
        out,
    );
}

fn gauge(
    shards: &[ShardMetrics],
    name: &str,
    help: &str,
    out: &mut String,
    f: impl Fn(&ShardMetrics) -> u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (i, m) in shards.iter().enumerate() {
        let _ = writeln!(out, "{name}{{shard=\"{i}\"}} {}", f(m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_inf() {
        let h = Histogram::default();
        for us in [50, 100, 101, 20_000_000] {
            h.record(us);
        }
        let mut out = String::new();
        Histogram::render(&[(&h, "shard=\"0\"".into())], "x", "help", &mut out);
        assert!(
            out.contains("x_bucket{shard=\"0\",le=\"0.0001\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{shard=\"0\",le=\"0.00025\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{shard=\"0\",le=\"+Inf\"} 4\n"),
            "{out}"
        );
        assert!(out.contains("x_count{shard=\"0\"} 4\n"), "{out}");
        let s = StatusCounts::default();
        s.count(200);
        s.count(99);
        s.count(600);
        assert_eq!(get(&s.0[100]), 1);
    }
}
