//! The in-memory half of ingestion, without SQLite: order decoded changes
//! against the change graph (never queueing missing dependencies), check
//! actor/seq continuity and the chain rule, verify each actor's latest
//! signature, and apply them to the document with panics caught.
//! The store's `Store::ingest` (`store/ingest/`) wraps this with quarantine
//! and rows; the fuzzers and the replay tests call [`ingest_in_memory`]
//! directly.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{Automerge, Change, ReadDoc};

use super::{decode_untrusted, IngestError, IngestLimits, IngestOutcome};
use crate::graph::ChangeGraph;
use crate::ids::hash_to_hex;
use crate::list::ShoppingList;
use crate::signing::{self, SIGNATURE_LEN};
use crate::{ChangeHash, ListId};

/// A change that passed the stateless checks.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Position in the request.
    pub index: usize,
    /// The decoded change.
    pub change: Change,
    /// The signature its frame carried (zeros for bare chunks).
    pub sig: [u8; SIGNATURE_LEN],
}

/// What the frames of a request are, and whose signatures are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorship {
    /// Signed change frames (`signature ‖ chunk`, PROTOCOL §2.1) of this
    /// list: each actor's latest change in the request must verify.
    Signed(ListId),
    /// Bare change chunks, authorship unchecked: for fuzzing and in-memory
    /// tests only (seq continuity, clashes and the chain rule still apply).
    Unchecked,
}

/// The change chunk inside a frame (the frame itself for bare chunks or a
/// frame too short to hold a signature).
pub fn chunk_of(frame: &[u8], authorship: Authorship) -> &[u8] {
    match authorship {
        Authorship::Signed(_) => frame.get(SIGNATURE_LEN..).unwrap_or(frame),
        Authorship::Unchecked => frame,
    }
}

/// Order `decoded` against `graph`: duplicates are counted, changes whose
/// dependencies are absent are left out and their missing hashes reported,
/// the rest are added to `graph` (tentatively: on error the caller discards
/// the graph) and returned in an order where dependencies come first.
///
/// Kahn's algorithm: each change waits on a count of its dependencies not
/// yet in the graph; adding a change to the graph releases
/// the changes waiting on its hash. The order is the one the former
/// pass-per-level loop gave (pass over the pending changes in request order,
/// taking each change whose dependencies are present, until a pass takes
/// none), so outcomes and the first error reported are unchanged: a change
/// released by a change before it in the request is taken in the same pass,
/// one released by a change after it in the next pass. A min-heap on
/// (pass, position) yields that order. Work: O(n + e) heap operations and
/// dependency look-ups for n changes and e dependency hashes, i.e.
/// O((n + e) log n), where the loop was O(n²) on a reverse-ordered chain.
pub fn order_against_graph(
    graph: &mut ChangeGraph,
    decoded: Vec<Decoded>,
) -> Result<(Vec<Decoded>, IngestOutcome), IngestError> {
    order_counting(graph, decoded, &mut OrderWork::default())
}

/// The work one ordering did, for tests that bound it (a timed test would
/// be flaky; `engine_bench`'s `order_*` measures the time).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OrderWork {
    /// Times a change of the request was examined.
    pub visits: u64,
    /// Dependency hashes looked at (looked up in the graph or followed).
    pub dep_lookups: u64,
}

