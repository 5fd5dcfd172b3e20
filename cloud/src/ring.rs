//! The consistent-hash ring that places lists on workers (DESIGN §6).
//!
//! Every live worker owns [`VNODES_PER_WORKER`] virtual nodes on a
//! [`hashring::HashRing`]. A list's **preference list** is the first `n`
//! *distinct* workers met walking clockwise from the list id's hash. Only live
//! workers are on the ring, so a dead worker is simply skipped and the next
//! distinct one takes its place (Dynamo's sloppy quorum).
//!
//! The ring is keyed by hashes of the worker id and vnode index only, with
//! hashring's fixed-key SipHash, so every proxy computes the same placement
//! from the same membership. No IO here.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use engine::{ListId, WorkerId};
use hashring::{DefaultHashBuilder, HashRing};

/// Virtual nodes per worker: enough for shares within a few percent.
pub const VNODES_PER_WORKER: u32 = 64;

/// One virtual node: a worker and its vnode index.
#[derive(Clone, Debug, PartialEq, Eq)]
struct VNode {
    worker: Arc<str>,
    index: u32,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.worker.hash(state);
        self.index.hash(state);
    }
}

/// A list's position on the ring: the same hash hashring uses to place it.
pub fn position(list: &ListId) -> u64 {
    DefaultHashBuilder.hash_one(list)
}

/// Whether ring position `pos` lies in the range `(lo, hi]` (wrapping past
/// zero when `lo >= hi`; `lo == hi` is the whole ring). A list belongs to
/// the first vnode at or after its position, so the lists of the vnode at
/// `hi` whose predecessor is at `lo` are exactly those in `(lo, hi]`.
pub fn in_range(pos: u64, [lo, hi]: [u64; 2]) -> bool {
    if lo < hi {
        lo < pos && pos <= hi
    } else {
        pos > lo || pos <= hi
    }
}

/// A ring of workers.
#[derive(Debug, Default, Clone)]
pub struct Ring {
    ring: HashRing<VNode>,
    workers: BTreeSet<WorkerId>,
    /// Every vnode's position and worker, sorted by position.
    points: Vec<(u64, WorkerId)>,
}

impl Ring {
    /// An empty ring.
    pub fn new() -> Self {
        Ring::default()
    }

    /// Put a worker on the ring (no-op if it is there).
    pub fn add(&mut self, worker: &WorkerId) {
        if !self.workers.insert(worker.clone()) {
            return;
        }
        let name: Arc<str> = Arc::from(worker.as_str());
        let nodes = (0..VNODES_PER_WORKER)
            .map(|index| VNode {
                worker: name.clone(),
                index,
            })
            .collect();
        self.ring.batch_add(nodes);
        self.rebuild_points();
    }

    fn rebuild_points(&mut self) {
        let mut points = Vec::with_capacity(self.workers.len() * VNODES_PER_WORKER as usize);
        for w in &self.workers {
            let name: Arc<str> = Arc::from(w.as_str());
            for index in 0..VNODES_PER_WORKER {
                let key = DefaultHashBuilder.hash_one(&VNode {
                    worker: name.clone(),
                    index,
                });
                points.push((key, w.clone()));
            }
        }
        points.sort();
        self.points = points;
    }

