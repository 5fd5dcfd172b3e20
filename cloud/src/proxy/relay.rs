//! Notifies across proxies (PROTOCOL §6, "Several proxies").
//!
//! A write through proxy A reaches A's subscribers only; a device watching
//! through proxy B would never hear of it. So a worker that stored a write
//! sent by one proxy tells its *other* proxies with a `notify {list, heads}`
//! of its own. A proxy pushes `notify` to its subscribers once W distinct
//! homes of the list told it so — when, from its point of view too, the
//! write reached quorum, so a `sync` the push triggers reads a replica that
//! holds it (W + R > N, §5.1). Anything else is dropped: a notify from a
//! connection that is not a member, from a member that is not a home, for a
//! list nobody here subscribes to.
//!
//! [`Relays`] is the bookkeeping, bounded in count ([`MAX_RELAYS`]) and
//! time ([`RELAY_TTL`]): best effort, like every `notify`.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::{ChangeHash, ListId, WorkerId};
use tracing::debug;

use super::{Effect, ProxyCore};

/// Lists with homes heard from but fewer than W yet.
pub const MAX_RELAYS: usize = 4096;
/// A home's report older than this no longer counts.
pub const RELAY_TTL: Duration = Duration::from_secs(5);

/// Homes that reported a stored write, per list, since its last push.
#[derive(Debug, Default)]
pub struct Relays {
    pending: HashMap<ListId, Pending>,
}

#[derive(Debug)]
struct Pending {
    homes: BTreeSet<WorkerId>,
    heads: Vec<ChangeHash>,
    since: Instant,
}

impl Relays {
    /// `home` stored a write to `list`, leaving `heads`. Returns the heads
    /// to push once `quorum` distinct homes reported (the latest report's).
    pub fn record(
        &mut self,
        list: ListId,
        home: WorkerId,
        heads: Vec<ChangeHash>,
        quorum: usize,
        now: Instant,
    ) -> Option<Vec<ChangeHash>> {
        if let Some(p) = self.pending.get(&list) {
            if now.duration_since(p.since) > RELAY_TTL {
                self.pending.remove(&list);
            }
        }
        if !self.pending.contains_key(&list) && self.pending.len() >= MAX_RELAYS {
            self.expire(now);
            if self.pending.len() >= MAX_RELAYS {
                return None;
            }
        }
        let p = self.pending.entry(list).or_insert_with(|| Pending {
            homes: BTreeSet::new(),
            heads: Vec::new(),
            since: now,
        });
        p.homes.insert(home);
        p.heads = heads;
        if p.homes.len() >= quorum.max(1) {
            return self.pending.remove(&list).map(|p| p.heads);
        }
        None
    }

    /// Forget reports older than [`RELAY_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.pending
            .retain(|_, p| now.duration_since(p.since) <= RELAY_TTL);
    }

    /// Lists waiting for more homes.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

impl ProxyCore {
    /// A worker's `notify`: it stored a write another proxy sent it.
    pub(super) fn on_relayed_notify(
        &mut self,
        route: &Bytes,
        list: ListId,
        heads: Vec<ChangeHash>,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let Some(worker) = self.members.worker_of(route).cloned() else {
            debug!(%list, "notify from a connection that is not a member; ignored");
            return;
        };
        if self.subs.targets(&list, &Bytes::new()).is_empty()
            || !self.placement.homes(&list).contains(&worker)
        {
            return;
        }
        let quorum = self.cfg.write_quorum;
        let Some(heads) = self.relays.record(list, worker, heads, quorum, now) else {
            return;
        };
        // Another proxy's write: its changes are not here, heads only.
        self.push_notify(list, &heads, &Bytes::new(), &[], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    #[test]
    fn pushes_once_w_distinct_homes_reported() {
        let (mut r, t0, list) = (Relays::default(), Instant::now(), ListId::new_random());
        let h = vec![ChangeHash([1; 32])];
        assert_eq!(r.record(list, w("a"), h.clone(), 2, t0), None);
        assert_eq!(r.record(list, w("a"), h.clone(), 2, t0), None, "same home");
        assert_eq!(r.record(list, w("b"), h.clone(), 2, t0), Some(h.clone()));
        assert_eq!(r.len(), 0, "pushed and forgotten");
        // The next write starts counting afresh.
        assert_eq!(r.record(list, w("c"), h, 2, t0), None);
    }

    #[test]
    fn stale_reports_do_not_count() {
        let (mut r, t0, list) = (Relays::default(), Instant::now(), ListId::new_random());
        let h = vec![ChangeHash([2; 32])];
        assert_eq!(r.record(list, w("a"), h.clone(), 2, t0), None);
        let later = t0 + RELAY_TTL + Duration::from_millis(1);
        assert_eq!(r.record(list, w("b"), h.clone(), 2, later), None);
        assert_eq!(
            r.record(list, w("c"), h.clone(), 2, later),
            Some(h),
            "b and c within the bound"
        );
    }

    #[test]
    fn bounded_in_count() {
        let (mut r, t0) = (Relays::default(), Instant::now());
        for _ in 0..MAX_RELAYS + 10 {
            r.record(ListId::new_random(), w("a"), Vec::new(), 2, t0);
        }
        assert_eq!(r.len(), MAX_RELAYS);
        r.expire(t0 + RELAY_TTL + Duration::from_millis(1));
        assert_eq!(r.len(), 0);
    }
}
