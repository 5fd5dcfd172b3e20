//! The quorum tracker of one client `sync` (DESIGN §4, §6; Dynamo §4.5).
//!
//! The proxy forwards a `sync` to the list's N preferred live replicas and
//! feeds their answers into a [`SyncQuorum`]. A replica counts toward the
//! quorum (W for a write, R for a read) only once it answered `synced` with
//! an empty `missing`, i.e. it holds the request's changes applied and
//! committed. A replica that lacked dependencies is filled by the proxy from
//! a replica that has them (see [`crate::repair`]) and then counts when it
//! answers again. [`SyncQuorum::verdict`] says when to answer the client,
//! and how: `synced` with the union of what the replicas returned, or
//! `error unavailable` (`answered` of `needed`), or `synced` with `missing`
//! when nobody can fill, so the client resends from further back. Sans-IO.

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use engine::protocol::snapshot::{SnapshotMeta, MAX_SNAPSHOT_BYTES};
use engine::{ChangeHash, WorkerId};

/// Most change bytes the proxy puts in one reply (the protocol allows 32 MiB;
/// the requester syncs again for the rest).
pub const MAX_REPLY_BYTES: usize = 24 * 1024 * 1024;
/// Most change frames in one reply.
pub const MAX_REPLY_CHANGES: usize = 50_000;

/// Why a replica is asked (PROTOCOL §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One of the list's N home replicas: its answer counts toward W or R.
    Home,
    /// A joining member that will be a home once it has the lists it owns:
    /// it stores writes, but its answer does not count.
    Pending,
    /// A stand-in for a home that is down: it stores the write with a hint
    /// (hinted handoff), but its answer does not count.
    StandIn,
}

/// Where one replica stands in this request.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaState {
    /// Request sent, no answer yet.
    Waiting,
    /// It lacked dependencies; the proxy is filling it from another replica.
    Filling,
    /// Stored the changes (empty `missing`), with these heads.
    Done {
        /// Its heads after storing.
        heads: Vec<ChangeHash>,
        /// Whether it holds the list at all (`synced.holds`).
        holds: bool,
    },
    /// Lacks these dependencies; `filled` once a fill was already tried.
    Missing {
        /// Its heads.
        heads: Vec<ChangeHash>,
        /// The hashes it lacks.
        missing: Vec<ChangeHash>,
        /// Whether a fill was already attempted.
        filled: bool,
    },
    /// Answered an error (or could not be reached).
    Failed {
        /// Whether it refused the changes as invalid (`bad_change`).
        bad_change: bool,
        /// The error message.
        message: String,
    },
}

/// What to tell the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not decided yet.
    Pending,
    /// Quorum reached: reply `synced` with the union; `acked` replicas hold it.
    Reached {
        /// Replicas that stored the changes.
        acked: u32,
    },
    /// Quorum impossible because replicas lack history nobody could fill:
    /// reply `synced` with `missing`, so the client resends from further back.
    Missing {
        /// Replicas that did store the changes.
        acked: u32,
        /// The dependency hashes they lack.
        missing: Vec<ChangeHash>,
    },
    /// The changes were refused as invalid: reply `error bad_change`.
    BadChange {
        /// Why.
        message: String,
    },
    /// Quorum not reached: reply `error unavailable`.
    Unavailable {
        /// Replicas that answered successfully.
        answered: u32,
        /// Replicas needed.
        needed: u32,
    },
}

/// The union of what several replicas returned: change frames deduplicated
/// by content, heads as a set, and at most one snapshot (fresh open,
/// PROTOCOL §4.2.1): the first that fits. Another replica's snapshot is
/// dropped, its changes after it kept; what only that snapshot held shows
/// as heads the requester does not know, so it asks again with its heads.
#[derive(Debug, Default, Clone)]
pub struct ChangeUnion {
    seen: HashSet<Bytes>,
    changes: Vec<Bytes>,
    bytes: usize,
    heads: BTreeSet<ChangeHash>,
    snapshot: Option<(SnapshotMeta, Vec<Bytes>)>,
}

