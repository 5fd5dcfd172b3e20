//! W6's pure parts (no sockets): how many devices fit, which source address
//! and list each device gets, and matching a received `notify` to the write
//! that caused it ([`Writes`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Instant;

use engine::{ChangeHash, ListId};

/// Connections kept free under the proxy's descriptor capacity (the writer,
/// stray clients of earlier workloads).
pub const PROXY_MARGIN: u64 = 64;
/// Descriptors the bench process keeps for itself (stores, the cluster's
/// pipes and logs, the writer).
pub const BENCH_RESERVE: u64 = 512;

/// How many of `requested` devices fit: the proxy holds
/// `cloud::proxy::caps::FDS_PER_CONNECTION` descriptors per connection
/// (guarded or not) under `proxy_nofile`, the bench one each under
/// `bench_nofile`. Returns the count and, when it is below `requested`,
/// what limits it.
pub fn fit_devices(
    requested: usize,
    proxy_nofile: u64,
    bench_nofile: u64,
) -> (usize, Option<String>) {
    let proxy_fit =
        cloud::proxy::caps::Caps::fd_capacity(proxy_nofile).saturating_sub(PROXY_MARGIN);
    let bench_fit = bench_nofile.saturating_sub(BENCH_RESERVE);
    let fit = proxy_fit.min(bench_fit) as usize;
    if requested <= fit {
        return (requested, None);
    }
    let why = if proxy_fit <= bench_fit {
        format!(
            "proxy fds: {} per connection, limit {proxy_nofile}",
            cloud::proxy::caps::FDS_PER_CONNECTION
        )
    } else {
        format!("bench fds: 1 per device, limit {bench_nofile}")
    };
    (fit, Some(why))
}

/// Source address of device `k` when each address carries at most
/// `per_source` devices: 127.1.0.0/16, skipping .0 and .255 hosts.
pub fn source(k: usize, per_source: usize) -> Ipv4Addr {
    let a = k / per_source.max(1);
    Ipv4Addr::new(127, 1, (a / 250 % 256) as u8, (a % 250 + 1) as u8)
}

/// The list (index) device `k` of `lists` subscribes to: spread evenly.
pub fn list_of(k: usize, lists: usize) -> usize {
    k % lists.max(1)
}

/// Subscribers of each list among `devices` (`counts[list]`).
pub fn subscribers(devices: usize, lists: usize) -> Vec<usize> {
    let mut counts = vec![0; lists.max(1)];
    for k in 0..devices {
        counts[list_of(k, lists)] += 1;
    }
    counts
}

/// A write's key: its list and its sorted heads after the write.
type WriteKey = (ListId, Vec<ChangeHash>);

/// Writes in flight: `(list, sorted heads after the write)` → (write index,
/// time just before its sync request). Shared by the writer (which
/// registers) and every device (which looks up each `notify`).
#[derive(Debug, Default)]
pub struct Writes {
    by_heads: Mutex<HashMap<WriteKey, (usize, Instant)>>,
}

impl Writes {
    /// Register write `index` on `list`, whose heads will be `heads`.
    pub fn register(&self, list: ListId, mut heads: Vec<ChangeHash>, index: usize, at: Instant) {
        heads.sort();
        if let Ok(mut map) = self.by_heads.lock() {
            map.insert((list, heads), (index, at));
        }
    }

    /// The write a `notify {list, heads}` announces, if any.
    pub fn find(&self, list: ListId, heads: &[ChangeHash]) -> Option<(usize, Instant)> {
        let mut heads = heads.to_vec();
        heads.sort();
        self.by_heads.lock().ok()?.get(&(list, heads)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_respect_the_per_source_share() {
        let per = 200;
        let mut count: HashMap<Ipv4Addr, usize> = HashMap::new();
        for k in 0..10_000 {
            *count.entry(source(k, per)).or_default() += 1;
        }
        assert_eq!(count.len(), 50);
        assert!(count.values().all(|&n| n == per));
        assert!(count
            .keys()
            .all(|a| a.octets()[0..2] == [127, 1] && a.octets()[3] != 0));
        // Past 250 addresses the third octet moves on.
        assert_eq!(source(250 * per, per), Ipv4Addr::new(127, 1, 1, 1));
    }

    #[test]
    fn devices_spread_evenly_over_lists() {
        let counts = subscribers(10_000, 2_000);
        assert_eq!(counts.len(), 2_000);
        assert!(counts.iter().all(|&n| n == 5));
        let uneven = subscribers(7, 3);
        assert_eq!(uneven, vec![3, 2, 2]);
    }

    #[test]
    fn the_fit_is_clamped_by_the_proxys_descriptors() {
        // 10,000 devices fit under 20,000 descriptors (1 each + 256).
        assert_eq!(fit_devices(10_000, 20_000, 20_000), (10_000, None));
        // 8,000 descriptors: 8,000 - 256 - 64 = 7,680 devices.
        let (n, why) = fit_devices(10_000, 8_000, 20_000);
        assert_eq!(n, 7_680);
        assert!(why.is_some_and(|w| w.contains("proxy fds: 1 per connection, limit 8000")));
        assert_eq!(fit_devices(200, 8_000, 20_000), (200, None));
        let (n, why) = fit_devices(10_000, 1 << 20, 4_096);
        assert_eq!(n, 4_096 - 512);
        assert!(why.is_some_and(|w| w.starts_with("bench fds")));
    }

    #[test]
    fn notifies_match_their_write_whatever_the_heads_order() {
        let writes = Writes::default();
        let list = ListId::new_random();
        let (a, b) = (ChangeHash([1; 32]), ChangeHash([2; 32]));
        let t = Instant::now();
        writes.register(list, vec![b, a], 7, t);
        assert_eq!(writes.find(list, &[a, b]), Some((7, t)));
        assert_eq!(writes.find(list, &[a]), None);
        assert_eq!(writes.find(ListId::new_random(), &[a, b]), None);
    }
}
