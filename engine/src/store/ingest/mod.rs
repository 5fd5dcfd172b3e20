//! The store side of ingestion: [`Store::ingest`] and [`Store::ingest_many`]
//! validate, order, apply and store untrusted changes, one SQLite
//! transaction per call (group commit for workers: many requests, one
//! transaction, each request in a savepoint).
//!
//! The checks themselves are sans-IO, in [`crate::ingest`] (prescan, decode,
//! ordering against the change graph, authorship, apply with panics caught);
//! this module adds what needs SQLite, per change or per request:
//!
//! 1. quarantine: bytes (a digest of the change chunk) that once crashed
//!    Automerge are refused at once;
//! 2. the stateless checks and the ordering of [`crate::ingest::merge`],
//!    against the list's cached, caught-up change graph;
//! 3. on a panic while applying, the document is restored from the store,
//!    the culprit found and quarantined, the request rejected;
//! 4. the rows are stored: one SQLite transaction for the whole call, one
//!    savepoint per request.

use automerge::ActorId;
use lru::LruCache;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::{ensure_loaded, insert_change, Loaded, Store, StoreError};
use crate::ingest::merge::{
    apply_ordered, chunk_of, decode_all, find_culprit, offered, order_against_graph,
    verify_authorship, Authorship, Decoded,
};
use crate::ingest::{IngestError, IngestLimits, IngestOutcome};
use crate::ListId;

pub(crate) enum Fail {
    Reject(IngestError, Option<Vec<u8>>),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Store(e.into())
    }
}

/// The quarantine key of a frame: a digest of its change chunk, so a new
/// signature on the same poison bytes is still refused.
pub(crate) fn digest(raw: &[u8], authorship: Authorship) -> Vec<u8> {
    Sha256::digest(chunk_of(raw, authorship)).to_vec()
}

pub(crate) fn reject(e: IngestError) -> Fail {
    Fail::Reject(e, None)
}

impl Store {
    /// Ingest raw change bytes for one list (see [`crate::ingest`]). A list
    /// not yet in the store is created when at least one change applies.
    pub fn ingest<R: AsRef<[u8]>>(
        &mut self,
        id: ListId,
        raws: &[R],
    ) -> Result<IngestOutcome, StoreError> {
        let mut results = self.ingest_many(&[(id, raws)])?;
        Self::single(results.pop())
    }

    /// [`Store::ingest`] of changes received from the cloud, committed
    /// without an fsync: a cloud quorum already stored them durably, and a
    /// power loss can only make this device fetch them again (see
    /// [`super::relaxed`]). A replica never uses this: its acknowledgement
    /// promises the fsync.
    pub fn ingest_from_cloud<R: AsRef<[u8]>>(
        &mut self,
        id: ListId,
        raws: &[R],
    ) -> Result<IngestOutcome, StoreError> {
        let mut results = self.relaxed(|s| s.ingest_many(&[(id, raws)]))?;
        Self::single(results.pop())
    }

    fn single(
        result: Option<Result<IngestOutcome, IngestError>>,
    ) -> Result<IngestOutcome, StoreError> {
        match result {
            Some(Ok(o)) => Ok(o),
            Some(Err(e)) => Err(StoreError::Ingest(e)),
            None => Ok(IngestOutcome::default()),
        }
    }

    /// Ingest several requests in one transaction (group commit). Each
    /// request is accepted or rejected on its own; an `Err` of the outer
    /// result means the transaction failed and nothing was stored. With
    /// [`StoreOptions::merge_same_list`](super::StoreOptions) the requests
    /// for the same list are applied in one call ([`merged`]).
    pub fn ingest_many<R: AsRef<[u8]>>(
        &mut self,
        reqs: &[(ListId, &[R])],
    ) -> Result<Vec<Result<IngestOutcome, IngestError>>, StoreError> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut touched: Vec<ListId> = Vec::new();
        let mut replies: Vec<Option<merged::Reply>> = (0..reqs.len()).map(|_| None).collect();
        let stored = (|| -> Result<(), StoreError> {
            let mut root = tx.savepoint()?;
            let mut ctx = merged::Ctx {
                cache: &mut self.cache,
                actor: &self.actor,
                limits: &self.opts.ingest,
                sole_writer: self.opts.sole_writer,
                stats: &mut self.stats,
            };
            if self.opts.merge_same_list {
                // Groups in order of first appearance, requests in order.
                let mut groups: Vec<(ListId, Vec<usize>)> = Vec::new();
                for (pos, (id, _)) in reqs.iter().enumerate() {
                    match groups.iter_mut().find(|(g, _)| g == id) {
                        Some((_, members)) => members.push(pos),
                        None => groups.push((*id, vec![pos])),
                    }
                }
                for (id, members) in groups {
                    touched.push(id);
                    if let [pos] = members[..] {
                        replies[pos] = Some(merged::one_in_savepoint(
                            &mut root,
                            &mut ctx,
                            id,
                            reqs[pos].1,
                        )?);
                        continue;
                    }
                    let raws: Vec<&[R]> = members.iter().map(|&p| reqs[p].1).collect();
                    let out = merged::ingest_group(&mut root, &mut ctx, id, &raws)?;
                    for (pos, reply) in members.into_iter().zip(out) {
                        replies[pos] = Some(reply);
                    }
                }
            } else {
                for (pos, (id, raws)) in reqs.iter().enumerate() {
                    touched.push(*id);
                    replies[pos] = Some(merged::one_in_savepoint(&mut root, &mut ctx, *id, raws)?);
                }
            }
            for (e, q) in replies.iter().flatten().filter_map(|r| r.as_ref().err()) {
                if let Some(d) = q {
                    root.execute(
                        "INSERT OR IGNORE INTO quarantine (digest, reason, at) VALUES (?1, ?2, ?3)",
                        params![d, e.to_string(), crate::list::EditContext::now("").now_ms],
                    )?;
                }
            }
            root.commit()?;
            Ok(())
        })();
        let committed = stored.and_then(|()| tx.commit().map_err(StoreError::from));
        if let Err(e) = committed {
            for id in &touched {
                self.cache.pop(id);
            }
            return Err(e);
        }
        touched.dedup();
        for id in touched {
            self.maybe_compact(id)?;
        }
        Ok(replies
            .into_iter()
            .map(|r| match r {
                Some(Ok(o)) => Ok(o),
                Some(Err((e, _))) => Err(e),
                None => Ok(IngestOutcome::default()),
            })
            .collect())
    }

    /// What group commit did so far (requests, apply calls, merged groups).
    pub fn ingest_stats(&self) -> IngestStats {
        self.stats
    }
}

