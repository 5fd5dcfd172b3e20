//! # shoplist cloud
//!
//! The replicated side of shoplist (DESIGN §6): a proxy that routes each
//! list to its replicas on a consistent-hash ring and answers at a quorum,
//! workers that keep SQLite replicas, and `up`, a whole local cluster.
//!
//! ## Layout
//!
//! Logic without sockets (unit-tested with plain inputs and `now`):
//!
//! - [`ring`]: the hash ring with virtual nodes; preference lists; shares.
//! - [`admission`]: the worker handshake: challenges, proofs (PROTOCOL §7.1).
//! - [`membership`]: workers' routes and liveness (hello, heartbeats, timeouts).
//! - [`quorum`]: one client `sync`'s quorum tracker; the union of replies.
//! - [`repair`]: fill and read-repair decisions.
//! - [`subscriptions`]: who gets `notify` after a write; bounded.
//! - [`proxy::ProxyCore`]: the proxy's state machine over all of the above.
//!
//! Adapters (zeromq, SQLite, processes):
//!
//! - [`secret`]: the cluster secret (file or environment) and HMAC proofs.
//! - [`transport`]: envelopes, codec glue, DEALER connect and backoff.
//! - [`proxy`]: the proxy process (two ROUTERs around the core).
//! - [`worker`]: the worker process (store thread, links to proxies).
//! - [`client`]: a request/reply client for a proxy's frontend.
//! - [`inspect`]: the `status` and `where` commands.
//! - [`up`]: the local cluster supervisor.

pub mod admission;
pub mod client;
pub mod entropy;
pub mod inspect;
pub mod members;
pub mod membership;
pub mod placement;
pub mod proxy;
pub mod quorum;
pub mod repair;
pub mod retire;
pub mod ring;
pub mod secret;
pub mod subscriptions;
pub mod transport;
pub mod up;
pub mod worker;

/// Default tokio worker threads of a proxy or worker process (`--threads`).
/// Each has a single-threaded core of its own (the proxy's [`proxy`] core,
/// the worker's store thread); more runtime threads only add cross-thread
/// wake-ups per message on a small machine (README, "Runtime threads").
pub const RUNTIME_THREADS: u16 = 1;