/// [`order_against_graph`], counting its work in `work`.
pub(crate) fn order_counting(
    graph: &mut ChangeGraph,
    decoded: Vec<Decoded>,
    work: &mut OrderWork,
) -> Result<(Vec<Decoded>, IngestOutcome), IngestError> {
    let mut outcome = IngestOutcome::default();
    let n = decoded.len();
    // Per change: its dependencies not in the graph yet, and the
    // pass it can be taken in at the earliest (from those already added).
    let mut waiting = vec![0usize; n];
    let mut pass = vec![1usize; n];
    // Dependency hash absent from the graph -> positions waiting on it.
    let mut waiters: HashMap<ChangeHash, Vec<usize>> = HashMap::new();
    // (pass, position) of the changes whose dependencies are all present.
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = BinaryHeap::new();
    let mut slots: Vec<Option<Decoded>> = Vec::with_capacity(n);
    for (pos, d) in decoded.into_iter().enumerate() {
        work.visits += 1;
        if graph.contains(&d.change.hash()) {
            outcome.duplicates += 1;
            slots.push(None);
            continue;
        }
        let deps = d.change.deps();
        work.dep_lookups += deps.len() as u64;
        // A dependency listed twice is waited on twice and released twice.
        for dep in deps {
            if graph.contains(dep) {
                continue;
            }
            waiting[pos] += 1;
            waiters.entry(*dep).or_default().push(pos);
        }
        if waiting[pos] == 0 {
            ready.push(Reverse((1, pos)));
        }
        slots.push(Some(d));
    }
    let mut accepted = Vec::new();
    while let Some(Reverse((p, pos))) = ready.pop() {
        work.visits += 1;
        let Some(d) = slots.get_mut(pos).and_then(Option::take) else {
            continue;
        };
        let c = &d.change;
        let hash = c.hash();
        if graph.contains(&hash) {
            // The same change earlier in this order.
            outcome.duplicates += 1;
            continue;
        }
        let actor = c.actor_id().to_bytes();
        let expected = graph.max_seq(actor) + 1;
        if c.seq() < expected {
            return Err(IngestError::ActorClash {
                index: d.index,
                actor: c.actor_id().to_hex_string(),
                seq: c.seq(),
            });
        }
        if c.seq() != expected {
            return Err(IngestError::SeqDiscontinuity {
                index: d.index,
                actor: c.actor_id().to_hex_string(),
                expected,
                got: c.seq(),
            });
        }
        if !graph.has_own_previous(c.deps(), actor) {
            return Err(IngestError::BrokenChain {
                index: d.index,
                actor: c.actor_id().to_hex_string(),
                seq: c.seq(),
            });
        }
        graph
            .add(hash, c.deps(), actor, c.seq())
            .map_err(|e| IngestError::Apply(e.to_string()))?;
        for w in waiters.remove(&hash).unwrap_or_default() {
            work.dep_lookups += 1;
            // Seen in this pass if it comes later in the request.
            let earliest = if w > pos { p } else { p + 1 };
            let (Some(left), Some(at)) = (waiting.get_mut(w), pass.get_mut(w)) else {
                continue;
            };
            *at = (*at).max(earliest);
            *left -= 1;
            if *left == 0 {
                ready.push(Reverse((*at, w)));
            }
        }
        accepted.push(d);
    }
    let pending: Vec<Decoded> = slots.into_iter().flatten().collect();
    let pending_hashes: BTreeSet<ChangeHash> = pending.iter().map(|d| d.change.hash()).collect();
    let missing: BTreeSet<ChangeHash> = pending
        .iter()
        .flat_map(|d| graph.missing_deps(d.change.deps()))
        .filter(|h| !pending_hashes.contains(h))
        .collect();
    outcome.missing = missing.into_iter().collect();
    Ok((accepted, outcome))
}

