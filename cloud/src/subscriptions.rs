//! Client subscriptions and `notify` fan-out (DESIGN §6 "Push",
//! PROTOCOL.md §6).
//!
//! Subscriptions belong to a client connection, named by its frontend
//! routing id. After a write to a list reaches its quorum the proxy notifies
//! every other connection subscribed to it. Memory is bounded: a connection
//! holds at most [`SubscriptionLimits::per_client`] lists, the proxy at most
//! [`SubscriptionLimits::total`] subscriptions, and a connection silent for
//! [`SubscriptionLimits::idle`] loses its subscriptions (clients that watch
//! lists ping meanwhile, and subscribe again after a reconnect). Sans-IO.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::ListId;

/// Bounds on subscription state.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    /// Lists one connection may subscribe to.
    pub per_client: usize,
    /// Subscriptions over all connections.
    pub total: usize,
    /// A connection silent this long is forgotten.
    pub idle: Duration,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        SubscriptionLimits {
            per_client: 10_000,
            total: 1_000_000,
            idle: Duration::from_secs(600),
        }
    }
}

/// A subscribe that would exceed a bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many subscriptions: {0}")]
pub struct TooMany(pub &'static str);

#[derive(Debug)]
struct Client {
    lists: BTreeSet<ListId>,
    last_seen: Instant,
}

/// Every connection's subscriptions.
#[derive(Debug, Default)]
pub struct Subscriptions {
    clients: HashMap<Bytes, Client>,
    by_list: HashMap<ListId, HashSet<Bytes>>,
    total: usize,
    limits: SubscriptionLimits,
}

impl Subscriptions {
    /// Empty, with these bounds.
    pub fn new(limits: SubscriptionLimits) -> Self {
        Subscriptions {
            limits,
            ..Default::default()
        }
    }

    /// Any message from `client`: it is alive.
    pub fn touch(&mut self, client: &Bytes, now: Instant) {
        if let Some(c) = self.clients.get_mut(client) {
            c.last_seen = now;
        }
    }

    /// Add `lists`; returns the connection's lists afterwards. All or nothing.
    pub fn subscribe(
        &mut self,
        client: &Bytes,
        lists: &[ListId],
        now: Instant,
    ) -> Result<Vec<ListId>, TooMany> {
        let current = self.clients.get(client).map(|c| &c.lists);
        let new: BTreeSet<ListId> = lists
            .iter()
            .filter(|l| !current.is_some_and(|c| c.contains(l)))
            .copied()
            .collect();
        let have = current.map_or(0, BTreeSet::len);
        if have + new.len() > self.limits.per_client {
            return Err(TooMany("per connection"));
        }
        if self.total + new.len() > self.limits.total {
            return Err(TooMany("on this proxy"));
        }
        let c = self
            .clients
            .entry(client.clone())
            .or_insert_with(|| Client {
                lists: BTreeSet::new(),
                last_seen: now,
            });
        c.last_seen = now;
        for l in new {
            c.lists.insert(l);
            self.by_list.entry(l).or_default().insert(client.clone());
            self.total += 1;
        }
        Ok(c.lists.iter().copied().collect())
    }

    /// Remove `lists`; returns the connection's remaining lists.
    pub fn unsubscribe(&mut self, client: &Bytes, lists: &[ListId], now: Instant) -> Vec<ListId> {
        let Some(c) = self.clients.get_mut(client) else {
            return Vec::new();
        };
        c.last_seen = now;
        for l in lists {
            if c.lists.remove(l) {
                self.total -= 1;
                remove_from_list(&mut self.by_list, l, client);
            }
        }
        let remaining: Vec<ListId> = c.lists.iter().copied().collect();
        if remaining.is_empty() {
            self.clients.remove(client);
        }
        remaining
    }

    /// Forget a connection (it is gone or idle).
    pub fn drop_client(&mut self, client: &Bytes) {
        if let Some(c) = self.clients.remove(client) {
            for l in &c.lists {
                self.total -= 1;
                remove_from_list(&mut self.by_list, l, client);
            }
        }
    }

    /// Connections to notify after a write to `list` by `writer`.
    pub fn targets(&self, list: &ListId, writer: &Bytes) -> Vec<Bytes> {
        self.by_list
            .get(list)
            .map(|s| s.iter().filter(|c| *c != writer).cloned().collect())
            .unwrap_or_default()
    }

    /// Forget connections silent for longer than the idle bound.
    pub fn expire(&mut self, now: Instant) -> usize {
        let idle = self.limits.idle;
        let stale: Vec<Bytes> = self
            .clients
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > idle)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.drop_client(k);
        }
        stale.len()
    }

    /// Subscriptions held over all connections.
    pub fn total(&self) -> usize {
        self.total
    }
}

