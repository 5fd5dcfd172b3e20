//! Which workers the proxy knows, how to reach them, and which are live
//! (DESIGN §6 "Membership", PROTOCOL.md §7).
//!
//! A worker joins once it is admitted (with a cluster secret, after its
//! `auth` proof checked out, PROTOCOL §7.1; without one, on `hello`): the
//! proxy records its current ROUTER routing id. A newer admitted connection
//! for the same worker id replaces the old route, which is how a worker that
//! rebuilt its socket is found again; the old route is forgotten, so nothing
//! more is sent to it or accepted from it. Only admitted routes are ever
//! registered here. Any message from the
//! registered route refreshes it; a worker silent for longer than the timeout
//! is dead (off the ring) until it speaks again. Sans-IO: every method takes
//! `now` and reports what changed; the caller updates the [`Ring`].
//!
//! [`Ring`]: crate::ring::Ring

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::WorkerStats;
use engine::WorkerId;

/// What the proxy knows about one worker.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its current routing id on the backend ROUTER.
    pub route: Bytes,
    /// When it last sent anything.
    pub last_seen: Instant,
    /// Whether it is counted live (on the ring).
    pub alive: bool,
    /// Whether its route proved the cluster secret.
    pub authenticated: bool,
    /// Its counters, from its latest heartbeat.
    pub stats: WorkerStats,
}

/// A change of liveness the ring must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The worker (re)joined: add it to the ring.
    Joined(WorkerId),
    /// The worker went silent: take it off the ring.
    Left(WorkerId),
}

/// Result of a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Known worker on its registered route: echo it (and maybe it rejoined).
    Echo(Option<Liveness>),
    /// Unknown worker or stale route: answer `not_found` so it says `hello`.
    NotFound,
}

/// The proxy's table of workers.
#[derive(Debug)]
pub struct Membership {
    members: BTreeMap<WorkerId, Member>,
    by_route: HashMap<Bytes, WorkerId>,
    timeout: Duration,
}

impl Membership {
    /// A worker silent for longer than `timeout` leaves the ring.
    pub fn new(timeout: Duration) -> Self {
        Membership {
            members: BTreeMap::new(),
            by_route: HashMap::new(),
            timeout,
        }
    }

    /// `worker` was admitted on `route` (`authenticated`: by its proof).
    pub fn admit(
        &mut self,
        worker: &WorkerId,
        route: Bytes,
        authenticated: bool,
        now: Instant,
    ) -> Vec<Liveness> {
        let mut changes = Vec::new();
        // Another worker id that claimed this route before is gone from it.
        if let Some(prev) = self.by_route.get(&route).cloned() {
            if &prev != worker {
                self.by_route.remove(&route);
                if let Some(m) = self.members.get_mut(&prev) {
                    if std::mem::replace(&mut m.alive, false) {
                        changes.push(Liveness::Left(prev));
                    }
                }
            }
        }
        let rejoined = match self.members.get_mut(worker) {
            Some(m) => {
                if m.route != route {
                    self.by_route.remove(&m.route);
                    m.route = route.clone();
                }
                m.last_seen = now;
                m.authenticated = authenticated;
                !std::mem::replace(&mut m.alive, true)
            }
            None => {
                self.members.insert(
                    worker.clone(),
                    Member {
                        route: route.clone(),
                        last_seen: now,
                        alive: true,
                        authenticated,
                        stats: WorkerStats::default(),
                    },
                );
                true
            }
        };
        self.by_route.insert(route, worker.clone());
        if rejoined {
            changes.push(Liveness::Joined(worker.clone()));
        }
        changes
    }

    /// A `heartbeat` naming `worker` arrived on `route`.
    pub fn on_heartbeat(
        &mut self,
        worker: &WorkerId,
        route: &Bytes,
        now: Instant,
    ) -> HeartbeatOutcome {
        match self.members.get(worker) {
            Some(m) if m.route == *route => HeartbeatOutcome::Echo(self.touch(route, now)),
            _ => HeartbeatOutcome::NotFound,
        }
    }

