//! What the machine did during a run, read from `/proc`: CPU time of the
//! server (and of the generator itself), and CPU pressure (PSI).
//!
//! Throughput alone hides how much CPU the server burnt to reach it, and a
//! run on a busy machine looks like a slow server. So a run can snapshot
//! `/proc/PID/stat` and `/proc/pressure/cpu` when measuring starts and when
//! it ends, and the report divides rows and bytes by server CPU-seconds and
//! warns when other work competed for the CPUs. Every reading is optional:
//! a missing file (no PSI in the kernel, a server that exited) is reported
//! as unknown, never as an error that stops the run.
//!
//! Parsing is separate from reading so it is tested on literal text.

use std::path::Path;
use std::time::Instant;

/// Units of the `utime`/`stime` fields of `/proc/PID/stat` (`USER_HZ`, what
/// `sysconf(_SC_CLK_TCK)` returns): 100 on every architecture Linux runs on
/// except alpha and ia64. A constant, so the crate needs no libc binding.
const USER_HZ: u64 = 100;

/// `some avg10` above this (percent of the last 10 s in which at least one
/// runnable task waited for a CPU) means other work competed with the run.
pub const PSI_BUSY_AVG10_PCT: f64 = 10.0;

/// Bounds the scan of `/proc/*/fd` when finding a listener, so a machine
/// with huge fd tables cannot make start-up crawl.
const FD_SCAN_MAX: usize = 1 << 20;

/// CPU time (user + system) in ticks from the text of `/proc/PID/stat`.
/// The command name (field 2) is in parentheses and may hold spaces or
/// parentheses itself, so fields are counted after the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, utime 14, stime 15.
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `some` line of `/proc/pressure/cpu`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Psi {
    /// Percent of the last 10 s with a task waiting for a CPU.
    pub some_avg10_pct: f64,
    /// Cumulative waiting time since boot, microseconds.
    pub some_total_us: u64,
}

pub fn parse_psi(text: &str) -> Option<Psi> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    Some(Psi {
        some_avg10_pct: field("avg10")?.parse().ok()?,
        some_total_us: field("total")?.parse().ok()?,
    })
}

/// Socket inodes listening on `port` in the text of `/proc/net/tcp` or
/// `/proc/net/tcp6` (local address `HEXIP:HEXPORT`, state `0A` = LISTEN).
pub fn parse_listen_inodes(net_tcp: &str, port: u16) -> Vec<u64> {
    net_tcp
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit_once(':')?.1;
            let listening = *f.get(3)? == "0A";
            let same = u16::from_str_radix(local_port, 16).ok()? == port;
            (listening && same).then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// Processes other than `skip_pid` holding a socket that listens on `port`
/// (the caller passes its own pid: a generator is never the server). Only
/// processes whose `/proc/PID/fd` this user may read are found.
pub fn find_listeners(port: u16, skip_pid: u32) -> Vec<u32> {
    let mut inodes = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            inodes.extend(parse_listen_inodes(&t, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    let mut scanned = 0;
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            scanned += 1;
            if scanned > FD_SCAN_MAX {
                return pids;
            }
            let hit = std::fs::read_link(fd.path())
                .is_ok_and(|l| wanted.iter().any(|w| Path::new(w) == l));
            if hit && pid != skip_pid {
                pids.push(pid);
                break;
            }
        }
    }
    pids
}

/// CPU ticks (user + system) a process has used, or `None` if it is gone.
fn cpu_ticks(pid: &str) -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The readings taken at one instant.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: Instant,
    /// Summed over the server pids; `None` when there are none or any of
    /// them could not be read (a partial sum would understate the CPU).
    pub server_ticks: Option<u64>,
    pub self_ticks: Option<u64>,
    pub psi: Option<Psi>,
}

impl Snapshot {
    pub fn take(server_pids: &[u32]) -> Snapshot {
        let server_ticks = if server_pids.is_empty() {
            None
        } else {
            server_pids
                .iter()
                .map(|p| cpu_ticks(&p.to_string()))
                .sum::<Option<u64>>()
        };
        Snapshot {
            at: Instant::now(),
            server_ticks,
            self_ticks: cpu_ticks("self"),
            psi: std::fs::read_to_string("/proc/pressure/cpu")
                .ok()
                .and_then(|t| parse_psi(&t)),
        }
    }
}

/// The difference between two snapshots.
#[derive(Clone, Debug)]
pub struct Usage {
    pub server_pids: Vec<u32>,
    pub window_s: f64,
    pub server_cpu_s: Option<f64>,
    pub load_cpu_s: Option<f64>,
    pub psi_before: Option<Psi>,
    pub psi_after: Option<Psi>,
}

