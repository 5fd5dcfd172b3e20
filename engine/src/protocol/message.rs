//! The typed messages of the wire protocol (PROTOCOL.md "Operations").
//!
//! A [`Message`] is a [`Header`] (frame 0, JSON) plus the raw Automerge
//! change frames that follow it. `Header` is one enum over every `op`, both
//! requests and replies, so the codec has a single decode path and a peer
//! can match on whatever arrives. The envelope fields `v` (version) and `n`
//! (number of change frames) are not stored here: the codec writes them from
//! [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION) and `changes.len()`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::cluster::{ClusterMember, ListHeads, MemberState};
use super::error::{error_header, ErrorCode};
use super::session::SessionId;
use crate::ids::{ChangeHash, ListId, WorkerId};

/// One wire message: the header and the change frames after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Frame 0.
    pub header: Header,
    /// Frames 1..=n: uncompressed Automerge change chunks, unvalidated.
    /// Only `sync` and `synced` carry changes (`echo` and `echo_ok` carry
    /// opaque payload frames here, never interpreted).
    pub changes: Vec<Bytes>,
}

impl Message {
    /// A message without change frames.
    pub fn new(header: Header) -> Self {
        Message {
            header,
            changes: Vec::new(),
        }
    }

    /// A message with change frames (for `sync` and `synced`).
    pub fn with_changes(header: Header, changes: Vec<Bytes>) -> Self {
        Message { header, changes }
    }

    /// A plain `sync` (PROTOCOL §4.1): store `changes`, send what a peer
    /// with heads `have` lacks; no hint, no snapshot.
    pub fn sync(id: u64, list: ListId, have: Vec<ChangeHash>, changes: Vec<Bytes>) -> Self {
        Message::with_changes(
            Header::Sync {
                id,
                list,
                have,
                hint_for: None,
                snapshot_ok: false,
            },
            changes,
        )
    }

    /// An `error` reply with the given code and human-readable message.
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> Self {
        Message::new(error_header(id, code, message.into()))
    }

    /// An `unavailable` error reply: `answered` of `needed` replicas replied.
    pub fn unavailable(id: u64, answered: u32, needed: u32) -> Self {
        Message::new(Header::Error {
            id,
            code: ErrorCode::Unavailable,
            message: format!("quorum not reached: {answered} of {needed} replicas answered"),
            answered: Some(answered),
            needed: Some(needed),
        })
    }

    /// The request id (echoed in replies; 0 for unsolicited pushes).
    pub fn id(&self) -> u64 {
        self.header.id()
    }
}

/// Why one change of a `sync` was not stored (an entry of `synced.rejected`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// 0-based index of the change frame in the request (frame `index + 1`).
    pub index: u32,
    /// Usually `bad_change`, `missing_deps` or `too_large`.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub message: String,
}

/// One worker in a `cluster_status_ok` reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The worker's id.
    pub id: WorkerId,
    /// Whether the proxy currently counts it as live (in the ring).
    pub alive: bool,
    /// Its share of the hash ring, in `[0, 1]`; shares of live workers sum to 1.
    /// Must be finite. JSON decoders may differ from it in the last bit.
    pub share: f64,
    /// Whether its connection proved the cluster secret (PROTOCOL §7.1);
    /// `false` only on a proxy that runs without a secret.
    #[serde(default)]
    pub authenticated: bool,
    /// Milliseconds since the proxy last heard from it.
    #[serde(default)]
    pub heartbeat_age_ms: u64,
    /// The worker's own counters, from its latest heartbeat.
    #[serde(default)]
    pub stats: WorkerStats,
    /// Its state in the member set (PROTOCOL §7.2); absent from older proxies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MemberState>,
}

/// A worker's counters since it started, carried in its heartbeats and
/// shown by `shoplist-cloud status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Lists found damaged in its store and rebuilt from other replicas.
    #[serde(default)]
    pub lists_repaired: u64,
    /// Changes it refused and quarantined (poison input).
    #[serde(default)]
    pub quarantined: u64,
    /// Requests it answered `overloaded`.
    #[serde(default)]
    pub overloaded: u64,
    /// Hints it holds for home replicas that lack a list (PROTOCOL §7.3).
    #[serde(default)]
    pub hints: u64,
}

