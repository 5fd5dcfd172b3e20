//! Client subscriptions and `notify` fan-out (DESIGN §6 "Push",
//! PROTOCOL.md §6).
//!
//! Subscriptions belong to an **owner**: a named session
//! ([`SessionId`], given in `subscribe`), or else the client connection,
//! named by its frontend routing id. A session is attached to the
//! connection that named it last; naming it on another connection (libzmq
//! reconnects silently with a new random routing id) moves it there with
//! all its lists. A session whose connection is gone keeps its lists,
//! unattached, until it is named again or the idle bound passes. After a
//! write to a list reaches its quorum the proxy notifies the attached
//! connection of every other owner subscribed to it.
//!
//! Memory is bounded: an owner holds at most
//! [`SubscriptionLimits::per_client`] lists, the proxy at most
//! [`SubscriptionLimits::total`] subscriptions, an owner without lists is
//! not kept, and an owner silent for [`SubscriptionLimits::idle`] loses its
//! subscriptions (clients that watch lists ping or re-subscribe meanwhile).
//! Sans-IO.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::SessionId;
use engine::ListId;

/// Bounds on subscription state.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    /// Lists one owner (session or connection) may subscribe to.
    pub per_client: usize,
    /// Subscriptions over all owners.
    pub total: usize,
    /// An owner silent this long is forgotten (a session: also the grace
    /// period after its connection is gone).
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

/// Whose subscriptions: a session's, or a bare connection's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    Session(SessionId),
    Route(Bytes),
}

#[derive(Debug)]
struct Subscriber {
    lists: BTreeSet<ListId>,
    /// The connection pushes go to (`None`: a session whose connection is gone).
    route: Option<Bytes>,
    last_seen: Instant,
    /// Its pushes carry the write's changes when small (PROTOCOL §6.2).
    changes: bool,
}

/// A connection to push a `notify` to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// Its frontend routing id.
    pub route: Bytes,
    /// It asked for the write's changes with the push (`subscribe` with
    /// `changes: true`).
    pub changes: bool,
}

/// Every owner's subscriptions.
#[derive(Debug, Default)]
pub struct Subscriptions {
    owners: HashMap<Owner, Subscriber>,
    /// The session attached to each connection that named one.
    sessions_by_route: HashMap<Bytes, SessionId>,
    by_list: HashMap<ListId, HashSet<Owner>>,
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

    /// The owner a request on `route` acts for: the session it names, else
    /// the session attached to the connection, else the connection.
    fn owner(&self, route: &Bytes, session: Option<&SessionId>) -> Owner {
        match session.or_else(|| self.sessions_by_route.get(route)) {
            Some(s) => Owner::Session(s.clone()),
            None => Owner::Route(route.clone()),
        }
    }

    /// Any message from `client`: it is alive.
    pub fn touch(&mut self, client: &Bytes, now: Instant) {
        let owner = self.owner(client, None);
        if let Some(c) = self.owners.get_mut(&owner) {
            c.last_seen = now;
        }
    }

    /// Attach `session` to `route`: the session moves there, a session
    /// attached there before is detached, and lists the bare connection
    /// held become the session's. Returns whether the session held lists
    /// and was attached elsewhere (or nowhere) until now: pushes to it may
    /// have been missed.
    fn attach(&mut self, route: &Bytes, session: &SessionId, now: Instant) -> bool {
        if let Some(previous) = self.sessions_by_route.get(route) {
            if previous != session {
                if let Some(p) = self.owners.get_mut(&Owner::Session(previous.clone())) {
                    p.route = None;
                }
            }
        }
        let owner = Owner::Session(session.clone());
        let was_elsewhere = self
            .owners
            .get(&owner)
            .is_some_and(|s| !s.lists.is_empty() && s.route.as_ref() != Some(route));
        if let Some(old) = self.owners.get(&owner).and_then(|s| s.route.clone()) {
            if old != route {
                self.sessions_by_route.remove(&old);
            }
        }
        self.sessions_by_route
            .insert(route.clone(), session.clone());
        let bare = Owner::Route(route.clone());
        let moved: Vec<ListId> = self
            .owners
            .remove(&bare)
            .map(|b| b.lists.into_iter().collect())
            .unwrap_or_default();
        for l in &moved {
            self.total -= 1;
            remove_from_list(&mut self.by_list, l, &bare);
        }
        let entry = self
            .owners
            .entry(owner.clone())
            .or_insert_with(|| Subscriber {
                lists: BTreeSet::new(),
                route: None,
                last_seen: now,
                changes: false,
            });
        entry.route = Some(route.clone());
        entry.last_seen = now;
        for l in moved {
            if entry.lists.insert(l) {
                self.by_list.entry(l).or_default().insert(owner.clone());
                self.total += 1;
            }
        }
        was_elsewhere
    }

