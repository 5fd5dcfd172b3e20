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

use std::ops::Range;

use sha2::{Digest, Sha256};

/// The four magic bytes that open every Automerge chunk.
pub const MAGIC_BYTES: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Chunk type byte of an uncompressed change, the only type accepted.
pub const CHUNK_TYPE_CHANGE: u8 = 1;

/// Length of a change hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// Column specifications (`id << 4 | type`) of the operation columns of a
/// change chunk, as written by automerge 0.12 (`change_op_columns.rs`).
pub mod column {
    /// Object id, actor index (RLE, nullable).
    pub const OBJ_ACTOR: u32 = 0x01;
    /// Object id, counter (RLE, nullable).
    pub const OBJ_CTR: u32 = 0x02;
    /// Key element id, actor index (RLE, nullable).
    pub const KEY_ACTOR: u32 = 0x11;
    /// Key element id, counter (delta, nullable).
    pub const KEY_CTR: u32 = 0x13;
    /// Map key (RLE of strings, nullable).
    pub const KEY_STR: u32 = 0x15;
    /// Insert flag (boolean).
    pub const INSERT: u32 = 0x34;
    /// Action (RLE of integers); its row count is the operation count.
    pub const ACTION: u32 = 0x42;
    /// Value metadata (RLE of `len << 4 | type`).
    pub const VAL_META: u32 = 0x56;
    /// Raw value bytes.
    pub const VAL_RAW: u32 = 0x57;
    /// Predecessor group: number of predecessors per operation (RLE).
    pub const PRED_GROUP: u32 = 0x70;
    /// Predecessor actor index (RLE), one row per predecessor.
    pub const PRED_ACTOR: u32 = 0x71;
    /// Predecessor counter (delta), one row per predecessor.
    pub const PRED_CTR: u32 = 0x73;
    /// Mark expand flag (boolean, optional).
    pub const EXPAND: u32 = 0x94;
    /// Mark name (RLE of strings, optional).
    pub const MARK_NAME: u32 = 0xa5;

    /// Every column accepted, in the (strictly increasing) order required.
    pub const KNOWN: [u32; 14] = [
        OBJ_ACTOR, OBJ_CTR, KEY_ACTOR, KEY_CTR, KEY_STR, INSERT, ACTION, VAL_META, VAL_RAW,
        PRED_GROUP, PRED_ACTOR, PRED_CTR, EXPAND, MARK_NAME,
    ];

    /// Bit 3 of a column specification: the column data is deflated.
    pub const DEFLATE_BIT: u32 = 0x08;

    /// Human-readable name of a known column.
    pub fn name(spec: u32) -> &'static str {
        match spec {
            OBJ_ACTOR => "obj actor",
            OBJ_CTR => "obj counter",
            KEY_ACTOR => "key actor",
            KEY_CTR => "key counter",
            KEY_STR => "key string",
            INSERT => "insert",
            ACTION => "action",
            VAL_META => "value metadata",
            VAL_RAW => "value raw",
            PRED_GROUP => "pred group",
            PRED_ACTOR => "pred actor",
            PRED_CTR => "pred counter",
            EXPAND => "expand",
            MARK_NAME => "mark name",
            _ => "unknown",
        }
    }
}

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

/// Why [`prescan_change`] rejected a chunk.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PrescanError {
    /// The chunk is larger than `max_change_bytes`.
    #[error("change is {len} bytes, limit is {limit}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The chunk does not start with the Automerge magic bytes.
    #[error("not an automerge chunk (bad magic bytes)")]
    BadMagic,
    /// The checksum in the header does not match the contents.
    #[error("chunk checksum does not match its contents")]
    BadChecksum,
    /// Not an uncompressed change chunk (documents, bundles and compressed
    /// changes — deflate bombs — are refused).
    #[error("chunk type {0} is not accepted (only uncompressed changes, type 1)")]
    WrongChunkType(u8),
    /// The input ended inside the named field.
    #[error("input ends inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A declared length disagrees with the bytes present.
    #[error("{what}: declared length {declared}, actual {actual}")]
    LengthMismatch {
        /// The field.
        what: &'static str,
        /// What the input claims.
        declared: u64,
        /// What is there.
        actual: u64,
    },
    /// A LEB128 number is overlong or too large for 64 bits.
    #[error("malformed LEB128 in {what}")]
    BadLeb {
        /// The field being read.
        what: &'static str,
    },
    /// More operations than allowed (by `max_ops` or by the size of the
    /// chunk); also reported for any per-operation column claiming that many
    /// rows.
    #[error("change claims {claimed} operations, limit is {limit}")]
    TooManyOps {
        /// Rows claimed (`u64::MAX` if the sum overflowed).
        claimed: u64,
        /// The effective limit.
        limit: u64,
    },
    /// More predecessor entries than allowed.
    #[error("change claims {claimed} predecessors, limit is {limit}")]
    TooManyPreds {
        /// Entries claimed (`u64::MAX` if the sum overflowed).
        claimed: u64,
        /// The effective limit.
        limit: u64,
    },
    /// More dependencies than `max_deps`.
    #[error("change claims {claimed} dependencies, limit is {limit}")]
    TooManyDeps {
        /// Count claimed.
        claimed: u64,
        /// The limit.
        limit: usize,
    },
    /// Dependencies not strictly increasing (automerge always sorts them).
    #[error("dependencies are not sorted and unique")]
    DepsNotSorted,
    /// More actors than `max_actors`.
    #[error("change claims {claimed} actors, limit is {limit}")]
    TooManyActors {
        /// Count claimed (author included).
        claimed: u64,
        /// The limit.
        limit: usize,
    },
    /// An actor id is empty or longer than `max_actor_len`.
    #[error("actor id of {len} bytes (allowed 1..={limit})")]
    BadActor {
        /// Length claimed.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// The same actor appears twice among author and other actors.
    #[error("duplicate actor id")]
    DuplicateActor,
    /// The commit message is longer than `max_message`.
    #[error("message of {len} bytes, limit is {limit}")]
    MessageTooLong {
        /// Length claimed.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// A string is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    BadUtf8 {
        /// The field.
        what: &'static str,
    },
    /// A header field has an impossible value (seq 0, start_op 0 or
    /// beyond 32 bits).
    #[error("bad header field: {what}")]
    BadHeaderField {
        /// The field.
        what: &'static str,
    },
    /// A column is marked deflated (refused: deflate bombs).
    #[error("column {spec:#x} is deflated")]
    DeflatedColumn {
        /// Raw column specification.
        spec: u64,
    },
    /// A column automerge 0.12 does not write.
    #[error("unknown column {spec:#x}")]
    UnknownColumn {
        /// Raw column specification.
        spec: u64,
    },
    /// Columns out of order or duplicated.
    #[error("column {spec:#x} out of order or duplicated")]
    ColumnOrder {
        /// Raw column specification.
        spec: u64,
    },
    /// A column's data is malformed.
    #[error("column {column}: {reason}")]
    BadColumn {
        /// Column name.
        column: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A column does not have the number of rows the other columns imply.
    #[error("column {column} has {actual} rows, expected {expected}")]
    RowCountMismatch {
        /// Column name.
        column: &'static str,
        /// Rows implied (operations, or predecessor entries).
        expected: u64,
        /// Rows decoded.
        actual: u64,
    },
    /// An actor index beyond the change's actor table.
    #[error("column {column}: actor index {index} but only {actors} actors")]
    ActorIndexOutOfRange {
        /// Column name.
        column: &'static str,
        /// The index found.
        index: u64,
        /// Number of actors in the change.
        actors: usize,
    },
    /// The value metadata does not account for exactly the raw value bytes.
    #[error("value metadata claims {meta_total} bytes, raw value column has {raw_len}")]
    ValueLengthMismatch {
        /// Sum of lengths in the metadata so far (saturating).
        meta_total: u64,
        /// Length of the raw value column.
        raw_len: u64,
    },
}

type Result<T> = std::result::Result<T, PrescanError>;

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

/// Byte layout of a change chunk, for building test shapes from valid changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangeLayout {
    /// Offset of the body within the chunk.
    pub(crate) body_start: usize,
    /// Offset (within the body) of the column count.
    pub(crate) meta_start: usize,
    /// Column specs with their data ranges (within the body).
    pub(crate) columns: Vec<(u32, Range<usize>)>,
    /// Range of the extra bytes (within the body).
    pub(crate) extra: Range<usize>,
}

