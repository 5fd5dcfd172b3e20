//! A process's memory, read from `/proc` (the flood and many-device tests
//! bound the proxy's and workers' RSS).

/// A process's resident memory now and at its peak, in KiB, from
/// `/proc/PID/status` (`VmRSS`, `VmHWM`); `None` if unreadable.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::rss_kib;

    #[test]
    fn this_process_has_resident_memory() {
        let (now, peak) = rss_kib(std::process::id()).unwrap();
        assert!(now > 0 && peak >= now);
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