    /// The counters a heartbeat on `route` carried.
    pub fn record_stats(&mut self, route: &Bytes, stats: WorkerStats) {
        if let Some(m) = self
            .by_route
            .get(route)
            .and_then(|w| self.members.get_mut(w))
        {
            m.stats = stats;
        }
    }

    /// Any message arrived on `route`: refresh its worker, if registered.
    pub fn touch(&mut self, route: &Bytes, now: Instant) -> Option<Liveness> {
        let worker = self.by_route.get(route)?;
        let m = self.members.get_mut(worker)?;
        m.last_seen = now;
        (!std::mem::replace(&mut m.alive, true)).then(|| Liveness::Joined(worker.clone()))
    }

    /// Workers that have been silent too long leave.
    pub fn tick(&mut self, now: Instant) -> Vec<Liveness> {
        let mut left = Vec::new();
        for (id, m) in self.members.iter_mut() {
            if m.alive && now.saturating_duration_since(m.last_seen) > self.timeout {
                m.alive = false;
                left.push(Liveness::Left(id.clone()));
            }
        }
        left
    }

    /// The worker registered on `route`.
    pub fn worker_of(&self, route: &Bytes) -> Option<&WorkerId> {
        self.by_route.get(route)
    }

    /// The current route of a live worker.
    pub fn route_of(&self, worker: &WorkerId) -> Option<&Bytes> {
        self.members
            .get(worker)
            .filter(|m| m.alive)
            .map(|m| &m.route)
    }

    /// Every known worker, sorted by id.
    pub fn members(&self) -> impl Iterator<Item = (&WorkerId, &Member)> {
        self.members.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    fn route(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn hello_joins_and_silence_leaves_then_speaking_rejoins() {
        let t0 = Instant::now();
        let mut m = Membership::new(Duration::from_secs(2));
        assert_eq!(
            m.admit(&w("a"), route("r1"), true, t0),
            vec![Liveness::Joined(w("a"))]
        );
        assert!(m.admit(&w("a"), route("r1"), true, t0).is_empty());
        assert!(m.tick(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(
            m.tick(t0 + Duration::from_secs(3)),
            vec![Liveness::Left(w("a"))]
        );
        assert!(m.route_of(&w("a")).is_none());
        let back = m.on_heartbeat(&w("a"), &route("r1"), t0 + Duration::from_secs(4));
        assert_eq!(back, HeartbeatOutcome::Echo(Some(Liveness::Joined(w("a")))));
        assert_eq!(m.route_of(&w("a")), Some(&route("r1")));
    }

    #[test]
    fn newer_hello_replaces_the_route() {
        let t0 = Instant::now();
        let mut m = Membership::new(Duration::from_secs(2));
        m.admit(&w("a"), route("old"), true, t0);
        m.admit(&w("a"), route("new"), true, t0);
        assert_eq!(m.route_of(&w("a")), Some(&route("new")));
        assert!(m.worker_of(&route("old")).is_none());
        // A heartbeat on the stale route is refused, so the worker says hello.
        assert_eq!(
            m.on_heartbeat(&w("a"), &route("old"), t0),
            HeartbeatOutcome::NotFound
        );
        assert_eq!(
            m.on_heartbeat(&w("zz"), &route("new"), t0),
            HeartbeatOutcome::NotFound
        );
    }

    #[test]
    fn a_route_reused_by_another_worker_moves() {
        let t0 = Instant::now();
        let mut m = Membership::new(Duration::from_secs(2));
        m.admit(&w("a"), route("r"), true, t0);
        let changes = m.admit(&w("b"), route("r"), true, t0);
        assert_eq!(
            changes,
            vec![Liveness::Left(w("a")), Liveness::Joined(w("b"))]
        );
        assert_eq!(m.worker_of(&route("r")), Some(&w("b")));
        assert!(m.route_of(&w("a")).is_none());
    }
}