/// The layout of a well-formed change chunk, ignoring checksum and limits.
pub(crate) fn change_layout(bytes: &[u8]) -> Result<ChangeLayout> {
    let p = parse_structure(bytes, &PrescanLimits::unlimited(), false)?;
    let shift = p.data_start;
    Ok(ChangeLayout {
        body_start: p.body_start,
        meta_start: p.meta_start,
        columns: p
            .columns
            .iter()
            .map(|(s, r)| (*s, r.start + shift..r.end + shift))
            .collect(),
        extra: p.extra_range,
    })
}

/// Rows of an RLE column of unsigned integers (`None` if malformed).
pub(crate) fn count_rle_rows(data: &[u8]) -> Option<u64> {
    walk_rle(
        data,
        column::ACTION,
        u64::MAX,
        |claimed, limit| PrescanError::TooManyOps { claimed, limit },
        true,
        |r| r.uleb("rle"),
        |_, _| Ok(()),
    )
    .ok()
}

/// Change hash of a body: SHA-256 over chunk type, uLEB length and body.
pub(crate) fn body_hash(chunk_type: u8, body: &[u8]) -> [u8; HASH_LEN] {
    let mut len = Vec::with_capacity(10);
    write_uleb(&mut len, body.len() as u64);
    let mut h = Sha256::new();
    h.update([chunk_type]);
    h.update(&len);
    h.update(body);
    h.finalize().into()
}

/// Append `v` as unsigned LEB128.
pub(crate) fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append `v` as signed LEB128.
pub(crate) fn write_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Parsed<'a> {
    hash: [u8; HASH_LEN],
    body_start: usize,
    dep_hashes: Vec<[u8; HASH_LEN]>,
    actor: &'a [u8],
    seq: u64,
    start_op: u64,
    time: i64,
    message_len: usize,
    other_actors: Vec<&'a [u8]>,
    meta_start: usize,
    /// (spec, range within `data`)
    columns: Vec<(u32, Range<usize>)>,
    /// Offset of `data` within the body.
    data_start: usize,
    data: &'a [u8],
    extra: &'a [u8],
    extra_range: Range<usize>,
}

impl Parsed<'_> {
    fn column(&self, spec: u32) -> &[u8] {
        self.columns
            .iter()
            .find(|(s, _)| *s == spec)
            .and_then(|(_, r)| self.data.get(r.clone()))
            .unwrap_or(&[])
    }
}