impl ChangeUnion {
    /// Split a replica's frames of a reply with `meta`: keep its document
    /// if the union has no snapshot yet and it fits the reply, and return
    /// the change frames after it. A reply whose frame count does not fit
    /// its frames gives no frames at all.
    pub fn take_snapshot<'a>(&mut self, meta: &SnapshotMeta, frames: &'a [Bytes]) -> &'a [Bytes] {
        let n = meta.frames as usize;
        if n == 0 || n > frames.len() {
            return &[];
        }
        let (doc, rest) = frames.split_at(n);
        let size: usize = doc.iter().map(Bytes::len).sum();
        if self.snapshot.is_none()
            && size <= MAX_SNAPSHOT_BYTES
            && self.bytes + size <= MAX_REPLY_BYTES
        {
            self.bytes += size;
            self.snapshot = Some((meta.clone(), doc.to_vec()));
        }
        rest
    }

    /// The snapshot kept, if any: its header field and document frames.
    pub fn snapshot(&self) -> Option<&(SnapshotMeta, Vec<Bytes>)> {
        self.snapshot.as_ref()
    }

    /// Add one replica's heads and changes. Changes beyond the reply limits
    /// are left out (the client syncs again for them).
    pub fn add(&mut self, heads: &[ChangeHash], changes: &[Bytes]) {
        self.heads.extend(heads.iter().copied());
        for c in changes {
            if self.changes.len() >= MAX_REPLY_CHANGES || self.bytes + c.len() > MAX_REPLY_BYTES {
                break;
            }
            if self.seen.insert(c.clone()) {
                self.bytes += c.len();
                self.changes.push(c.clone());
            }
        }
    }

    /// The deduplicated change frames.
    pub fn changes(&self) -> &[Bytes] {
        &self.changes
    }

    /// The union of the heads.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.heads.iter().copied().collect()
    }
}

/// The tracker of one client `sync`.
#[derive(Debug, Clone)]
pub struct SyncQuorum {
    replicas: Vec<(WorkerId, Role, ReplicaState)>,
    needed: usize,
    union: ChangeUnion,
}

impl SyncQuorum {
    /// A request sent to `targets` (in preference order) that needs
    /// `needed` counted answers from [`Role::Home`] replicas (W for a
    /// write, R for a read).
    pub fn new(targets: Vec<(WorkerId, Role)>, needed: usize) -> Self {
        SyncQuorum {
            replicas: targets
                .into_iter()
                .map(|(w, r)| (w, r, ReplicaState::Waiting))
                .collect(),
            needed: needed.max(1),
            union: ChangeUnion::default(),
        }
    }

    /// Adds a target asked later (a read's hedge); one already there is
    /// left as it is.
    pub fn add_target(&mut self, worker: WorkerId, role: Role) {
        if self.state(&worker).is_none() {
            self.replicas.push((worker, role, ReplicaState::Waiting));
        }
    }

    /// A request whose targets are all homes (tests, tools).
    pub fn homes(targets: Vec<WorkerId>, needed: usize) -> Self {
        let targets = targets.into_iter().map(|w| (w, Role::Home)).collect();
        SyncQuorum::new(targets, needed)
    }

    fn state_mut(&mut self, worker: &WorkerId) -> Option<&mut ReplicaState> {
        self.replicas
            .iter_mut()
            .find(|(w, _, _)| w == worker)
            .map(|(_, _, s)| s)
    }

    /// The replica's current state.
    pub fn state(&self, worker: &WorkerId) -> Option<&ReplicaState> {
        self.replicas
            .iter()
            .find(|(w, _, _)| w == worker)
            .map(|(_, _, s)| s)
    }

    /// Whether an answer in state `s` from a replica in `role` counts: only
    /// a home's, once it stored the request's changes. A home that does not
    /// hold the list counts for a read (by W + R > N it cannot lack an
    /// acknowledged write that the other R - 1 homes also lack); a damaged
    /// home that dropped the list answers an error until rebuilt, never an
    /// empty `synced`.
    fn counted(&self, role: Role, s: &ReplicaState) -> bool {
        role == Role::Home && matches!(s, ReplicaState::Done { .. })
    }

