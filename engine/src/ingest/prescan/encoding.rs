//! Row counting of automerge's column encodings (`columnar/encoding/`):
//! RLE, delta, boolean, and value metadata against raw value bytes. Every
//! loop consumes input bytes, except RLE repeat runs, whose lengths are only
//! added up with checked arithmetic against a row limit.

use super::column;
use super::error::{PrescanError, Result};
use super::leb::Reader;

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

pub(super) fn actor_index(r: &mut Reader<'_>, spec: u32, actors: usize) -> Result<u64> {
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

pub(super) fn read_string<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8]> {
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
pub(super) fn walk_rle<'a, V>(
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
pub(super) fn walk_delta(
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
pub(super) fn walk_bool(
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
pub(super) fn walk_values(meta: &[u8], raw: &[u8], limit: u64) -> Result<u64> {
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
