//! Whom the guard evicts when a connection arrives and a cap is reached
//! (DESIGN §5: "no crowd of idle connections from one address can lock out
//! others"). Sans-IO: connections are keys with a source address and a
//! reading of when they were last active; [`Crowd::make_room`] names the
//! victims, the caller closes them.
//!
//! Rules, applied to each new connection from address `a`:
//!
//! 1. if `a` already holds `max_per_source` connections, evict `a`'s least
//!    recently active one (an address's crowd only ever costs itself);
//! 2. else if `max_connections` are open, evict the least recently active
//!    connection of all.
//!
//! So a client at another address always gets in, and an address that
//! reconnects in a loop only recycles its own slots.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Something that knows when its connection was last active (any unit that
/// grows with time; smaller is older).
pub trait Recency {
    /// The time of the last activity.
    fn last_active(&self) -> u64;
}

/// Why a connection was chosen for eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Its address was at `max_per_source`.
    PerSource,
    /// The guard was at `max_connections`.
    Total,
}

/// The open connections (see the module docs).
#[derive(Debug)]
pub struct Crowd<K, A> {
    max_total: usize,
    max_per_source: usize,
    open: HashMap<K, (IpAddr, A)>,
    per_source: HashMap<IpAddr, usize>,
}

impl<K: Copy + Eq + Hash, A: Recency> Crowd<K, A> {
    /// An empty crowd with these caps (each at least 1).
    pub fn new(max_total: usize, max_per_source: usize) -> Self {
        Crowd {
            max_total: max_total.max(1),
            max_per_source: max_per_source.max(1),
            open: HashMap::new(),
            per_source: HashMap::new(),
        }
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Before admitting a connection from `source`: the connections to
    /// close (already forgotten here), so that the new one fits.
    pub fn make_room(&mut self, source: IpAddr) -> Vec<(K, Eviction)> {
        let mut victims = Vec::new();
        while self.per_source.get(&source).copied().unwrap_or(0) >= self.max_per_source {
            match self.least_recent(|ip| *ip == source) {
                Some(k) => {
                    self.remove(k);
                    victims.push((k, Eviction::PerSource));
                }
                None => break,
            }
        }
        while self.open.len() >= self.max_total {
            match self.least_recent(|_| true) {
                Some(k) => {
                    self.remove(k);
                    victims.push((k, Eviction::Total));
                }
                None => break,
            }
        }
        victims
    }

    /// Record an admitted connection.
    pub fn admit(&mut self, key: K, source: IpAddr, activity: A) {
        if self.open.insert(key, (source, activity)).is_none() {
            *self.per_source.entry(source).or_insert(0) += 1;
        }
    }

    /// A connection ended (or was evicted); unknown keys are ignored.
    pub fn remove(&mut self, key: K) {
        if let Some((ip, _)) = self.open.remove(&key) {
            if let Some(n) = self.per_source.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&ip);
                }
            }
        }
    }

    fn least_recent(&self, matches: impl Fn(&IpAddr) -> bool) -> Option<K> {
        self.open
            .iter()
            .filter(|(_, (ip, _))| matches(ip))
            .min_by_key(|(_, (_, a))| a.last_active())
            .map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Clone)]
    struct Clock(Rc<Cell<u64>>);

    impl Recency for Clock {
        fn last_active(&self) -> u64 {
            self.0.get()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn at(t: u64) -> Clock {
        Clock(Rc::new(Cell::new(t)))
    }

    #[test]
    fn an_address_at_its_cap_evicts_its_own_least_recent_connection() {
        let mut crowd = Crowd::new(100, 3);
        let clocks: Vec<Clock> = (0..3).map(|t| at(10 + t)).collect();
        for (k, c) in clocks.iter().enumerate() {
            assert!(crowd.make_room(ip(2)).is_empty());
            crowd.admit(k, ip(2), c.clone());
        }
        crowd.admit(99, ip(1), at(0)); // another address, older than all
        clocks[0].0.set(50); // connection 0 became active again
        assert_eq!(crowd.make_room(ip(2)), vec![(1, Eviction::PerSource)]);
        assert_eq!(crowd.len(), 3);
    }

    #[test]
    fn at_the_total_cap_the_least_recently_active_of_all_goes() {
        let mut crowd = Crowd::new(3, 3);
        crowd.admit(0, ip(1), at(5)); // the legitimate client, active at 5
        crowd.admit(1, ip(2), at(1));
        crowd.admit(2, ip(3), at(9));
        assert_eq!(crowd.make_room(ip(4)), vec![(1, Eviction::Total)]);
        crowd.admit(3, ip(4), at(10));
        assert_eq!(crowd.make_room(ip(5)), vec![(0, Eviction::Total)]);
    }

    #[test]
    fn no_idle_crowd_from_one_address_keeps_another_address_out() {
        // 2,000 idle connections from one address never take the slot of a
        // client at another address, however old its last activity.
        let mut crowd = Crowd::new(1024, 256);
        crowd.admit(usize::MAX, ip(1), at(0));
        for k in 0..2000 {
            for (victim, _) in crowd.make_room(ip(2)) {
                assert_ne!(victim, usize::MAX, "the other address was evicted");
            }
            crowd.admit(k, ip(2), at(1 + k as u64));
        }
        assert_eq!(crowd.len(), 257);
        assert!(crowd.make_room(ip(1)).is_empty(), "room for the client");
    }

    #[test]
    fn removal_of_unknown_or_evicted_keys_is_harmless() {
        let mut crowd: Crowd<u32, Clock> = Crowd::new(2, 2);
        crowd.remove(7);
        crowd.admit(1, ip(1), at(1));
        crowd.admit(2, ip(1), at(2));
        let evicted = crowd.make_room(ip(1));
        for (k, _) in evicted {
            crowd.remove(k);
        }
        crowd.remove(1);
        assert_eq!(crowd.len(), 1);
        assert!(!crowd.is_empty());
    }
}
