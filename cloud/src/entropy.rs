//! One anti-entropy pass, as data (DESIGN §6; Dynamo §4.7; Riak AAE).
//! Sans-IO: the proxy ([`crate::proxy`]) sends what [`EntropyPass`] asks
//! for and feeds the answers back.
//!
//! A pass cuts the ring into [arcs](crate::placement::Arc) (ranges whose
//! lists share homes and future homes) and asks every live member for one
//! digest per arc it takes part in: the XOR of a 64-bit digest of each list
//! it holds there (list id and heads). Replicas that hold the same lists at
//! the same heads give the same digest, so a quiet cluster costs one small
//! message per worker per pass. An arc whose answered digests differ is
//! *drilled*: every participant lists the heads of its lists in the arc,
//! and each list whose heads differ gets the transfers of read repair
//! ([`crate::repair::plan_read_repair`]) through the ordinary `sync` path.
//!
//! An arc is **settled** when at least R of its homes (all, if fewer) and
//! every future home answered with one and the same digest: its future
//! homes then hold everything R homes hold, hence every acknowledged write.
//! A joining member becomes `ready` after a pass in which every arc it will
//! be home to was settled; a leaving member becomes `retired` after a pass
//! in which every arc it is home to was settled (so the new homes have its
//! lists) — only then may anything be deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use engine::protocol::cluster::MAX_DIGEST_RANGES;
use engine::protocol::ListHeads;
use engine::{ChangeHash, ListId, WorkerId};

use crate::placement::Arc;
use crate::repair::{plan_read_repair, Transfer};

/// Most pages of `list_heads_ok` read per participant and arc.
pub const MAX_PAGES_PER_ARC: usize = 64;
/// Arcs drilled at once.
pub const MAX_DRILLS: usize = 8;

/// A digest request to send: `ranges` are the arcs `arcs` (indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAsk {
    /// Whom to ask.
    pub worker: WorkerId,
    /// Arc indices, in the order of the ranges sent.
    pub arcs: Vec<usize>,
    /// The ranges.
    pub ranges: Vec<[u64; 2]>,
}

/// What a pass found, for `status` and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Arcs compared.
    pub arcs: usize,
    /// Arcs whose digests differed.
    pub dirty: usize,
    /// Arcs settled.
    pub settled: usize,
    /// List transfers planned.
    pub transfers: usize,
}

/// One pass. See the module docs.
#[derive(Debug)]
pub struct EntropyPass {
    arcs: Vec<Arc>,
    /// Digests answered, per worker and arc.
    digests: HashMap<WorkerId, BTreeMap<usize, u64>>,
    /// Digest requests not answered yet (worker → arcs asked).
    awaiting: HashMap<u64, (WorkerId, Vec<usize>)>,
    /// Arcs to drill, and the heads collected for the arc being drilled.
    dirty: VecDeque<usize>,
    /// Arcs being drilled, by arc index.
    drilling: BTreeMap<usize, Drill>,
    /// Listing requests in flight: request id → arc.
    heads_asked: HashMap<u64, usize>,
    /// List transfers waiting to be started.
    transfers: VecDeque<(ListId, Transfer)>,
    report: PassReport,
    settled: BTreeSet<usize>,
    /// R: homes that must agree for an arc to settle.
    read_quorum: usize,
}

/// An arc being drilled.
#[derive(Debug)]
struct Drill {
    /// Heads per participant per list.
    heads: BTreeMap<ListId, BTreeMap<WorkerId, Vec<ChangeHash>>>,
    /// Participants whose listing is still coming (request id → worker).
    awaiting: HashMap<u64, WorkerId>,
    participants: Vec<WorkerId>,
    pages: HashMap<WorkerId, usize>,
    /// Participants whose listing is complete.
    listed: BTreeSet<WorkerId>,
}

/// A `list_heads_in` request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsAsk {
    /// Whom to ask.
    pub worker: WorkerId,
    /// The arc's range.
    pub range: [u64; 2],
    /// Continue after this list.
    pub after: Option<ListId>,
}