/// A proxy's own counters, in `cluster_status_ok` (`shoplist-cloud status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Client connections open on the frontend.
    #[serde(default)]
    pub connections: u64,
    /// Client connections closed to make room under the total cap.
    #[serde(default)]
    pub evicted_idle: u64,
    /// Client connections closed to make room under the per-address cap.
    #[serde(default)]
    pub evicted_per_source: u64,
    /// Times a client's reading was paused: too many requests unanswered.
    #[serde(default)]
    pub window_pauses: u64,
    /// Requests the proxy answered `overloaded`.
    #[serde(default)]
    pub overloaded: u64,
    /// Backend connections refused for a wrong or missing proof.
    #[serde(default)]
    pub workers_refused: u64,
    /// Anti-entropy passes completed (PROTOCOL §7.4).
    #[serde(default)]
    pub entropy_passes: u64,
    /// List transfers anti-entropy started.
    #[serde(default)]
    pub entropy_transfers: u64,
    /// Ranges that differed in the last completed pass.
    #[serde(default)]
    pub entropy_last_dirty: u64,
}

/// 32 random bytes or a MAC, written as 64 hex characters on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(pub [u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Nonces and MACs are not secrets, but keep logs short.
        write!(f, "Token({}…)", hex::encode(&self.0[..4]))
    }
}

impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out)
            .map_err(|e| D::Error::custom(format!("bad 32-byte hex token: {e}")))?;
        Ok(Token(out))
    }
}