impl Usage {
    pub fn between(a: &Snapshot, b: &Snapshot, server_pids: Vec<u32>) -> Usage {
        let secs =
            |x: Option<u64>, y: Option<u64>| Some(y?.saturating_sub(x?) as f64 / USER_HZ as f64);
        Usage {
            server_pids,
            window_s: b.at.saturating_duration_since(a.at).as_secs_f64(),
            server_cpu_s: secs(a.server_ticks, b.server_ticks),
            load_cpu_s: secs(a.self_ticks, b.self_ticks),
            psi_before: a.psi,
            psi_after: b.psi,
        }
    }

    /// Percent of the window in which some task waited for a CPU: the
    /// exact figure for the run, where avg10 is a decaying average.
    pub fn stalled_pct(&self) -> Option<f64> {
        let (a, b) = (self.psi_before?, self.psi_after?);
        (self.window_s > 0.0)
            .then(|| b.some_total_us.saturating_sub(a.some_total_us) as f64 / (self.window_s * 1e4))
    }

    /// The machine was busy when the run started or ended, or during it.
    pub fn busy(&self) -> bool {
        let over = |p: Option<Psi>| p.is_some_and(|p| p.some_avg10_pct > PSI_BUSY_AVG10_PCT);
        over(self.psi_before)
            || over(self.psi_after)
            || self.stalled_pct().is_some_and(|s| s > PSI_BUSY_AVG10_PCT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks() {
        // (text, utime + stime); names with spaces and parentheses included.
        let cases: &[(&str, Option<u64>)] = &[
            (
                "4242 (sluice) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 5 0",
                Some(287),
            ),
            (
                "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0",
                Some(3),
            ),
            ("7 (x) R 1 7", None),
            ("no parenthesis 1 2 3", None),
            ("7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 2 0", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_stat_ticks(text), *want, "{text}");
        }
    }

    #[test]
    fn psi() {
        let t = "some avg10=12.50 avg60=3.00 avg300=1.00 total=987654\n\
                 full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(
            parse_psi(t),
            Some(Psi {
                some_avg10_pct: 12.5,
                some_total_us: 987654
            })
        );
        assert_eq!(parse_psi("full avg10=1.00 total=5\n"), None);
        assert_eq!(parse_psi("some avg60=1.00 total=5\n"), None);
        assert_eq!(parse_psi(""), None);
    }

    #[test]
    fn listen_inodes() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5551 1 0 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:E474 01 00000000:00000000 00:00000000 00000000  1000        0 5552 1 0\n\
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5553 1 0\n\
   3: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5554 1 0\n";
        // Port 8080 = 0x1F90: the loopback and the wildcard listener, not
        // the established connection nor the neighbouring port.
        assert_eq!(parse_listen_inodes(t, 8080), vec![5551, 5553]);
        assert_eq!(parse_listen_inodes(t, 8081), vec![5554]);
        assert!(parse_listen_inodes(t, 80).is_empty());
    }

    #[test]
    fn finds_the_listening_process() {
        // The test process itself listens; skipping pid 0 (never a user
        // process) it must be found, skipping itself it must not.
        let me = std::process::id();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(find_listeners(port, 0), vec![me]);
        assert!(find_listeners(port, me).is_empty());
        drop(l);
        assert!(find_listeners(port, 0).is_empty());
    }

    #[test]
    fn usage_between_snapshots() {
        let now = Instant::now();
        let psi = |avg10, total| {
            Some(Psi {
                some_avg10_pct: avg10,
                some_total_us: total,
            })
        };
        let a = Snapshot {
            at: now,
            server_ticks: Some(1000),
            self_ticks: Some(10),
            psi: psi(1.0, 5_000_000),
        };
        let b = Snapshot {
            at: now + std::time::Duration::from_secs(10),
            server_ticks: Some(1950),
            self_ticks: Some(510),
            psi: psi(2.0, 6_000_000),
        };
        let u = Usage::between(&a, &b, vec![1]);
        assert_eq!(u.server_cpu_s, Some(9.5));
        assert_eq!(u.load_cpu_s, Some(5.0));
        // 1 s of stall in 10 s.
        assert!((u.stalled_pct().unwrap() - 10.0).abs() < 1e-9);
        assert!(!u.busy(), "10% exactly is not over the threshold");
        let b2 = Snapshot {
            psi: psi(2.0, 7_000_000),
            ..b.clone()
        };
        assert!(Usage::between(&a, &b2, vec![1]).busy());
        let b3 = Snapshot {
            psi: psi(30.0, 5_000_000),
            ..b.clone()
        };
        assert!(Usage::between(&a, &b3, vec![1]).busy());
        let missing = Snapshot {
            server_ticks: None,
            psi: None,
            ..b
        };
        let u = Usage::between(&a, &missing, vec![]);
        assert_eq!(
            (u.server_cpu_s, u.stalled_pct(), u.busy()),
            (None, None, false)
        );
    }
}