    /// Add `lists` for the owner of a request on `client` naming `session`;
    /// returns the owner's lists afterwards. All or nothing.
    pub fn subscribe(
        &mut self,
        client: &Bytes,
        session: Option<&SessionId>,
        lists: &[ListId],
        now: Instant,
    ) -> Result<Vec<ListId>, TooMany> {
        self.subscribe_moving(client, session, lists, now)
            .map(|(lists, _)| lists)
    }

    /// [`Subscriptions::subscribe`], also telling whether the named session
    /// moved here from another connection (or from none): see
    /// `Header::Subscribed::moved`.
    pub fn subscribe_moving(
        &mut self,
        client: &Bytes,
        session: Option<&SessionId>,
        lists: &[ListId],
        now: Instant,
    ) -> Result<(Vec<ListId>, bool), TooMany> {
        let owner = self.owner(client, session);
        let current = self.owners.get(&owner).map(|c| &c.lists);
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
        let moved = match session {
            Some(session) => self.attach(client, session, now),
            None => false,
        };
        let c = self
            .owners
            .entry(owner.clone())
            .or_insert_with(|| Subscriber {
                lists: BTreeSet::new(),
                route: Some(client.clone()),
                last_seen: now,
                changes: false,
            });
        c.last_seen = now;
        for l in new {
            c.lists.insert(l);
            self.by_list.entry(l).or_default().insert(owner.clone());
            self.total += 1;
        }
        let all = c.lists.iter().copied().collect();
        self.forget_if_empty(&owner);
        Ok((all, moved))
    }

    /// Remove `lists`; returns the owner's remaining lists.
    pub fn unsubscribe(
        &mut self,
        client: &Bytes,
        session: Option<&SessionId>,
        lists: &[ListId],
        now: Instant,
    ) -> Vec<ListId> {
        if let Some(session) = session {
            let _ = self.attach(client, session, now);
        }
        let owner = self.owner(client, session);
        let Some(c) = self.owners.get_mut(&owner) else {
            return Vec::new();
        };
        c.last_seen = now;
        for l in lists {
            if c.lists.remove(l) {
                self.total -= 1;
                remove_from_list(&mut self.by_list, l, &owner);
            }
        }
        let remaining: Vec<ListId> = c.lists.iter().copied().collect();
        self.forget_if_empty(&owner);
        remaining
    }

    /// An owner with no lists is not kept (its attachment neither).
    fn forget_if_empty(&mut self, owner: &Owner) {
        if self.owners.get(owner).is_some_and(|c| c.lists.is_empty()) {
            self.drop_owner(owner);
        }
    }

    fn drop_owner(&mut self, owner: &Owner) {
        if let Some(c) = self.owners.remove(owner) {
            for l in &c.lists {
                self.total -= 1;
                remove_from_list(&mut self.by_list, l, owner);
            }
            if let (Owner::Session(s), Some(route)) = (owner, &c.route) {
                if self.sessions_by_route.get(route) == Some(s) {
                    self.sessions_by_route.remove(route);
                }
            }
        }
    }

    /// A connection is gone (a send to it failed): its bare subscriptions
    /// are forgotten; its session keeps its lists, unattached, until it is
    /// named again or the idle bound passes.
    pub fn drop_client(&mut self, client: &Bytes) {
        if let Some(session) = self.sessions_by_route.remove(client) {
            if let Some(s) = self.owners.get_mut(&Owner::Session(session)) {
                s.route = None;
            }
        }
        self.drop_owner(&Owner::Route(client.clone()));
    }