impl EntropyPass {
    /// A pass over `arcs` (R = `read_quorum`); returns it with the digest
    /// requests for the live workers (`live`), at most
    /// [`MAX_DIGEST_RANGES`] ranges each.
    pub fn start(
        arcs: Vec<Arc>,
        read_quorum: usize,
        live: impl Fn(&WorkerId) -> bool,
    ) -> (Self, Vec<DigestAsk>) {
        let mut by_worker: BTreeMap<WorkerId, Vec<usize>> = BTreeMap::new();
        for (i, arc) in arcs.iter().enumerate() {
            for w in participants(arc) {
                if live(&w) {
                    by_worker.entry(w).or_default().push(i);
                }
            }
        }
        let mut asks = Vec::new();
        for (worker, idx) in by_worker {
            for chunk in idx.chunks(MAX_DIGEST_RANGES) {
                asks.push(DigestAsk {
                    worker: worker.clone(),
                    arcs: chunk.to_vec(),
                    ranges: chunk.iter().map(|i| arcs[*i].range).collect(),
                });
            }
        }
        let report = PassReport {
            arcs: arcs.len(),
            ..PassReport::default()
        };
        let pass = EntropyPass {
            arcs,
            digests: HashMap::new(),
            awaiting: HashMap::new(),
            dirty: VecDeque::new(),
            drilling: BTreeMap::new(),
            heads_asked: HashMap::new(),
            transfers: VecDeque::new(),
            report,
            settled: BTreeSet::new(),
            read_quorum,
        };
        (pass, asks)
    }

    /// A digest request went out under request id `id`.
    pub fn sent_digest(&mut self, id: u64, ask: &DigestAsk) {
        self.awaiting
            .insert(id, (ask.worker.clone(), ask.arcs.clone()));
    }

    /// Whether request `id` is one of this pass's digest requests.
    pub fn awaits_digest(&self, id: u64) -> bool {
        self.awaiting.contains_key(&id)
    }

    /// The answer to digest request `id` (`None`: it failed or timed out).
    pub fn on_digests(&mut self, id: u64, digests: Option<&[u64]>) {
        let Some((worker, arcs)) = self.awaiting.remove(&id) else {
            return;
        };
        let Some(digests) = digests.filter(|d| d.len() == arcs.len()) else {
            return;
        };
        let mine = self.digests.entry(worker).or_default();
        for (arc, d) in arcs.into_iter().zip(digests) {
            mine.insert(arc, *d);
        }
        if self.awaiting.is_empty() {
            self.compare();
        }
    }

    /// Whether all digests are in.
    pub fn digests_done(&self) -> bool {
        self.awaiting.is_empty()
    }

    /// Give up on digests not answered (the pass deadline passed).
    pub fn abandon_digests(&mut self) {
        if !self.awaiting.is_empty() {
            self.awaiting.clear();
            self.compare();
        }
    }

    /// Classify every arc once all digests are in (or abandoned). Every
    /// future home must have answered, live or not: a transition that
    /// counted on a future home that is down would make it a home without
    /// the lists (retire a dead worker to take it out of the future ring).
    fn compare(&mut self) {
        for (i, arc) in self.arcs.iter().enumerate() {
            let answers: Vec<(WorkerId, u64)> = participants(arc)
                .into_iter()
                .filter_map(|w| {
                    let d = self.digests.get(&w).and_then(|m| m.get(&i)).copied();
                    d.map(|d| (w, d))
                })
                .collect();
            let equal = answers.windows(2).all(|p| p[0].1 == p[1].1);
            let answered = |w: &WorkerId| answers.iter().any(|(x, _)| x == w);
            let homes_answered = arc.homes.iter().filter(|w| answered(w)).count();
            let need_homes = self.read_quorum.min(arc.homes.len());
            let future_in = arc.future.iter().all(answered);
            if equal && homes_answered >= need_homes && future_in {
                self.settled.insert(i);
            }
            if !equal && answers.len() >= 2 {
                self.dirty.push_back(i);
            }
        }
        self.report.dirty = self.dirty.len();
        self.report.settled = self.settled.len();
    }