fn parse_structure<'a>(
    bytes: &'a [u8],
    limits: &PrescanLimits,
    verify_checksum: bool,
) -> Result<Parsed<'a>> {
    if bytes.len() > limits.max_change_bytes {
        return Err(PrescanError::TooLarge {
            len: bytes.len(),
            limit: limits.max_change_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    let magic = r.take(4, "magic bytes")?;
    if magic != MAGIC_BYTES {
        return Err(PrescanError::BadMagic);
    }
    let checksum = r.take(4, "checksum")?;
    let chunk_type = r.byte("chunk type")?;
    if chunk_type != CHUNK_TYPE_CHANGE {
        return Err(PrescanError::WrongChunkType(chunk_type));
    }
    let body_len = r.uleb("chunk length")?;
    let available = r.remaining() as u64;
    if body_len > available {
        return Err(PrescanError::Truncated { what: "chunk body" });
    }
    if body_len < available {
        return Err(PrescanError::LengthMismatch {
            what: "chunk (trailing bytes)",
            declared: body_len,
            actual: available,
        });
    }
    let body_start = r.pos;
    let body = r.rest();
    let hash = body_hash(chunk_type, body);
    if verify_checksum && hash[..4] != *checksum {
        return Err(PrescanError::BadChecksum);
    }

    let mut r = Reader::new(body);
    // Dependencies.
    let ndeps = r.uleb("dependency count")?;
    if ndeps > limits.max_deps as u64 {
        return Err(PrescanError::TooManyDeps {
            claimed: ndeps,
            limit: limits.max_deps,
        });
    }
    if ndeps.saturating_mul(HASH_LEN as u64) > r.remaining() as u64 {
        return Err(PrescanError::Truncated {
            what: "dependencies",
        });
    }
    let mut dep_hashes: Vec<[u8; HASH_LEN]> = Vec::new();
    for _ in 0..ndeps {
        let mut h = [0u8; HASH_LEN];
        h.copy_from_slice(r.take(HASH_LEN as u64, "dependencies")?);
        if dep_hashes.last().is_some_and(|prev| *prev >= h) {
            return Err(PrescanError::DepsNotSorted);
        }
        dep_hashes.push(h);
    }
    // Author.
    let actor = read_actor(&mut r, limits)?;
    let seq = r.uleb("seq")?;
    if seq == 0 {
        return Err(PrescanError::BadHeaderField { what: "seq" });
    }
    let start_op = r.uleb("start_op")?;
    if start_op == 0 || start_op > u64::from(u32::MAX) {
        return Err(PrescanError::BadHeaderField { what: "start_op" });
    }
    let time = r.sleb("time")?;
    let message_len = r.uleb("message length")?;
    if message_len > limits.max_message as u64 {
        return Err(PrescanError::MessageTooLong {
            len: message_len,
            limit: limits.max_message,
        });
    }
    let message = r.take(message_len, "message")?;
    if std::str::from_utf8(message).is_err() {
        return Err(PrescanError::BadUtf8 { what: "message" });
    }
    // Other actors.
    let nothers = r.uleb("other actor count")?;
    if nothers.saturating_add(1) > limits.max_actors as u64 {
        return Err(PrescanError::TooManyActors {
            claimed: nothers.saturating_add(1),
            limit: limits.max_actors,
        });
    }
    let mut other_actors = Vec::new();
    for _ in 0..nothers {
        other_actors.push(read_actor(&mut r, limits)?);
    }
    let mut all: Vec<&[u8]> = other_actors.clone();
    all.push(actor);
    all.sort_unstable();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(PrescanError::DuplicateActor);
    }
    // Column metadata.
    let meta_start = r.pos;
    let ncols = r.uleb("column count")?;
    if ncols > column::KNOWN.len() as u64 {
        return Err(PrescanError::BadColumn {
            column: "column metadata",
            reason: "more columns than automerge writes",
        });
    }
    let mut specs: Vec<(u32, u64)> = Vec::new();
    let mut total: u64 = 0;
    for _ in 0..ncols {
        let spec = r.uleb("column spec")?;
        let len = r.uleb("column length")?;
        if spec & u64::from(column::DEFLATE_BIT) != 0 {
            return Err(PrescanError::DeflatedColumn { spec });
        }
        let spec32 = u32::try_from(spec).map_err(|_| PrescanError::UnknownColumn { spec })?;
        if !column::KNOWN.contains(&spec32) {
            return Err(PrescanError::UnknownColumn { spec });
        }
        if specs.last().is_some_and(|(prev, _)| *prev >= spec32) {
            return Err(PrescanError::ColumnOrder { spec });
        }
        if len == 0 {
            return Err(PrescanError::BadColumn {
                column: column::name(spec32),
                reason: "empty column declared",
            });
        }
        total = total.checked_add(len).ok_or(PrescanError::Truncated {
            what: "column data",
        })?;
        specs.push((spec32, len));
    }
    let data_start = r.pos;
    let data = r.take(total, "column data")?;
    let mut columns = Vec::with_capacity(specs.len());
    let mut off = 0usize;
    for (spec, len) in specs {
        // `len <= total <= data.len()`, so this conversion and sum fit.
        let end = off.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        columns.push((spec, off..end));
        off = end;
    }
    let extra_start = r.pos;
    let extra = r.rest();
    Ok(Parsed {
        hash,
        body_start,
        dep_hashes,
        actor,
        seq,
        start_op,
        time,
        message_len: message.len(),
        other_actors,
        meta_start,
        columns,
        data_start,
        data,
        extra,
        extra_range: extra_start..body.len(),
    })
}

fn read_actor<'a>(r: &mut Reader<'a>, limits: &PrescanLimits) -> Result<&'a [u8]> {
    let len = r.uleb("actor length")?;
    if len == 0 || len > limits.max_actor_len as u64 {
        return Err(PrescanError::BadActor {
            len,
            limit: limits.max_actor_len,
        });
    }
    r.take(len, "actor id")
}

struct Counts {
    ops: u64,
    preds: u64,
}

fn check_columns(p: &Parsed<'_>, chunk_len: usize, limits: &PrescanLimits) -> Result<Counts> {
    use column::*;
    let limit = limits
        .max_ops
        .min((chunk_len as u64).saturating_mul(limits.max_ops_per_byte));
    let too_many_ops = |claimed, limit| PrescanError::TooManyOps { claimed, limit };
    let too_many_preds = |claimed, limit| PrescanError::TooManyPreds { claimed, limit };
    let actors = 1 + p.other_actors.len();

    // The action column drives automerge's op iterator: its rows are the ops.
    let ops = walk_rle(
        p.column(ACTION),
        ACTION,
        limit,
        too_many_ops,
        false,
        |r| {
            let v = r.uleb("action")?;
            if v > 7 {
                return Err(PrescanError::BadColumn {
                    column: "action",
                    reason: "unknown action",
                });
            }
            Ok(v)
        },
        |_, _| Ok(()),
    )?;
    let expect = |spec: u32, rows: u64, optional: bool| -> Result<()> {
        let present = !p.column(spec).is_empty();
        if rows != ops && (present || !optional) {
            return Err(PrescanError::RowCountMismatch {
                column: name(spec),
                expected: ops,
                actual: rows,
            });
        }
        Ok(())
    };
    // Nullable RLE columns: absent when every row is null, else one row per op.
    for spec in [OBJ_ACTOR, KEY_ACTOR] {
        let rows = walk_rle(
            p.column(spec),
            spec,
            limit,
            too_many_ops,
            true,
            |r| actor_index(r, spec, actors),
            |_, _| Ok(()),
        )?;
        expect(spec, rows, true)?;
    }
    let rows = walk_rle(
        p.column(OBJ_CTR),
        OBJ_CTR,
        limit,
        too_many_ops,
        true,
        |r| r.uleb("obj counter"),
        |_, _| Ok(()),
    )?;
    expect(OBJ_CTR, rows, true)?;
    let rows = walk_delta(p.column(KEY_CTR), KEY_CTR, limit, too_many_ops, true)?;
    expect(KEY_CTR, rows, true)?;
    for spec in [KEY_STR, MARK_NAME] {
        let rows = walk_rle(
            p.column(spec),
            spec,
            limit,
            too_many_ops,
            true,
            |r| read_string(r, name(spec)),
            |_, _| Ok(()),
        )?;
        expect(spec, rows, true)?;
    }
    let rows = walk_bool(p.column(INSERT), INSERT, limit, too_many_ops)?;
    expect(INSERT, rows, false)?;
    let rows = walk_bool(p.column(EXPAND), EXPAND, limit, too_many_ops)?;
    expect(EXPAND, rows, true)?;
    let rows = walk_values(p.column(VAL_META), p.column(VAL_RAW), limit)?;
    expect(VAL_META, rows, false)?;

    // Predecessors: the group column has a count per op; actor and counter
    // columns have one row per predecessor entry.
    let mut preds: u64 = 0;
    let rows = walk_rle(
        p.column(PRED_GROUP),
        PRED_GROUP,
        limit,
        too_many_ops,
        false,
        |r| r.uleb("pred group"),
        |v, count| {
            let add = v.copied().unwrap_or(0).checked_mul(count);
            preds = add
                .and_then(|a| preds.checked_add(a))
                .ok_or(PrescanError::TooManyPreds {
                    claimed: u64::MAX,
                    limit,
                })?;
            if preds > limit {
                return Err(PrescanError::TooManyPreds {
                    claimed: preds,
                    limit,
                });
            }
            Ok(())
        },
    )?;
    expect(PRED_GROUP, rows, false)?;
    let rows = walk_rle(
        p.column(PRED_ACTOR),
        PRED_ACTOR,
        limit,
        too_many_preds,
        false,
        |r| actor_index(r, PRED_ACTOR, actors),
        |_, _| Ok(()),
    )?;
    if rows != preds {
        return Err(PrescanError::RowCountMismatch {
            column: name(PRED_ACTOR),
            expected: preds,
            actual: rows,
        });
    }
    let rows = walk_delta(p.column(PRED_CTR), PRED_CTR, limit, too_many_preds, false)?;
    if rows != preds {
        return Err(PrescanError::RowCountMismatch {
            column: name(PRED_CTR),
            expected: preds,
            actual: rows,
        });
    }
    Ok(Counts { ops, preds })
}