    /// Every vnode position, sorted.
    pub fn positions(&self) -> impl Iterator<Item = u64> + '_ {
        self.points.iter().map(|p| p.0)
    }

    /// The first `n` distinct workers met walking clockwise from ring
    /// position `pos` (the same walk as [`Ring::preference_list`]).
    pub fn walk_from(&self, pos: u64, n: usize) -> Vec<WorkerId> {
        let want = n.min(self.workers.len());
        let mut out: Vec<WorkerId> = Vec::with_capacity(want);
        if want == 0 {
            return out;
        }
        let start = self.points.partition_point(|p| p.0 < pos);
        let len = self.points.len();
        for i in 0..len {
            let w = &self.points[(start + i) % len].1;
            if !out.contains(w) {
                out.push(w.clone());
                if out.len() == want {
                    break;
                }
            }
        }
        out
    }

    /// Take a worker off the ring (no-op if it is not there).
    pub fn remove(&mut self, worker: &WorkerId) {
        if !self.workers.remove(worker) {
            return;
        }
        let name: Arc<str> = Arc::from(worker.as_str());
        for index in 0..VNODES_PER_WORKER {
            self.ring.remove(&VNode {
                worker: name.clone(),
                index,
            });
        }
        self.rebuild_points();
    }

    /// Whether the worker is on the ring.
    pub fn contains(&self, worker: &WorkerId) -> bool {
        self.workers.contains(worker)
    }

    /// Workers on the ring.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether no worker is on the ring.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The list's first `n` distinct workers, most preferred first (fewer if
    /// fewer workers are live).
    pub fn preference_list(&self, list: &ListId, n: usize) -> Vec<WorkerId> {
        let want = n.min(self.workers.len());
        let mut out: Vec<WorkerId> = Vec::with_capacity(want);
        if want == 0 {
            return out;
        }
        // `get_with_replicas(k, len)` yields the whole ring starting at the
        // list's position.
        let walk = self
            .ring
            .get_with_replicas(list, self.ring.len())
            .unwrap_or_default();
        for vnode in walk {
            if out.iter().any(|w| w.as_str() == &*vnode.worker) {
                continue;
            }
            if let Ok(w) = WorkerId::parse(&vnode.worker) {
                out.push(w);
            }
            if out.len() == want {
                break;
            }
        }
        out
    }

    /// Each live worker's fraction of the hash space (sums to 1).
    ///
    /// A key belongs to the first vnode at or after its hash, so a vnode owns
    /// the arc from its predecessor (exclusive) to itself.
    pub fn shares(&self) -> Vec<(WorkerId, f64)> {
        let mut points: Vec<(u64, &WorkerId)> = Vec::new();
        for w in &self.workers {
            let name: Arc<str> = Arc::from(w.as_str());
            for index in 0..VNODES_PER_WORKER {
                let key = DefaultHashBuilder.hash_one(&VNode {
                    worker: name.clone(),
                    index,
                });
                points.push((key, w));
            }
        }
        points.sort();
        let mut owned: std::collections::BTreeMap<&WorkerId, f64> = Default::default();
        let full = 2f64.powi(64);
        for (i, (key, w)) in points.iter().enumerate() {
            let prev = if i == 0 {
                points.last().map(|p| p.0).unwrap_or(0)
            } else {
                points[i - 1].0
            };
            let arc = key.wrapping_sub(prev);
            // A single vnode owns the whole ring (arc 0 after wrapping).
            let arc = if points.len() == 1 { full } else { arc as f64 };
            *owned.entry(w).or_default() += arc / full;
        }
        owned.into_iter().map(|(w, s)| (w.clone(), s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    fn ring_of(n: usize) -> Ring {
        let mut r = Ring::new();
        for i in 1..=n {
            r.add(&w(&format!("w{i}")));
        }
        r
    }

    fn lists(n: usize) -> Vec<ListId> {
        // Deterministic ids: the ring must not depend on randomness.
        (0..n)
            .map(|i| ListId::parse(&format!("00000000-0000-4000-8000-{i:012x}")).unwrap())
            .collect()
    }

    #[test]
    fn preference_list_has_n_distinct_live_workers() {
        let r = ring_of(5);
        for l in lists(200) {
            let p = r.preference_list(&l, 3);
            assert_eq!(p.len(), 3);
            let set: BTreeSet<_> = p.iter().collect();
            assert_eq!(set.len(), 3, "{p:?}");
        }
        // Fewer live workers than N: all of them.
        assert_eq!(ring_of(2).preference_list(&lists(1)[0], 3).len(), 2);
        assert!(Ring::new().preference_list(&lists(1)[0], 3).is_empty());
    }

    #[test]
    fn ring_spreads_lists_over_all_workers() {
        let r = ring_of(5);
        let mut primaries = std::collections::HashMap::new();
        for l in lists(5000) {
            *primaries
                .entry(r.preference_list(&l, 1)[0].clone())
                .or_insert(0) += 1;
        }
        assert_eq!(primaries.len(), 5);
        for (worker, count) in primaries {
            assert!((500..=1600).contains(&count), "{worker}: {count}");
        }
    }

    #[test]
    fn removing_a_worker_only_moves_its_share() {
        // DESIGN §6: consistent hashing; Dynamo §4.2.
        let mut r = ring_of(5);
        let ls = lists(2000);
        let before: Vec<_> = ls.iter().map(|l| r.preference_list(l, 3)).collect();
        r.remove(&w("w3"));
        for (l, old) in ls.iter().zip(before) {
            let new = r.preference_list(l, 3);
            let survivors: Vec<_> = old.iter().filter(|x| x.as_str() != "w3").collect();
            // Surviving replicas stay, in the same order; only w3's slot moves.
            let kept: Vec<_> = new.iter().filter(|x| survivors.contains(x)).collect();
            assert_eq!(kept, survivors, "list {l}");
            if !old.iter().any(|x| x.as_str() == "w3") {
                assert_eq!(new, old);
            }
        }
    }

    #[test]
    fn shares_sum_to_one_and_are_balanced() {
        let r = ring_of(5);
        let shares = r.shares();
        assert_eq!(shares.len(), 5);
        let sum: f64 = shares.iter().map(|s| s.1).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        for (_, s) in shares {
            assert!(s > 0.1 && s < 0.3, "{s}");
        }
        let one = ring_of(1).shares();
        assert!((one[0].1 - 1.0).abs() < 1e-9);
    }

    #[test]
    fn walk_from_a_position_is_the_preference_list() {
        let mut r = ring_of(5);
        r.remove(&w("w2"));
        for l in lists(500) {
            assert_eq!(
                r.walk_from(position(&l), 3),
                r.preference_list(&l, 3),
                "{l}"
            );
            assert_eq!(r.walk_from(position(&l), 9).len(), 4);
        }
    }

    #[test]
    fn ranges_wrap_around_zero() {
        assert!(in_range(5, [1, 5]));
        assert!(!in_range(1, [1, 5]));
        assert!(in_range(u64::MAX, [10, 3]));
        assert!(in_range(2, [10, 3]));
        assert!(!in_range(7, [10, 3]));
        assert!(in_range(7, [4, 4]));
    }

    #[test]
    fn add_and_remove_are_idempotent() {
        let mut r = ring_of(2);
        r.add(&w("w1"));
        assert_eq!(r.len(), 2);
        r.remove(&w("w9"));
        r.remove(&w("w1"));
        r.remove(&w("w1"));
        assert_eq!(r.len(), 1);
        assert!(!r.contains(&w("w1")));
        assert_eq!(r.preference_list(&lists(1)[0], 3), vec![w("w2")]);
    }
}
