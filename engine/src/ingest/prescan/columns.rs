//! Pass two: the columns of a change checked against each other. The
//! action column's rows are the operations; every other per-operation column
//! must have exactly that many rows (or be absent, for nullable ones), the
//! predecessor group column's sum is the number of predecessor entries, and
//! the predecessor actor and counter columns must have exactly that many.

use super::column;
use super::encoding::{actor_index, read_string, walk_bool, walk_delta, walk_rle, walk_values};
use super::error::{PrescanError, Result};
use super::header::Parsed;
use super::PrescanLimits;

pub(super) struct Counts {
    pub(super) ops: u64,
    pub(super) preds: u64,
}

pub(super) fn check_columns(
    p: &Parsed<'_>,
    chunk_len: usize,
    limits: &PrescanLimits,
) -> Result<Counts> {
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