/// The JSON header of a message (frame 0), one variant per `op`.
///
/// Serialized internally tagged: `{"op": "<name>", ...fields}`. Unknown
/// fields are ignored on decode (forward compatibility).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Header {
    // ---- requests (client → proxy, proxy → worker) ----
    /// Store the attached changes, then send what I lack relative to `have`.
    Sync {
        /// Request id.
        id: u64,
        /// The list.
        list: ListId,
        /// The requester's current heads of the list (empty if it has none).
        #[serde(with = "hex_hashes")]
        have: Vec<ChangeHash>,
        /// Proxy → worker only: the receiver stands in for this home
        /// replica, which is down; it keeps a durable hint and hands the
        /// list off when the home is back (PROTOCOL §7.3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint_for: Option<WorkerId>,
        /// The requester has nothing of the list (`have` empty) and accepts
        /// a compacted document in the reply (fresh open, PROTOCOL §4.2.1).
        /// Absent = false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        snapshot_ok: bool,
    },
    /// Start receiving `notify` for these lists.
    Subscribe {
        /// Request id.
        id: u64,
        /// Lists to add to this connection's subscriptions.
        lists: Vec<ListId>,
        /// The subscriber's session: the subscriptions belong to it, not to
        /// the connection, and it moves to this connection (PROTOCOL §6).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<SessionId>,
        /// `true`: each `notify` to this subscriber also carries the
        /// write's change frames when they are small (PROTOCOL §6.2);
        /// `false`: heads only. Absent: as before (heads only for a new
        /// subscriber).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changes: Option<bool>,
    },
    /// Stop receiving `notify` for these lists.
    Unsubscribe {
        /// Request id.
        id: u64,
        /// Lists to remove from this connection's subscriptions.
        lists: Vec<ListId>,
        /// As in `Subscribe`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<SessionId>,
    },
    /// Liveness probe; answered with `pong`.
    Ping {
        /// Request id.
        id: u64,
    },
    /// Ask the proxy for its workers and ring shares.
    ClusterStatus {
        /// Request id.
        id: u64,
    },
    /// Ask the proxy for a list's replicas.
    Where {
        /// Request id.
        id: u64,
        /// The list.
        list: ListId,
    },
    /// Transport probe (benchmarks, DESIGN §9 "transport"): the proxy
    /// forwards it to ONE of the list's replicas, which answers `echo_ok` at
    /// once with the same frames, without touching its store.
    Echo {
        /// Request id.
        id: u64,
        /// The list whose first live replica answers.
        list: ListId,
    },

    // ---- replies ----
    /// Reply to `sync`; the change frames are the changes the requester lacks.
    Synced {
        /// The request's id.
        id: u64,
        /// The list.
        list: ListId,
        /// The replier's heads after storing the request's changes.
        #[serde(with = "hex_hashes")]
        heads: Vec<ChangeHash>,
        /// Dependencies the replier lacked, so some sent changes were not
        /// applied: send again from further back.
        #[serde(with = "hex_hashes")]
        missing: Vec<ChangeHash>,
        /// Replicas that durably stored the request's changes.
        acked: u32,
        /// Whether the replier holds the list at all. A replica that never
        /// stored it answers `false` with empty heads, and such an answer
        /// never counts as a version of the list (PROTOCOL §6.1).
        #[serde(default)]
        holds: bool,
        /// Changes that were refused (absent on the wire when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        rejected: Vec<Rejected>,
        /// Only for a `sync` with `snapshot_ok`: the first `frames` change
        /// frames are a compacted document, the rest the changes after it
        /// (PROTOCOL §4.2.1). Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<super::snapshot::SnapshotMeta>,
    },
    /// Reply to `subscribe`/`unsubscribe`: the connection's subscriptions now.
    Subscribed {
        /// The request's id.
        id: u64,
        /// All lists this connection is now subscribed to.
        lists: Vec<ListId>,
        /// The named session was attached to another connection, or to none,
        /// until this request: pushes may have been missed, sync the lists
        /// (PROTOCOL §6.1). Absent (false) otherwise.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        moved: bool,
    },
    /// Reply to `ping`.
    Pong {
        /// The request's id.
        id: u64,
    },
    /// Reply to `cluster_status`.
    ClusterStatusOk {
        /// The request's id.
        id: u64,
        /// Every worker the proxy knows.
        workers: Vec<WorkerStatus>,
        /// The proxy's own counters (absent from older proxies).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proxy: Option<ProxyStats>,
    },
    /// Reply to `where`.
    WhereOk {
        /// The request's id.
        id: u64,
        /// The list.
        list: ListId,
        /// Its replicas, in preference order.
        replicas: Vec<WorkerId>,
    },
    /// Reply to `echo`; its frames are the request's frames, unchanged.
    EchoOk {
        /// The request's id.
        id: u64,
        /// The list.
        list: ListId,
    },
    /// Unsolicited push to subscribers after a write reached quorum.
    Notify {
        /// Always 0.
        id: u64,
        /// The list that changed.
        list: ListId,
        /// Its heads after the write.
        #[serde(with = "hex_hashes")]
        heads: Vec<ChangeHash>,
    },
    /// Reply to any request that failed.
    Error {
        /// The request's id (0 if it could not be read).
        id: u64,
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// With `unavailable`: how many replicas answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answered: Option<u32>,
        /// With `unavailable`: how many were needed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        needed: Option<u32>,
    },

    // ---- worker ↔ proxy control ----
    /// A worker announces itself (on connect and after every reconnect).
    Hello {
        /// Request id.
        id: u64,
        /// The worker's id.
        worker: WorkerId,
        /// Roughly how many lists it stores (informational).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lists_hint: Option<u64>,
        /// The worker's fresh random challenge for the proxy (PROTOCOL
        /// §7.1); absent from a worker without a cluster secret.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<Token>,
        /// The member set the worker knows (PROTOCOL §7.2).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<ClusterMember>,
    },
    /// The proxy's answer to `hello` when it has a cluster secret: prove it.
    Challenge {
        /// The `hello`'s id.
        id: u64,
        /// The proxy's fresh random challenge for the worker.
        nonce: Token,
        /// The proxy's proof over the worker's nonce (absent if the `hello`
        /// carried none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Token>,
    },
    /// The worker's proof over the proxy's nonce.
    Auth {
        /// Request id.
        id: u64,
        /// The worker's id (as in its `hello`).
        worker: WorkerId,
        /// HMAC-SHA256 proof (PROTOCOL §7.1).
        proof: Token,
    },
    /// The proxy's reply to `hello`.
    Welcome {
        /// The `hello`'s id.
        id: u64,
        /// How often the worker must send `heartbeat`, in milliseconds.
        heartbeat_ms: u64,
        /// The member set the proxy knows (PROTOCOL §7.2).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<ClusterMember>,
    },
    /// A worker found its copy of `list` damaged and dropped it: please
    /// rebuild it from the other replicas (no reply).
    Repair {
        /// Request id.
        id: u64,
        /// The list to rebuild on the sender.
        list: ListId,
    },
    /// Liveness, both directions; the proxy echoes each worker heartbeat.
    Heartbeat {
        /// Sender's id (the echo repeats it).
        id: u64,
        /// The worker the heartbeat is about.
        worker: WorkerId,
        /// The worker's counters (worker → proxy; absent in the echo).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stats: Option<WorkerStats>,
        /// The sender's member set (PROTOCOL §7.2).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<ClusterMember>,
    },
    /// Proxy → worker: for each range `[lo, hi]` of ring positions (meaning
    /// `lo < pos <= hi`, wrapping past zero when `lo >= hi`), the XOR of
    /// the digests of the lists it holds there (PROTOCOL §7.4).
    Digest {
        /// Request id.
        id: u64,
        /// Ranges of ring positions.
        ranges: Vec<[u64; 2]>,
    },
    /// Reply to `digest`: one digest per range, in order.
    DigestOk {
        /// The request's id.
        id: u64,
        /// XOR of the list digests in each range (0 when empty).
        digests: Vec<u64>,
    },
    /// Proxy → worker: the heads of the lists held in one range, in ring
    /// order, after `after` (PROTOCOL §7.4).
    ListHeadsIn {
        /// Request id.
        id: u64,
        /// The range of ring positions (as in `digest`).
        range: [u64; 2],
        /// Continue after this list (from `list_heads_ok.next`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<ListId>,
    },
    /// Reply to `list_heads_in`.
    ListHeadsOk {
        /// The request's id.
        id: u64,
        /// Up to [`MAX_LIST_HEADS`](super::cluster::MAX_LIST_HEADS) lists.
        lists: Vec<ListHeads>,
        /// Where to continue, if the range holds more.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<ListId>,
    },
    /// Worker → proxy: this worker holds a hint that `home` lacks `list`;
    /// please copy the list from this worker to `home` (PROTOCOL §7.3).
    Handoff {
        /// Request id.
        id: u64,
        /// The list.
        list: ListId,
        /// The home replica the hint is for.
        home: WorkerId,
    },
    /// Reply to `handoff`: `home` stored the list. `release`: the sender is
    /// not a home of the list and may drop its copy.
    HandedOff {
        /// The request's id.
        id: u64,
        /// The list.
        list: ListId,
        /// The home replica that now holds it.
        home: WorkerId,
        /// Whether the sender may drop the list.
        release: bool,
    },
    /// Administrator → proxy: retire a worker for good (PROTOCOL §7.5).
    Retire {
        /// Request id.
        id: u64,
        /// The worker to retire.
        worker: WorkerId,
        /// HMAC-SHA256 with the cluster secret over the retirement.
        proof: Token,
    },
    /// Reply to `retire`: the worker's state now (`leaving` until its lists
    /// have new homes, then `retired`).
    RetireOk {
        /// The request's id.
        id: u64,
        /// The worker.
        worker: WorkerId,
        /// Its state.
        state: MemberState,
    },
}