    /// Whether the owner of a request on `client` naming `session` wants
    /// the written changes with each push (`subscribe`'s `changes`). An
    /// owner that holds no lists is not kept, so this is said again with
    /// the lists.
    pub fn want_changes(&mut self, client: &Bytes, session: Option<&SessionId>, on: bool) {
        let owner = self.owner(client, session);
        if let Some(c) = self.owners.get_mut(&owner) {
            c.changes = on;
        }
    }

    /// Connections to notify after a write to `list` by `writer`.
    pub fn targets(&self, list: &ListId, writer: &Bytes) -> Vec<Bytes> {
        self.push_targets(list, writer)
            .into_iter()
            .map(|t| t.route)
            .collect()
    }

    /// [`Subscriptions::targets`], each with whether it wants the changes
    /// (one entry per connection, in routing-id order).
    pub fn push_targets(&self, list: &ListId, writer: &Bytes) -> Vec<PushTarget> {
        let mut out: Vec<PushTarget> = self
            .by_list
            .get(list)
            .map(|owners| {
                owners
                    .iter()
                    .filter_map(|o| {
                        let c = self.owners.get(o)?;
                        Some(PushTarget {
                            route: c.route.clone()?,
                            changes: c.changes,
                        })
                    })
                    .filter(|t| t.route != writer)
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.route.cmp(&b.route).then(b.changes.cmp(&a.changes)));
        out.dedup_by(|a, b| a.route == b.route);
        out
    }

    /// Forget owners silent for longer than the idle bound.
    pub fn expire(&mut self, now: Instant) -> usize {
        let idle = self.limits.idle;
        let stale: Vec<Owner> = self
            .owners
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > idle)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.drop_owner(k);
        }
        stale.len()
    }

    /// Subscriptions held over all owners.
    pub fn total(&self) -> usize {
        self.total
    }
}

