//! The one gate for change bytes from the network (DESIGN §5), used by the
//! CLI (changes pulled from the cloud) and by every worker (changes pushed by
//! clients and by the proxy's repair).
//!
//! This module is sans-IO: it never touches SQLite. The store's
//! `Store::ingest` (in `store/ingest/`, behind the `store` feature) takes a
//! list id and raw change bytes and either applies and durably stores them
//! or rejects the whole request with a typed [`IngestError`]; it runs the
//! checks below and adds steps 1, 5 and 6. The fuzzers and replay tests run
//! steps 2–5 in memory ([`ingest_in_memory`]). Per change, in order:
//!
//! 1. quarantine (store): bytes that once crashed Automerge are refused at
//!    once;
//! 2. [`prescan`]: size, magic, checksum, chunk type (uncompressed change
//!    only), and every length/count/run inside the chunk checked against the
//!    bytes present and against limits — before Automerge decodes anything,
//!    because some tiny inputs make its decoder allocate gigabytes;
//! 3. decode with panics caught; op count plausible for the byte size;
//!    decode → re-encode equality (a junk byte inside a column is accepted by
//!    Automerge but breaks save→load);
//! 4. against the list's change graph: duplicates are skipped; changes whose
//!    dependencies are absent are **not** queued: they are left out and their
//!    missing dependency hashes are reported ([`IngestOutcome::missing`]);
//!    the actor's sequence numbers must continue without gap or reuse. The
//!    order comes from Kahn's algorithm ([`merge::order_against_graph`]):
//!    O(n + e) heap operations for n changes and e dependencies, whatever
//!    order they arrive in;
//! 5. apply, with panics caught: on a panic the document is restored (the
//!    store reloads it), the culprit is found and quarantined, the request
//!    rejected;
//! 6. store the rows (store); one SQLite transaction for the whole request.
//!
//! [`bad_shapes`] builds each known-bad input from a valid change, for tests,
//! fuzz replay and integration tests.

pub mod bad_shapes;
mod error;
pub mod merge;
pub mod prescan;
mod validate;

pub use error::IngestError;
pub use merge::{ingest_frames_in_memory, ingest_in_memory, Authorship, Decoded};
pub use validate::{decode_untrusted, IngestLimits};

#[cfg(test)]
mod order_tests;

use crate::ChangeHash;

/// What an accepted ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Newly applied and stored changes, in the order applied.
    pub applied: Vec<ChangeHash>,
    /// Changes we already had.
    pub duplicates: usize,
    /// Dependencies we lack: changes needing them were left out (not queued);
    /// the sender should send from further back.
    pub missing: Vec<ChangeHash>,
}
