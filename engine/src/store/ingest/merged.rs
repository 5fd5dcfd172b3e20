//! Group commit that merges same-list requests (DESIGN §4, issue 11
//! deliverable 2): the requests of one [`Store::ingest_many`] call that
//! target the same list are validated one by one (each in its own
//! savepoint, the change graph checkpointed so a rejected request leaves no
//! trace), then the union of the valid ones is applied in ONE
//! `apply_changes` call. If that merged apply fails (a panic, a change the
//! document cannot represent), the group's rows are rolled back and the
//! requests are ingested one by one as without merging, so every request's
//! outcome is what it would have been.
//!
//! [`Store::ingest_many`]: super::Store::ingest_many

use automerge::ActorId;
use lru::LruCache;
use rusqlite::{Connection, Savepoint};

use super::{decode_for_list, digest, ingest_one, is_quarantined, reject, Fail, IngestStats};
use crate::ingest::merge::{
    apply_ordered, offered, order_against_graph, verify_authorship, Authorship, Decoded,
};
use crate::ingest::{IngestError, IngestLimits, IngestOutcome};
use crate::store::{ensure_loaded, insert_change, Loaded, StoreError};
use crate::ListId;

/// What the store thread hands a group: the connection, the cache and the
/// settings, borrowed from the [`Store`](super::Store).
pub(crate) struct Ctx<'a> {
    pub cache: &'a mut LruCache<ListId, Loaded>,
    pub actor: &'a ActorId,
    pub limits: &'a IngestLimits,
    pub sole_writer: bool,
    pub stats: &'a mut IngestStats,
}

/// One request's result: its outcome or its error, and the quarantine
/// digest to record when it was rejected for crashing Automerge.
pub(crate) type Reply = Result<IngestOutcome, (IngestError, Option<Vec<u8>>)>;

/// Ingest one request on its own (the unmerged path), in a savepoint.
pub(crate) fn one_in_savepoint<R: AsRef<[u8]>>(
    parent: &mut Savepoint<'_>,
    ctx: &mut Ctx<'_>,
    id: ListId,
    raws: &[R],
) -> Result<Reply, StoreError> {
    let sp = parent.savepoint()?;
    ctx.stats.requests += 1;
    match ingest_one(
        &sp,
        ctx.cache,
        ctx.actor,
        ctx.limits,
        id,
        raws,
        ctx.sole_writer,
        ctx.stats,
    ) {
        Ok(outcome) => {
            sp.commit()?;
            Ok(Ok(outcome))
        }
        Err(Fail::Reject(e, q)) => {
            drop(sp);
            ctx.cache.pop(&id);
            Ok(Err((e, q)))
        }
        Err(Fail::Store(e)) => Err(e),
    }
}

/// Validate one request of a merged group and store its rows; return the
/// changes it adds (in order) with its outcome. The graph is restored by
/// the caller on `Err`.
fn validate_and_store<R: AsRef<[u8]>>(
    conn: &Connection,
    ctx: &mut Ctx<'_>,
    id: ListId,
    raws: &[R],
) -> Result<(Vec<Decoded>, IngestOutcome), Fail> {
    let authorship = Authorship::Signed(id);
    for (index, raw) in raws.iter().enumerate() {
        if is_quarantined(conn, &digest(raw.as_ref(), authorship))? {
            return Err(reject(IngestError::Quarantined { index }));
        }
    }
    let Some(decoded) = decode_for_list(conn, id, raws, ctx.limits, authorship)? else {
        return Ok((Vec::new(), IngestOutcome::default()));
    };
    let offered = offered(&decoded);
    let l = ensure_loaded(ctx.cache, conn, ctx.actor, id, ctx.sole_writer)?;
    let (mut accepted, mut outcome) = order_against_graph(&mut l.graph, decoded).map_err(reject)?;
    verify_authorship(id, &mut accepted, &offered).map_err(reject)?;
    for d in &accepted {
        l.last_id = insert_change(conn, id, &d.change, &d.sig)?;
        l.uncompacted += 1;
        outcome.applied.push(d.change.hash());
    }
    Ok((accepted, outcome))
}

/// Ingest the requests of one list (`reqs`: position in the call, raws)
/// merged: validated one by one, applied in one call. Returns a reply per
/// request, in `reqs` order.
pub(crate) fn ingest_group<R: AsRef<[u8]>>(
    tx: &mut Savepoint<'_>,
    ctx: &mut Ctx<'_>,
    id: ListId,
    reqs: &[&[R]],
) -> Result<Vec<Reply>, StoreError> {
    let mut group = tx.savepoint()?;
    let mut replies = Vec::with_capacity(reqs.len());
    let mut union: Vec<Decoded> = Vec::new();
    for raws in reqs {
        ctx.stats.requests += 1;
        let checkpoint = ctx
            .cache
            .peek(&id)
            .map(|l| (l.graph.clone(), l.last_id, l.uncompacted));
        let sp = group.savepoint()?;
        match validate_and_store(&sp, ctx, id, raws) {
            Ok((accepted, outcome)) => {
                sp.commit()?;
                union.extend(accepted);
                replies.push(Ok(outcome));
            }
            Err(Fail::Reject(e, q)) => {
                drop(sp);
                match (checkpoint, ctx.cache.get_mut(&id)) {
                    (Some((graph, last_id, uncompacted)), Some(l)) => {
                        l.graph = graph;
                        l.last_id = last_id;
                        l.uncompacted = uncompacted;
                    }
                    _ => {
                        ctx.cache.pop(&id);
                    }
                }
                replies.push(Err((e, q)));
            }
            Err(Fail::Store(e)) => return Err(e),
        }
    }
    if union.is_empty() {
        group.commit()?;
        return Ok(replies);
    }
    ctx.stats.apply_calls += 1;
    let applied = match ctx.cache.get_mut(&id) {
        Some(l) => apply_ordered(&mut l.list, &l.graph, &union).is_ok(),
        None => false,
    };
    if applied {
        ctx.stats.merged_groups += 1;
        group.commit()?;
        return Ok(replies);
    }
    // Fall back: undo the group and ingest its requests one by one.
    group.rollback()?;
    drop(group);
    ctx.cache.pop(&id);
    ctx.stats.fallbacks += 1;
    let mut replies = Vec::with_capacity(reqs.len());
    for raws in reqs {
        ctx.stats.requests = ctx.stats.requests.saturating_sub(1);
        replies.push(one_in_savepoint(tx, ctx, id, raws)?);
    }
    Ok(replies)
}