/// Verify authorship (PROTOCOL §2.1): for every actor with changes in
/// `accepted`, its latest one (highest seq) must carry the actor's
/// signature over (`list`, hash). Its earlier changes in the request are
/// covered through the hash chain (the chain rule, checked by
/// [`order_against_graph`]), so one signature is checked per actor, not
/// per change. If the latest change came in several frames (a proxy's
/// union of replies), any frame whose signature verifies is enough, and
/// that signature is the one kept. `offered` is every (hash, signature) of
/// the request, duplicates included.
pub fn verify_authorship(
    list: ListId,
    accepted: &mut [Decoded],
    offered: &[(ChangeHash, [u8; SIGNATURE_LEN])],
) -> Result<(), IngestError> {
    let mut tips: HashMap<Vec<u8>, usize> = HashMap::new();
    for (pos, d) in accepted.iter().enumerate() {
        let actor = d.change.actor_id().to_bytes().to_vec();
        let entry = tips.entry(actor).or_insert(pos);
        if accepted[*entry].change.seq() < d.change.seq() {
            *entry = pos;
        }
    }
    for pos in tips.into_values() {
        let d = &mut accepted[pos];
        let hash = d.change.hash();
        let actor = d.change.actor_id().to_bytes();
        if signing::verify(list, &hash, actor, &d.sig) {
            continue;
        }
        let other = offered
            .iter()
            .filter(|(h, s)| *h == hash && *s != d.sig)
            .find(|(_, s)| signing::verify(list, &hash, actor, s));
        match other {
            Some((_, s)) => d.sig = *s,
            None => {
                return Err(IngestError::Forged {
                    index: d.index,
                    actor: d.change.actor_id().to_hex_string(),
                    seq: d.change.seq(),
                })
            }
        }
    }
    Ok(())
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
    check_lamport(list.doc(), accepted)?;
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

/// Op ids are Lamport timestamps: a change's first op must come after every
/// op of the changes it depends on. automerge 0.12 applies a change that
/// breaks this (an empty change with `start_op` 1 on top of a longer
/// history, found by the `ingest_bytes` fuzzer), but the document then no
/// longer loads ("max_op is lower than start_op"). `accepted` is in
/// dependency order; a dependency is either earlier in it or in `doc`.
fn check_lamport(doc: &Automerge, accepted: &[Decoded]) -> Result<(), IngestError> {
    let mut batch: HashMap<ChangeHash, u64> = HashMap::with_capacity(accepted.len());
    for d in accepted {
        let start = d.change.start_op().get();
        for dep in d.change.deps() {
            let dep_max = match batch.get(dep) {
                Some(m) => Some(*m),
                None => catch_unwind(AssertUnwindSafe(|| {
                    doc.get_change_meta_by_hash(dep).map(|m| m.max_op)
                }))
                .map_err(|_| IngestError::Panicked { index: d.index })?,
            };
            if let Some(max) = dep_max.filter(|m| start <= *m) {
                return Err(IngestError::Apply(format!(
                    "change {}: its first op ({start}) does not come after the ops of a \
                     change it depends on (up to {max}): not a valid history",
                    d.index
                )));
            }
        }
        batch.insert(d.change.hash(), d.change.max_op());
    }
    Ok(())
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

/// Decode every frame (stateless checks), or reject the whole request.
/// Signed frames are split into signature and chunk first; the chunk is
/// what the prescan and the decoder see.
pub fn decode_all<R: AsRef<[u8]>>(
    raws: &[R],
    limits: &IngestLimits,
    authorship: Authorship,
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
            let raw = raw.as_ref();
            let (sig, chunk) = match authorship {
                Authorship::Signed(_) => {
                    signing::split_frame(raw).ok_or(IngestError::Unsigned {
                        index,
                        len: raw.len(),
                    })?
                }
                Authorship::Unchecked => ([0; SIGNATURE_LEN], raw),
            };
            decode_untrusted(index, chunk, limits).map(|change| Decoded { index, change, sig })
        })
        .collect()
}

/// Every (hash, signature) offered in a request, duplicates included.
pub fn offered(decoded: &[Decoded]) -> Vec<(ChangeHash, [u8; SIGNATURE_LEN])> {
    decoded.iter().map(|d| (d.change.hash(), d.sig)).collect()
}

/// The whole ingestion path in memory for bare change chunks, authorship
/// unchecked (fuzzing, tests): decode, order, apply. On error the list and
/// graph are restored to their state before the call.
pub fn ingest_in_memory<R: AsRef<[u8]>>(
    list: &mut ShoppingList,
    graph: &mut ChangeGraph,
    raws: &[R],
    limits: &IngestLimits,
) -> Result<IngestOutcome, IngestError> {
    ingest_frames_in_memory(list, graph, raws, limits, Authorship::Unchecked)
}

/// The whole ingestion path in memory: decode, order, verify authorship (for
/// signed frames), apply. On error the list and graph are restored.
pub fn ingest_frames_in_memory<R: AsRef<[u8]>>(
    list: &mut ShoppingList,
    graph: &mut ChangeGraph,
    raws: &[R],
    limits: &IngestLimits,
    authorship: Authorship,
) -> Result<IngestOutcome, IngestError> {
    let decoded = decode_all(raws, limits, authorship)?;
    let offered = offered(&decoded);
    let mut g = graph.clone();
    let (mut accepted, mut outcome) = order_against_graph(&mut g, decoded)?;
    if let Authorship::Signed(id) = authorship {
        verify_authorship(id, &mut accepted, &offered)?;
    }
    let mut l = list.clone();
    apply_ordered(&mut l, &g, &accepted)?;
    outcome.applied = accepted.iter().map(|d| d.change.hash()).collect();
    *list = l;
    *graph = g;
    Ok(outcome)
}
