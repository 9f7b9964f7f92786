//! `GET /metrics` and `GET /v0/pipelines/{p}/metrics`: Prometheus text
//! whose figures follow what the server did.

mod common;

use common::{wait_complete, Server};

/// The value of the series `name{labels}` (labels as written), if any.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_follow_requests_rows_and_the_log() {
    let s = Server::start(2, "");
    let mut c = s.client();
    for i in 0..5 {
        let r = c.post(
            "/v0/pipelines/p/ingress/t1?format=csv",
            format!("{i},a,,\n{i},b,,\n").as_bytes(),
        );
        wait_complete(&mut c, "p", r.json()["token"].as_str().unwrap());
    }
    let r = c.post("/v0/pipelines/p/ingress/t1?format=csv", b"x,a,,\n");
    assert_eq!(r.status, 400);
    let r = c.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    // Every line is a comment or `series value`, value a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, v) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(v.parse::<f64>().is_ok() && series.contains('{'), "{line}");
    }
    let t1 = |name: &str| value(&text, &format!("{name}{{pipeline=\"p\",table=\"t1\"}}"));
    assert_eq!(t1("sluice_input_requests_total"), Some(6.0));
    assert_eq!(t1("sluice_input_records_total"), Some(10.0));
    assert_eq!(t1("sluice_input_parse_errors_total"), Some(1.0));
    assert_eq!(t1("sluice_table_applied_records_total"), Some(10.0));
    assert_eq!(t1("sluice_table_processed_records"), Some(10.0));
    let sum_over_shards = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum()
    };
    // 5 POSTs + 5 or more completion polls answered 200, one 400.
    assert!(
        sum_over_shards("sluice_http_responses_total{shard=\"0\",status=\"200\"}")
            + sum_over_shards("sluice_http_responses_total{shard=\"1\",status=\"200\"}")
            >= 10.0
    );
    assert_eq!(
        sum_over_shards("sluice_http_responses_total{shard=\"0\",status=\"400\"}")
            + sum_over_shards("sluice_http_responses_total{shard=\"1\",status=\"400\"}"),
        1.0
    );
    // Every request is in the latency histogram; the log wrote at least once.
    assert!(sum_over_shards("sluice_http_request_duration_seconds_count") >= 16.0);
    assert!(sum_over_shards("sluice_log_write_duration_seconds_count") >= 1.0);
    assert!(sum_over_shards("sluice_connections") >= 1.0);
    // One pipeline's metrics; an unknown one is a 404.
    assert_eq!(c.get("/v0/pipelines/p/metrics").status, 200);
    assert_eq!(c.get("/v0/pipelines/nope/metrics").status, 404);
}
