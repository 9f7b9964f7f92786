//! `sluice-load chart`: latency percentile distributions as one SVG.
//!
//! The x axis is HdrHistogram's: percentile on a log scale of 1/(1-p), so
//! 90%, 99%, 99.9% .. sit one decade apart and the tail gets as much room
//! as the median. The y axis is linear latency in milliseconds, from 0. Each
//! input (an `.hgrm` file as `--hgrm` or wrk2 writes it, or a
//! `--json-report`) is one line; up to `SERIES_MAX` are overlaid.
//!
//! The SVG is written by hand: a few paths and text elements do not justify
//! a plotting dependency, and the output opens in any browser.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ChartArgs {
    /// Where to write the SVG.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "Latency by percentile")]
    pub title: String,
    /// Runs to draw: `.hgrm` text or `--json-report` files, each as PATH or
    /// LABEL=PATH (the default label is the file name without extension).
    #[arg(required = true, num_args = 1..=SERIES_MAX)]
    pub inputs: Vec<String>,
}

/// One line per colour in `PALETTE`.
pub const SERIES_MAX: usize = 10;
const PALETTE: [&str; SERIES_MAX] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
/// Inputs are read whole; larger files are not latency distributions.
const INPUT_BYTES_MAX: u64 = 16 << 20;
/// HdrHistogram prints a few hundred rows; more than this is not a
/// distribution we wrote, and would only make the SVG huge.
const POINTS_MAX: usize = 100_000;
/// The x axis ends at 1/(1-p) = 10^k with k in this range: at least 99%,
/// at most 99.99999% (beyond, no run here has enough samples).
const DECADES_MIN: u32 = 2;
const DECADES_MAX: u32 = 7;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
/// Plot area; the legend sits in the right margin.
const LEFT: f64 = 80.0;
const RIGHT: f64 = 760.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 480.0;

/// One row of a percentile distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Quantile, 0..=1.
    pub q: f64,
    pub ms: f64,
}

pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
}

/// The rows of HdrHistogram's percentile text: `value(ms) quantile count
/// [1/(1-q)]`. Other lines (headers, `#[Mean ..]`, the rest of wrk2's
/// output) are skipped, so a whole wrk2 `--latency` log works too.
pub fn parse_hgrm(text: &str) -> Result<Vec<Point>, String> {
    let mut out: Vec<Point> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !(3..=4).contains(&f.len()) || line.trim_start().starts_with('#') {
            continue;
        }
        let nums: Option<Vec<f64>> = f.iter().map(|x| x.parse::<f64>().ok()).collect();
        let Some(nums) = nums else { continue };
        push_point(&mut out, nums[1], nums[0], n + 1)?;
    }
    if out.is_empty() {
        return Err("no percentile rows (value, percentile, count) found".into());
    }
    Ok(out)
}

/// `latency_distribution_us` of a `--json-report`.
pub fn parse_json_report(text: &str) -> Result<Vec<Point>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let rows = v["latency_distribution_us"]
        .as_array()
        .ok_or("no latency_distribution_us array (a report from an older sluice-load?)")?;
    let mut out = Vec::new();
    for (n, r) in rows.iter().enumerate() {
        let (Some(q), Some(us)) = (r[0].as_f64(), r[1].as_f64()) else {
            return Err(format!(
                "latency_distribution_us[{n}] is not [quantile, us]"
            ));
        };
        push_point(&mut out, q, us / 1e3, n)?;
    }
    if out.is_empty() {
        return Err("latency_distribution_us is empty (a run without responses?)".into());
    }
    Ok(out)
}

fn push_point(out: &mut Vec<Point>, q: f64, ms: f64, at: usize) -> Result<(), String> {
    if !(0.0..=1.0).contains(&q) || !ms.is_finite() || ms < 0.0 {
        return Err(format!(
            "row {at}: percentile {q} / value {ms} out of range"
        ));
    }
    if out.last().is_some_and(|p| q < p.q) {
        return Err(format!("row {at}: percentiles must not decrease"));
    }
    if out.len() >= POINTS_MAX {
        return Err(format!("more than {POINTS_MAX} rows"));
    }
    out.push(Point { q, ms });
    Ok(())
}