fn remove_from_list(by_list: &mut HashMap<ListId, HashSet<Bytes>>, l: &ListId, client: &Bytes) {
    if let Some(s) = by_list.get_mut(l) {
        s.remove(client);
        if s.is_empty() {
            by_list.remove(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn l(i: u8) -> ListId {
        ListId::parse(&format!("00000000-0000-4000-8000-0000000000{i:02x}")).unwrap()
    }

    #[test]
    fn fan_out_excludes_the_writer() {
        let now = Instant::now();
        let mut s = Subscriptions::new(SubscriptionLimits::default());
        s.subscribe(&c("alice"), &[l(1)], now).unwrap();
        s.subscribe(&c("bob"), &[l(1), l(2)], now).unwrap();
        let mut t = s.targets(&l(1), &c("alice"));
        t.sort();
        assert_eq!(t, vec![c("bob")]);
        assert!(s.targets(&l(3), &c("alice")).is_empty());
        assert_eq!(s.targets(&l(2), &c("carol")), vec![c("bob")]);
    }

    #[test]
    fn subscribe_and_unsubscribe_report_the_full_set() {
        let now = Instant::now();
        let mut s = Subscriptions::new(SubscriptionLimits::default());
        assert_eq!(
            s.subscribe(&c("a"), &[l(2), l(1)], now).unwrap(),
            vec![l(1), l(2)]
        );
        assert_eq!(
            s.subscribe(&c("a"), &[l(1)], now).unwrap(),
            vec![l(1), l(2)]
        );
        assert_eq!(s.total(), 2);
        assert_eq!(s.unsubscribe(&c("a"), &[l(1), l(9)], now), vec![l(2)]);
        assert_eq!(s.unsubscribe(&c("a"), &[l(2)], now), Vec::<ListId>::new());
        assert_eq!(s.total(), 0);
        assert!(s.targets(&l(2), &c("x")).is_empty());
    }

    #[test]
    fn subscriptions_are_bounded() {
        let now = Instant::now();
        let limits = SubscriptionLimits {
            per_client: 2,
            total: 3,
            idle: Duration::from_secs(1),
        };
        let mut s = Subscriptions::new(limits);
        assert!(s.subscribe(&c("a"), &[l(1), l(2), l(3)], now).is_err());
        s.subscribe(&c("a"), &[l(1), l(2)], now).unwrap();
        assert!(s.subscribe(&c("b"), &[l(1), l(2)], now).is_err());
        s.subscribe(&c("b"), &[l(1)], now).unwrap();
        assert_eq!(s.total(), 3);
    }

    #[test]
    fn silent_clients_are_dropped() {
        let t0 = Instant::now();
        let limits = SubscriptionLimits {
            idle: Duration::from_secs(10),
            ..Default::default()
        };
        let mut s = Subscriptions::new(limits);
        s.subscribe(&c("a"), &[l(1)], t0).unwrap();
        s.subscribe(&c("b"), &[l(1)], t0).unwrap();
        s.touch(&c("b"), t0 + Duration::from_secs(8));
        assert_eq!(s.expire(t0 + Duration::from_secs(11)), 1);
        assert_eq!(s.targets(&l(1), &c("z")), vec![c("b")]);
        assert_eq!(s.total(), 1);
    }
}
