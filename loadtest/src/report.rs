//! Human summary, JSON report and wrk2-style `.hgrm` percentile text.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::client::Stats;
use crate::host::{Usage, PSI_BUSY_AVG10_PCT};

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
    let pcts = |s: &mut String, label: &str, h: &Histogram<u64>| {
        _ = write!(s, "  {label}");
        for (p, name) in PCTS {
            _ = write!(s, " {name} {:.3}", ms(h.value_at_percentile(*p)));
        }
        _ = writeln!(s, "  max {:.3}  mean {:.3}", ms(h.max()), h.mean() / 1000.0);
    };
    match &st.open {
        None => pcts(&mut s, "latency ms ", h),
        Some(o) => {
            pcts(&mut s, "latency ms (from when due)", h);
            pcts(&mut s, "service ms (from the send)", &o.service_hist);
            let late_pct = 100.0 * o.late_sends as f64 / st.requests.max(1) as f64;
            _ = writeln!(
                s,
                "  schedule   {:.1} req/s asked, {:.1} sent; {} late sends (> {:.3} ms after due, {late_pct:.1}%), latest {:.3} ms; {} unsent at the end",
                o.rate_per_s,
                per_sec(st.requests, d),
                o.late_sends,
                o.late.as_secs_f64() * 1e3,
                ms(o.lateness_us_max),
                o.unsent,
            );
            if late_pct > LATE_WARN_PCT || o.unsent > 0 {
                _ = writeln!(
                    s,
                    "  WARNING    the schedule was not kept: {:.0} req/s was more than the server \
                     (or this generator) answered on these connections; the latencies above \
                     include the wait (more --connections, or a lower --rate)",
                    o.rate_per_s,
                );
            }
        }
    }
    let mut statuses = String::new();
    for (code, n) in status_counts(st) {
        _ = write!(statuses, " {code}: {n}");
    }
    _ = writeln!(s, "  status    {statuses}");
    _ = writeln!(
        s,
        "  errors     non-2xx {}  io {}  bad responses {}  connects {}{}",
        st.non_2xx(),
        st.io_errors,
        st.parse_errors,
        st.connects,
        if st.resumed > 0 {
            format!(" ({} TLS resumed)", st.resumed)
        } else {
            String::new()
        }
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
    if let Some(u) = &st.host {
        host_summary(&mut s, st, u);
    }
    s
}

/// Above this share of late sends the summary says the schedule slipped.
const LATE_WARN_PCT: f64 = 1.0;

fn host_summary(s: &mut String, st: &Stats, u: &Usage) {
    let per_cpu = |cpu: f64| {
        format!(
            "{:.1} req, {:.1} rows, {:.3} MB per CPU-second",
            st.requests as f64 / cpu,
            st.rows as f64 / cpu,
            st.body_bytes as f64 / 1e6 / cpu
        )
    };
    let share = |cpu: f64| 100.0 * cpu / u.window_s.max(1e-9);
    match u.server_cpu_s {
        Some(c) if c > 0.0 => {
            _ = writeln!(
                s,
                "  server cpu {c:.2} s ({:.0}% of one core, pids {:?}): {}",
                share(c),
                u.server_pids,
                per_cpu(c)
            )
        }
        Some(_) => _ = writeln!(s, "  server cpu 0 s (pids {:?})", u.server_pids),
        None if !u.server_pids.is_empty() => {
            _ = writeln!(
                s,
                "  server cpu unknown (pids {:?} could not be read at both ends)",
                u.server_pids
            )
        }
        None => {}
    }
    if let Some(c) = u.load_cpu_s.filter(|c| *c > 0.0) {
        _ = writeln!(
            s,
            "  load cpu   {c:.2} s ({:.0}% of one core): {}",
            share(c),
            per_cpu(c)
        );
    }
    match (u.psi_before, u.psi_after) {
        (Some(a), Some(b)) => {
            _ = writeln!(
                s,
                "  cpu pressure some avg10 {:.1}% before, {:.1}% after; a task waited for a CPU {:.1}% of the run",
                a.some_avg10_pct,
                b.some_avg10_pct,
                u.stalled_pct().unwrap_or(0.0)
            );
            if u.busy() {
                _ = writeln!(
                    s,
                    "  WARNING    the machine was busy (CPU pressure over {PSI_BUSY_AVG10_PCT}%): \
                     other work competed for the CPUs, figures are likely low"
                );
            }
        }
        _ => _ = writeln!(s, "  cpu pressure unknown (no /proc/pressure/cpu)"),
    }
}

fn host_json(st: &Stats, u: &Usage) -> serde_json::Value {
    let per_cpu = |cpu: Option<f64>| {
        cpu.filter(|c| *c > 0.0).map(|c| {
            json!({
                "req_per_cpu_s": st.requests as f64 / c,
                "rows_per_cpu_s": st.rows as f64 / c,
                "body_mb_per_cpu_s": st.body_bytes as f64 / 1e6 / c,
            })
        })
    };
    let psi = |p: Option<crate::host::Psi>| {
        p.map(|p| json!({"some_avg10_pct": p.some_avg10_pct, "some_total_us": p.some_total_us}))
    };
    json!({
        "window_s": u.window_s,
        "server": {
            "pids": u.server_pids,
            "cpu_s": u.server_cpu_s,
            "per_cpu": per_cpu(u.server_cpu_s),
        },
        "load": {
            "cpu_s": u.load_cpu_s,
            "per_cpu": per_cpu(u.load_cpu_s),
        },
        "cpu_pressure": {
            "before": psi(u.psi_before),
            "after": psi(u.psi_after),
            "stalled_pct": u.stalled_pct(),
            "busy": u.busy(),
            "busy_threshold_avg10_pct": PSI_BUSY_AVG10_PCT,
        },
    })
}

/// The whole percentile distribution as `[quantile, microseconds]` pairs
/// (the rows of `hgrm`), so `sluice-load chart` can draw a JSON report.
fn distribution(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    h.iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
        .collect()
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
        "latency_distribution_us": distribution(h),
        "open_loop": st.open.as_ref().map(|o| json!({
            "rate_per_s": o.rate_per_s,
            "late_ms": o.late.as_secs_f64() * 1e3,
            "late_sends": o.late_sends,
            "lateness_us_max": o.lateness_us_max,
            "unsent": o.unsent,
            "service_us": {
                "p50": o.service_hist.value_at_quantile(0.5),
                "p99": o.service_hist.value_at_quantile(0.99),
                "p99.9": o.service_hist.value_at_quantile(0.999),
                "max": o.service_hist.max(),
            },
            "service_distribution_us": distribution(&o.service_hist),
        })),
        "host": st.host.as_ref().map(|u| host_json(st, u)),
        "status": statuses,
        "errors": {
            "non_2xx": st.non_2xx(),
            "io": st.io_errors,
            "bad_response": st.parse_errors,
        },
        "connects": st.connects,
        "tls_resumed": st.resumed,
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
