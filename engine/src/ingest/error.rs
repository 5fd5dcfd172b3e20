//! Why incoming change bytes were rejected.

use super::prescan::PrescanError;
use crate::protocol::ErrorCode;

/// A rejection. Every variant leaves the store and the in-memory document as
/// they were before the call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// More changes in one request than allowed.
    #[error("too many changes in one request: {got} > {limit}")]
    TooManyChanges {
        /// Changes sent.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// Change `index` failed the structural pre-check (size, checksum, lengths).
    #[error("change {index}: {source}")]
    Malformed {
        /// Position in the request.
        index: usize,
        /// What the pre-check found.
        source: PrescanError,
    },
    /// Automerge could not decode change `index`.
    #[error("change {index}: cannot decode: {detail}")]
    Undecodable {
        /// Position in the request.
        index: usize,
        /// Decoder message.
        detail: String,
    },
    /// Change `index` decodes but does not re-encode to the same bytes (junk
    /// inside a column: accepted by Automerge, but it would break save→load).
    #[error("change {index}: not canonical (decode/re-encode differs)")]
    NotCanonical {
        /// Position in the request.
        index: usize,
    },
    /// More operations than its byte size makes plausible.
    #[error("change {index}: {ops} operations in {bytes} bytes is not plausible")]
    ImplausibleOps {
        /// Position in the request.
        index: usize,
        /// Decoded op count.
        ops: usize,
        /// Byte size.
        bytes: usize,
    },
    /// The actor's sequence numbers are not continuous (a gap with all
    /// dependencies present, or a reused sequence number).
    #[error("change {index}: actor {actor} seq {got}, expected {expected}")]
    SeqDiscontinuity {
        /// Position in the request.
        index: usize,
        /// Actor (hex).
        actor: String,
        /// Next expected sequence number.
        expected: u64,
        /// What the change claims.
        got: u64,
    },
    /// A signed change frame shorter than its signature (PROTOCOL §2.1).
    #[error("change {index}: frame of {len} bytes is shorter than a 64-byte signature")]
    Unsigned {
        /// Position in the request.
        index: usize,
        /// The frame's length.
        len: usize,
    },
    /// Another change already holds this actor and sequence number: a copied
    /// data dir, whose device must rotate its key (PROTOCOL §2.1, §8
    /// `actor_clash`).
    #[error("change {index}: actor {actor} seq {seq} is already taken by another change")]
    ActorClash {
        /// Position in the request.
        index: usize,
        /// Actor (hex).
        actor: String,
        /// The sequence number claimed twice.
        seq: u64,
    },
    /// The chain rule: a change with seq > 1 must list its actor's previous
    /// change among its direct dependencies (PROTOCOL §2.1).
    #[error(
        "change {index}: actor {actor} seq {seq} does not depend on the actor's previous change"
    )]
    BrokenChain {
        /// Position in the request.
        index: usize,
        /// Actor (hex).
        actor: String,
        /// Its sequence number.
        seq: u64,
    },
    /// The actor's latest change in the request is not signed by the
    /// actor's key (PROTOCOL §8 `forged`).
    #[error(
        "change {index}: actor {actor} seq {seq}: signature does not verify (forged authorship)"
    )]
    Forged {
        /// Position in the request.
        index: usize,
        /// Actor (hex).
        actor: String,
        /// Its sequence number.
        seq: u64,
    },
    /// These bytes crashed the decoder before and are quarantined.
    #[error("change {index}: quarantined (it crashed the decoder before)")]
    Quarantined {
        /// Position in the request.
        index: usize,
    },
    /// Applying the change panicked inside Automerge; the document was
    /// restored from the store and the input quarantined.
    #[error("change {index}: crashed the document engine; quarantined")]
    Panicked {
        /// Position in the request.
        index: usize,
    },
    /// Automerge refused the change.
    #[error("applying changes failed: {0}")]
    Apply(String),
}

impl IngestError {
    /// A short stable code for the wire (`bad_change` details).
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::TooManyChanges { .. } => "too_many_changes",
            IngestError::Malformed { .. } => "malformed",
            IngestError::Undecodable { .. } => "undecodable",
            IngestError::NotCanonical { .. } => "not_canonical",
            IngestError::ImplausibleOps { .. } => "implausible_ops",
            IngestError::SeqDiscontinuity { .. } => "seq_discontinuity",
            IngestError::Unsigned { .. } => "unsigned",
            IngestError::ActorClash { .. } => "actor_clash",
            IngestError::BrokenChain { .. } => "broken_chain",
            IngestError::Forged { .. } => "forged",
            IngestError::Quarantined { .. } => "quarantined",
            IngestError::Panicked { .. } => "panicked",
            IngestError::Apply(_) => "apply_failed",
        }
    }
}

impl IngestError {
    /// The wire error code a replier answers with (PROTOCOL §8): `forged`
    /// and `actor_clash` have their own codes, every other rejection is
    /// `bad_change`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            IngestError::Forged { .. } => ErrorCode::Forged,
            IngestError::ActorClash { .. } => ErrorCode::ActorClash,
            _ => ErrorCode::BadChange,
        }
    }
}
