//! Ordering tests (DESIGN §5, step 4): [`order_against_graph`] does work
//! linear in changes and dependencies whatever the input order (counted,
//! not timed: `engine_bench`'s `order_*` measures the time), and its outcome
//! — the changes accepted and their order, duplicates, missing dependencies,
//! the first error — equals the pass-per-level reference ordering's on
//! random DAGs, shuffled, with changes left out, repeated, already known,
//! forked or breaking the chain rule.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU64;

use automerge::{ActorId, Change, ExpandedChange};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::merge::{order_against_graph, order_counting, Decoded, OrderWork};
use super::{IngestError, IngestOutcome};
use crate::graph::ChangeGraph;
use crate::signing::SIGNATURE_LEN;
use crate::ChangeHash;

/// An op-less change, built without a document.
fn change(actor: u8, seq: u64, deps: Vec<ChangeHash>, time: i64) -> Change {
    Change::from(ExpandedChange {
        operations: Vec::new(),
        actor_id: ActorId::from(vec![actor; 32]),
        hash: None,
        seq,
        start_op: NonZeroU64::MIN,
        time,
        message: None,
        deps,
        extra_bytes: Vec::new(),
        author: None,
    })
}

/// A request of `changes`, in this order.
fn request(changes: impl IntoIterator<Item = Change>) -> Vec<Decoded> {
    changes
        .into_iter()
        .enumerate()
        .map(|(index, change)| Decoded {
            index,
            change,
            sig: [0; SIGNATURE_LEN],
        })
        .collect()
}

/// `n` changes by one actor, each depending on the previous, oldest first.
fn chain(n: usize) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::with_capacity(n);
    for seq in 1..=n as u64 {
        let deps = out.last().map(|c| vec![c.hash()]).unwrap_or_default();
        out.push(change(1, seq, deps, 0));
    }
    out
}

fn add(graph: &mut ChangeGraph, c: &Change) {
    graph
        .add(c.hash(), c.deps(), c.actor_id().to_bytes(), c.seq())
        .unwrap();
}

/// The request's dependency edges (what a linear ordering may follow).
fn edges(req: &[Decoded]) -> u64 {
    req.iter().map(|d| d.change.deps().len() as u64).sum()
}

#[test]
fn a_reverse_ordered_chain_is_ordered_in_linear_work() {
    let n = 20_000;
    let mut changes = chain(n);
    changes.reverse();
    let req = request(changes);
    let bound = 2 * (n as u64 + edges(&req));
    let mut work = OrderWork::default();
    let (accepted, outcome) = order_counting(&mut ChangeGraph::new(), req, &mut work).unwrap();
    assert!(accepted.iter().map(|d| d.index).eq((0..n).rev()));
    assert_eq!(outcome, IngestOutcome::default());
    assert!(
        work.visits + work.dep_lookups <= bound,
        "{work:?}: more than 2 × (changes + dependencies) = {bound}"
    );
}

#[test]
fn ready_changes_are_taken_in_input_order_pass_by_pass() {
    // a <- b <- c, and d depends on a; sent c, b, a, d.
    let abc = chain(3);
    let d = change(2, 1, vec![abc[0].hash()], 0);
    let req = request([abc[2].clone(), abc[1].clone(), abc[0].clone(), d]);
    let (accepted, _) = order_against_graph(&mut ChangeGraph::new(), req).unwrap();
    // First pass: a, then d (after a in the request); then b; then c.
    let order: Vec<usize> = accepted.iter().map(|d| d.index).collect();
    assert_eq!(order, [2, 3, 1, 0]);
}

#[test]
fn missing_dependencies_are_reported_and_their_dependents_left_out() {
    let abc = chain(4);
    let mut graph = ChangeGraph::new();
    add(&mut graph, &abc[0]);
    // abc[1] is not sent: abc[2] and abc[3] wait for it.
    let req = request([abc[3].clone(), abc[2].clone(), abc[0].clone()]);
    let mut work = OrderWork::default();
    let (accepted, outcome) = order_counting(&mut graph, req, &mut work).unwrap();
    assert!(accepted.is_empty());
    assert_eq!(outcome.duplicates, 1);
    assert_eq!(outcome.missing, vec![abc[1].hash()]);
    assert_eq!(graph.len(), 1);
}