fn actor_index(r: &mut Reader<'_>, spec: u32, actors: usize) -> Result<u64> {
    let v = r.uleb(column::name(spec))?;
    if v >= actors as u64 {
        return Err(PrescanError::ActorIndexOutOfRange {
            column: column::name(spec),
            index: v,
            actors,
        });
    }
    Ok(v)
}

fn read_string<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8]> {
    let len = r.uleb(what)?;
    let s = r.take(len, what)?;
    if std::str::from_utf8(s).is_err() {
        return Err(PrescanError::BadUtf8 { what });
    }
    Ok(s)
}

fn add_rows(rows: u64, n: u64, limit: u64, too_many: fn(u64, u64) -> PrescanError) -> Result<u64> {
    let total = rows.checked_add(n).ok_or(too_many(u64::MAX, limit))?;
    if total > limit {
        return Err(too_many(total, limit));
    }
    Ok(total)
}

/// Walk an RLE column (automerge `RleDecoder`): signed count `c`; `c > 0`:
/// one value repeated `c` times; `c < 0`: `-c` literal values; `c == 0`:
/// a uLEB null-run length. Returns the number of rows. `on_run` sees every
/// value (or `None` for nulls) with its multiplicity.
#[allow(clippy::too_many_arguments)]
fn walk_rle<'a, V>(
    data: &'a [u8],
    spec: u32,
    limit: u64,
    too_many: fn(u64, u64) -> PrescanError,
    allow_null: bool,
    mut read: impl FnMut(&mut Reader<'a>) -> Result<V>,
    mut on_run: impl FnMut(Option<&V>, u64) -> Result<()>,
) -> Result<u64> {
    let column = column::name(spec);
    let mut r = Reader::new(data);
    let mut rows = 0u64;
    while !r.is_empty() {
        let count = r.sleb(column)?;
        if count > 0 {
            let n = count.unsigned_abs();
            rows = add_rows(rows, n, limit, too_many)?;
            let v = read(&mut r)?;
            on_run(Some(&v), n)?;
        } else if count < 0 {
            let n = count.unsigned_abs();
            rows = add_rows(rows, n, limit, too_many)?;
            // Every literal consumes at least one byte, so this loop is
            // bounded by the input (`read` fails at its end).
            for _ in 0..n {
                let v = read(&mut r)?;
                on_run(Some(&v), 1)?;
            }
        } else {
            if !allow_null {
                return Err(PrescanError::BadColumn {
                    column,
                    reason: "null in a non-nullable column",
                });
            }
            let n = r.uleb(column)?;
            if n == 0 {
                return Err(PrescanError::BadColumn {
                    column,
                    reason: "empty null run",
                });
            }
            rows = add_rows(rows, n, limit, too_many)?;
            on_run(None, n)?;
        }
    }
    Ok(rows)
}

/// Walk a delta column: RLE of signed deltas; the running value must stay
/// within `i64` (automerge saturates, which no honest encoder produces).
fn walk_delta(
    data: &[u8],
    spec: u32,
    limit: u64,
    too_many: fn(u64, u64) -> PrescanError,
    allow_null: bool,
) -> Result<u64> {
    let column = column::name(spec);
    let mut abs: i64 = 0;
    walk_rle(
        data,
        spec,
        limit,
        too_many,
        allow_null,
        |r| r.sleb(column),
        |d, count| {
            if let Some(d) = d {
                let end = i128::from(abs) + i128::from(*d) * i128::from(count);
                abs = i64::try_from(end).map_err(|_| PrescanError::BadColumn {
                    column,
                    reason: "delta overflows 64 bits",
                })?;
            }
            Ok(())
        },
    )
}

/// Walk a boolean column: alternating uLEB run lengths starting with
/// `false`; only the first run may be empty.
fn walk_bool(
    data: &[u8],
    spec: u32,
    limit: u64,
    too_many: fn(u64, u64) -> PrescanError,
) -> Result<u64> {
    let column = column::name(spec);
    let mut r = Reader::new(data);
    let mut rows = 0u64;
    let mut first = true;
    while !r.is_empty() {
        let n = r.uleb(column)?;
        if n == 0 && !first {
            return Err(PrescanError::BadColumn {
                column,
                reason: "empty boolean run",
            });
        }
        first = false;
        rows = add_rows(rows, n, limit, too_many)?;
    }
    Ok(rows)
}

/// Walk the value metadata column (RLE of `len << 4 | type`) against the raw
/// value column: every value's bytes must be present and well formed, and
/// the lengths must add up to exactly the raw column.
fn walk_values(meta: &[u8], raw: &[u8], limit: u64) -> Result<u64> {
    let raw_len = raw.len() as u64;
    let mut raw_r = Reader::new(raw);
    let mut meta_total: u64 = 0;
    let bad = |reason| PrescanError::BadColumn {
        column: "value",
        reason,
    };
    let rows = walk_rle(
        meta,
        column::VAL_META,
        limit,
        |claimed, limit| PrescanError::TooManyOps { claimed, limit },
        false,
        |r| r.uleb("value metadata"),
        |m, count| {
            let m = m.copied().unwrap_or(0);
            let len = m >> 4;
            let ty = m & 0x0f;
            match ty {
                0..=2 if len != 0 => return Err(bad("null or boolean with a length")),
                3 | 4 | 8 | 9 if len == 0 || len > 10 => {
                    return Err(bad("integer of impossible length"))
                }
                5 if len != 8 => return Err(bad("float not 8 bytes")),
                _ => {}
            }
            if len == 0 {
                return Ok(());
            }
            let need = len.checked_mul(count);
            meta_total = need
                .and_then(|n| meta_total.checked_add(n))
                .unwrap_or(u64::MAX);
            if need.is_none_or(|n| n > raw_r.remaining() as u64) {
                return Err(PrescanError::ValueLengthMismatch {
                    meta_total,
                    raw_len,
                });
            }
            // `count * len <= remaining` and `len >= 1`: bounded by input.
            for _ in 0..count {
                let v = raw_r.take(len, "value")?;
                let mut vr = Reader::new(v);
                match ty {
                    3 => {
                        vr.uleb("value")?;
                    }
                    4 | 8 | 9 => {
                        vr.sleb("value")?;
                    }
                    6 => {
                        if std::str::from_utf8(v).is_err() {
                            return Err(PrescanError::BadUtf8 { what: "value" });
                        }
                        vr.rest();
                    }
                    _ => {
                        vr.rest();
                    }
                }
                if !vr.is_empty() {
                    return Err(bad("integer value with extra bytes"));
                }
            }
            Ok(())
        },
    )?;
    if !raw_r.is_empty() {
        return Err(PrescanError::ValueLengthMismatch {
            meta_total,
            raw_len,
        });
    }
    Ok(rows)
}

