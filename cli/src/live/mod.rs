//! Live sync as a sans-IO session (`sync --watch`, the TUI's background
//! sync and the benchmark's devices all drive it).
//!
//! - [`session`]: [`LiveSession`], `(state, now, event) → effects`, in the
//!   shape of the proxy's `ProxyCore`: it decides *when* each list syncs
//!   (at most one sync in flight per list, edits and notifies arriving
//!   meanwhile coalesce into the next one, backoff after failures, offline
//!   handling, subscription renewal) and never touches a socket, a clock or
//!   the store. Unit-tested with hand-driven time in `tests`.
//! - [`handle`]: [`LiveHandle`], the cloneable poke a process that edits a
//!   list (the TUI, the benchmark) uses so the session pushes at once
//!   instead of waiting for the next local poll.
//! - [`shared`]: [`SharedStore`], the device's one store connection that
//!   the editing side and the session's driver share (each edit is applied
//!   once on the device, not once per connection).
//!
//! The async driver that owns the socket and the clock, shares the store and
//! executes the effects is [`crate::watch::Watcher`].

pub mod handle;
pub mod session;
pub mod shared;

pub use handle::LiveHandle;
pub use session::{Effect, Event, LiveSession, ScannedList, SessionConfig, SyncOutcome};
pub use shared::SharedStore;

#[cfg(test)]
mod tests;