/// The ordering `order_against_graph` replaced (one pass over the pending
/// changes per dependency level: O(n²) on a reverse-ordered chain), kept as
/// the reference for the property below.
fn order_by_passes(
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

/// A random DAG of changes by up to 4 actors (each change depends on its
/// actor's previous one, as the chain rule wants, plus up to two random
/// earlier changes); a random prefix is already in the graph. The request
/// holds the rest, shuffled, some left out (missing dependencies), some
/// twice, some already known, and sometimes a fork (an actor's change made
/// again with other content) or a change skipping its actor's previous one.
fn scenario(seed: u64) -> (ChangeGraph, Vec<Decoded>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = rng.gen_range(1..=60usize);
    let actors = rng.gen_range(1..=4u8);
    let mut nodes: Vec<Change> = Vec::with_capacity(n);
    let mut last: HashMap<u8, usize> = HashMap::new();
    for i in 0..n {
        let a = rng.gen_range(0..actors);
        let mut deps = BTreeSet::new();
        let seq = match last.get(&a) {
            Some(&j) => {
                deps.insert(nodes[j].hash());
                nodes[j].seq() + 1
            }
            None => 1,
        };
        for _ in 0..rng.gen_range(0..=2) {
            if i > 0 {
                deps.insert(nodes[rng.gen_range(0..i)].hash());
            }
        }
        nodes.push(change(a, seq, deps.into_iter().collect(), 0));
        last.insert(a, i);
    }
    let known = rng.gen_range(0..=n / 2);
    let mut graph = ChangeGraph::new();
    for c in &nodes[..known] {
        add(&mut graph, c);
    }
    let mut sent = Vec::new();
    for (i, c) in nodes.iter().enumerate() {
        if i < known {
            if rng.gen_bool(0.15) {
                sent.push(c.clone());
            }
            continue;
        }
        if rng.gen_bool(0.1) {
            continue;
        }
        sent.push(c.clone());
        if rng.gen_bool(0.1) {
            sent.push(c.clone());
        }
    }
    if rng.gen_bool(0.15) {
        let c = &nodes[rng.gen_range(0..n)];
        let actor = c.actor_id().to_bytes()[0];
        sent.push(change(actor, c.seq(), c.deps().to_vec(), 1));
    }
    if rng.gen_bool(0.1) {
        let c = &nodes[rng.gen_range(0..n)];
        let actor = c.actor_id().to_bytes()[0];
        let others: Vec<ChangeHash> = c.deps()[..c.deps().len().min(1)].to_vec();
        sent.push(change(actor, c.seq() + 1, others, 2));
    }
    sent.shuffle(&mut rng);
    if rng.gen_bool(0.2) {
        sent.reverse();
    }
    (graph, request(sent))
}

type Summary = Result<(Vec<usize>, IngestOutcome), IngestError>;

fn summary(r: Result<(Vec<Decoded>, IngestOutcome), IngestError>) -> Summary {
    r.map(|(accepted, outcome)| (accepted.iter().map(|d| d.index).collect(), outcome))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Kahn's ordering accepts, refuses and orders exactly as the reference,
    /// leaves the graph in the same state, and stays linear in its work.
    #[test]
    fn ordering_matches_the_pass_by_pass_reference(seed in any::<u64>()) {
        let (graph, req) = scenario(seed);
        let bound = 2 * (req.len() as u64 + edges(&req));
        let (mut ours, mut reference) = (graph.clone(), graph);
        let mut work = OrderWork::default();
        let got = summary(order_counting(&mut ours, req.clone(), &mut work));
        let want = summary(order_by_passes(&mut reference, req));
        prop_assert_eq!(&got, &want);
        if got.is_ok() {
            prop_assert_eq!(ours.len(), reference.len());
            prop_assert_eq!(ours.heads(), reference.heads());
        }
        prop_assert!(work.visits + work.dep_lookups <= bound, "{:?} > {}", work, bound);
    }
}

#[test]
fn scenarios_cover_acceptance_missing_duplicates_and_errors() {
    let (mut ok, mut missing, mut dups, mut errors) = (0, 0, 0, 0);
    for seed in 0..300 {
        let (mut graph, req) = scenario(seed);
        match order_by_passes(&mut graph, req) {
            Ok((_, o)) => {
                ok += 1;
                missing += usize::from(!o.missing.is_empty());
                dups += usize::from(o.duplicates > 0);
            }
            Err(_) => errors += 1,
        }
    }
    assert!(
        ok > 100 && missing > 30 && dups > 30 && errors > 30,
        "ok {ok}, with missing {missing}, with duplicates {dups}, errors {errors}"
    );
}
