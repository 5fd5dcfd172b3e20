//! The change-graph index: which changes a peer lacks, in time proportional
//! to the delta rather than to the list's history (DESIGN §4).
//!
//! Automerge 0.12 keeps no change bytes in memory; `get_changes(have)`
//! re-derives every change from the op set (~3.5 ms on a 20k-change list).
//! The store keeps change bytes in rows; this index keeps only the graph:
//! for each change its dependencies and a topological position, plus each
//! actor's highest sequence number (for the ingest continuity check).
//!
//! [`ChangeGraph::missing_for`] paints backwards from our heads and from the
//! peer's `have` at once, always expanding the node with the highest
//! topological position, and stops as soon as every node left on the frontier
//! is known to the peer. Because a change's position is always greater than
//! its dependencies', a node's colour is final when it is popped. The walk
//! touches the changes the peer lacks plus a frontier around them — not the
//! whole history.

use std::collections::{BinaryHeap, HashMap, HashSet};

use automerge::ChangeHash;

/// One change in the graph.
#[derive(Debug, Clone)]
struct Node {
    hash: ChangeHash,
    deps: Vec<u32>,
}

/// An append-only DAG of change hashes in topological insertion order.
#[derive(Debug, Default, Clone)]
pub struct ChangeGraph {
    nodes: Vec<Node>,
    index: HashMap<ChangeHash, u32>,
    heads: Vec<u32>,
    /// Per actor: its highest sequence number and that change's node.
    actor_seq: HashMap<Vec<u8>, (u64, u32)>,
}

/// Why a change cannot be added to the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Some dependencies are not in the graph.
    #[error("missing {} dependencies", .0.len())]
    MissingDeps(Vec<ChangeHash>),
}

