//! Known-bad change shapes, built from a valid change, for tests and fuzz
//! replays of the ingest path (DESIGN §5).
//!
//! Each function takes the raw bytes of a valid, uncompressed change (for
//! example `doc.get_last_local_change().unwrap().raw_bytes()`) and returns a
//! malformed variant. Shapes meant to reach deep inspection rebuild the chunk
//! header with [`recompute_header`], so that magic, length and checksum are
//! right and only the contents are wrong.
//!
//! Several of these inputs make automerge 0.12 abort the process or spin for
//! hours: never feed [`huge_allocation_claim`], [`huge_op_count_claim`] or
//! [`huge_string_claim`] to automerge except in a child process with an
//! address-space limit and a timeout.

use super::prescan::{
    body_hash, change_layout, column, write_sleb, write_uleb, PrescanError, CHUNK_TYPE_CHANGE,
    MAGIC_BYTES,
};

/// Wrap a change body in a fresh chunk header: magic bytes, checksum (the
/// first four bytes of SHA-256 over type, length and body), chunk type 1 and
/// uLEB128 body length.
pub fn recompute_header(body: &[u8]) -> Vec<u8> {
    with_header(CHUNK_TYPE_CHANGE, body)
}

/// Like [`recompute_header`] with any chunk type byte (0 document, 1 change,
/// 2 compressed change, 3 bundle).
pub fn with_header(chunk_type: u8, body: &[u8]) -> Vec<u8> {
    let hash = body_hash(chunk_type, body);
    let mut out = Vec::with_capacity(body.len() + 19);
    out.extend_from_slice(&MAGIC_BYTES);
    out.extend_from_slice(&hash[..4]);
    out.push(chunk_type);
    write_uleb(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// The body of a change chunk (everything after the header).
///
/// # Errors
/// If `change` is not a well-formed change chunk.
pub fn change_body(change: &[u8]) -> Result<&[u8], PrescanError> {
    let layout = change_layout(change)?;
    Ok(change.get(layout.body_start..).unwrap_or(&[]))
}

/// The first `keep` bytes (at most `len - 1`): header checks report
/// `Truncated`.
pub fn truncated(change: &[u8], keep: usize) -> Vec<u8> {
    let keep = keep.min(change.len().saturating_sub(1));
    change.get(..keep).unwrap_or(&[]).to_vec()
}

/// One bit flipped at a position in the chunk body chosen by `seed`, the
/// checksum left alone: rejected as `BadChecksum`.
pub fn bit_flipped(change: &[u8], seed: u64) -> Vec<u8> {
    let mut out = change.to_vec();
    let start = change_layout(change).map(|l| l.body_start).unwrap_or(0);
    let span = out.len().saturating_sub(start);
    if span == 0 {
        return out;
    }
    let r = splitmix64(seed);
    let pos = start + (r % span as u64) as usize;
    let bit = (r >> 32) % 8;
    if let Some(b) = out.get_mut(pos) {
        *b ^= 1 << bit;
    }
    out
}

/// The checksum bytes inverted: rejected as `BadChecksum`. (automerge 0.12's
/// `Change::try_from` does not verify the checksum and accepts this.)
pub fn wrong_checksum(change: &[u8]) -> Vec<u8> {
    let mut out = change.to_vec();
    for b in out.iter_mut().skip(4).take(4) {
        *b = !*b;
    }
    out
}

/// The same body under another chunk type byte (e.g. 2, compressed change),
/// checksum recomputed: rejected as `WrongChunkType`.
///
/// # Errors
/// If `change` is not a well-formed change chunk.
pub fn with_chunk_type(change: &[u8], chunk_type: u8) -> Result<Vec<u8>, PrescanError> {
    Ok(with_header(chunk_type, change_body(change)?))
}

/// One junk byte (`0x01`) appended to the insert column, with column length,
/// chunk length and checksum recomputed. The insert column then has one row
/// more than there are operations. automerge 0.12 accepts the change (it
/// stops reading every column after the last action) but the bytes are not
/// what it would write, so the change hash no longer survives save → load.
/// Rejected as `RowCountMismatch`.
///
/// # Errors
/// If `change` is not a well-formed change chunk with an insert column.
pub fn junk_byte_in_column(change: &[u8]) -> Result<Vec<u8>, PrescanError> {
    let mut found = false;
    let out = rewrite_columns(change, |cols| {
        for (spec, data) in cols.iter_mut() {
            if *spec == column::INSERT {
                data.push(0x01);
                found = true;
            }
        }
    })?;
    if !found {
        return Err(PrescanError::RowCountMismatch {
            column: "insert",
            expected: 1,
            actual: 0,
        });
    }
    Ok(out)
}

/// Number of predecessor entries claimed by [`huge_allocation_claim`].
pub const HUGE_PRED_CLAIM: u64 = 1 << 40;

/// Number of operations claimed by [`huge_op_count_claim`].
pub const HUGE_OP_CLAIM: u64 = 1 << 50;

/// Predecessor columns replaced so that every operation claims
/// [`HUGE_PRED_CLAIM`] (2^40) predecessors, each a repeat run of a few
/// bytes; checksum recomputed, the change stays tiny. automerge 0.12 pushes
/// the predecessors one by one into a `Vec` (8 bytes each) until the
/// allocation fails and the process aborts. Rejected as `TooManyPreds`.
///
/// # Errors
/// If `change` is not a well-formed change chunk.
pub fn huge_allocation_claim(change: &[u8]) -> Result<Vec<u8>, PrescanError> {
    let layout = change_layout(change)?;
    let body = change.get(layout.body_start..).unwrap_or(&[]);
    let ops = action_rows(body, &layout.columns).max(1);
    rewrite_columns(change, |cols| {
        cols.retain(|(s, _)| {
            ![column::PRED_GROUP, column::PRED_ACTOR, column::PRED_CTR].contains(s)
        });
        let total = HUGE_PRED_CLAIM.saturating_mul(ops);
        cols.push((column::PRED_GROUP, repeat_uleb(ops, HUGE_PRED_CLAIM)));
        cols.push((column::PRED_ACTOR, repeat_uleb(total, 0)));
        let mut ctr = Vec::new();
        write_sleb(&mut ctr, total as i64);
        write_sleb(&mut ctr, 1);
        cols.push((column::PRED_CTR, ctr));
        cols.sort_by_key(|(s, _)| *s);
    })
}

/// Every column replaced by one repeat run claiming [`HUGE_OP_CLAIM`]
/// (2^50) identical operations (`put null` at key "a" of the root map);
/// checksum recomputed. automerge 0.12 decodes them one by one: it does not
/// allocate per operation in `Change::try_from`, but spins for days.
/// Rejected as `TooManyOps`.
///
/// # Errors
/// If `change` is not a well-formed change chunk.
pub fn huge_op_count_claim(change: &[u8]) -> Result<Vec<u8>, PrescanError> {
    rewrite_columns(change, |cols| {
        let n = HUGE_OP_CLAIM;
        let mut key = Vec::new();
        write_sleb(&mut key, n as i64);
        key.extend_from_slice(&[1, b'a']);
        let mut insert = Vec::new();
        write_uleb(&mut insert, n);
        cols.clear();
        cols.push((column::KEY_STR, key));
        cols.push((column::INSERT, insert));
        cols.push((column::ACTION, repeat_uleb(n, 1)));
        cols.push((column::VAL_META, repeat_uleb(n, 0)));
        cols.push((column::PRED_GROUP, repeat_uleb(n, 0)));
    })
}

/// Claimed length of the key string in [`huge_string_claim`]: just under
/// automerge's own 10^9-byte allocation cap.
pub const HUGE_STRING_CLAIM: u64 = 999_999_999;

/// The key string column replaced by one literal string claiming
/// [`HUGE_STRING_CLAIM`] bytes with none present; checksum recomputed.
/// automerge 0.12 allocates (zeroed) the whole claimed length before
/// noticing the bytes are missing: an abort under an address-space limit
/// below ~1 GiB. Rejected as `Truncated`.
///
/// # Errors
/// If `change` is not a well-formed change chunk.
pub fn huge_string_claim(change: &[u8]) -> Result<Vec<u8>, PrescanError> {
    rewrite_columns(change, |cols| {
        cols.retain(|(s, _)| *s != column::KEY_STR);
        let mut key = Vec::new();
        write_sleb(&mut key, -1);
        write_uleb(&mut key, HUGE_STRING_CLAIM);
        cols.push((column::KEY_STR, key));
        cols.sort_by_key(|(s, _)| *s);
    })
}

/// Rebuild `change` with its columns edited by `edit` (spec, data pairs in
/// order); column metadata, chunk length and checksum are recomputed. The
/// dependency/actor/message prefix and the extra bytes are kept.
///
/// # Errors
/// If `change` is not a well-formed change chunk.
pub fn rewrite_columns(
    change: &[u8],
    edit: impl FnOnce(&mut Vec<(u32, Vec<u8>)>),
) -> Result<Vec<u8>, PrescanError> {
    let layout = change_layout(change)?;
    let body = change.get(layout.body_start..).unwrap_or(&[]);
    let mut cols: Vec<(u32, Vec<u8>)> = layout
        .columns
        .iter()
        .map(|(s, r)| (*s, body.get(r.clone()).unwrap_or(&[]).to_vec()))
        .collect();
    edit(&mut cols);
    let mut out = body.get(..layout.meta_start).unwrap_or(&[]).to_vec();
    write_uleb(&mut out, cols.len() as u64);
    for (spec, data) in &cols {
        write_uleb(&mut out, u64::from(*spec));
        write_uleb(&mut out, data.len() as u64);
    }
    for (_, data) in &cols {
        out.extend_from_slice(data);
    }
    out.extend_from_slice(body.get(layout.extra.clone()).unwrap_or(&[]));
    Ok(recompute_header(&out))
}

/// An RLE repeat run: `count` copies of the uLEB `value`.
fn repeat_uleb(count: u64, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_sleb(&mut out, i64::try_from(count).unwrap_or(i64::MAX));
    write_uleb(&mut out, value);
    out
}

/// Rows of the action column of a well-formed change (0 if unreadable).
fn action_rows(body: &[u8], columns: &[(u32, std::ops::Range<usize>)]) -> u64 {
    let Some(data) = columns
        .iter()
        .find(|(s, _)| *s == column::ACTION)
        .and_then(|(_, r)| body.get(r.clone()))
    else {
        return 0;
    };
    super::prescan::count_rle_rows(data).unwrap_or(0)
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The squatting attack of issue 10: a valid change relabelled with another
/// `actor` and `seq` (and, if given, other `deps`), re-encoded so that its
/// checksum and hash are right. Without signatures the replica cannot tell
/// it from the victim's own change; `None` if `change` does not decode.
pub fn relabeled(
    change: &[u8],
    actor: &[u8],
    seq: u64,
    deps: Option<Vec<automerge::ChangeHash>>,
) -> Option<Vec<u8>> {
    let decoded = automerge::Change::try_from(change).ok()?;
    let mut expanded: automerge::ExpandedChange = decoded.decode();
    expanded.actor_id = automerge::ActorId::from(actor.to_vec());
    expanded.seq = seq;
    expanded.hash = None;
    if let Some(deps) = deps {
        expanded.deps = deps;
    }
    Some(automerge::Change::from(expanded).raw_bytes().to_vec())
}
