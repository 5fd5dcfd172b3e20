//! Types of the worker ↔ proxy cluster operations (PROTOCOL.md §7.2–§7.5):
//! the member set that proxies and workers gossip, the anti-entropy digests
//! and the per-list heads they drill into.
//!
//! The member set is a state-based CRDT: each worker id maps to a
//! [`MemberState`], and two sets merge by taking, per id, the later state
//! (`joining < ready < leaving < retired`). So every proxy and worker that
//! has heard from the others holds the same set, whatever the order of the
//! messages, and a retired id never comes back.

use serde::{Deserialize, Serialize};

use crate::ids::{ChangeHash, ListId, WorkerId};

/// Most members a cluster may have (a bound on every member set on the wire
/// and in memory).
pub const MAX_MEMBERS: usize = 256;
/// Most ranges in one `digest` request.
pub const MAX_DIGEST_RANGES: usize = 4096;
/// Most lists in one `list_heads_ok` reply (the rest follow with `after`).
pub const MAX_LIST_HEADS: usize = 256;

/// Where a worker stands in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Admitted, receiving the lists it will own; not yet counted by quorums.
    Joining,
    /// A full replica: counted by quorums for the lists it is home to.
    Ready,
    /// Being retired: still counted until its lists have new homes.
    Leaving,
    /// Gone for good; never placed again.
    Retired,
}

/// One entry of a member set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMember {
    /// The worker.
    pub worker: WorkerId,
    /// Its state.
    pub state: MemberState,
}

/// One list's heads in a `list_heads_ok` reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListHeads {
    /// The list.
    pub list: ListId,
    /// Its heads on the replier.
    #[serde(with = "super::message::hex_hashes")]
    pub heads: Vec<ChangeHash>,
}
