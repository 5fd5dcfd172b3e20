//! Raising the process's open-file limit (`RLIMIT_NOFILE`).
//!
//! Every connection is a file descriptor, and the usual soft limit (1,024)
//! would stop a proxy, or a benchmark simulating devices, long before its
//! configured caps. [`raise_nofile`] lifts the soft limit to the hard one
//! (the most an unprivileged process may) and reports both.

/// A process's descriptor limits after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (the ceiling of the soft one).
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the
/// limits in force. Fails only if the limits cannot be read or set.
pub fn raise_nofile() -> std::io::Result<FdLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a `rlimit` through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads a `rlimit` through a valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok(FdLimit {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::raise_nofile;

    #[test]
    fn soft_limit_reaches_the_hard_limit() {
        let first = raise_nofile().unwrap();
        assert_eq!(first.soft, first.hard);
        // Idempotent.
        assert_eq!(raise_nofile().unwrap(), first);
    }
}
