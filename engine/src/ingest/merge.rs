//! The in-memory half of ingestion, without SQLite: order decoded changes
//! against the change graph (never queueing missing dependencies), check
//! actor/seq continuity, and apply them to the document with panics caught.
//! [`crate::store::Store::ingest`] wraps this with quarantine and rows; the
//! fuzzers and the replay tests call [`ingest_in_memory`] directly.

use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{Change, ReadDoc};

use super::{decode_untrusted, IngestError, IngestLimits, IngestOutcome};
use crate::graph::ChangeGraph;
use crate::ids::hash_to_hex;
use crate::list::ShoppingList;
use crate::ChangeHash;

/// A change that passed the stateless checks.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Position in the request.
    pub index: usize,
    /// The decoded change.
    pub change: Change,
}

/// Order `decoded` against `graph`: duplicates are counted, changes whose
/// dependencies are absent are left out and their missing hashes reported,
/// the rest are added to `graph` (tentatively: on error the caller discards
/// the graph) and returned in an order where dependencies come first.
pub fn order_against_graph(
    graph: &mut ChangeGraph,
    decoded: Vec<Decoded>,
) -> Result<(Vec<Decoded>, IngestOutcome), IngestError> {
    let mut outcome = IngestOutcome::default();
    let mut accepted = Vec::new();
    let mut pending = decoded;
    loop {
        let mut progress = false;
        let mut next = Vec::new();
        for d in pending {
            let c = &d.change;
            let hash = c.hash();
            if graph.contains(&hash) {
                outcome.duplicates += 1;
                continue;
            }
            if !graph.missing_deps(c.deps()).is_empty() {
                next.push(d);
                continue;
            }
            let actor = c.actor_id().to_bytes();
            let expected = graph.max_seq(actor) + 1;
            if c.seq() != expected {
                return Err(IngestError::SeqDiscontinuity {
                    index: d.index,
                    actor: c.actor_id().to_hex_string(),
                    expected,
                    got: c.seq(),
                });
            }
            graph
                .add(hash, c.deps(), actor, c.seq())
                .map_err(|e| IngestError::Apply(e.to_string()))?;
            accepted.push(d);
            progress = true;
        }
        pending = next;
        if !progress || pending.is_empty() {
            break;
        }
    }
    let pending_hashes: BTreeSet<ChangeHash> = pending.iter().map(|d| d.change.hash()).collect();
    let missing: BTreeSet<ChangeHash> = pending
        .iter()
        .flat_map(|d| graph.missing_deps(d.change.deps()))
        .filter(|h| !pending_hashes.contains(h))
        .collect();
    outcome.missing = missing.into_iter().collect();
    Ok((accepted, outcome))
}

/// Apply ordered changes to the document, panics caught. On `Err` the
/// document may be damaged: the caller restores it (from the store, or a
/// clone). `Panicked` carries the index of the first change of the batch;
/// [`find_culprit`] narrows it down.
pub fn apply_ordered(
    list: &mut ShoppingList,
    graph: &ChangeGraph,
    accepted: &[Decoded],
) -> Result<(), IngestError> {
    if accepted.is_empty() {
        return Ok(());
    }
    let changes: Vec<Change> = accepted.iter().map(|d| d.change.clone()).collect();
    let before = list.heads();
    match catch_unwind(AssertUnwindSafe(|| list.apply_changes(changes))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(IngestError::Apply(e.to_string())),
        Err(_) => {
            return Err(IngestError::Panicked {
                index: accepted[0].index,
            })
        }
    }
    if list.heads() != graph.heads() {
        return Err(IngestError::Apply(format!(
            "document heads disagree with the change graph after applying (doc {:?})",
            list.heads().iter().map(hash_to_hex).collect::<Vec<_>>()
        )));
    }
    check_representable(list, &before, accepted)
}

/// Batches up to this size are re-derived change by change; larger ones in
/// one pass over the document.
const REDERIVE_ONE_BY_ONE: usize = 16;

/// Every applied change must come back out of the document as the same
/// bytes. automerge 0.12 applies some changes its document format cannot
/// represent (an operation whose predecessor is an operation at another key,
/// found by the `ingest_bytes` fuzzer: `fuzz/crashers/ingest_bytes/`); such
/// a document saves, but `load` fails with "mismatching heads". Re-deriving
/// the changes from the op set, as `save` does, exposes them: the bytes
/// differ or automerge panics (caught). ~50 µs per change, or one pass over
/// the document for a large batch.
fn check_representable(
    list: &ShoppingList,
    before: &[ChangeHash],
    accepted: &[Decoded],
) -> Result<(), IngestError> {
    let doc = list.doc();
    let bad = |index: usize| {
        IngestError::Apply(format!(
            "change {index}: not representable in the document (it would break save → load)"
        ))
    };
    if accepted.len() <= REDERIVE_ONE_BY_ONE {
        for d in accepted {
            let hash = d.change.hash();
            let same = catch_unwind(AssertUnwindSafe(|| {
                doc.get_change_by_hash(&hash)
                    .is_some_and(|c| c.raw_bytes() == d.change.raw_bytes())
            }));
            if !matches!(same, Ok(true)) {
                return Err(bad(d.index));
            }
        }
        return Ok(());
    }
    let Ok(rederived) = catch_unwind(AssertUnwindSafe(|| doc.get_changes(before))) else {
        return Err(bad(accepted[0].index));
    };
    let by_hash: HashMap<ChangeHash, &[u8]> = rederived
        .iter()
        .map(|c| (c.hash(), c.raw_bytes()))
        .collect();
    for d in accepted {
        if by_hash.get(&d.change.hash()).copied() != Some(d.change.raw_bytes()) {
            return Err(bad(d.index));
        }
    }
    Ok(())
}

/// Replay `accepted` one by one on `fresh` (an undamaged copy) and return
/// the index of the first change that panics, if any.
pub fn find_culprit(fresh: &mut ShoppingList, accepted: &[Decoded]) -> Option<usize> {
    for d in accepted {
        let doc = fresh.doc_mut();
        let c = d.change.clone();
        if catch_unwind(AssertUnwindSafe(|| doc.apply_changes([c]))).is_err() {
            return Some(d.index);
        }
    }
    None
}

/// Decode every raw change (stateless checks), or reject the whole request.
pub fn decode_all<R: AsRef<[u8]>>(
    raws: &[R],
    limits: &IngestLimits,
) -> Result<Vec<Decoded>, IngestError> {
    if raws.len() > limits.max_changes {
        return Err(IngestError::TooManyChanges {
            got: raws.len(),
            limit: limits.max_changes,
        });
    }
    raws.iter()
        .enumerate()
        .map(|(index, raw)| {
            decode_untrusted(index, raw.as_ref(), limits).map(|change| Decoded { index, change })
        })
        .collect()
}

/// The whole ingestion path in memory: decode, order, apply. On error the
/// list and graph are restored to their state before the call.
pub fn ingest_in_memory<R: AsRef<[u8]>>(
    list: &mut ShoppingList,
    graph: &mut ChangeGraph,
    raws: &[R],
    limits: &IngestLimits,
) -> Result<IngestOutcome, IngestError> {
    let decoded = decode_all(raws, limits)?;
    let mut g = graph.clone();
    let (accepted, mut outcome) = order_against_graph(&mut g, decoded)?;
    let mut l = list.clone();
    apply_ordered(&mut l, &g, &accepted)?;
    outcome.applied = accepted.iter().map(|d| d.change.hash()).collect();
    *list = l;
    *graph = g;
    Ok(outcome)
}
