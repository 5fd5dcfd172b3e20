//! [`Store::ingest`] and [`Store::ingest_many`]: validate, order, apply and
//! store untrusted changes, one SQLite transaction per call (group commit for
//! workers: many requests, one transaction, each request in a savepoint).

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{ActorId, Change};
use lru::LruCache;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::{decode_untrusted, IngestError, IngestLimits};
use crate::ids::hash_to_hex;
use crate::store::{ensure_loaded, insert_change, Loaded, Store, StoreError};
use crate::{ChangeHash, ListId};

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

enum Fail {
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

fn digest(raw: &[u8]) -> Vec<u8> {
    Sha256::digest(raw).to_vec()
}

fn reject(e: IngestError) -> Fail {
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
        match results.pop() {
            Some(Ok(o)) => Ok(o),
            Some(Err(e)) => Err(StoreError::Ingest(e)),
            None => Ok(IngestOutcome::default()),
        }
    }

    /// Ingest several requests in one transaction (group commit). Each
    /// request is accepted or rejected on its own; an `Err` of the outer
    /// result means the transaction failed and nothing was stored.
    pub fn ingest_many<R: AsRef<[u8]>>(
        &mut self,
        reqs: &[(ListId, &[R])],
    ) -> Result<Vec<Result<IngestOutcome, IngestError>>, StoreError> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(reqs.len());
        let mut touched = Vec::new();
        let mut failure = None;
        for (id, raws) in reqs {
            touched.push(*id);
            let sp = match tx.savepoint() {
                Ok(sp) => sp,
                Err(e) => {
                    failure = Some(StoreError::from(e));
                    break;
                }
            };
            match ingest_one(
                &sp,
                &mut self.cache,
                &self.actor,
                &self.opts.ingest,
                *id,
                raws,
            ) {
                Ok(outcome) => {
                    if let Err(e) = sp.commit() {
                        failure = Some(e.into());
                        break;
                    }
                    results.push(Ok(outcome));
                }
                Err(Fail::Reject(e, quarantine)) => {
                    drop(sp); // rolls back this request only
                    self.cache.pop(id);
                    if let Some(d) = quarantine {
                        tx.execute(
                            "INSERT OR IGNORE INTO quarantine (digest, reason, at) VALUES (?1, ?2, ?3)",
                            params![d, e.to_string(), crate::list::EditContext::now("").now_ms],
                        )?;
                    }
                    results.push(Err(e));
                }
                Err(Fail::Store(e)) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let committed = match failure {
            Some(e) => {
                drop(tx);
                Err(e)
            }
            None => tx.commit().map_err(StoreError::from),
        };
        if let Err(e) = committed {
            for id in &touched {
                self.cache.pop(id);
            }
            return Err(e);
        }
        for id in touched {
            self.maybe_compact(id)?;
        }
        Ok(results)
    }
}

fn is_quarantined(conn: &Connection, d: &[u8]) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM quarantine WHERE digest = ?1",
            [d],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn ingest_one<R: AsRef<[u8]>>(
    conn: &Connection,
    cache: &mut LruCache<ListId, Loaded>,
    actor: &ActorId,
    limits: &IngestLimits,
    id: ListId,
    raws: &[R],
) -> Result<IngestOutcome, Fail> {
    if raws.len() > limits.max_changes {
        return Err(reject(IngestError::TooManyChanges {
            got: raws.len(),
            limit: limits.max_changes,
        }));
    }
    let mut decoded = Vec::with_capacity(raws.len());
    for (index, raw) in raws.iter().enumerate() {
        let raw = raw.as_ref();
        let d = digest(raw);
        if is_quarantined(conn, &d)? {
            return Err(reject(IngestError::Quarantined { index }));
        }
        match decode_untrusted(index, raw, limits) {
            Ok(c) => decoded.push((index, c, d)),
            Err(e @ IngestError::Panicked { .. }) => return Err(Fail::Reject(e, Some(d))),
            Err(e) => return Err(reject(e)),
        }
    }
    if decoded.is_empty() {
        return Ok(IngestOutcome::default());
    }
    if !crate::store::loaded_list_exists(conn, id)? {
        conn.execute(
            "INSERT INTO lists (list_id, created_at) VALUES (?1, ?2)",
            params![
                id.as_bytes().as_slice(),
                crate::list::EditContext::now("").now_ms
            ],
        )?;
    }
    let l = ensure_loaded(cache, conn, actor, id)?;

    // Order: apply whatever has its dependencies, repeatedly; never queue.
    let mut outcome = IngestOutcome::default();
    let mut accepted: Vec<(usize, Change, Vec<u8>)> = Vec::new();
    let mut pending = decoded;
    loop {
        let mut progress = false;
        let mut next = Vec::new();
        for (index, c, d) in pending {
            let hash = c.hash();
            if l.graph.contains(&hash) {
                outcome.duplicates += 1;
                continue;
            }
            if !l.graph.missing_deps(c.deps()).is_empty() {
                next.push((index, c, d));
                continue;
            }
            let actor_bytes = c.actor_id().to_bytes();
            let expected = l.graph.max_seq(&actor_bytes) + 1;
            if c.seq() != expected {
                return Err(reject(IngestError::SeqDiscontinuity {
                    index,
                    actor: c.actor_id().to_hex_string(),
                    expected,
                    got: c.seq(),
                }));
            }
            l.graph
                .add(hash, c.deps(), &actor_bytes, c.seq())
                .map_err(|e| reject(IngestError::Apply(e.to_string())))?;
            accepted.push((index, c, d));
            progress = true;
        }
        pending = next;
        if !progress || pending.is_empty() {
            break;
        }
    }
    let pending_hashes: BTreeSet<ChangeHash> = pending.iter().map(|(_, c, _)| c.hash()).collect();
    let missing: BTreeSet<ChangeHash> = pending
        .iter()
        .flat_map(|(_, c, _)| l.graph.missing_deps(c.deps()))
        .filter(|h| !pending_hashes.contains(h))
        .collect();
    outcome.missing = missing.into_iter().collect();
    if accepted.is_empty() {
        return Ok(outcome);
    }

    let changes: Vec<Change> = accepted.iter().map(|(_, c, _)| c.clone()).collect();
    let doc = l.list.doc_mut();
    match catch_unwind(AssertUnwindSafe(|| doc.apply_changes(changes))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(reject(IngestError::Apply(e.to_string()))),
        Err(_) => return Err(find_culprit(conn, actor, id, &accepted)),
    }
    if l.list.heads() != l.graph.heads() {
        return Err(reject(IngestError::Apply(format!(
            "document heads disagree with the change graph after applying (doc {:?})",
            l.list.heads().iter().map(hash_to_hex).collect::<Vec<_>>()
        ))));
    }
    for (_, c, _) in &accepted {
        l.last_id = insert_change(conn, id, c)?;
        l.uncompacted += 1;
        outcome.applied.push(c.hash());
    }
    Ok(outcome)
}

/// A batch apply panicked: replay the changes one by one on a fresh copy
/// from the store to find (and quarantine) the one that crashes.
fn find_culprit(
    conn: &Connection,
    actor: &ActorId,
    id: ListId,
    accepted: &[(usize, Change, Vec<u8>)],
) -> Fail {
    let mut fresh = match crate::store::load_full(conn, actor, id) {
        Ok(l) => l,
        Err(e) => return Fail::Store(e),
    };
    for (index, c, d) in accepted {
        let doc = fresh.list.doc_mut();
        let c = c.clone();
        if catch_unwind(AssertUnwindSafe(|| doc.apply_changes([c]))).is_err() {
            return Fail::Reject(IngestError::Panicked { index: *index }, Some(d.clone()));
        }
    }
    let first = accepted.first().map(|a| a.0).unwrap_or(0);
    Fail::Reject(IngestError::Panicked { index: first }, None)
}
