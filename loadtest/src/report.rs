//! Human summary, JSON report and wrk2-style `.hgrm` percentile text.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::client::Stats;

/// Percentiles shown in the summary and the JSON report.
const PCTS: &[(f64, &str)] = &[(50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9")];

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

fn status_counts(st: &Stats) -> impl Iterator<Item = (usize, u64)> + '_ {
    st.status
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n > 0)
}

pub fn summary(st: &Stats, title: &str) -> String {
    let d = st.elapsed;
    let h = &st.hist;
    let mut s = String::new();
    _ = writeln!(s, "{title}");
    _ = writeln!(
        s,
        "  duration   {:.3} s measured ({} warm-up requests excluded)",
        d.as_secs_f64(),
        st.warmup_requests
    );
    _ = writeln!(
        s,
        "  requests   {:>14}   {:>14.1} req/s",
        st.requests,
        per_sec(st.requests, d)
    );
    _ = writeln!(
        s,
        "  rows       {:>14}   {:>14.1} rows/s",
        st.rows,
        per_sec(st.rows, d)
    );
    _ = writeln!(
        s,
        "  body bytes {:>14}   {:>14.1} MB/s   (1 MB = 10^6 bytes; {:.1} MB/s on the wire incl. headers)",
        st.body_bytes,
        per_sec(st.body_bytes, d) / 1e6,
        per_sec(st.wire_bytes, d) / 1e6,
    );
    _ = write!(s, "  latency ms ");
    for (p, name) in PCTS {
        _ = write!(s, " {name} {:.3}", ms(h.value_at_percentile(*p)));
    }
    _ = writeln!(s, "  max {:.3}  mean {:.3}", ms(h.max()), h.mean() / 1000.0);
    let mut statuses = String::new();
    for (code, n) in status_counts(st) {
        _ = write!(statuses, " {code}: {n}");
    }
    _ = writeln!(s, "  status    {statuses}");
    _ = writeln!(
        s,
        "  errors     non-2xx {}  io {}  bad responses {}  connects {}",
        st.non_2xx(),
        st.io_errors,
        st.parse_errors,
        st.connects
    );
    if let Some(e) = &st.last_error {
        _ = writeln!(s, "  last error {e}");
    }
    if let Some(c) = &st.completion {
        let l = &c.latencies;
        let pick = |q: f64| l.get(((l.len() as f64 - 1.0) * q).round() as usize);
        let fmt = |d: Option<&Duration>| {
            d.map_or("-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3))
        };
        _ = writeln!(
            s,
            "  completion {}/{} tokens complete ({} failed/timed out); ms after last response: p50 {} max {}",
            c.completed,
            c.polled,
            c.failed,
            fmt(pick(0.5)),
            fmt(l.last())
        );
    }
    if let Some(c) = &st.sampled {
        let h = &c.hist;
        let ms = |us: u64| format!("{:.3}", us as f64 / 1e3);
        _ = writeln!(
            s,
            "  completion latency (sampled, response to complete) ms: p50 {} p99 {} max {}  ({} samples, {} failed, {} dropped; queue wait p50 {} max {})",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            h.len(),
            c.failed,
            c.dropped,
            ms(c.queue_hist.value_at_quantile(0.5)),
            ms(c.queue_hist.max()),
        );
    }
    s
}

pub fn json_report(st: &Stats, config: serde_json::Value) -> serde_json::Value {
    let d = st.elapsed;
    let h = &st.hist;
    let mut lat = serde_json::Map::new();
    for (p, name) in PCTS {
        lat.insert(name.to_string(), json!(h.value_at_percentile(*p)));
    }
    lat.insert("max".into(), json!(h.max()));
    lat.insert("min".into(), json!(h.min()));
    lat.insert("mean".into(), json!(h.mean()));
    let statuses: serde_json::Map<_, _> = status_counts(st)
        .map(|(c, n)| (c.to_string(), json!(n)))
        .collect();
    let completion = st.completion.as_ref().map(|c| {
        json!({
            "polled": c.polled,
            "completed": c.completed,
            "failed": c.failed,
            "latencies_us": c.latencies.iter().map(|d| d.as_micros() as u64).collect::<Vec<_>>(),
        })
    });
    json!({
        "config": config,
        "duration_s": d.as_secs_f64(),
        "requests": st.requests,
        "warmup_requests": st.warmup_requests,
        "rows": st.rows,
        "body_bytes": st.body_bytes,
        "wire_bytes": st.wire_bytes,
        "req_per_s": per_sec(st.requests, d),
        "rows_per_s": per_sec(st.rows, d),
        "body_mb_per_s": per_sec(st.body_bytes, d) / 1e6,
        "mb_definition": "1 MB = 10^6 bytes",
        "latency_us": lat,
        "status": statuses,
        "errors": {
            "non_2xx": st.non_2xx(),
            "io": st.io_errors,
            "bad_response": st.parse_errors,
        },
        "connects": st.connects,
        "last_error": st.last_error,
        "completion": completion,
        "completion_latency_us": st.sampled.as_ref().map(|c| json!({
            "p50": c.hist.value_at_quantile(0.5),
            "p99": c.hist.value_at_quantile(0.99),
            "max": c.hist.max(),
            "samples": c.hist.len(),
            "failed": c.failed,
            "dropped": c.dropped,
            "queue_wait_p50": c.queue_hist.value_at_quantile(0.5),
            "queue_wait_max": c.queue_hist.max(),
        })),
    })
}

/// HdrHistogram's percentile distribution text (as wrk2 and
/// `HistogramLogProcessor` print it, values in milliseconds), so the
/// HdrHistogram plotter and existing `.hgrm` tooling can read our runs.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let val = ms(v.value_iterated_to());
        if q < 1.0 {
            _ = writeln!(s, "{val:12.3} {q:2.12} {total:10} {:14.2}", 1.0 / (1.0 - q));
        } else {
            _ = writeln!(s, "{val:12.3} {q:2.12} {total:10}");
        }
    }
    _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        ms(h.max()),
        h.len()
    );
    _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        // HdrHistogram's sub-bucket count for this precision (2048 at 3 digits).
        (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_shape() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let t = hgrm(&h);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("Percentile"));
        let last_row = lines
            .iter()
            .rev()
            .find(|l| !l.starts_with('#') && !l.is_empty());
        let cols: Vec<&str> = last_row.unwrap().split_whitespace().collect();
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "1000");
        assert!(t.contains("#[Max     ="));
    }
}
