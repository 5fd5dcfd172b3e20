//! The cluster's member set, a state-based CRDT gossiped between proxies
//! and workers (PROTOCOL §7.2, DESIGN §6 "Membership").
//!
//! Liveness ([`crate::membership`]) says who answers *now*; the member set
//! says who *belongs*, and so where each list lives. A worker stays a
//! member while it is down, which is what lets a list keep its home
//! replicas through a crash and lets a stand-in know whom its hint is for.
//!
//! Each worker id maps to a [`MemberState`]; merging two sets keeps, per id,
//! the later state (`joining < ready < leaving < retired`), so every copy
//! converges whatever the order of the messages. Workers persist the set
//! in their store and send it in `hello` and heartbeats; proxies merge
//! what they receive and send theirs back in `welcome` and heartbeat
//! echoes. A proxy that restarts learns the set from the first worker that
//! says `hello`. No IO here.

use std::collections::BTreeMap;

use engine::protocol::cluster::MAX_MEMBERS;
use engine::protocol::{ClusterMember, MemberState};
use engine::WorkerId;

/// The member set. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSet {
    states: BTreeMap<WorkerId, MemberState>,
}

impl MemberSet {
    /// An empty set.
    pub fn new() -> Self {
        MemberSet::default()
    }

    /// Raise `worker` to `state` (no-op if it is already there or later).
    /// Returns whether anything changed. A new id beyond [`MAX_MEMBERS`] is
    /// refused (false).
    pub fn raise(&mut self, worker: &WorkerId, state: MemberState) -> bool {
        let full = self.states.len() >= MAX_MEMBERS;
        match self.states.get_mut(worker) {
            Some(s) if *s >= state => false,
            Some(s) => {
                *s = state;
                true
            }
            None if full => false,
            None => {
                self.states.insert(worker.clone(), state);
                true
            }
        }
    }

    /// Merge another copy; returns whether this one changed.
    pub fn merge(&mut self, other: &[ClusterMember]) -> bool {
        let mut changed = false;
        for m in other {
            changed |= self.raise(&m.worker, m.state);
        }
        changed
    }

    /// The state of `worker`, if it is a member.
    pub fn state(&self, worker: &WorkerId) -> Option<MemberState> {
        self.states.get(worker).copied()
    }

    /// Members in `state`.
    pub fn in_state(&self, state: MemberState) -> impl Iterator<Item = &WorkerId> {
        self.states
            .iter()
            .filter(move |(_, s)| **s == state)
            .map(|(w, _)| w)
    }

    /// Every member and its state, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = (&WorkerId, MemberState)> {
        self.states.iter().map(|(w, s)| (w, *s))
    }

    /// The set as sent on the wire.
    pub fn to_wire(&self) -> Vec<ClusterMember> {
        self.states
            .iter()
            .map(|(worker, state)| ClusterMember {
                worker: worker.clone(),
                state: *state,
            })
            .collect()
    }

    /// Number of members (retired included).
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w(s: &str) -> WorkerId {
        WorkerId::parse(s).unwrap()
    }

    fn state_of(i: u8) -> MemberState {
        match i % 4 {
            0 => MemberState::Joining,
            1 => MemberState::Ready,
            2 => MemberState::Leaving,
            _ => MemberState::Retired,
        }
    }

    #[test]
    fn states_only_move_forward() {
        let mut m = MemberSet::new();
        assert!(m.raise(&w("a"), MemberState::Ready));
        assert!(!m.raise(&w("a"), MemberState::Joining));
        assert_eq!(m.state(&w("a")), Some(MemberState::Ready));
        assert!(m.raise(&w("a"), MemberState::Retired));
        assert!(!m.raise(&w("a"), MemberState::Ready));
    }

    #[test]
    fn the_set_is_bounded() {
        let mut m = MemberSet::new();
        for i in 0..MAX_MEMBERS + 10 {
            m.raise(&w(&format!("w{i}")), MemberState::Ready);
        }
        assert_eq!(m.len(), MAX_MEMBERS);
    }

    proptest! {
        /// Any two orders of merging the same updates give the same set.
        #[test]
        fn merge_is_order_independent(updates in proptest::collection::vec((0u8..6, 0u8..4), 0..40), seed in any::<u64>()) {
            let wire: Vec<ClusterMember> = updates
                .iter()
                .map(|(id, s)| ClusterMember { worker: w(&format!("w{id}")), state: state_of(*s) })
                .collect();
            let mut a = MemberSet::new();
            for u in &wire {
                a.merge(std::slice::from_ref(u));
            }
            let mut shuffled = wire.clone();
            // A deterministic shuffle from the seed.
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut b = MemberSet::new();
            b.merge(&shuffled);
            prop_assert_eq!(&a, &b);
            // Merging a copy into itself changes nothing.
            prop_assert!(!a.merge(&b.to_wire()));
        }
    }
}