impl Header {
    /// Every `op` name, in documentation order.
    pub const OPS: [&'static str; 29] = [
        "sync",
        "subscribe",
        "unsubscribe",
        "ping",
        "cluster_status",
        "where",
        "echo",
        "synced",
        "subscribed",
        "pong",
        "cluster_status_ok",
        "where_ok",
        "echo_ok",
        "notify",
        "error",
        "hello",
        "challenge",
        "auth",
        "welcome",
        "repair",
        "heartbeat",
        "digest",
        "digest_ok",
        "list_heads_in",
        "list_heads_ok",
        "handoff",
        "handed_off",
        "retire",
        "retire_ok",
    ];

    /// The request id.
    pub fn id(&self) -> u64 {
        match self {
            Header::Sync { id, .. }
            | Header::Subscribe { id, .. }
            | Header::Unsubscribe { id, .. }
            | Header::Ping { id }
            | Header::ClusterStatus { id }
            | Header::Where { id, .. }
            | Header::Echo { id, .. }
            | Header::EchoOk { id, .. }
            | Header::Synced { id, .. }
            | Header::Subscribed { id, .. }
            | Header::Pong { id }
            | Header::ClusterStatusOk { id, .. }
            | Header::WhereOk { id, .. }
            | Header::Notify { id, .. }
            | Header::Error { id, .. }
            | Header::Hello { id, .. }
            | Header::Challenge { id, .. }
            | Header::Auth { id, .. }
            | Header::Repair { id, .. }
            | Header::Welcome { id, .. }
            | Header::Heartbeat { id, .. }
            | Header::Digest { id, .. }
            | Header::DigestOk { id, .. }
            | Header::ListHeadsIn { id, .. }
            | Header::ListHeadsOk { id, .. }
            | Header::Handoff { id, .. }
            | Header::HandedOff { id, .. }
            | Header::Retire { id, .. }
            | Header::RetireOk { id, .. } => *id,
        }
    }