/// A cursor over untrusted bytes; every read is bounds checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        rest
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(PrescanError::Truncated { what });
        }
        let end = self.pos + n as usize;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(PrescanError::Truncated { what })?;
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(PrescanError::Truncated { what })?;
        self.pos += 1;
        Ok(b)
    }

    /// Unsigned LEB128, as strict as automerge's `parse::leb128_u64`:
    /// overlong encodings and values beyond 64 bits are errors.
    fn uleb(&mut self, what: &'static str) -> Result<u64> {
        let mut res = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.byte(what)?;
            let low = u64::from(byte & 0x7f);
            if shift == 63 && (low > 1 || byte & 0x80 != 0) {
                return Err(PrescanError::BadLeb { what });
            }
            res |= low << shift;
            if byte & 0x80 == 0 {
                if shift > 0 && byte == 0 {
                    return Err(PrescanError::BadLeb { what });
                }
                return Ok(res);
            }
            shift += 7;
        }
    }

    /// Signed LEB128, as strict as automerge's `parse::leb128_i64`.
    fn sleb(&mut self, what: &'static str) -> Result<i64> {
        let mut res = 0i64;
        let mut shift = 0u32;
        let mut prev = 0u8;
        loop {
            let byte = self.byte(what)?;
            if shift == 63 && byte != 0 && byte != 0x7f {
                return Err(PrescanError::BadLeb { what });
            }
            res |= i64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                let overlong = shift > 0
                    && ((byte == 0 && prev & 0x40 == 0) || (byte == 0x7f && prev & 0x40 != 0));
                if overlong {
                    return Err(PrescanError::BadLeb { what });
                }
                if shift + 7 < 64 && byte & 0x40 != 0 {
                    res |= -1i64 << (shift + 7);
                }
                return Ok(res);
            }
            prev = byte;
            shift += 7;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::bad_shapes;
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    fn limits() -> PrescanLimits {
        PrescanLimits::default()
    }

    /// A doc with a few edits; returns the raw bytes of every change.
    fn sample_changes() -> Vec<Vec<u8>> {
        let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        a.put(ROOT, "name", "groceries").unwrap();
        a.commit_with(CommitOptions::default().with_message("create"));
        let items = a.put_object(ROOT, "items", ObjType::Map).unwrap();
        let milk = a.put_object(&items, "milk", ObjType::Map).unwrap();
        a.put(&milk, "needed", ScalarValue::counter(2)).unwrap();
        a.commit();
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
        b.increment(&milk, "needed", 3).unwrap();
        b.put(&milk, "note", "2%").unwrap();
        b.commit();
        a.put(&milk, "done", true).unwrap();
        a.commit();
        a.merge(&mut b).unwrap();
        let list = a.put_object(ROOT, "order", ObjType::List).unwrap();
        for i in 0..5 {
            a.insert(&list, i, i as i64).unwrap();
        }
        a.delete(&list, 2).unwrap();
        a.delete(&items, "milk").unwrap();
        a.commit();
        a.get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    fn one_put_change() -> Vec<u8> {
        let mut d = AutoCommit::new().with_actor(ActorId::from([7u8; 16]));
        d.put(ROOT, "k", "v").unwrap();
        d.commit();
        d.get_last_local_change().unwrap().raw_bytes().to_vec()
    }

    fn check_valid(raw: &[u8]) {
        let info = prescan_change(raw, &limits()).unwrap_or_else(|e| panic!("{e}: {raw:02x?}"));
        let c = automerge::Change::try_from(raw).unwrap();
        assert_eq!(info.ops, c.len() as u64);
        assert_eq!(info.seq, c.seq());
        assert_eq!(info.start_op, c.start_op().get());
        assert_eq!(info.deps, c.deps().len());
        assert_eq!(info.actor, c.actor_id().to_bytes());
        assert_eq!(info.other_actors.len(), c.other_actor_ids().len());
        assert_eq!(info.time, c.timestamp());
        assert_eq!(info.hash, c.hash().0);
        assert_eq!(info.message_len, c.message().map_or(0, |m| m.len()));
    }

    #[test]
    fn valid_changes_pass() {
        let changes = sample_changes();
        assert!(changes.len() >= 5);
        for c in &changes {
            check_valid(c);
        }
    }

    #[test]
    fn empty_change_passes() {
        let mut d = AutoCommit::new();
        d.put(ROOT, "a", 1).unwrap();
        d.commit();
        d.empty_change(CommitOptions::default().with_message("nothing"));
        let raw = d.get_last_local_change().unwrap().raw_bytes().to_vec();
        let info = prescan_change(&raw, &limits()).unwrap();
        assert_eq!(info.ops, 0);
        assert_eq!(info.deps, 1);
    }

    #[test]
    fn truncated_is_rejected() {
        let raw = one_put_change();
        for keep in 0..raw.len() {
            let bad = bad_shapes::truncated(&raw, keep);
            assert!(
                matches!(
                    prescan_change(&bad, &limits()),
                    Err(PrescanError::Truncated { .. })
                ),
                "keep {keep}"
            );
        }
    }

    #[test]
    fn bit_flipped_is_rejected() {
        for raw in sample_changes() {
            for seed in 0..64 {
                let bad = bad_shapes::bit_flipped(&raw, seed);
                assert_eq!(
                    prescan_change(&bad, &limits()),
                    Err(PrescanError::BadChecksum)
                );
            }
        }
    }

    #[test]
    fn wrong_checksum_is_rejected() {
        let raw = one_put_change();
        let bad = bad_shapes::wrong_checksum(&raw);
        assert_eq!(
            prescan_change(&bad, &limits()),
            Err(PrescanError::BadChecksum)
        );
        // automerge itself does not verify the checksum.
        assert!(automerge::Change::try_from(&bad[..]).is_ok());
    }

    #[test]
    fn other_chunk_types_are_rejected() {
        let raw = one_put_change();
        for ty in [0u8, 2, 3, 9] {
            let bad = bad_shapes::with_chunk_type(&raw, ty).unwrap();
            assert_eq!(
                prescan_change(&bad, &limits()),
                Err(PrescanError::WrongChunkType(ty))
            );
        }
        let mut bad = raw.clone();
        bad[0] = 0;
        assert_eq!(prescan_change(&bad, &limits()), Err(PrescanError::BadMagic));
    }

    #[test]
    fn recompute_header_round_trips() {
        for raw in sample_changes() {
            let body = bad_shapes::change_body(&raw).unwrap();
            assert_eq!(bad_shapes::recompute_header(body), raw);
            let same = bad_shapes::rewrite_columns(&raw, |_| {}).unwrap();
            assert_eq!(same, raw);
        }
    }

    #[test]
    fn junk_byte_in_column_is_rejected_but_automerge_accepts_it() {
        let raw = one_put_change();
        let bad = bad_shapes::junk_byte_in_column(&raw).unwrap();
        assert!(matches!(
            prescan_change(&bad, &limits()),
            Err(PrescanError::RowCountMismatch {
                column: "insert",
                expected: 1,
                actual: 2
            })
        ));
        // Bounded junk: safe to show automerge accepts it in-process.
        let c = automerge::Change::try_from(&bad[..]).unwrap();
        assert_eq!(c.len(), 1);
        // ... and that it breaks save → load.
        let mut doc = automerge::Automerge::new();
        doc.apply_changes([c.clone()]).unwrap();
        let saved = doc.save();
        let loaded = std::panic::catch_unwind(|| automerge::Automerge::load(&saved));
        match &loaded {
            Ok(Ok(d)) => eprintln!("junk: load ok, heads {:?} vs {:?}", d.get_heads(), c.hash()),
            Ok(Err(e)) => eprintln!("junk: load error: {e}"),
            Err(_) => eprintln!("junk: load panicked"),
        }
        let survived = matches!(&loaded, Ok(Ok(d)) if d.get_heads() == vec![c.hash()]);
        assert!(!survived, "junk change unexpectedly survived save→load");
    }

    #[test]
    fn huge_claims_are_rejected() {
        let raw = one_put_change();
        let bad = bad_shapes::huge_allocation_claim(&raw).unwrap();
        assert!(bad.len() < 200, "{}", bad.len());
        assert!(matches!(
            prescan_change(&bad, &limits()),
            Err(PrescanError::TooManyPreds { .. })
        ));
        let unlimited = prescan_change(&bad, &PrescanLimits::unlimited());
        assert_eq!(
            unlimited.map(|i| i.preds),
            Ok(bad_shapes::HUGE_PRED_CLAIM),
            "the shape is otherwise well formed"
        );
        let bad = bad_shapes::huge_op_count_claim(&raw).unwrap();
        assert!(matches!(
            prescan_change(&bad, &limits()),
            Err(PrescanError::TooManyOps { .. })
        ));
        // Well formed otherwise: without limits only the 32-bit op counter
        // (start_op + ops) stops it.
        assert_eq!(
            prescan_change(&bad, &PrescanLimits::unlimited()),
            Err(PrescanError::BadHeaderField { what: "start_op" })
        );
        let bad = bad_shapes::huge_string_claim(&raw).unwrap();
        assert_eq!(
            prescan_change(&bad, &limits()),
            Err(PrescanError::Truncated { what: "key string" })
        );
    }

    #[test]
    fn structural_problems_are_rejected() {
        let raw = one_put_change();
        let mut trailing = raw.clone();
        trailing.push(0);
        assert!(matches!(
            prescan_change(&trailing, &limits()),
            Err(PrescanError::LengthMismatch { .. })
        ));
        let deflated = bad_shapes::rewrite_columns(&raw, |cols| {
            cols[0].0 |= column::DEFLATE_BIT;
        })
        .unwrap();
        assert!(matches!(
            prescan_change(&deflated, &limits()),
            Err(PrescanError::DeflatedColumn { .. })
        ));
        let unknown = bad_shapes::rewrite_columns(&raw, |cols| {
            cols.push((0x200, vec![1]));
        })
        .unwrap();
        assert_eq!(
            prescan_change(&unknown, &limits()),
            Err(PrescanError::UnknownColumn { spec: 0x200 })
        );
        let reordered = bad_shapes::rewrite_columns(&raw, |cols| cols.reverse()).unwrap();
        assert!(matches!(
            prescan_change(&reordered, &limits()),
            Err(PrescanError::ColumnOrder { .. })
        ));
        let extra_raw = bad_shapes::rewrite_columns(&raw, |cols| {
            for (s, d) in cols.iter_mut() {
                if *s == column::VAL_RAW {
                    d.push(b'x');
                }
            }
        })
        .unwrap();
        assert!(matches!(
            prescan_change(&extra_raw, &limits()),
            Err(PrescanError::ValueLengthMismatch { .. })
        ));
        let bad_actor = bad_shapes::rewrite_columns(&raw, |cols| {
            cols.insert(0, (column::OBJ_ACTOR, vec![0x7f, 5]));
            cols.insert(1, (column::OBJ_CTR, vec![0x7f, 1]));
        })
        .unwrap();
        assert!(matches!(
            prescan_change(&bad_actor, &limits()),
            Err(PrescanError::ActorIndexOutOfRange { index: 5, .. })
        ));
        let small = PrescanLimits {
            max_change_bytes: 10,
            ..limits()
        };
        assert!(matches!(
            prescan_change(&raw, &small),
            Err(PrescanError::TooLarge { .. })
        ));
        let few_ops = PrescanLimits {
            max_ops_per_byte: 0,
            ..limits()
        };
        assert!(matches!(
            prescan_change(&raw, &few_ops),
            Err(PrescanError::TooManyOps {
                claimed: 1,
                limit: 0
            })
        ));
    }

    #[test]
    fn limits_on_header_fields() {
        let mut d = AutoCommit::new();
        d.put(ROOT, "a", 1).unwrap();
        d.commit();
        let mut e = d.fork();
        e.put(ROOT, "b", 1).unwrap();
        e.commit();
        d.put(ROOT, "c", 1).unwrap();
        d.commit();
        d.merge(&mut e).unwrap();
        d.put(ROOT, "d", 1).unwrap();
        d.commit_with(CommitOptions::default().with_message("hello world"));
        let raw = d.get_last_local_change().unwrap().raw_bytes().to_vec();
        assert_eq!(prescan_change(&raw, &limits()).unwrap().deps, 2);
        let l = PrescanLimits {
            max_deps: 1,
            ..limits()
        };
        assert!(matches!(
            prescan_change(&raw, &l),
            Err(PrescanError::TooManyDeps { claimed: 2, .. })
        ));
        let l = PrescanLimits {
            max_message: 5,
            ..limits()
        };
        assert!(matches!(
            prescan_change(&raw, &l),
            Err(PrescanError::MessageTooLong { len: 11, .. })
        ));
        let l = PrescanLimits {
            max_actor_len: 8,
            ..limits()
        };
        assert!(matches!(
            prescan_change(&raw, &l),
            Err(PrescanError::BadActor { len: 16, .. })
        ));
        // Swap the two dependency hashes: unsorted.
        let body = bad_shapes::change_body(&raw).unwrap().to_vec();
        let mut swapped = body.clone();
        swapped[1..33].copy_from_slice(&body[33..65]);
        swapped[33..65].copy_from_slice(&body[1..33]);
        assert_eq!(
            prescan_change(&bad_shapes::recompute_header(&swapped), &limits()),
            Err(PrescanError::DepsNotSorted)
        );
    }

    // ---- random valid edit sequences -----------------------------------

    /// Apply an edit sequence, interpreted deterministically, to three
    /// replicas that fork and merge; returns every change of the merged doc.
    fn run_edits(edits: &[(u8, u8, u16, String)]) -> Vec<automerge::Change> {
        let mut docs: Vec<AutoCommit> = (0..3u8)
            .map(|i| AutoCommit::new().with_actor(ActorId::from([i + 1; 16])))
            .collect();
        let list = docs[0].put_object(ROOT, "list", ObjType::List).unwrap();
        let text = docs[0].put_object(ROOT, "text", ObjType::Text).unwrap();
        let map = docs[0].put_object(ROOT, "items", ObjType::Map).unwrap();
        docs[0].put(&map, "n", ScalarValue::counter(0)).unwrap();
        docs[0].commit();
        let (first, rest) = docs.split_at_mut(1);
        for d in rest.iter_mut() {
            d.merge(&mut first[0]).unwrap();
        }
        for (kind, who, arg, s) in edits {
            let d = &mut docs[usize::from(*who % 3)];
            let key = format!("k{}", arg % 7);
            match kind % 14 {
                0 => d.put(&map, &key, s.as_str()).map(|_| ()).unwrap(),
                1 => d
                    .put(&map, &key, i64::from(*arg) - 30000)
                    .map(|_| ())
                    .unwrap(),
                2 => d
                    .put(&map, &key, u64::from(*arg) << 40)
                    .map(|_| ())
                    .unwrap(),
                3 => d
                    .put(&map, &key, f64::from(*arg) / 3.0)
                    .map(|_| ())
                    .unwrap(),
                4 => d.put(&map, &key, arg % 2 == 0).map(|_| ()).unwrap(),
                5 => d.put(&map, &key, ScalarValue::Null).map(|_| ()).unwrap(),
                6 => d
                    .put(&map, &key, ScalarValue::Bytes(s.as_bytes().to_vec()))
                    .map(|_| ())
                    .unwrap(),
                7 => d
                    .put(&map, &key, ScalarValue::Timestamp(i64::from(*arg)))
                    .map(|_| ())
                    .unwrap(),
                8 => {
                    let _ = d.increment(&map, "n", i64::from(*arg) - 100);
                }
                9 => {
                    let inner = d.put_object(&map, &key, ObjType::Map).unwrap();
                    d.put(&inner, "x", s.as_str()).unwrap();
                }
                10 => {
                    let len = d.length(&list);
                    d.insert(&list, usize::from(*arg) % (len + 1), i64::from(*arg))
                        .unwrap();
                }
                11 => {
                    let len = d.length(&list);
                    if len > 0 {
                        let n = (usize::from(*arg) % 3 + 1).min(len);
                        d.splice(&list, 0, n as isize, std::iter::empty::<ScalarValue>())
                            .unwrap();
                    } else {
                        let _ = d.delete(&map, &key);
                    }
                }
                12 => {
                    let len = d.length(&text);
                    let pos = usize::from(*arg) % (len + 1);
                    let del = if len > pos {
                        (len - pos).min(2) as isize
                    } else {
                        0
                    };
                    d.splice_text(&text, pos, del, s).unwrap();
                }
                _ => {
                    let msg = if arg % 2 == 0 { Some(s.clone()) } else { None };
                    let opts = match msg {
                        Some(m) => CommitOptions::default().with_message(m),
                        None => CommitOptions::default(),
                    };
                    d.commit_with(opts.with_time(i64::from(*arg) * 1000));
                    let other = usize::from(*who % 3 + 1) % 3;
                    if arg % 3 == 0 {
                        let (a, b) = if other < usize::from(*who % 3) {
                            let (x, y) = docs.split_at_mut(usize::from(*who % 3));
                            (&mut y[0], &mut x[other])
                        } else {
                            let (x, y) = docs.split_at_mut(other);
                            (&mut x[usize::from(*who % 3)], &mut y[0])
                        };
                        a.merge(b).unwrap();
                    }
                }
            }
        }
        let (first, rest) = docs.split_at_mut(1);
        for d in rest.iter_mut() {
            d.commit();
            first[0].merge(d).unwrap();
        }
        first[0].commit();
        first[0].get_changes(&[])
    }

    fn edit_strategy() -> impl Strategy<Value = Vec<(u8, u8, u16, String)>> {
        proptest::collection::vec(
            (any::<u8>(), any::<u8>(), any::<u16>(), "[a-zé🥛]{0,12}"),
            1..60,
        )
    }

    #[test]
    fn random_valid_changes_pass_with_exact_op_count() {
        let seed = [42u8; 32];
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 48,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
        );
        runner
            .run(&edit_strategy(), |edits| {
                for c in run_edits(&edits) {
                    check_valid(c.raw_bytes());
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn many_ops_and_actors_pass() {
        let mut d = AutoCommit::new();
        let list = d.put_object(ROOT, "l", ObjType::List).unwrap();
        for i in 0..5000i64 {
            d.insert(&list, 0, i).unwrap();
        }
        d.commit();
        // 20 actors each put under a key, then one change deleting all:
        // its preds reference every actor (other_actors).
        let mut forks: Vec<AutoCommit> = (0..20).map(|_| d.fork()).collect();
        for (i, f) in forks.iter_mut().enumerate() {
            f.put(ROOT, "x", i as i64).unwrap();
            f.commit();
            d.merge(f).unwrap();
        }
        d.delete(ROOT, "x").unwrap();
        d.splice(&list, 0, 4000, std::iter::empty::<ScalarValue>())
            .unwrap();
        d.commit();
        let last = d.get_last_local_change().unwrap();
        assert!(last.other_actor_ids().len() >= 20);
        for c in d.get_changes(&[]) {
            check_valid(c.raw_bytes());
        }
    }

    // ---- never panics -----------------------------------------------------

    proptest! {
        #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = prescan_change(&bytes, &PrescanLimits::default());
            let mut framed = MAGIC_BYTES.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = prescan_change(&framed, &PrescanLimits::default());
            let _ = prescan_change(&bad_shapes::recompute_header(&bytes), &PrescanLimits::default());
        }

        #[test]
        fn never_panics_on_mutated_changes(
            which in any::<prop::sample::Index>(),
            muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        ) {
            let changes = sample_changes();
            let raw = which.get(&changes);
            let mut body = bad_shapes::change_body(raw).unwrap().to_vec();
            for (at, byte, how) in muts {
                if body.is_empty() { break; }
                let i = at.index(body.len());
                match how {
                    0 => body[i] = byte,
                    1 => body.insert(i, byte),
                    _ => { body.remove(i); }
                }
            }
            let bad = bad_shapes::recompute_header(&body);
            if let Ok(info) = prescan_change(&bad, &PrescanLimits::default()) {
                // Accepted inputs are bounded: automerge may reject them (or
                // panic, caught) but must agree on the op count if it decodes.
                let decoded = std::panic::catch_unwind(|| automerge::Change::try_from(&bad[..]));
                if let Ok(Ok(c)) = decoded {
                    prop_assert_eq!(c.len() as u64, info.ops);
                }
            }
        }
    }

    // ---- the experiment: automerge in a confined child process ------------

    const CHILD_ENV: &str = "SHOPLIST_PRESCAN_CHILD_HEX";

    /// Child side: decode the bytes in `CHILD_ENV` with automerge. Does
    /// nothing (passes) when run normally.
    #[test]
    fn child_decode_entry() {
        let Ok(h) = std::env::var(CHILD_ENV) else {
            return;
        };
        let bytes = hex::decode(h).unwrap();
        let r = automerge::Change::try_from(&bytes[..]);
        eprintln!("CHILD_RESULT ok={} {:?}", r.is_ok(), r.as_ref().err());
        std::process::exit(if r.is_ok() { 0 } else { 3 });
    }

    #[derive(Debug)]
    enum Outcome {
        Exited(i32),
        Signaled(i32),
        TimedOut,
    }

    /// Run `child_decode_entry` on `bytes` in a child with `ulimit -v`
    /// of `as_mib` MiB, killed after `timeout`. Returns the outcome, wall
    /// time, peak RSS (KiB) and the child's stderr.
    fn run_confined(
        bytes: &[u8],
        as_mib: u64,
        timeout: std::time::Duration,
    ) -> (Outcome, std::time::Duration, i64, String) {
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().unwrap();
        let err_file = tempfile::NamedTempFile::new().unwrap();
        // Reaped below with `wait4` (which also gives its rusage).
        #[allow(clippy::zombie_processes)]
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", as_mib * 1024))
            .arg(exe)
            .args([
                "--exact",
                "ingest::prescan::tests::child_decode_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, hex::encode(bytes))
            .stdout(Stdio::null())
            .stderr(err_file.reopen().unwrap())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let start = std::time::Instant::now();
        let mut status = 0;
        // SAFETY: plain FFI calls on our own child's pid with valid pointers.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let mut timed_out = false;
        loop {
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
            if r == pid {
                break;
            }
            assert!(r == 0, "wait4 failed");
            if start.elapsed() > timeout {
                timed_out = true;
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::wait4(pid, &mut status, 0, &mut ru);
                }
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let elapsed = start.elapsed();
        let outcome = if timed_out {
            Outcome::TimedOut
        } else if libc::WIFSIGNALED(status) {
            Outcome::Signaled(libc::WTERMSIG(status))
        } else {
            Outcome::Exited(libc::WEXITSTATUS(status))
        };
        let stderr = std::fs::read_to_string(err_file.path()).unwrap_or_default();
        (outcome, elapsed, ru.ru_maxrss, stderr)
    }

    fn experiment_as_mib() -> u64 {
        std::env::var("SHOPLIST_PRESCAN_EXPERIMENT_AS_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
    }

    /// The shapes really hurt automerge 0.12 (in a confined child), and
    /// prescan rejects them. The valid change decodes fine in the same
    /// harness, so a failure of the child means the input, not the harness.
    #[test]
    fn automerge_blows_up_on_huge_claims_in_a_confined_child() {
        let raw = one_put_change();
        let as_mib = experiment_as_mib();
        let secs = std::time::Duration::from_secs(3);

        let (o, t, rss, err) = run_confined(&raw, as_mib, secs);
        assert!(matches!(o, Outcome::Exited(0)), "{o:?} {err}");
        eprintln!("valid change: {o:?} in {t:?}, peak RSS {rss} KiB");

        let bomb = bad_shapes::huge_allocation_claim(&raw).unwrap();
        assert!(prescan_change(&bomb, &limits()).is_err());
        let (o, t, rss, err) = run_confined(&bomb, as_mib, std::time::Duration::from_secs(60));
        eprintln!(
            "pred bomb ({} bytes): {o:?} in {t:?}, peak RSS {rss} KiB, stderr: {}",
            bomb.len(),
            err.lines().find(|l| l.contains("memory")).unwrap_or("")
        );
        assert!(
            matches!(o, Outcome::Signaled(libc::SIGABRT) | Outcome::TimedOut),
            "{o:?} {err}"
        );

        let bomb = bad_shapes::huge_string_claim(&raw).unwrap();
        assert!(prescan_change(&bomb, &limits()).is_err());
        let (o, t, rss, err) = run_confined(&bomb, as_mib, secs);
        eprintln!(
            "string claim ({} bytes): {o:?} in {t:?}, peak RSS {rss} KiB, stderr: {}",
            bomb.len(),
            err.lines()
                .find(|l| l.contains("memory") || l.contains("CHILD"))
                .unwrap_or("")
        );
        if as_mib < 1000 {
            assert!(matches!(o, Outcome::Signaled(libc::SIGABRT)), "{o:?} {err}");
        }

        let bomb = bad_shapes::huge_op_count_claim(&raw).unwrap();
        assert!(prescan_change(&bomb, &limits()).is_err());
        let (o, t, rss, err) = run_confined(&bomb, as_mib, secs);
        eprintln!(
            "op-count claim ({} bytes): {o:?} after {t:?}, peak RSS {rss} KiB",
            bomb.len()
        );
        assert!(matches!(o, Outcome::TimedOut), "{o:?} {err}");
    }
}
