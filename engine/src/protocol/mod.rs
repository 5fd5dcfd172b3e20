//! The wire protocol: typed messages and their ZeroMQ multipart codec.
//!
//! This is the one place that turns frames into messages and back (STYLE §2);
//! the CLI's sync client, the proxy and the workers all use it, and the
//! fuzzers hit it first. PROTOCOL.md at the repository root is the
//! language-neutral specification; this module implements it.
//!
//! A message is frame 0, a UTF-8 JSON header `{"v":2,"op":...,"id":...}`,
//! followed by `n` signed change frames (a 64-byte Ed25519 signature, then
//! the raw Automerge change chunk; only `sync` and `synced` carry changes). Routing envelopes (ROUTER identities, REQ
//! delimiters) are the transport's business and never reach this module.
//!
//! ## Layout
//!
//! - [`message`]: [`Message`] and [`Header`] (one variant per `op`),
//!   [`Rejected`], [`WorkerStatus`], [`WorkerStats`], [`Token`].
//! - [`codec`]: [`encode`], [`decode`], [`peek_id`].
//! - [`limits`]: [`Limits`], checked before anything is parsed.
//! - [`error`]: [`ErrorCode`] (the wire codes) and [`ProtocolError`].
//! - [`session`]: [`SessionId`], a subscriber's name for its subscriptions.
//! - [`snapshot`]: the snapshot frames of a fresh-open `synced` reply.
//!
//! ```
//! use engine::protocol::{decode, encode, Header, Limits, Message};
//! use engine::ListId;
//!
//! let msg = Message::with_changes(
//!     Header::Sync { id: 7, list: ListId::new_random(), have: vec![] },
//!     vec![bytes::Bytes::from_static(b"change bytes")],
//! );
//! let frames = encode(&msg);
//! assert_eq!(frames.len(), 2);
//! assert_eq!(decode(&frames, &Limits::default()).unwrap(), msg);
//! ```

pub mod cluster;
pub mod codec;
pub mod error;
pub mod limits;
pub mod message;
pub mod session;
pub mod snapshot;

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod proptests;

pub use cluster::{ClusterMember, ListHeads, MemberState};
pub use codec::{decode, encode, peek_id, PROTOCOL_VERSION};
pub use error::{ErrorCode, ProtocolError};
pub use limits::Limits;
pub use message::{Header, Message, ProxyStats, Rejected, Token, WorkerStats, WorkerStatus};
pub use session::SessionId;
