//! # shoplist CLI
//!
//! The user's tool (DESIGN §7): subcommands for scripts, an interactive
//! terminal UI for people, and background sync with the cloud. Everything
//! works offline against the local SQLite store; only `join` and `sync` (and
//! the background sync of `sync --watch` and the interactive mode) talk to
//! the network.
//!
//! The library half exists so other tools (the benchmark) can drive the real
//! client code: [`sync_client`] and [`sync`] have no dependency on the
//! command-line layer.
//!
//! ## Layout
//!
//! - [`sync_client`]: the async ZeroMQ DEALER client: request ids, timeouts,
//!   retries with backoff, endpoint failover, socket rebuilds, `notify` events.
//! - [`sync`]: one list's sync with the cloud (sans-IO planner
//!   [`sync::ListSync`] plus the async driver [`sync::sync_list`]).
//! - [`live`]: live sync as a sans-IO session ([`live::LiveSession`]:
//!   when each list syncs, coalescing, one sync in flight per list, backoff)
//!   and the [`live::LiveHandle`] that pokes it after an in-process edit.
//! - [`watch`]: the async driver of that session: subscribe, react to
//!   `notify` at once, push local edits made by any process
//!   ([`watch::Watcher`]).
//! - [`args`]: the clap definition of the command line.
//! - [`resolve`]: turning a LIST argument into a [`engine::ListId`].
//! - [`output`]: the `--json` documents and their human renderings.
//! - [`commands`]: one function per subcommand, and the exit-code policy.
//! - [`tui`]: the interactive mode (ratatui).
//! - [`timefmt`]: human-readable UTC timestamps for `log`.

pub mod args;
pub mod commands;
pub mod live;
pub mod output;
pub mod resolve;
pub mod sync;
pub mod sync_client;
pub mod timefmt;
pub mod tui;
pub mod watch;

pub use commands::{run, CliError};
