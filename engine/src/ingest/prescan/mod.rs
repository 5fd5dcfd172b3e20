//! Pre-decode bounds check of an untrusted Automerge change chunk (DESIGN §5).
//!
//! automerge 0.12's decoder (`automerge::Change::try_from(&[u8])`) trusts the
//! run lengths, counts and lengths written inside a change. A chunk of a few
//! dozen bytes can claim a predecessor list of 2^40 entries (the decoder
//! pushes them one by one into a `Vec` until the process aborts) or an
//! operation count of 2^50 (the decoder loops for hours). Neither can be
//! stopped by `catch_unwind`.
//!
//! [`prescan_change`] parses the change chunk itself before automerge ever
//! sees it, mirroring the storage format of automerge 0.12
//! (`storage/chunk.rs`, `storage/change.rs`, `storage/columns/`,
//! `columnar/encoding/`) and checking every length, count and run against
//! the bytes actually present and against [`PrescanLimits`]. It runs in time
//! linear in the input (every loop iteration consumes input bytes, except
//! RLE repeat runs, whose lengths are only added up with checked arithmetic)
//! and never panics.
//!
//! It is deliberately stricter than automerge where automerge's leniency
//! lets through bytes that it would not produce itself and that break a
//! later save → load (a column with rows beyond the operation count, unknown
//! or empty columns, overlong LEB128, unsorted dependencies, raw value bytes
//! not accounted for by the value metadata). A change that passes is not
//! necessarily valid: the caller still decodes it (under `catch_unwind`) and
//! checks decode → re-encode equality.
//!
//! ## Layout
//!
//! - this file: the format constants, [`PrescanLimits`], [`PrescanInfo`] and
//!   [`prescan_change`], which runs the two passes below;
//! - [`column`](mod@column): the column specifications automerge 0.12 writes;
//! - `header`: the chunk header (magic, checksum, type, length) and the
//!   change header (dependencies, actor, seq, start op, time, message, other
//!   actors, column metadata), pass one;
//! - `columns`: the columns checked against each other (every column has one
//!   row per operation, the predecessor columns one per predecessor), pass two;
//! - `encoding`: row counting of the RLE, delta, boolean and value encodings;
//! - `leb`: a bounds-checked byte cursor with strict LEB128 readers, and the
//!   LEB128 writers used by [`crate::ingest::bad_shapes`];
//! - `document`: [`prescan_document`], the same bounds for a whole
//!   document chunk (fresh open, [`crate::load`]);
//! - `error`: [`PrescanError`].

pub mod column;
mod columns;
mod document;
mod encoding;
mod error;
mod header;
mod leb;

#[cfg(test)]
mod experiment_tests;
#[cfg(test)]
mod random_tests;
#[cfg(test)]
mod tests;

pub use document::{prescan_document, DocInfo, DocLimits, CHUNK_TYPE_DOCUMENT};
pub use error::PrescanError;

pub(crate) use encoding::count_rle_rows;
pub(crate) use header::{body_hash, change_layout};
pub(crate) use leb::{write_sleb, write_uleb};

use columns::check_columns;
use error::Result;
use header::parse_structure;

/// The four magic bytes that open every Automerge chunk.
pub const MAGIC_BYTES: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Chunk type byte of an uncompressed change, the only type accepted.
pub const CHUNK_TYPE_CHANGE: u8 = 1;

/// Length of a change hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// Limits applied by [`prescan_change`]. `Default` gives the values used for
/// bytes from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescanLimits {
    /// Largest whole chunk accepted, header included (default 1 MiB).
    pub max_change_bytes: usize,
    /// Most operations (rows of the action column) in one change, and most
    /// predecessor entries in one change (default 100 000).
    pub max_ops: u64,
    /// Operations (and predecessor entries) may not exceed
    /// `chunk length * max_ops_per_byte` (default 64): RLE lets a few bytes
    /// claim any number of rows, honest changes stay far below this.
    pub max_ops_per_byte: u64,
    /// Most dependencies (default 1024).
    pub max_deps: usize,
    /// Most actors: the author plus the other actors (default 1024).
    pub max_actors: usize,
    /// Longest actor id in bytes (default 64; automerge uses 16).
    pub max_actor_len: usize,
    /// Longest commit message in bytes (default 64 KiB).
    pub max_message: usize,
}

impl Default for PrescanLimits {
    fn default() -> Self {
        Self {
            max_change_bytes: 1 << 20,
            max_ops: 100_000,
            max_ops_per_byte: 64,
            max_deps: 1024,
            max_actors: 1024,
            max_actor_len: 64,
            max_message: 64 << 10,
        }
    }
}

impl PrescanLimits {
    /// Limits that only bound what the input itself bounds. For tools and
    /// tests that need the structure of a chunk they produced themselves.
    pub fn unlimited() -> Self {
        Self {
            max_change_bytes: usize::MAX,
            max_ops: u64::MAX,
            max_ops_per_byte: u64::MAX,
            max_deps: usize::MAX,
            max_actors: usize::MAX,
            max_actor_len: usize::MAX,
            max_message: usize::MAX,
        }
    }
}

/// What [`prescan_change`] learned about a change that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescanInfo {
    /// Number of operations (rows of the action column); equals
    /// `automerge::Change::len()` after decoding.
    pub ops: u64,
    /// Total number of predecessor entries over all operations.
    pub preds: u64,
    /// Number of dependencies.
    pub deps: usize,
    /// The dependency hashes, strictly increasing.
    pub dep_hashes: Vec<[u8; HASH_LEN]>,
    /// Sequence number of the change for its actor (≥ 1).
    pub seq: u64,
    /// Counter of the first operation (≥ 1).
    pub start_op: u64,
    /// Timestamp (milliseconds since the epoch, as written by the author).
    pub time: i64,
    /// Actor id of the author.
    pub actor: Vec<u8>,
    /// Other actors referenced by the operations.
    pub other_actors: Vec<Vec<u8>>,
    /// Length of the commit message in bytes (0 = none).
    pub message_len: usize,
    /// Bytes after the column data (automerge's "extra bytes").
    pub extra_bytes: usize,
    /// Change hash: SHA-256 over chunk type, body length and body.
    pub hash: [u8; HASH_LEN],
}

/// Check untrusted change bytes before they are given to automerge.
///
/// `bytes` must be exactly one uncompressed change chunk. On success the
/// returned [`PrescanInfo`] describes it; `info.ops` is the number of
/// operations automerge will decode.
///
/// # Errors
/// A [`PrescanError`] naming the first problem found.
pub fn prescan_change(bytes: &[u8], limits: &PrescanLimits) -> Result<PrescanInfo> {
    let parsed = parse_structure(bytes, limits, true)?;
    let counts = check_columns(&parsed, bytes.len(), limits)?;
    if counts.ops > 0 {
        let last = parsed
            .start_op
            .checked_add(counts.ops - 1)
            .ok_or(PrescanError::BadHeaderField { what: "start_op" })?;
        if last > u64::from(u32::MAX) {
            return Err(PrescanError::BadHeaderField { what: "start_op" });
        }
    }
    Ok(PrescanInfo {
        ops: counts.ops,
        preds: counts.preds,
        deps: parsed.dep_hashes.len(),
        dep_hashes: parsed.dep_hashes,
        seq: parsed.seq,
        start_op: parsed.start_op,
        time: parsed.time,
        actor: parsed.actor.to_vec(),
        other_actors: parsed.other_actors.iter().map(|a| a.to_vec()).collect(),
        message_len: parsed.message_len,
        extra_bytes: parsed.extra.len(),
        hash: parsed.hash,
    })
}