    /// Listing requests for the next arcs to drill (at most [`MAX_DRILLS`]
    /// at once); empty when none is due.
    pub fn next_drills(&mut self) -> Vec<HeadsAsk> {
        let mut asks = Vec::new();
        if !self.digests_done() {
            return asks;
        }
        while self.drilling.len() < MAX_DRILLS {
            let Some(arc) = self.dirty.pop_front() else {
                break;
            };
            let a = &self.arcs[arc];
            let participants: Vec<WorkerId> = participants(a)
                .into_iter()
                .filter(|w| self.digests.get(w).is_some_and(|m| m.contains_key(&arc)))
                .collect();
            asks.extend(participants.iter().map(|w| HeadsAsk {
                worker: w.clone(),
                range: a.range,
                after: None,
            }));
            self.drilling.insert(
                arc,
                Drill {
                    heads: BTreeMap::new(),
                    awaiting: HashMap::new(),
                    participants,
                    pages: HashMap::new(),
                    listed: BTreeSet::new(),
                },
            );
        }
        asks
    }

    /// A listing request for the arc of `range` went out under id `id`.
    pub fn sent_heads(&mut self, id: u64, ask: &HeadsAsk) {
        let Some((arc, d)) = self
            .drilling
            .iter_mut()
            .find(|(i, _)| self.arcs[**i].range == ask.range)
        else {
            return;
        };
        d.awaiting.insert(id, ask.worker.clone());
        self.heads_asked.insert(id, *arc);
    }

    /// Whether request `id` is one of this pass's listing requests.
    pub fn awaits_heads(&self, id: u64) -> bool {
        self.heads_asked.contains_key(&id)
    }

    /// A page of heads for request `id` (`None`: failed). Returns the next
    /// page to ask for, if any.
    pub fn on_heads(
        &mut self,
        id: u64,
        page: Option<(&[ListHeads], Option<ListId>)>,
    ) -> Option<HeadsAsk> {
        let arc = self.heads_asked.remove(&id)?;
        let range = self.arcs[arc].range;
        let d = self.drilling.get_mut(&arc)?;
        let worker = d.awaiting.remove(&id)?;
        let who = worker.clone();
        let mut next = None;
        match page {
            Some((lists, more)) => {
                for l in lists {
                    if crate::ring::in_range(crate::ring::position(&l.list), range) {
                        d.heads
                            .entry(l.list)
                            .or_default()
                            .insert(worker.clone(), l.heads.clone());
                    }
                }
                let pages = d.pages.entry(worker.clone()).or_insert(0);
                *pages += 1;
                if let Some(after) = more.filter(|_| *pages < MAX_PAGES_PER_ARC) {
                    next = Some(HeadsAsk {
                        worker,
                        range,
                        after: Some(after),
                    });
                }
            }
            None => {
                // A participant that cannot list is left out of this arc.
                d.participants.retain(|w| *w != worker);
            }
        }
        if next.is_none() {
            d.listed.insert(who);
        }
        if d.participants.iter().all(|w| d.listed.contains(w)) {
            self.finish_drill(arc);
        }
        next
    }

    fn finish_drill(&mut self, arc: usize) {
        let Some(d) = self.drilling.remove(&arc) else {
            return;
        };
        for (list, per) in d.heads {
            let responders: Vec<(WorkerId, Vec<ChangeHash>)> = d
                .participants
                .iter()
                .map(|w| (w.clone(), per.get(w).cloned().unwrap_or_default()))
                .collect();
            for t in plan_read_repair(&responders) {
                self.report.transfers += 1;
                self.transfers.push_back((list, t));
            }
        }
    }

    /// Up to `n` transfers to start now.
    pub fn take_transfers(&mut self, n: usize) -> Vec<(ListId, Transfer)> {
        let n = n.min(self.transfers.len());
        self.transfers.drain(..n).collect()
    }

    /// Whether nothing is left to ask, drill or transfer.
    pub fn finished(&self) -> bool {
        self.digests_done()
            && self.drilling.is_empty()
            && self.dirty.is_empty()
            && self.transfers.is_empty()
    }

    /// Whether every arc where `f(arc)` holds was settled.
    pub fn all_settled(&self, f: impl Fn(&Arc) -> bool) -> bool {
        self.arcs
            .iter()
            .enumerate()
            .filter(|(_, a)| f(a))
            .all(|(i, _)| self.settled.contains(&i))
    }

    /// What the pass found.
    pub fn report(&self) -> PassReport {
        self.report
    }
}

/// An arc's homes and future homes, without repeats.
fn participants(arc: &Arc) -> Vec<WorkerId> {
    let mut out = arc.homes.clone();
    for w in &arc.future {
        if !out.contains(w) {
            out.push(w.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
