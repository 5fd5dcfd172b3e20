//! # shoplist engine
//!
//! Everything of shoplist that needs no socket: the list CRDT, the local
//! SQLite store, validation of untrusted change bytes, sync bookkeeping and
//! the wire protocol. The `shoplist` CLI and the `shoplist-cloud` workers are
//! thin adapters around it.
//!
//! ## Layout
//!
//! - [`ids`]: `ListId`, `WorkerId`, `ClientId`, change-hash helpers.
//! - [`list`]: [`list::ShoppingList`], typed edits and folded reads over an
//!   Automerge document (DESIGN §2, the merge-semantics table).
//! - [`graph`]: [`graph::ChangeGraph`], the change-graph index: which changes a
//!   peer lacks, in time proportional to the delta (DESIGN §4).
//! - [`ingest`]: the one gate for change bytes from the network (DESIGN §5).
//! - [`load`]: the guarded loader of a compacted document from the
//!   network (fresh open, DESIGN §4).
//! - [`store`]: [`store::Store`], SQLite persistence: change rows, compacted
//!   snapshots, cloud-acknowledged heads, the device identity (DESIGN §3).
//! - [`protocol`]: wire messages and their multipart codec (PROTOCOL.md).
//! - [`signing`]: device keys (Ed25519; the actor id is the public key) and
//!   the signed change frames of protocol v2.

#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod ids;
pub mod ingest;
pub mod list;
pub mod load;
pub mod protocol;
pub mod signing;
#[cfg(feature = "store")]
pub mod store;

pub use ids::{ChangeHash, ClientId, ListId, WorkerId};
