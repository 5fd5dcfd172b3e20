//! What a change that crashes Automerge may cost a worker (DESIGN §5:
//! "allocation bombs contained by a limit the process cannot exceed").
//!
//! automerge 0.12 panics on some malformed changes that pass every check
//! before it. The panic is caught and the change quarantined, but memory
//! Automerge took before panicking is not all given back (measured: +166 MiB
//! kept for good in a debug build after one such change; `malloc_trim` does
//! not recover it, so it is held, not just cached by the allocator). The
//! store thread samples the process's resident set about once a second;
//! after a poison change it trims the allocator, and if the process still
//! holds more than [`POISON_ALLOWANCE_KIB`] above the last sample it
//! replaces itself with a fresh copy (`exec` of the same program and
//! arguments: same pid, so a supervisor sees nothing; everything
//! acknowledged is already committed, and the quarantine is in SQLite, so
//! the same bytes are refused at once afterwards). The links of the new
//! process reconnect and authenticate again within about a second.

use std::time::{Duration, Instant};

use tracing::{error, warn};

/// Resident memory a poison change may leave behind before the worker
/// restarts itself.
pub const POISON_ALLOWANCE_KIB: u64 = 32 * 1024;
/// How often the resident set is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// This process's resident set in KiB (`/proc/self/statm`), if readable.
pub fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()? / 1024)
}

/// The store thread's memory watch (see the module docs).
#[derive(Debug)]
pub struct MemoryWatch {
    sampled_at: Instant,
    sampled_kib: Option<u64>,
}

impl Default for MemoryWatch {
    fn default() -> Self {
        MemoryWatch {
            sampled_at: Instant::now(),
            sampled_kib: resident_kib(),
        }
    }
}

impl MemoryWatch {
    /// Before a batch: refresh the sample if it is old.
    pub fn tick(&mut self) {
        if self.sampled_at.elapsed() >= SAMPLE_EVERY {
            self.sampled_at = Instant::now();
            self.sampled_kib = resident_kib();
        }
    }

    /// After a poison change (or a panicked batch), once its replies are
    /// sent: give memory back, or restart if it is held.
    pub fn after_poison(&mut self) {
        trim_allocator();
        let (Some(before), Some(now)) = (self.sampled_kib, resident_kib()) else {
            return;
        };
        let kept = now.saturating_sub(before);
        if kept <= POISON_ALLOWANCE_KIB {
            return;
        }
        warn!(
            kept_mib = kept / 1024,
            "a change that crashed Automerge left memory held; restarting this worker process"
        );
        reexec();
    }
}

/// Give freed heap memory back to the system (glibc keeps it otherwise).
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Replace this process with a fresh run of the same program and arguments.
/// Returns only if that fails (logged).
fn reexec() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else {
            error!("cannot find this program to restart it");
            return;
        };
        let e = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec();
        error!("cannot restart this worker process: {e}");
    }
}