fn remove_from_list(by_list: &mut HashMap<ListId, HashSet<Owner>>, l: &ListId, owner: &Owner) {
    if let Some(s) = by_list.get_mut(l) {
        s.remove(owner);
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
        s.subscribe(&c("alice"), None, &[l(1)], now).unwrap();
        s.subscribe(&c("bob"), None, &[l(1), l(2)], now).unwrap();
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
            s.subscribe(&c("a"), None, &[l(2), l(1)], now).unwrap(),
            vec![l(1), l(2)]
        );
        assert_eq!(
            s.subscribe(&c("a"), None, &[l(1)], now).unwrap(),
            vec![l(1), l(2)]
        );
        assert_eq!(s.total(), 2);
        assert_eq!(s.unsubscribe(&c("a"), None, &[l(1), l(9)], now), vec![l(2)]);
        assert_eq!(
            s.unsubscribe(&c("a"), None, &[l(2)], now),
            Vec::<ListId>::new()
        );
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
        assert!(s
            .subscribe(&c("a"), None, &[l(1), l(2), l(3)], now)
            .is_err());
        s.subscribe(&c("a"), None, &[l(1), l(2)], now).unwrap();
        assert!(s.subscribe(&c("b"), None, &[l(1), l(2)], now).is_err());
        s.subscribe(&c("b"), None, &[l(1)], now).unwrap();
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
        s.subscribe(&c("a"), None, &[l(1)], t0).unwrap();
        s.subscribe(&c("b"), None, &[l(1)], t0).unwrap();
        s.touch(&c("b"), t0 + Duration::from_secs(8));
        assert_eq!(s.expire(t0 + Duration::from_secs(11)), 1);
        assert_eq!(s.targets(&l(1), &c("z")), vec![c("b")]);
        assert_eq!(s.total(), 1);
    }

    fn session(n: u8) -> SessionId {
        SessionId::parse(&format!("session-{n:02}-0123456789abcdef")).unwrap()
    }

    #[test]
    fn a_session_moves_to_the_new_connection_with_its_lists() {
        let now = Instant::now();
        let mut s = Subscriptions::new(SubscriptionLimits::default());
        let me = session(1);
        s.subscribe(&c("old"), Some(&me), &[l(1), l(2)], now)
            .unwrap();
        assert_eq!(s.targets(&l(1), &c("w")), vec![c("old")]);
        // The old connection dies; the session waits, unattached.
        s.drop_client(&c("old"));
        assert!(s.targets(&l(1), &c("w")).is_empty());
        assert_eq!(s.total(), 2);
        // Named again on a new routing id, with no lists: it comes back,
        // and the proxy says it moved (pushes may have been missed).
        assert_eq!(
            s.subscribe_moving(&c("new"), Some(&me), &[], now).unwrap(),
            (vec![l(1), l(2)], true)
        );
        // Named again on the same connection: it did not move.
        assert_eq!(
            s.subscribe_moving(&c("new"), Some(&me), &[], now).unwrap(),
            (vec![l(1), l(2)], false)
        );
        assert_eq!(s.targets(&l(2), &c("w")), vec![c("new")]);
        // Requests without a session on that connection act for it.
        assert_eq!(s.unsubscribe(&c("new"), None, &[l(1)], now), vec![l(2)]);
        assert_eq!(
            s.subscribe(&c("new"), None, &[l(3)], now).unwrap(),
            vec![l(2), l(3)]
        );
        // Moving without the old connection failing first: only the new one
        // gets pushes, once.
        s.subscribe(&c("third"), Some(&me), &[], now).unwrap();
        assert_eq!(s.targets(&l(2), &c("w")), vec![c("third")]);
        assert!(s.subscribe(&c("new"), None, &[], now).unwrap().is_empty());
    }

    #[test]
    fn the_changes_wish_belongs_to_the_owner_and_moves_with_its_session() {
        let now = Instant::now();
        let mut s = Subscriptions::new(SubscriptionLimits::default());
        let me = session(9);
        s.subscribe(&c("a"), Some(&me), &[l(1)], now).unwrap();
        s.subscribe(&c("b"), None, &[l(1)], now).unwrap();
        let wants = |s: &Subscriptions| -> Vec<(Bytes, bool)> {
            s.push_targets(&l(1), &c("w"))
                .into_iter()
                .map(|t| (t.route, t.changes))
                .collect()
        };
        assert_eq!(wants(&s), vec![(c("a"), false), (c("b"), false)]);
        s.want_changes(&c("a"), Some(&me), true);
        assert_eq!(wants(&s), vec![(c("a"), true), (c("b"), false)]);
        // The session moves (a reconnect): the wish goes with it, also
        // when the keepalive `subscribe` does not repeat it.
        s.subscribe(&c("a2"), Some(&me), &[], now).unwrap();
        assert_eq!(wants(&s), vec![(c("a2"), true), (c("b"), false)]);
        s.want_changes(&c("a2"), None, false);
        assert_eq!(wants(&s), vec![(c("a2"), false), (c("b"), false)]);
        // Nobody holding lists: nothing is kept.
        s.want_changes(&c("nobody"), None, true);
        assert!(!s.owners.contains_key(&Owner::Route(c("nobody"))));
    }

    #[test]
    fn a_bare_connection_that_names_a_session_hands_it_its_lists() {
        let now = Instant::now();
        let mut s = Subscriptions::new(SubscriptionLimits::default());
        s.subscribe(&c("a"), None, &[l(1)], now).unwrap();
        let got = s
            .subscribe(&c("a"), Some(&session(2)), &[l(2)], now)
            .unwrap();
        assert_eq!(got, vec![l(1), l(2)]);
        assert_eq!(s.total(), 2);
        assert_eq!(s.targets(&l(1), &c("w")), vec![c("a")]);
    }

    #[test]
    fn an_unattached_session_is_kept_for_the_idle_bound_then_forgotten() {
        let t0 = Instant::now();
        let limits = SubscriptionLimits {
            idle: Duration::from_secs(10),
            ..Default::default()
        };
        let mut s = Subscriptions::new(limits);
        s.subscribe(&c("a"), Some(&session(3)), &[l(1)], t0)
            .unwrap();
        s.drop_client(&c("a"));
        assert_eq!(s.expire(t0 + Duration::from_secs(9)), 0);
        assert_eq!(s.expire(t0 + Duration::from_secs(11)), 1);
        assert_eq!(s.total(), 0);
        let back = s.subscribe(&c("b"), Some(&session(3)), &[], t0).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn sessions_without_lists_hold_no_memory() {
        let now = Instant::now();
        let mut s = Subscriptions::new(SubscriptionLimits::default());
        for i in 0..100u8 {
            s.subscribe(&c(&format!("r{i}")), Some(&session(i)), &[], now)
                .unwrap();
        }
        assert!(s.owners.is_empty() && s.sessions_by_route.is_empty());
    }
}