    /// The wire `op` name.
    pub fn op(&self) -> &'static str {
        match self {
            Header::Sync { .. } => "sync",
            Header::Subscribe { .. } => "subscribe",
            Header::Unsubscribe { .. } => "unsubscribe",
            Header::Ping { .. } => "ping",
            Header::ClusterStatus { .. } => "cluster_status",
            Header::Where { .. } => "where",
            Header::Echo { .. } => "echo",
            Header::EchoOk { .. } => "echo_ok",
            Header::Synced { .. } => "synced",
            Header::Subscribed { .. } => "subscribed",
            Header::Pong { .. } => "pong",
            Header::ClusterStatusOk { .. } => "cluster_status_ok",
            Header::WhereOk { .. } => "where_ok",
            Header::Notify { .. } => "notify",
            Header::Error { .. } => "error",
            Header::Hello { .. } => "hello",
            Header::Challenge { .. } => "challenge",
            Header::Auth { .. } => "auth",
            Header::Repair { .. } => "repair",
            Header::Welcome { .. } => "welcome",
            Header::Heartbeat { .. } => "heartbeat",
            Header::Digest { .. } => "digest",
            Header::DigestOk { .. } => "digest_ok",
            Header::ListHeadsIn { .. } => "list_heads_in",
            Header::ListHeadsOk { .. } => "list_heads_ok",
            Header::Handoff { .. } => "handoff",
            Header::HandedOff { .. } => "handed_off",
            Header::Retire { .. } => "retire",
            Header::RetireOk { .. } => "retire_ok",
        }
    }

    /// Whether messages with this op carry change frames (and an `n` field).
    pub fn carries_changes(&self) -> bool {
        op_carries_changes(self.op())
    }
}

/// Whether `op` carries change frames (`sync`, `synced`), or opaque
/// payload frames (`echo`, `echo_ok`): its header always has `n`.
pub(crate) fn op_carries_changes(op: &str) -> bool {
    matches!(op, "sync" | "synced" | "echo" | "echo_ok")
}

/// Whether `op` may carry change frames, with `n` absent when it has none
/// (`notify`, PROTOCOL §6.2).
pub(crate) fn op_may_carry_changes(op: &str) -> bool {
    op == "notify"
}

/// Serde for a list of change hashes as 64-char lowercase hex strings.
pub(crate) mod hex_hashes {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ids::{hash_from_hex, hash_to_hex, ChangeHash};

    pub fn serialize<S: Serializer>(hashes: &[ChangeHash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hashes.iter().map(hash_to_hex))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChangeHash>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| hash_from_hex(t).map_err(D::Error::custom))
            .collect()
    }
}
