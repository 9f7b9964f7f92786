//! A tiny timing harness for sluice's benchmarks (no criterion: it would
//! double the build). Bench targets live in `benches/benches/` and are run
//! with `cargo bench -p sluice-benches --bench <name>`.
//!
//! Each measured closure does one *iteration* (e.g. decode one 1 MiB body)
//! and returns a count of items it produced (rows, heads, tokens), which the
//! caller can check. The harness warms up, then repeats the closure until
//! the time budget is spent, and reports best-of and median throughput.
//! MB/s are decimal megabytes (10^6 bytes) per second.
//!
//! Time budget per case: 2 s by default, 0.3 s with `--quick`, or
//! `SLUICE_BENCH_SECS` (a float) when set. A positional argument filters
//! cases by substring.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Splitmix64: a small, deterministic PRNG for generating bench data.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// A lowercase alphanumeric word of `lo..=hi` characters.
    pub fn word(&mut self, lo: usize, hi: usize, out: &mut String) {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let n = self.range(lo as i64, hi as i64) as usize;
        for _ in 0..n {
            out.push(ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char);
        }
    }
}

/// Run-wide settings, from the command line and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Measuring time per case.
    pub budget: Duration,
    /// Only cases whose name contains this run.
    pub filter: Option<String>,
}

impl Settings {
    pub fn from_env() -> Settings {
        let mut secs = 2.0;
        let mut filter = None;
        // `cargo bench` passes `--bench`; ignore flags we do not know.
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--quick" => secs = 0.3,
                a if a.starts_with('-') => {}
                a => filter = Some(a.to_string()),
            }
        }
        if let Ok(s) = std::env::var("SLUICE_BENCH_SECS") {
            match s.parse::<f64>() {
                Ok(v) if v > 0.0 => secs = v,
                _ => eprintln!("ignoring SLUICE_BENCH_SECS={s:?}: not a positive number"),
            }
        }
        Settings {
            budget: Duration::from_secs_f64(secs),
            filter,
        }
    }

    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub group: String,
    pub name: String,
    /// Input bytes per iteration (0: no MB/s column).
    pub bytes: u64,
    /// Items per iteration (rows, heads, ops) and their unit.
    pub items: u64,
    pub unit: &'static str,
    /// Seconds per iteration, sorted ascending.
    pub samples: Vec<f64>,
}

impl Measurement {
    pub fn best(&self) -> f64 {
        self.samples[0]
    }

    pub fn median(&self) -> f64 {
        let n = self.samples.len();
        if n % 2 == 1 {
            self.samples[n / 2]
        } else {
            (self.samples[n / 2 - 1] + self.samples[n / 2]) / 2.0
        }
    }

    pub fn mb_per_s(&self, secs: f64) -> f64 {
        self.bytes as f64 / secs / 1e6
    }

    pub fn items_per_s(&self, secs: f64) -> f64 {
        self.items as f64 / secs
    }
}

/// Collects measurements and prints them as a markdown table.
pub struct Bench {
    pub settings: Settings,
    pub results: Vec<Measurement>,
}

impl Default for Bench {
    fn default() -> Self {
        Bench::new()
    }
}

impl Bench {
    pub fn new() -> Bench {
        Bench {
            settings: Settings::from_env(),
            results: Vec::new(),
        }
    }

    /// Measure `f`, one iteration per call. `bytes` and `items` describe
    /// one iteration; `f` returns the items it produced, which must equal
    /// `items` (a cheap check that every implementation did the same work).
    /// Returns `None` when the case is filtered out.
    pub fn run<F: FnMut() -> u64>(
        &mut self,
        group: &str,
        name: &str,
        bytes: u64,
        items: u64,
        unit: &'static str,
        mut f: F,
    ) -> Option<&Measurement> {
        let full = format!("{group}/{name}");
        if !self.settings.wants(&full) {
            return None;
        }
        let budget = self.settings.budget;
        // Warm-up: a tenth of the budget, at least one iteration.
        let warm_until = Instant::now() + budget / 10;
        loop {
            let got = black_box(f());
            assert_eq!(
                got, items,
                "{full}: produced {got} {unit}, expected {items}"
            );
            if Instant::now() >= warm_until {
                break;
            }
        }
        let mut samples = Vec::new();
        let start = Instant::now();
        // At least 5 samples, at most 100k, otherwise until the budget ends.
        while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 100_000) {
            let t = Instant::now();
            let got = black_box(f());
            samples.push(t.elapsed().as_secs_f64());
            assert_eq!(
                got, items,
                "{full}: produced {got} {unit}, expected {items}"
            );
        }
        samples.sort_by(f64::total_cmp);
        let m = Measurement {
            group: group.to_string(),
            name: name.to_string(),
            bytes,
            items,
            unit,
            samples,
        };
        eprintln!(
            "{full}: median {:.1} MB/s, {:.0} {unit}/s ({} samples)",
            m.mb_per_s(m.median()),
            m.items_per_s(m.median()),
            m.samples.len()
        );
        self.results.push(m);
        self.results.last()
    }

    /// The measurement of `group/name`, if it ran.
    pub fn get(&self, group: &str, name: &str) -> Option<&Measurement> {
        self.results
            .iter()
            .find(|m| m.group == group && m.name == name)
    }

    /// Print every measurement as one markdown table.
    pub fn print_table(&self) {
        println!();
        println!("| case | impl | MB/s best | MB/s median | items/s median | per iter median | samples |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        for m in &self.results {
            let mb = |s: f64| {
                if m.bytes == 0 {
                    "-".to_string()
                } else {
                    format!("{:.1}", m.mb_per_s(s))
                }
            };
            println!(
                "| {} | {} | {} | {} | {} {}/s | {} | {} |",
                m.group,
                m.name,
                mb(m.best()),
                mb(m.median()),
                human(m.items_per_s(m.median())),
                m.unit,
                human_secs(m.median()),
                m.samples.len()
            );
        }
        println!();
        println!(
            "MB = 10^6 bytes. Budget {:.1} s per case after a {:.2} s warm-up.",
            self.settings.budget.as_secs_f64(),
            self.settings.budget.as_secs_f64() / 10.0
        );
    }
}

/// 12345678 -> "12.35 M".
pub fn human(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.1}")
    }
}

/// Seconds as µs/ms/s.
pub fn human_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}