    /// A `synced` from `worker` (`holds`: it holds the list at all).
    /// Returns false if it is not a target.
    pub fn on_synced(
        &mut self,
        worker: &WorkerId,
        heads: Vec<ChangeHash>,
        missing: Vec<ChangeHash>,
        holds: bool,
        changes: &[Bytes],
    ) -> bool {
        // Changes from every answer go to the client; heads only from the
        // replicas that hold the request's changes.
        let counted: &[ChangeHash] = if missing.is_empty() { &heads } else { &[] };
        self.union.add(counted, changes);
        let Some(state) = self.state_mut(worker) else {
            return false;
        };
        let filled = matches!(state, ReplicaState::Filling);
        *state = if missing.is_empty() {
            ReplicaState::Done { heads, holds }
        } else {
            ReplicaState::Missing {
                heads,
                missing,
                filled,
            }
        };
        true
    }

    /// [`Self::on_synced`] for a reply that carries a snapshot (`meta`):
    /// the union keeps at most one ([`ChangeUnion::take_snapshot`]).
    pub fn on_synced_snapshot(
        &mut self,
        worker: &WorkerId,
        heads: Vec<ChangeHash>,
        holds: bool,
        meta: &SnapshotMeta,
        frames: &[Bytes],
    ) -> bool {
        let rest = self.union.take_snapshot(meta, frames);
        self.on_synced(worker, heads, Vec::new(), holds, rest)
    }

    /// An `error` from `worker` (or it could not be reached).
    pub fn on_failed(&mut self, worker: &WorkerId, bad_change: bool, message: String) {
        if let Some(state) = self.state_mut(worker) {
            *state = ReplicaState::Failed {
                bad_change,
                message,
            };
        }
    }

    /// The proxy started filling `worker`.
    pub fn on_fill_started(&mut self, worker: &WorkerId) {
        if let Some(state) = self.state_mut(worker) {
            *state = ReplicaState::Filling;
        }
    }

    /// A fill could not be completed (the source failed): `worker` stays
    /// lacking `missing`.
    pub fn on_fill_failed(
        &mut self,
        worker: &WorkerId,
        heads: Vec<ChangeHash>,
        missing: Vec<ChangeHash>,
    ) {
        if let Some(state) = self.state_mut(worker) {
            *state = ReplicaState::Missing {
                heads,
                missing,
                filled: true,
            };
        }
    }

    /// Replicas that lack dependencies and were not filled yet, with their
    /// heads and missing hashes.
    pub fn fill_candidates(&self) -> Vec<(WorkerId, Vec<ChangeHash>, Vec<ChangeHash>)> {
        self.replicas
            .iter()
            .filter_map(|(w, _, s)| match s {
                ReplicaState::Missing {
                    heads,
                    missing,
                    filled: false,
                } => Some((w.clone(), heads.clone(), missing.clone())),
                _ => None,
            })
            .collect()
    }

    /// A replica that stored the request's changes, so it holds everything
    /// they depend on: the source for fills (homes first, then in
    /// preference order).
    pub fn fill_source(&self) -> Option<WorkerId> {
        let done = |r: &&(WorkerId, Role, ReplicaState)| {
            matches!(r.2, ReplicaState::Done { holds: true, .. })
        };
        self.replicas
            .iter()
            .filter(done)
            .find(|r| r.1 == Role::Home)
            .or_else(|| self.replicas.iter().find(done))
            .map(|r| r.0.clone())
    }

    /// Homes and pending replicas that answered, with their heads (a home
    /// that does not hold the list answers empty heads): the input of read
    /// repair. Stand-ins are left out; their copies go home by handoff.
    pub fn responders(&self) -> Vec<(WorkerId, Vec<ChangeHash>)> {
        self.replicas
            .iter()
            .filter(|(_, role, _)| *role != Role::StandIn)
            .filter_map(|(w, _, s)| match s {
                ReplicaState::Done { heads, .. } => Some((w.clone(), heads.clone())),
                _ => None,
            })
            .collect()
    }