/// Counters of [`Store::ingest_many`] since the store was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestStats {
    /// Requests ingested.
    pub requests: u64,
    /// `apply_changes` calls made for them.
    pub apply_calls: u64,
    /// Groups of same-list requests applied in one call.
    pub merged_groups: u64,
    /// Merged applies that failed and were redone request by request.
    pub fallbacks: u64,
}

pub(crate) fn is_quarantined(conn: &Connection, d: &[u8]) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM quarantine WHERE digest = ?1")?
        .query_row([d], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Decode a request's frames (a panic while decoding quarantines the
/// culprit's digest) and make sure its list has a row; `None` when there
/// is nothing to store. Shared by the one-request and merged paths.
pub(crate) fn decode_for_list<R: AsRef<[u8]>>(
    conn: &Connection,
    id: ListId,
    raws: &[R],
    limits: &IngestLimits,
    authorship: Authorship,
) -> Result<Option<Vec<Decoded>>, Fail> {
    let decoded = match decode_all(raws, limits, authorship) {
        Ok(d) => d,
        Err(e @ IngestError::Panicked { index }) => {
            let d = raws.get(index).map(|r| digest(r.as_ref(), authorship));
            return Err(Fail::Reject(e, d));
        }
        Err(e) => return Err(reject(e)),
    };
    if decoded.is_empty() {
        return Ok(None);
    }
    if !super::loaded_list_exists(conn, id)? {
        conn.execute(
            "INSERT INTO lists (list_id, created_at) VALUES (?1, ?2)",
            params![
                id.as_bytes().as_slice(),
                crate::list::EditContext::now("").now_ms
            ],
        )?;
    }
    Ok(Some(decoded))
}

// The store's borrowed parts, passed apart (recovery and group commit share it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ingest_one<R: AsRef<[u8]>>(
    conn: &Connection,
    cache: &mut LruCache<ListId, Loaded>,
    actor: &ActorId,
    limits: &IngestLimits,
    id: ListId,
    raws: &[R],
    sole_writer: bool,
    stats: &mut IngestStats,
) -> Result<IngestOutcome, Fail> {
    let authorship = Authorship::Signed(id);
    for (index, raw) in raws.iter().enumerate() {
        if is_quarantined(conn, &digest(raw.as_ref(), authorship))? {
            return Err(reject(IngestError::Quarantined { index }));
        }
    }
    let Some(decoded) = decode_for_list(conn, id, raws, limits, authorship)? else {
        return Ok(IngestOutcome::default());
    };
    let offered = offered(&decoded);
    let l = ensure_loaded(cache, conn, actor, id, sole_writer)?;
    let (mut accepted, mut outcome) = order_against_graph(&mut l.graph, decoded).map_err(reject)?;
    verify_authorship(id, &mut accepted, &offered).map_err(reject)?;
    if !accepted.is_empty() {
        stats.apply_calls += 1;
    }
    match apply_ordered(&mut l.list, &l.graph, &accepted) {
        Ok(()) => {}
        Err(IngestError::Panicked { index }) => {
            // Restore from the store, find and quarantine the culprit.
            let mut fresh = super::load_full(conn, actor, id)?;
            let culprit = find_culprit(&mut fresh.list, &accepted).unwrap_or(index);
            let d = raws.get(culprit).map(|r| digest(r.as_ref(), authorship));
            return Err(Fail::Reject(IngestError::Panicked { index: culprit }, d));
        }
        Err(e) => return Err(reject(e)),
    }
    for d in &accepted {
        l.last_id = insert_change(conn, id, &d.change, &d.sig)?;
        l.uncompacted += 1;
        outcome.applied.push(d.change.hash());
    }
    Ok(outcome)
}

mod merged;
#[cfg(test)]
mod merged_tests;

#[cfg(test)]
mod authorship_tests;
#[cfg(test)]
mod tests;
