//! Injected storage faults, for tests of what the server does when its
//! disk fails: the log writer asks the plan before every write and sync.
//!
//! A plan comes from the `SLUICE_FAULTS` environment variable (absent in
//! production: then every check is one branch on `None`), comma-separated:
//!
//! - `write_eio_after_bytes=N`: every write once N log bytes have been
//!   written fails with EIO (a dying disk: the server must stop
//!   acknowledging and exit);
//! - `sync_eio_after=N`: every fdatasync after the N-th fails with EIO;
//! - `write_enospc_after_bytes=N` with `enospc_ms=M`: writes past N bytes
//!   fail with ENOSPC for M milliseconds from the first failure, then
//!   succeed again (a full disk that an operator frees: the server must
//!   refuse new rows with 503 meanwhile and lose nothing);
//! - `write_delay_ms=N`: every write takes N ms longer (a slow disk: the
//!   owner's buffers fill and back-pressure reaches the clients);
//! - `fill_delay_ms=N`: every write of zeros ahead of the log's data
//!   (`writer.rs`) starts N ms late, so appends catch up with it.
//!
//! Faults are injected before the real call, so a failed write leaves the
//! file as it was: the same state a real failure most often leaves, and
//! the one in which retrying after ENOSPC is safe.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    write_eio_after_bytes: Option<u64>,
    sync_eio_after: Option<u64>,
    write_enospc_after_bytes: Option<u64>,
    enospc_ms: u64,
    write_delay_ms: u64,
    fill_delay_ms: u64,
}

/// A plan and how far the shard's log has come.
#[derive(Debug, Default)]
pub struct Faults {
    plan: FaultPlan,
    written: Cell<u64>,
    syncs: Cell<u64>,
    full_since: Cell<Option<Instant>>,
}

impl FaultPlan {
    /// The plan in `SLUICE_FAULTS`, if set.
    pub fn from_env() -> Result<Option<FaultPlan>, String> {
        match std::env::var("SLUICE_FAULTS") {
            Ok(text) => FaultPlan::parse(&text).map(Some),
            Err(_) => Ok(None),
        }
    }

    pub fn parse(text: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan::default();
        for item in text.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("SLUICE_FAULTS: `{item}` is not key=value"))?;
            let n: u64 = value
                .parse()
                .map_err(|_| format!("SLUICE_FAULTS: `{key}` wants a number, not `{value}`"))?;
            match key {
                "write_eio_after_bytes" => plan.write_eio_after_bytes = Some(n),
                "sync_eio_after" => plan.sync_eio_after = Some(n),
                "write_enospc_after_bytes" => plan.write_enospc_after_bytes = Some(n),
                "enospc_ms" => plan.enospc_ms = n,
                "write_delay_ms" => plan.write_delay_ms = n,
                "fill_delay_ms" => plan.fill_delay_ms = n,
                _ => return Err(format!("SLUICE_FAULTS: unknown fault `{key}`")),
            }
        }
        Ok(plan)
    }
}

impl Faults {
    pub fn new(plan: FaultPlan) -> Faults {
        Faults {
            plan,
            ..Faults::default()
        }
    }

    /// Before writing `len` bytes.
    pub fn write(&self, len: u64) -> io::Result<()> {
        let at = self.written.get();
        if self.plan.write_eio_after_bytes.is_some_and(|n| at >= n) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if self.plan.write_enospc_after_bytes.is_some_and(|n| at >= n) {
            let since = *self.full_since.get().get_or_insert_with(Instant::now);
            self.full_since.set(Some(since));
            if since.elapsed() < Duration::from_millis(self.plan.enospc_ms) {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        self.written.set(at + len);
        Ok(())
    }

    /// How much longer every write takes.
    pub fn write_delay(&self) -> Option<Duration> {
        (self.plan.write_delay_ms > 0).then(|| Duration::from_millis(self.plan.write_delay_ms))
    }

    /// How late every write of zeros ahead starts.
    pub fn fill_delay(&self) -> Option<Duration> {
        (self.plan.fill_delay_ms > 0).then(|| Duration::from_millis(self.plan.fill_delay_ms))
    }

    /// Before an fdatasync.
    pub fn sync(&self) -> io::Result<()> {
        let n = self.syncs.get() + 1;
        self.syncs.set(n);
        if self.plan.sync_eio_after.is_some_and(|after| n > after) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_fire_in_order() {
        assert!(FaultPlan::parse("nope=1").is_err());
        assert!(FaultPlan::parse("sync_eio_after=x").is_err());
        let f = Faults::new(FaultPlan::parse("write_eio_after_bytes=10,sync_eio_after=1").unwrap());
        assert!(f.write(6).is_ok() && f.write(6).is_ok());
        assert_eq!(f.write(1).unwrap_err().raw_os_error(), Some(libc::EIO));
        assert!(f.sync().is_ok());
        assert!(f.sync().is_err());
        let f = Faults::new(FaultPlan::parse("write_enospc_after_bytes=0,enospc_ms=50").unwrap());
        assert_eq!(f.write(1).unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        std::thread::sleep(Duration::from_millis(60));
        assert!(f.write(1).is_ok());
    }
}