    /// Whether any replica that answered holds the list.
    pub fn any_holds(&self) -> bool {
        self.replicas
            .iter()
            .any(|(_, _, s)| matches!(s, ReplicaState::Done { holds: true, .. }))
    }

    /// Whether every replica reached a final state.
    pub fn all_resolved(&self) -> bool {
        !self.replicas.iter().any(|(_, _, s)| {
            matches!(s, ReplicaState::Waiting | ReplicaState::Filling)
                || matches!(s, ReplicaState::Missing { filled: false, .. })
        })
    }

    /// The union of what the replicas returned.
    pub fn union(&self) -> &ChangeUnion {
        &self.union
    }

    /// The heads every answering replica reported, whether or not it could
    /// store the request's changes: the cloud's real heads of the list, for
    /// a `synced` that reports `missing` (PROTOCOL §5).
    pub fn reported_heads(&self) -> Vec<ChangeHash> {
        let mut all = BTreeSet::new();
        for (_, _, s) in &self.replicas {
            if let ReplicaState::Done { heads, .. } | ReplicaState::Missing { heads, .. } = s {
                all.extend(heads.iter().copied());
            }
        }
        all.into_iter().collect()
    }

    /// Homes in a state for which `f` holds.
    fn count_homes(&self, f: impl Fn(&ReplicaState) -> bool) -> usize {
        self.replicas
            .iter()
            .filter(|(_, role, s)| *role == Role::Home && f(s))
            .count()
    }

    fn missing_union(&self) -> Vec<ChangeHash> {
        let mut all = BTreeSet::new();
        for (_, _, s) in &self.replicas {
            if let ReplicaState::Missing { missing, .. } = s {
                all.extend(missing.iter().copied());
            }
        }
        all.into_iter().collect()
    }

    /// What to tell the client now. `timed_out`: the deadline passed, so
    /// whatever has not answered never will.
    ///
    /// The rule (PROTOCOL §6.1): only the list's homes count. A write is
    /// reached when W homes stored it; a read when R homes answered. Any W
    /// homes and any R homes meet (W + R > N), so the union of a read holds
    /// every acknowledged write. Stand-ins and pending members add their
    /// changes to the union but never count.
    pub fn verdict(&self, timed_out: bool) -> Verdict {
        let counted = self
            .replicas
            .iter()
            .filter(|(_, role, s)| self.counted(*role, s))
            .count();
        if counted >= self.needed {
            return Verdict::Reached {
                acked: counted as u32,
            };
        }
        let in_flight =
            self.count_homes(|s| matches!(s, ReplicaState::Waiting | ReplicaState::Filling));
        let unfilled =
            self.count_homes(|s| matches!(s, ReplicaState::Missing { filled: false, .. }));
        // A lacking replica can still be filled if some replica stored the
        // changes or may still do so.
        let any_done = self
            .replicas
            .iter()
            .any(|(_, _, s)| matches!(s, ReplicaState::Done { .. }));
        let fillable = if any_done || in_flight > 0 {
            unfilled
        } else {
            0
        };
        let possible = counted + in_flight + fillable;
        if !timed_out && possible >= self.needed {
            return Verdict::Pending;
        }
        let missing = self.missing_union();
        if !missing.is_empty() {
            return Verdict::Missing {
                acked: counted as u32,
                missing,
            };
        }
        let bad = self.replicas.iter().find_map(|(_, _, s)| match s {
            ReplicaState::Failed {
                bad_change: true,
                message,
            } => Some(message.clone()),
            _ => None,
        });
        if let Some(message) = bad {
            return Verdict::BadChange { message };
        }
        Verdict::Unavailable {
            answered: counted as u32,
            needed: self.needed as u32,
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
