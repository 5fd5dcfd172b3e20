//! Pre-load bounds check of an untrusted Automerge *document* chunk (issue
//! 11 deliverable 4, DESIGN §4 "Fresh open", §5).
//!
//! `Automerge::load` trusts the counts, lengths and runs inside a document
//! just as the change decoder does. [`prescan_document`] parses the document
//! chunk (automerge 0.12 `storage/document.rs`: actors, heads, change
//! metadata columns, operation columns, head indexes) and bounds every
//! length, count and run against the bytes present and [`DocLimits`] before
//! automerge sees a byte. Whole-chunk compression (chunk type 2) and
//! deflated columns are refused (deflate bombs): the cloud serves
//! `save_nocompress` snapshots. Every loop consumes input bytes except RLE
//! repeat runs, whose lengths are only summed with checked arithmetic
//! against the row limit.

use super::encoding::{read_string, walk_bool, walk_delta, walk_rle, walk_values};
use super::error::{PrescanError, Result};
use super::header::envelope;
use super::leb::Reader;
use super::{column, HASH_LEN};

/// Chunk type byte of a document.
pub const CHUNK_TYPE_DOCUMENT: u8 = 0;

/// Limits applied by [`prescan_document`]. `Default` gives the values used
/// for bytes from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocLimits {
    /// Largest whole chunk accepted (default 16 MiB).
    pub max_doc_bytes: usize,
    /// Most actors in the actor table (default 65 536).
    pub max_actors: usize,
    /// Longest actor id in bytes (default 64).
    pub max_actor_len: usize,
    /// Most heads (default 1024).
    pub max_heads: usize,
    /// Most columns in either column group (default 64).
    pub max_columns: usize,
    /// Most rows any one column may claim (default 4 000 000).
    pub max_rows: u64,
    /// Rows any one column may claim per byte of the chunk (default 64).
    pub max_rows_per_byte: u64,
}

impl Default for DocLimits {
    fn default() -> Self {
        Self {
            max_doc_bytes: 16 << 20,
            max_actors: 1 << 16,
            max_actor_len: 64,
            max_heads: 1024,
            max_columns: 64,
            max_rows: 4_000_000,
            max_rows_per_byte: 64,
        }
    }
}

/// What [`prescan_document`] learned about a document that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    /// The actor table.
    pub actors: Vec<Vec<u8>>,
    /// The heads the document claims (checked again after loading).
    pub heads: Vec<[u8; HASH_LEN]>,
    /// Rows of the longest change-metadata column (the number of changes).
    pub changes: u64,
    /// Rows of the longest operation column (the number of operations).
    pub ops: u64,
}

/// Column type: the low three bits of a column specification.
fn column_type(spec: u32) -> u32 {
    spec & 0x07
}

/// Check untrusted document bytes before they are given to automerge.
///
/// # Errors
/// A [`PrescanError`] naming the first problem found.
pub fn prescan_document(bytes: &[u8], limits: &DocLimits) -> Result<DocInfo> {
    if bytes.len() > limits.max_doc_bytes {
        return Err(PrescanError::TooLarge {
            len: bytes.len(),
            limit: limits.max_doc_bytes,
        });
    }
    let body = envelope(bytes, CHUNK_TYPE_DOCUMENT, true)?.body;
    let row_limit = limits
        .max_rows
        .min((bytes.len() as u64).saturating_mul(limits.max_rows_per_byte));

    let mut r = Reader::new(body);
    let nactors = r.uleb("actor count")?;
    if nactors > limits.max_actors as u64 || nactors > r.remaining() as u64 {
        return Err(PrescanError::TooManyActors {
            claimed: nactors,
            limit: limits.max_actors,
        });
    }
    let mut actors: Vec<Vec<u8>> = Vec::new();
    for _ in 0..nactors {
        let len = r.uleb("actor length")?;
        if len == 0 || len > limits.max_actor_len as u64 {
            return Err(PrescanError::BadActor {
                len,
                limit: limits.max_actor_len,
            });
        }
        let a = r.take(len, "actor id")?;
        if actors.last().is_some_and(|prev| prev.as_slice() >= a) {
            return Err(PrescanError::DuplicateActor);
        }
        actors.push(a.to_vec());
    }
    let nheads = r.uleb("head count")?;
    if nheads > limits.max_heads as u64 {
        return Err(PrescanError::TooManyDeps {
            claimed: nheads,
            limit: limits.max_heads,
        });
    }
    if nheads.saturating_mul(HASH_LEN as u64) > r.remaining() as u64 {
        return Err(PrescanError::Truncated { what: "heads" });
    }
    let mut heads = Vec::new();
    for _ in 0..nheads {
        let h = r.take(HASH_LEN as u64, "head")?;
        let mut a = [0u8; HASH_LEN];
        a.copy_from_slice(h);
        if heads.last().is_some_and(|prev| *prev >= a) {
            return Err(PrescanError::DepsNotSorted);
        }
        heads.push(a);
    }
    let change_cols = column_metadata(&mut r, limits)?;
    let op_cols = column_metadata(&mut r, limits)?;
    let mut changes = 0;
    for (spec, len) in &change_cols {
        let data = r.take(*len, "change column")?;
        changes = changes.max(check_column(
            *spec,
            data,
            &change_cols,
            &mut r,
            actors.len(),
            row_limit,
        )?);
    }
    let mut ops = 0;
    for (spec, len) in &op_cols {
        let data = r.take(*len, "operation column")?;
        ops = ops.max(check_column(
            *spec,
            data,
            &op_cols,
            &mut r,
            actors.len(),
            row_limit,
        )?);
    }
    // Optional head indexes: none, or exactly one per head.
    if !r.is_empty() {
        for _ in 0..nheads {
            let i = r.uleb("head index")?;
            if i >= changes {
                return Err(PrescanError::BadHeaderField { what: "head index" });
            }
        }
        if !r.is_empty() {
            return Err(PrescanError::LengthMismatch {
                what: "document (bytes after head indexes)",
                declared: 0,
                actual: r.remaining() as u64,
            });
        }
    }
    Ok(DocInfo {
        actors,
        heads,
        changes,
        ops,
    })
}

