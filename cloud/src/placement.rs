//! Where a list lives: its home replicas, the members about to become
//! homes, and stand-ins for homes that are down (DESIGN §6; Dynamo §4.2,
//! §4.6; PROTOCOL §6.1). Sans-IO.
//!
//! Two rings are built from the [member set](crate::members::MemberSet):
//!
//! - the **counting ring** holds `ready` and `leaving` members. A list's
//!   *homes* are its first N distinct workers there; only their answers
//!   count toward W and R. Liveness does not move homes: a crashed home
//!   stays a home, so any W homes that stored a write and any R homes that
//!   answer a read meet (W + R > N).
//! - the **future ring** holds `ready` and `joining` members: where lists
//!   will live once transitions finish. A future home that is not yet a
//!   home is *pending*: it is sent every write but does not count.
//!
//! A home that is not live is replaced in the request by a *stand-in*: the
//! next live member on the walk that is not already a target. The stand-in
//! stores the write with a durable hint naming the home, and hands the list
//! off when the home is back; it never counts.
//!
//! [`Placement::arcs`] cuts the ring into the ranges within which every list
//! has the same homes and pending members, for anti-entropy.

use engine::protocol::MemberState;
use engine::{ListId, WorkerId};

use crate::members::MemberSet;
use crate::quorum::Role;
use crate::ring::{position, Ring};

/// One worker a request for a list goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The worker.
    pub worker: WorkerId,
    /// Why it is asked.
    pub role: Role,
    /// For a stand-in: the home it stands in for.
    pub hint_for: Option<WorkerId>,
}

/// A range of ring positions whose lists share homes and pending members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arc {
    /// `(lo, hi]`, wrapping (see [`crate::ring::in_range`]).
    pub range: [u64; 2],
    /// The homes of its lists (counting ring).
    pub homes: Vec<WorkerId>,
    /// Its future homes (future ring).
    pub future: Vec<WorkerId>,
}

/// The two rings. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    counting: Ring,
    future: Ring,
    n: usize,
}

impl Placement {
    /// Placement of `n` replicas per list over `members`.
    pub fn new(members: &MemberSet, n: usize) -> Self {
        let mut counting = Ring::new();
        let mut future = Ring::new();
        for (w, state) in members.iter() {
            match state {
                MemberState::Ready => {
                    counting.add(w);
                    future.add(w);
                }
                MemberState::Leaving => counting.add(w),
                MemberState::Joining => future.add(w),
                MemberState::Retired => {}
            }
        }
        Placement {
            counting,
            future,
            n: n.max(1),
        }
    }

    /// Replicas per list.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The list's home replicas, most preferred first.
    pub fn homes(&self, list: &ListId) -> Vec<WorkerId> {
        self.counting.preference_list(list, self.n)
    }

    /// Members that will be homes of the list and are not yet.
    pub fn pending(&self, list: &ListId) -> Vec<WorkerId> {
        let homes = self.homes(list);
        self.future
            .preference_list(list, self.n)
            .into_iter()
            .filter(|w| !homes.contains(w))
            .collect()
    }

    /// Where a request for `list` goes, given who is live: live homes, live
    /// pending members, and a stand-in for each home that is not live.
    pub fn targets(&self, list: &ListId, live: impl Fn(&WorkerId) -> bool) -> Vec<Target> {
        let homes = self.homes(list);
        let mut out: Vec<Target> = Vec::new();
        let mut down = Vec::new();
        for h in &homes {
            if live(h) {
                out.push(Target {
                    worker: h.clone(),
                    role: Role::Home,
                    hint_for: None,
                });
            } else {
                down.push(h.clone());
            }
        }
        for p in self.pending(list) {
            if live(&p) {
                out.push(Target {
                    worker: p,
                    role: Role::Pending,
                    hint_for: None,
                });
            }
        }
        if !down.is_empty() {
            // Stand-ins: further along the counting walk, then the future one.
            let pos = position(list);
            let walk = self
                .counting
                .walk_from(pos, usize::MAX)
                .into_iter()
                .chain(self.future.walk_from(pos, usize::MAX));
            let mut down = down.into_iter();
            for w in walk {
                if homes.contains(&w) || !live(&w) || out.iter().any(|t| t.worker == w) {
                    continue;
                }
                let Some(home) = down.next() else {
                    break;
                };
                out.push(Target {
                    worker: w,
                    role: Role::StandIn,
                    hint_for: Some(home),
                });
            }
        }
        out
    }

    /// Whether `worker` is a home or a future home of `list`.
    pub fn owns(&self, list: &ListId, worker: &WorkerId) -> bool {
        self.homes(list).contains(worker)
            || self.future.preference_list(list, self.n).contains(worker)
    }

    /// The ring cut into ranges with constant homes and future homes, in
    /// ring order. Empty when no member is placed.
    pub fn arcs(&self) -> Vec<Arc> {
        let mut points: Vec<u64> = self
            .counting
            .positions()
            .chain(self.future.positions())
            .collect();
        points.sort_unstable();
        points.dedup();
        let Some(&last) = points.last() else {
            return Vec::new();
        };
        let mut prev = last;
        let mut arcs = Vec::with_capacity(points.len());
        for &p in &points {
            arcs.push(Arc {
                range: [prev, p],
                homes: self.counting.walk_from(p, self.n),
                future: self.future.walk_from(p, self.n),
            });
            prev = p;
        }
        arcs
    }

    /// Each counting member's share of the ring.
    pub fn shares(&self) -> Vec<(WorkerId, f64)> {
        self.counting.shares()
    }
}

#[cfg(test)]
mod tests;
