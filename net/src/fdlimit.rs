//! Raising the process's open-file limit (`RLIMIT_NOFILE`).
//!
//! Every connection is a file descriptor, and the usual soft limit (1,024)
//! would stop a proxy, or a benchmark simulating devices, long before its
//! configured caps. [`raise_nofile`] takes how many descriptors the caller
//! wants and:
//!
//! - lifts the soft limit to the hard one (what any process may do);
//! - when the hard limit is below the wanted count, raises the hard limit
//!   too, up to `/proc/sys/fs/nr_open` (the kernel's ceiling). Only a
//!   process with `CAP_SYS_RESOURCE` (root, unless the capability was
//!   dropped, as in some containers) may; otherwise the soft = hard result
//!   stands and the caller compares [`FdLimit::soft`] with what it wanted.
//!
//! It never lowers a limit. The arithmetic is [`plan`], pure and tested.

/// Where the kernel's ceiling for `RLIMIT_NOFILE` is published.
const NR_OPEN: &str = "/proc/sys/fs/nr_open";

/// A process's descriptor limits after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (the ceiling of the soft one).
    pub hard: u64,
}

/// The limits to ask for, given the current ones, the wanted count and the
/// kernel's ceiling (`nr_open`, `None` if unknown): both at least the
/// current hard limit, raised to `want` but not past `nr_open`.
pub fn plan(current: FdLimit, want: u64, nr_open: Option<u64>) -> FdLimit {
    let wanted = nr_open.map_or(want, |ceiling| want.min(ceiling));
    let hard = current.hard.max(wanted);
    FdLimit { soft: hard, hard }
}

/// Raises `RLIMIT_NOFILE` for `want` descriptors as far as this process
/// may (see the module docs) and returns the limits in force. Fails only
/// if the limits cannot be read, or the soft one cannot be set to the hard.
pub fn raise_nofile(want: u64) -> std::io::Result<FdLimit> {
    let current = get()?;
    let nr_open = std::fs::read_to_string(NR_OPEN)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let target = plan(current, want, nr_open);
    if target == current {
        return Ok(current);
    }
    if target.hard > current.hard && set(target).is_ok() {
        return Ok(target);
    }
    // Not permitted to raise the hard limit (no CAP_SYS_RESOURCE): take
    // what any process may.
    let fallback = FdLimit {
        soft: current.hard,
        hard: current.hard,
    };
    if fallback != current {
        set(fallback)?;
    }
    Ok(fallback)
}

/// The limits in force.
fn get() -> std::io::Result<FdLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a `rlimit` through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(FdLimit {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// Sets the limits.
fn set(limit: FdLimit) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: limit.soft,
        rlim_max: limit.hard,
    };
    // SAFETY: setrlimit reads a `rlimit` through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this process holds `CAP_SYS_RESOURCE` (bit 24 of `CapEff` in
/// `/proc/self/status`), which raising a hard limit needs.
pub fn may_raise_hard_limit() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|caps| caps >> CAP_SYS_RESOURCE & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(soft: u64, hard: u64) -> FdLimit {
        FdLimit { soft, hard }
    }

    #[test]
    fn plan_raises_to_the_wanted_count_within_the_kernel_ceiling() {
        // Soft always reaches hard; hard grows to the wanted count.
        assert_eq!(
            plan(lim(1024, 20_000), 100, Some(1 << 20)),
            lim(20_000, 20_000)
        );
        assert_eq!(
            plan(lim(1024, 20_000), 49_408, Some(1 << 20)),
            lim(49_408, 49_408)
        );
        // Never past nr_open, never below the current hard limit.
        assert_eq!(
            plan(lim(1024, 20_000), 1 << 30, Some(1 << 20)),
            lim(1 << 20, 1 << 20)
        );
        assert_eq!(
            plan(lim(1024, 20_000), 30_000, Some(10_000)),
            lim(20_000, 20_000)
        );
        assert_eq!(plan(lim(1024, 4096), 30_000, None), lim(30_000, 30_000));
    }

    #[test]
    fn soft_limit_reaches_the_hard_limit_and_is_idempotent() {
        let first = raise_nofile(0).unwrap();
        assert_eq!(first.soft, first.hard);
        assert_eq!(raise_nofile(0).unwrap(), first);
        assert_eq!(get().unwrap(), first);
    }

    #[test]
    fn asking_for_more_than_the_hard_limit_raises_it_when_permitted() {
        let before = raise_nofile(0).unwrap();
        let want = before.hard + 1000;
        let nr_open: u64 = std::fs::read_to_string(NR_OPEN)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u64::MAX);
        if want > nr_open {
            eprintln!(
                "skipped: the hard limit {} is already near nr_open {nr_open}",
                before.hard
            );
            return;
        }
        let after = raise_nofile(want).unwrap();
        assert_eq!(get().unwrap(), after);
        if may_raise_hard_limit() {
            assert_eq!(after, lim(want, want));
        } else {
            eprintln!(
                "no CAP_SYS_RESOURCE: checked only the fallback (soft = hard = {})",
                before.hard
            );
            assert_eq!(after, before);
        }
    }
}
