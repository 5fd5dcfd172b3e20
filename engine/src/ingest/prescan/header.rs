//! Pass one: the chunk header (magic bytes, checksum, chunk type, length)
//! and the change header (dependencies, author, seq, start op, time,
//! message, other actors, column metadata), each count and length checked
//! against the bytes present and [`PrescanLimits`] before anything is read.
//! Also the byte layout of a change, for [`crate::ingest::bad_shapes`].

use std::ops::Range;

use sha2::{Digest, Sha256};

use super::column;
use super::error::{PrescanError, Result};
use super::leb::{write_uleb, Reader};
use super::{PrescanLimits, CHUNK_TYPE_CHANGE, HASH_LEN, MAGIC_BYTES};

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

/// A change chunk parsed by pass one: header fields, and the column data
/// split by the column metadata (not yet checked).
pub(super) struct Parsed<'a> {
    pub(super) hash: [u8; HASH_LEN],
    pub(super) body_start: usize,
    pub(super) dep_hashes: Vec<[u8; HASH_LEN]>,
    pub(super) actor: &'a [u8],
    pub(super) seq: u64,
    pub(super) start_op: u64,
    pub(super) time: i64,
    pub(super) message_len: usize,
    pub(super) other_actors: Vec<&'a [u8]>,
    pub(super) meta_start: usize,
    /// (spec, range within `data`)
    pub(super) columns: Vec<(u32, Range<usize>)>,
    /// Offset of `data` within the body.
    pub(super) data_start: usize,
    pub(super) data: &'a [u8],
    pub(super) extra: &'a [u8],
    pub(super) extra_range: Range<usize>,
}

impl Parsed<'_> {
    /// The data of column `spec` (empty if absent).
    pub(super) fn column(&self, spec: u32) -> &[u8] {
        self.columns
            .iter()
            .find(|(s, _)| *s == spec)
            .and_then(|(_, r)| self.data.get(r.clone()))
            .unwrap_or(&[])
    }
}

/// A chunk's envelope (magic, checksum, type, length), checked.
pub(super) struct Envelope<'a> {
    /// The bytes after the length.
    pub(super) body: &'a [u8],
    /// Where they start in the chunk.
    pub(super) body_start: usize,
    /// SHA-256 over type, length and body (a change's hash).
    pub(super) hash: [u8; HASH_LEN],
}

/// Check the envelope shared by change and document chunks: the magic
/// bytes, the chunk type (`expected`), a length that matches the input
/// exactly, and (with `verify_checksum`) the checksum.
pub(super) fn envelope(bytes: &[u8], expected: u8, verify_checksum: bool) -> Result<Envelope<'_>> {
    let mut r = Reader::new(bytes);
    if r.take(4, "magic bytes")? != MAGIC_BYTES {
        return Err(PrescanError::BadMagic);
    }
    let checksum = r.take(4, "checksum")?;
    let chunk_type = r.byte("chunk type")?;
    if chunk_type != expected {
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
    let body_start = r.pos();
    let body = r.rest();
    let hash = body_hash(chunk_type, body);
    if verify_checksum && hash[..4] != *checksum {
        return Err(PrescanError::BadChecksum);
    }
    Ok(Envelope {
        body,
        body_start,
        hash,
    })
}

pub(super) fn parse_structure<'a>(
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
    let Envelope {
        body,
        body_start,
        hash,
    } = envelope(bytes, CHUNK_TYPE_CHANGE, verify_checksum)?;

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
    let meta_start = r.pos();
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
    let data_start = r.pos();
    let data = r.take(total, "column data")?;
    let mut columns = Vec::with_capacity(specs.len());
    let mut off = 0usize;
    for (spec, len) in specs {
        // `len <= total <= data.len()`, so this conversion and sum fit.
        let end = off.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
        columns.push((spec, off..end));
        off = end;
    }
    let extra_start = r.pos();
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