impl ChangeGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are no changes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether the change is known.
    pub fn contains(&self, h: &ChangeHash) -> bool {
        self.index.contains_key(h)
    }

    /// The highest sequence number seen for `actor` (0 if none).
    pub fn max_seq(&self, actor: &[u8]) -> u64 {
        self.actor_seq.get(actor).map_or(0, |(seq, _)| *seq)
    }

    /// The hash of `actor`'s latest change (its highest seq), if any.
    pub fn actor_tip(&self, actor: &[u8]) -> Option<ChangeHash> {
        self.actor_seq
            .get(actor)
            .map(|(_, node)| self.nodes[*node as usize].hash)
    }

    /// Every actor with its latest change's hash.
    pub fn actor_tips(&self) -> impl Iterator<Item = (&[u8], ChangeHash)> + '_ {
        self.actor_seq
            .iter()
            .map(|(actor, (_, node))| (actor.as_slice(), self.nodes[*node as usize].hash))
    }

    /// The chain rule (PROTOCOL §2.1): whether a change by `actor` with
    /// dependencies `deps` lists the actor's latest change among them
    /// directly. Automerge always does for a local change (it adds the
    /// actor's previous change to the heads it depends on), so this costs
    /// one lookup per change. An actor with no change yet is satisfied.
    pub fn has_own_previous(&self, deps: &[ChangeHash], actor: &[u8]) -> bool {
        match self.actor_tip(actor) {
            Some(tip) => deps.contains(&tip),
            None => true,
        }
    }

    /// Which of `deps` are unknown.
    pub fn missing_deps(&self, deps: &[ChangeHash]) -> Vec<ChangeHash> {
        deps.iter().filter(|d| !self.contains(d)).copied().collect()
    }

    /// Add a change whose dependencies are all present. Adding a known hash
    /// is a no-op (returns `Ok(false)`).
    pub fn add(
        &mut self,
        hash: ChangeHash,
        deps: &[ChangeHash],
        actor: &[u8],
        seq: u64,
    ) -> Result<bool, GraphError> {
        if self.contains(&hash) {
            return Ok(false);
        }
        let missing = self.missing_deps(deps);
        if !missing.is_empty() {
            return Err(GraphError::MissingDeps(missing));
        }
        let idx = self.nodes.len() as u32;
        let dep_idx: Vec<u32> = deps
            .iter()
            .filter_map(|d| self.index.get(d).copied())
            .collect();
        self.heads.retain(|h| !dep_idx.contains(h));
        self.heads.push(idx);
        self.nodes.push(Node {
            hash,
            deps: dep_idx,
        });
        self.index.insert(hash, idx);
        let s = self.actor_seq.entry(actor.to_vec()).or_insert((0, idx));
        if seq >= s.0 {
            *s = (seq, idx);
        }
        Ok(true)
    }

    /// Current heads, sorted (same order as `Automerge::get_heads`).
    pub fn heads(&self) -> Vec<ChangeHash> {
        let mut hs: Vec<ChangeHash> = self
            .heads
            .iter()
            .map(|i| self.nodes[*i as usize].hash)
            .collect();
        hs.sort_unstable();
        hs
    }

    /// The changes a peer whose heads are `have` lacks, in topological order.
    /// Hashes in `have` that we do not know are ignored (the peer has changes
    /// we lack; it will send them).
    pub fn missing_for(&self, have: &[ChangeHash]) -> Vec<ChangeHash> {
        // Colour: true = reachable from the peer's heads (the peer has it).
        let mut colour: HashMap<u32, bool> = HashMap::new();
        let mut heap: BinaryHeap<u32> = BinaryHeap::new();
        let mut pending_ours = 0usize; // frontier entries not known to the peer
        for h in have {
            if let Some(&i) = self.index.get(h) {
                if colour.insert(i, true).is_none() {
                    heap.push(i);
                }
            }
        }
        for &i in &self.heads {
            if let std::collections::hash_map::Entry::Vacant(e) = colour.entry(i) {
                e.insert(false);
                heap.push(i);
                pending_ours += 1;
            }
        }
        let mut out = Vec::new();
        while pending_ours > 0 {
            let Some(i) = heap.pop() else { break };
            let theirs = colour.get(&i).copied().unwrap_or(true);
            if !theirs {
                pending_ours -= 1;
                out.push(self.nodes[i as usize].hash);
            }
            for &d in &self.nodes[i as usize].deps {
                match colour.get(&d).copied() {
                    None => {
                        colour.insert(d, theirs);
                        heap.push(d);
                        if !theirs {
                            pending_ours += 1;
                        }
                    }
                    Some(false) if theirs => {
                        // Upgrade: the peer has it after all.
                        colour.insert(d, true);
                        pending_ours -= 1;
                    }
                    _ => {}
                }
            }
        }
        out.reverse();
        out
    }

    /// The heads of the union of the histories of `hashes`: those of them
    /// that are no other one's ancestor, sorted. Hashes we do not know are
    /// left out. The walk only expands changes between the lowest and the
    /// highest of them in topological order (for a few recent hashes, a
    /// few changes), never the whole history.
    pub fn heads_of(&self, hashes: &[ChangeHash]) -> Vec<ChangeHash> {
        let mut cands: Vec<u32> = hashes
            .iter()
            .filter_map(|h| self.index.get(h).copied())
            .collect();
        cands.sort_unstable();
        cands.dedup();
        let Some(&lowest) = cands.first() else {
            return Vec::new();
        };
        // Whatever is reached through a dependency edge from a candidate is
        // an ancestor of it; positions only fall along edges, so nothing
        // below `lowest` can lead to a candidate.
        let mut covered: HashSet<u32> = HashSet::new();
        let mut heap: BinaryHeap<u32> = cands.iter().copied().collect();
        let mut out = Vec::new();
        while let Some(i) = heap.pop() {
            if heap.peek() == Some(&i) {
                continue; // the same node pushed twice
            }
            if cands.binary_search(&i).is_ok() && !covered.contains(&i) {
                out.push(self.nodes[i as usize].hash);
            }
            for &d in &self.nodes[i as usize].deps {
                if d >= lowest && covered.insert(d) {
                    heap.push(d);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Topological position of a change (its insertion index).
    pub fn position(&self, h: &ChangeHash) -> Option<u32> {
        self.index.get(h).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn h(i: u32) -> ChangeHash {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        ChangeHash(b)
    }

    /// Reference: everything not an ancestor-or-self of `have`.
    fn brute_missing(g: &ChangeGraph, have: &[ChangeHash]) -> Vec<ChangeHash> {
        let mut seen = HashSet::new();
        let mut stack: Vec<u32> = have.iter().filter_map(|x| g.position(x)).collect();
        while let Some(i) = stack.pop() {
            if seen.insert(i) {
                stack.extend(g.nodes[i as usize].deps.iter().copied());
            }
        }
        (0..g.len() as u32)
            .filter(|i| !seen.contains(i))
            .map(|i| g.nodes[i as usize].hash)
            .collect()
    }

    #[test]
    fn linear_history_delta_of_one() {
        let mut g = ChangeGraph::new();
        for i in 0..100u32 {
            let deps: Vec<_> = if i == 0 { vec![] } else { vec![h(i - 1)] };
            g.add(h(i), &deps, b"a", u64::from(i) + 1).unwrap();
        }
        assert_eq!(g.missing_for(&[h(98)]), vec![h(99)]);
        assert_eq!(g.missing_for(&[h(99)]), Vec::<ChangeHash>::new());
        assert_eq!(g.missing_for(&[]).len(), 100);
        assert_eq!(g.heads(), vec![h(99)]);
        assert_eq!(g.max_seq(b"a"), 100);
    }

    #[test]
    fn the_chain_rule_wants_the_actors_latest_change_as_a_direct_dep() {
        let mut g = ChangeGraph::new();
        g.add(h(0), &[], b"a", 1).unwrap();
        g.add(h(1), &[h(0)], b"b", 1).unwrap();
        g.add(h(2), &[], b"c", 1).unwrap();
        assert!(g.has_own_previous(&[h(0)], b"a"));
        assert!(g.has_own_previous(&[h(1), h(0)], b"a"));
        // Only through b's change, or not at all: refused.
        assert!(!g.has_own_previous(&[h(1)], b"a"));
        assert!(!g.has_own_previous(&[h(2)], b"a"));
        assert!(g.has_own_previous(&[], b"new"));
        assert_eq!(g.actor_tip(b"b"), Some(h(1)));
    }

    #[test]
    fn unknown_deps_are_reported() {
        let mut g = ChangeGraph::new();
        assert_eq!(
            g.add(h(2), &[h(1)], b"a", 1),
            Err(GraphError::MissingDeps(vec![h(1)]))
        );
        assert!(g.is_empty());
    }

    /// A DAG with one change per entry of `edges`, each depending on the
    /// earlier changes its picks name (modulo its index).
    fn random_dag(edges: &[Vec<usize>]) -> ChangeGraph {
        let mut g = ChangeGraph::new();
        for (i, deps) in edges.iter().enumerate() {
            let mut ds: Vec<ChangeHash> = if i == 0 {
                vec![]
            } else {
                deps.iter().map(|d| h((d % i) as u32)).collect()
            };
            ds.sort();
            ds.dedup();
            g.add(h(i as u32), &ds, b"a", i as u64 + 1).unwrap();
        }
        g
    }

    /// Reference for `heads_of`: the known hashes no other one reaches.
    fn brute_heads_of(g: &ChangeGraph, hashes: &[ChangeHash]) -> Vec<ChangeHash> {
        let known: Vec<ChangeHash> = hashes
            .iter()
            .filter(|x| g.contains(x))
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut out: Vec<ChangeHash> = known
            .iter()
            .filter(|c| {
                known.iter().all(|o| {
                    o == *c || {
                        // `c` is an ancestor of `o` iff `o`'s history has it.
                        brute_missing(g, &[*o]).contains(c)
                    }
                })
            })
            .copied()
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn heads_of_drops_ancestors_and_unknown_hashes() {
        let mut g = ChangeGraph::new();
        g.add(h(0), &[], b"a", 1).unwrap();
        g.add(h(1), &[h(0)], b"a", 2).unwrap();
        g.add(h(2), &[h(0)], b"b", 1).unwrap();
        g.add(h(3), &[h(1)], b"a", 3).unwrap();
        assert_eq!(g.heads_of(&[h(1), h(3)]), vec![h(3)]);
        assert_eq!(g.heads_of(&[h(3), h(2), h(0)]), vec![h(2), h(3)]);
        assert_eq!(g.heads_of(&[h(2), h(9)]), vec![h(2)]);
        assert_eq!(g.heads_of(&[h(2), h(2)]), vec![h(2)]);
        assert!(g.heads_of(&[]).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]
        /// `heads_of` agrees with a brute-force ancestor check on random DAGs.
        #[test]
        fn heads_of_matches_brute_force(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..1000, 0..3), 1..40),
            picks in proptest::collection::vec(0usize..1000, 0..5),
        ) {
            let g = random_dag(&edges);
            let mut hashes: Vec<ChangeHash> = picks.iter().map(|p| h((p % edges.len()) as u32)).collect();
            hashes.push(h(5000));
            prop_assert_eq!(g.heads_of(&hashes), brute_heads_of(&g, &hashes));
        }

        /// The painting walk agrees with a brute-force ancestor walk on random DAGs.
        #[test]
        fn missing_for_matches_brute_force(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..1000, 0..3), 1..60),
            have_picks in proptest::collection::vec(0usize..1000, 0..4),
        ) {
            let g = random_dag(&edges);
            let mut have: Vec<ChangeHash> = have_picks.iter().map(|p| h((p % edges.len()) as u32)).collect();
            have.push(h(5000)); // unknown to us: ignored
            let got = g.missing_for(&have);
            let want = brute_missing(&g, &have);
            let got_set: HashSet<_> = got.iter().collect();
            let want_set: HashSet<_> = want.iter().collect();
            prop_assert_eq!(got_set, want_set);
            // Topological: every change comes after its deps within the output.
            let pos: Vec<u32> = got.iter().map(|x| g.position(x).unwrap()).collect();
            prop_assert!(pos.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