/// Column metadata: count, then (spec, length) pairs, strictly increasing
/// specs, no deflate bit, the lengths within the bytes present.
fn column_metadata(r: &mut Reader<'_>, limits: &DocLimits) -> Result<Vec<(u32, u64)>> {
    let n = r.uleb("column count")?;
    if n > limits.max_columns as u64 {
        return Err(PrescanError::BadColumn {
            column: "metadata",
            reason: "too many columns",
        });
    }
    let mut cols: Vec<(u32, u64)> = Vec::new();
    let mut total: u64 = 0;
    for _ in 0..n {
        let spec = r.uleb("column spec")?;
        let len = r.uleb("column length")?;
        let spec32 = u32::try_from(spec).map_err(|_| PrescanError::UnknownColumn { spec })?;
        if spec32 & column::DEFLATE_BIT != 0 {
            return Err(PrescanError::DeflatedColumn { spec });
        }
        if cols.last().is_some_and(|(prev, _)| *prev >= spec32) {
            return Err(PrescanError::ColumnOrder { spec });
        }
        total = total.saturating_add(len);
        cols.push((spec32, len));
    }
    if total > r.remaining() as u64 {
        return Err(PrescanError::Truncated {
            what: "column data",
        });
    }
    Ok(cols)
}

fn too_many(claimed: u64, limit: u64) -> PrescanError {
    PrescanError::TooManyOps { claimed, limit }
}

/// Walk one column by its type; returns its row count. A value-metadata
/// column is walked together with the raw column that follows it (its id
/// with type 7), which `r` still holds.
fn check_column(
    spec: u32,
    data: &[u8],
    cols: &[(u32, u64)],
    r: &mut Reader<'_>,
    actors: usize,
    limit: u64,
) -> Result<u64> {
    match column_type(spec) {
        0 | 2 => walk_rle(
            data,
            spec,
            limit,
            too_many,
            true,
            |r| r.uleb("integer"),
            |_, _| Ok(()),
        ),
        1 => walk_rle(
            data,
            spec,
            limit,
            too_many,
            true,
            |r| super::encoding::actor_index(r, spec, actors),
            |_, _| Ok(()),
        ),
        3 => walk_delta(data, spec, limit, too_many, true),
        4 => walk_bool(data, spec, limit, too_many),
        5 => walk_rle(
            data,
            spec,
            limit,
            too_many,
            true,
            |r| read_string(r, "string"),
            |_, _| Ok(()),
        ),
        6 => {
            let raw_spec = spec | 0x07;
            let raw = match cols.iter().find(|(s, _)| *s == raw_spec) {
                Some((_, len)) => peek(r, *len)?,
                None => &[],
            };
            walk_values(data, raw, limit)
        }
        _ => {
            // Raw values: checked with their metadata column, which must
            // precede them.
            if !cols.iter().any(|(s, _)| *s == (spec & !0x07) | 0x06) {
                return Err(PrescanError::BadColumn {
                    column: "value raw",
                    reason: "raw values without metadata",
                });
            }
            Ok(0)
        }
    }
}

/// The next `len` bytes of `r` without consuming them.
fn peek<'a>(r: &Reader<'a>, len: u64) -> Result<&'a [u8]> {
    let mut copy = r.clone();
    copy.take(len, "value raw")
}