/// Reads `LABEL=PATH` or `PATH`.
fn load(input: &str) -> Result<Series, String> {
    let (label, path) = match input.split_once('=') {
        Some((l, p)) if !l.is_empty() => (l.to_string(), Path::new(p)),
        _ => {
            let p = Path::new(input);
            let stem = p.file_stem().map_or(input.into(), |s| s.to_string_lossy());
            (stem.into_owned(), p)
        }
    };
    let err = |e: String| format!("{}: {e}", path.display());
    let len = std::fs::metadata(path)
        .map_err(|e| err(e.to_string()))?
        .len();
    if len > INPUT_BYTES_MAX {
        return Err(err(format!("larger than {INPUT_BYTES_MAX} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let points = if text.trim_start().starts_with('{') {
        parse_json_report(&text)
    } else {
        parse_hgrm(&text)
    }
    .map_err(err)?;
    Ok(Series { label, points })
}

pub fn run(a: &ChartArgs) -> Result<(), String> {
    let series = a
        .inputs
        .iter()
        .map(|i| load(i))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::write(&a.out, svg(&a.title, &series))
        .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
    eprintln!(
        "sluice-load chart: {} series -> {}",
        series.len(),
        a.out.display()
    );
    Ok(())
}

/// log10(1/(1-q)), capped at `cap` decades (q = 1 is infinitely far).
fn decades(q: f64, cap: f64) -> f64 {
    if q >= 1.0 {
        cap
    } else {
        (-(1.0 - q).log10()).min(cap)
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving at most 8 ticks up
/// to `max`, and the axis top that is a whole number of steps.
fn nice_axis(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 {
        return (0.2, 1.0);
    }
    let raw = max / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil().max(1.0) * step)
}

/// "0%", "90%", "99%", "99.9%", ... for decade k.
fn pct_label(k: u32) -> String {
    match k {
        0 => "0%".into(),
        1 => "90%".into(),
        _ => format!("99.{}%", "9".repeat(k as usize - 2)).replace(".%", "%"),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn svg(title: &str, series: &[Series]) -> String {
    let all = || series.iter().flat_map(|s| s.points.iter());
    // Room for the deepest finite percentile any series reached.
    let deepest = all()
        .filter(|p| p.q < 1.0)
        .map(|p| decades(p.q, f64::MAX))
        .fold(0.0, f64::max);
    let x_decades = (deepest.ceil() as u32).clamp(DECADES_MIN, DECADES_MAX);
    let cap = f64::from(x_decades);
    let (y_step, y_top) = nice_axis(all().map(|p| p.ms).fold(0.0, f64::max));
    let x = |q: f64| LEFT + (RIGHT - LEFT) * decades(q, cap) / cap;
    let y = |ms: f64| BOTTOM - (BOTTOM - TOP) * (ms / y_top).min(1.0);

    let mut s = String::new();
    _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    _ = writeln!(
        s,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
        (LEFT + RIGHT) / 2.0,
        esc(title)
    );
    for k in 0..=x_decades {
        let xk = LEFT + (RIGHT - LEFT) * f64::from(k) / cap;
        _ = writeln!(
            s,
            r##"<line x1="{xk:.1}" y1="{TOP}" x2="{xk:.1}" y2="{BOTTOM}" stroke="#ddd"/><text x="{xk:.1}" y="{}" text-anchor="middle">{}</text>"##,
            BOTTOM + 18.0,
            pct_label(k)
        );
    }
    let mut v = 0.0;
    while v <= y_top + y_step / 2.0 {
        let yv = y(v);
        _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yv:.1}" x2="{RIGHT}" y2="{yv:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 6.0,
            yv + 4.0,
            // Steps are 1, 2 or 5 x 10^k, so this many decimals show them exactly.
            format_args!("{v:.*}", (-y_step.log10().floor()).max(0.0) as usize)
        );
        v += y_step;
    }
    _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        RIGHT - LEFT,
        BOTTOM - TOP
    );
    _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 42.0
    );
    _ = writeln!(
        s,
        r#"<text x="20" y="{}" text-anchor="middle" transform="rotate(-90 20 {})">latency (ms)</text>"#,
        (TOP + BOTTOM) / 2.0,
        (TOP + BOTTOM) / 2.0
    );
    for (i, ser) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        for (j, p) in ser.points.iter().enumerate() {
            let cmd = if j == 0 { 'M' } else { 'L' };
            _ = write!(d, "{cmd}{:.1},{:.1} ", x(p.q), y(p.ms));
        }
        _ = writeln!(
            s,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            d.trim_end()
        );
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let max = ser.points.iter().map(|p| p.ms).fold(0.0, f64::max);
        _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{} (max {max:.3} ms)</text>"#,
            RIGHT + 15.0,
            RIGHT + 35.0,
            RIGHT + 40.0,
            ly + 4.0,
            esc(&ser.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    #[test]
    fn hgrm_rows_parse_and_other_lines_are_skipped() {
        // A wrk2 log: its summary lines have units and are not rows.
        let t = "  Latency Distribution (HdrHistogram - Recorded Latency)\n\
                 \x20 50.000%    1.03ms\n\
                 \x20      Value   Percentile   TotalCount 1/(1-Percentile)\n\
                 \n\
                 \x20      0.921     0.000000            1         1.00\n\
                 \x20      1.030     0.500000          500         2.00\n\
                 \x20      4.500     0.990000          990       100.00\n\
                 \x20     12.000     1.000000         1000\n\
                 #[Mean    =        1.100, StdDeviation   =        0.300]\n\
                 Requests/sec:   1000.00\n";
        let p = parse_hgrm(t).unwrap();
        let want = [(0.0, 0.921), (0.5, 1.03), (0.99, 4.5), (1.0, 12.0)];
        assert_eq!(p.len(), want.len());
        for (got, (q, ms)) in p.iter().zip(want) {
            assert_eq!((got.q, got.ms), (q, ms));
        }
    }

    #[test]
    fn bad_inputs_are_refused() {
        let cases = [
            ("", "no percentile rows"),
            ("Value Percentile TotalCount\n", "no percentile rows"),
            ("1.0 1.5 3 2.0\n", "out of range"),
            ("-1.0 0.5 3 2.0\n", "out of range"),
            ("1.0 0.9 3 10\n2.0 0.5 4 2\n", "must not decrease"),
        ];
        for (text, why) in cases {
            let e = parse_hgrm(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
        assert!(parse_json_report("{}").is_err());
        assert!(parse_json_report(r#"{"latency_distribution_us": [[0.5]]}"#).is_err());
        assert!(parse_json_report(r#"{"latency_distribution_us": []}"#).is_err());
    }

    /// What `--hgrm` and `--json-report` write reads back as the
    /// histogram's own quantiles.
    #[test]
    fn own_outputs_round_trip() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * v % 50_000 + 100).unwrap();
        }
        let from_hgrm = parse_hgrm(&crate::report::hgrm(&h)).unwrap();
        let rows: Vec<(f64, u64)> = h
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
            .collect();
        let json = serde_json::json!({ "latency_distribution_us": rows }).to_string();
        let from_json = parse_json_report(&json).unwrap();
        assert_eq!(from_hgrm.len(), rows.len());
        assert_eq!(from_json.len(), rows.len());
        for ((a, b), (q, us)) in from_hgrm.iter().zip(&from_json).zip(&rows) {
            // serde_json's default float parsing may be one ulp off.
            assert!((b.q - q).abs() < 1e-12, "{} {q}", b.q);
            assert_eq!(b.ms, *us as f64 / 1e3);
            // .hgrm prints 12 decimals of quantile and 3 of ms.
            assert!((a.q - q).abs() < 1e-9 && (a.ms - b.ms).abs() < 5e-4);
        }
        assert_eq!(from_json.last().unwrap().q, 1.0);
    }

    #[test]
    fn axis_helpers() {
        for (k, want) in [
            (0, "0%"),
            (1, "90%"),
            (2, "99%"),
            (3, "99.9%"),
            (5, "99.999%"),
        ] {
            assert_eq!(pct_label(k), want);
        }
        assert_eq!(decades(0.0, 6.0), 0.0);
        assert!((decades(0.999, 6.0) - 3.0).abs() < 1e-9);
        assert_eq!(decades(1.0, 6.0), 6.0);
        // (max, step, top): top covers max in whole round steps.
        for (max, step, top) in [(7.3, 1.0, 8.0), (0.42, 0.1, 0.5), (120.0, 20.0, 120.0)] {
            let (s, t) = nice_axis(max);
            assert!(
                (s - step).abs() < 1e-12 && (t - top).abs() < 1e-9,
                "{max}: {s} {t}"
            );
        }
        assert_eq!(nice_axis(0.0), (0.2, 1.0));
    }

    /// Elements nest and close, attributes are quoted: enough of XML to
    /// know a browser will render the file. Returns the tag names opened.
    fn check_xml(s: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut opened = Vec::new();
        let mut rest = s;
        while let Some(lt) = rest.find('<') {
            assert!(
                !rest[..lt].contains('>'),
                "stray > before {:?}",
                &rest[lt..]
            );
            let gt = rest[lt..].find('>').expect("unclosed tag") + lt;
            let tag = &rest[lt + 1..gt];
            assert!(!tag.contains('<'), "< inside a tag: {tag}");
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
                opened.push(name.to_string());
                if !tag.ends_with('/') {
                    stack.push(name.to_string());
                }
            }
            rest = &rest[gt + 1..];
        }
        assert!(stack.is_empty(), "left open: {stack:?}");
        opened
    }

    fn path_points(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<path d=\"")
            .skip(1)
            .map(|p| {
                p[..p.find('"').unwrap()]
                    .split_whitespace()
                    .map(|c| {
                        let (x, y) = c[1..].split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn svg_is_well_formed_and_lines_stay_in_the_plot() {
        let series = |label: &str, scale: f64, n: usize| Series {
            label: label.into(),
            points: (0..=n)
                .map(|i| {
                    let q = 1.0 - 0.5f64.powi(i as i32);
                    Point {
                        q: if i == n { 1.0 } else { q },
                        ms: scale * (1.0 + i as f64),
                    }
                })
                .collect(),
        };
        let runs = [
            series("fast <csv> & \"json\"", 0.1, 20),
            series("slow", 3.7, 30),
            series("one point", 1.0, 0),
        ];
        let s = svg("a & b", &runs);
        let tags = check_xml(&s);
        assert_eq!(tags[0], "svg");
        assert_eq!(tags.iter().filter(|t| *t == "path").count(), runs.len());
        assert!(s.contains("fast &lt;csv&gt; &amp; &quot;json&quot;"));
        assert!(s.contains(">a &amp; b<"));
        let paths = path_points(&s);
        for (p, r) in paths.iter().zip(&runs) {
            assert_eq!(p.len(), r.points.len());
            for &(x, y) in p {
                assert!((LEFT..=RIGHT).contains(&x), "x {x}");
                assert!((TOP..=BOTTOM).contains(&y), "y {y}");
            }
            // Percentiles and latencies both grow: right and up (SVG y down).
            assert!(p.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 <= w[0].1));
        }
        // The slowest run's maximum reaches the top region, p100 the right edge.
        let slow_last = paths[1].last().unwrap();
        assert_eq!(slow_last.0, RIGHT);
        assert!(slow_last.1 < TOP + (BOTTOM - TOP) * 0.2, "{slow_last:?}");
    }
}
