//! Error codes carried in `error` replies, and the codec's own error type.
//!
//! [`ErrorCode`] is the closed set of codes a peer may put in an `error`
//! reply (or a `rejected` entry of `synced`); PROTOCOL.md documents each and
//! says whether to retry. [`ProtocolError`] is every way [`decode`]
//! can refuse a message; [`ProtocolError::code`] maps it to its wire code and
//! [`ProtocolError::to_reply`] turns it into the `error` reply to send back.
//!
//! [`decode`]: super::decode

use std::fmt;

use serde::{Deserialize, Serialize};

use super::message::{Header, Message};

/// A wire error code; serialized as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frames are not a message at all (no header frame, not UTF-8).
    BadFrame,
    /// A frame, the whole message, or a count exceeded a [`Limits`](super::Limits) value.
    TooLarge,
    /// The header is not a JSON object or a field is missing or malformed.
    BadHeader,
    /// The header's `v` is not a version this peer speaks.
    UnsupportedVersion,
    /// The header's `op` is not known.
    UnknownOp,
    /// The header's `n` does not match the number of change frames.
    FrameCount,
    /// Ingestion rejected a change (checksum, encoding, actor/seq, size...).
    BadChange,
    /// A change's dependencies are not held by the replier.
    MissingDeps,
    /// Fewer replicas than the quorum answered (`answered` of `needed`).
    Unavailable,
    /// The request did not complete in time.
    Timeout,
    /// The addressed thing (worker, list) is not known.
    NotFound,
    /// The replier sheds load; retry later.
    Overloaded,
    /// A worker's `auth` proof does not match the cluster secret (PROTOCOL
    /// §7.1); the connection is not admitted.
    Unauthorized,
    /// A change's signature does not verify under its actor's key: someone
    /// wrote in another device's name (PROTOCOL §2.1). Protocol v2.
    Forged,
    /// A change claims an actor and seq another change already holds (a
    /// copied data dir): the sender rotates its key and replays its edits
    /// (PROTOCOL §5.2). Protocol v2.
    ActorClash,
    /// A bug or an unexpected local failure on the replier.
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::BadFrame,
        ErrorCode::TooLarge,
        ErrorCode::BadHeader,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownOp,
        ErrorCode::FrameCount,
        ErrorCode::BadChange,
        ErrorCode::MissingDeps,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::NotFound,
        ErrorCode::Overloaded,
        ErrorCode::Unauthorized,
        ErrorCode::Forged,
        ErrorCode::ActorClash,
        ErrorCode::Internal,
    ];

    /// The wire name, e.g. `"bad_frame"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BadHeader => "bad_header",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::FrameCount => "frame_count",
            ErrorCode::BadChange => "bad_change",
            ErrorCode::MissingDeps => "missing_deps",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forged => "forged",
            ErrorCode::ActorClash => "actor_clash",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether resending the same request later may succeed. `missing_deps`
    /// is retryable only after resending from further back (see PROTOCOL.md).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::MissingDeps
                | ErrorCode::Unavailable
                | ErrorCode::Timeout
                | ErrorCode::Overloaded
                | ErrorCode::Internal
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every way [`decode`](super::decode) can refuse a multipart message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The message has no frames at all.
    #[error("empty message: no header frame")]
    Empty,
    /// Frame 0 is not UTF-8 text.
    #[error("header frame is not UTF-8")]
    HeaderNotUtf8,
    /// A size or count limit was exceeded.
    #[error("{what} too large: {size} > limit {limit}")]
    TooLarge {
        /// What was measured (e.g. "header frame", "change frame 3").
        what: String,
        /// The measured size or count.
        size: u64,
        /// The limit it exceeded.
        limit: u64,
    },
    /// The header is not a JSON object, or a field is missing or malformed.
    #[error("bad header: {0}")]
    BadHeader(String),
    /// The header's `v` is not 1.
    #[error("unsupported protocol version {0} (this peer speaks 1)")]
    UnsupportedVersion(u64),
    /// The header's `op` is not known.
    #[error("unknown op {0:?}")]
    UnknownOp(String),
    /// `n` does not match the number of frames after the header.
    #[error("op {op:?} declares n={declared} change frames but {actual} follow")]
    FrameCount {
        /// The op of the message.
        op: String,
        /// The header's `n` (0 when absent).
        declared: u64,
        /// The number of frames after the header.
        actual: u64,
    },
}

impl ProtocolError {
    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::Empty | ProtocolError::HeaderNotUtf8 => ErrorCode::BadFrame,
            ProtocolError::TooLarge { .. } => ErrorCode::TooLarge,
            ProtocolError::BadHeader(_) => ErrorCode::BadHeader,
            ProtocolError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            ProtocolError::UnknownOp(_) => ErrorCode::UnknownOp,
            ProtocolError::FrameCount { .. } => ErrorCode::FrameCount,
        }
    }

    /// The `error` reply to send back for this error; `id` is the request's
    /// id if known (see [`peek_id`](super::peek_id)), else 0.
    pub fn to_reply(&self, id: u64) -> Message {
        Message::error(id, self.code(), self.to_string())
    }
}

/// Build an `error` header (without `answered`/`needed`).
pub(crate) fn error_header(id: u64, code: ErrorCode, message: String) -> Header {
    Header::Error {
        id,
        code,
        message,
        answered: None,
        needed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_their_documented_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn every_error_code_is_documented_in_protocol_md() {
        let doc = include_str!("../../../PROTOCOL.md");
        for code in ErrorCode::ALL {
            assert!(
                doc.contains(&format!("`{}`", code.as_str())),
                "{code} missing from PROTOCOL.md"
            );
        }
    }
}
