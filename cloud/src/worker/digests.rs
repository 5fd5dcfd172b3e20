//! The worker's anti-entropy index (PROTOCOL §7.4): for every list it holds,
//! the list's ring position and a 64-bit digest of its heads, kept in ring
//! order so a range's XOR or listing costs only the lists in it.
//!
//! Built at start from the store in slices while the store thread is idle,
//! and updated after every commit with the heads the reply carries. Until
//! it is built, `digest` and `list_heads_in` are answered `unavailable`
//! (the proxy then simply leaves this worker out of that pass).

use std::collections::{BTreeMap, HashMap};

use engine::protocol::cluster::MAX_LIST_HEADS;
use engine::protocol::ListHeads;
use engine::{ChangeHash, ListId};
use sha2::{Digest as _, Sha256};

use crate::ring::position;

/// The digest of one list at `heads`: the first 8 bytes of
/// SHA-256(list id ‖ sorted heads). Equal lists give equal digests.
pub fn list_digest(list: &ListId, heads: &[ChangeHash]) -> u64 {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    h.update(list.as_bytes());
    for head in sorted {
        h.update(head.0);
    }
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    u64::from_be_bytes(first)
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct DigestIndex {
    by_list: HashMap<ListId, (u64, Vec<ChangeHash>, u64)>,
    by_pos: BTreeMap<(u64, [u8; 16]), u64>,
    /// Lists still to read at start; `None` once built.
    to_build: Option<Vec<ListId>>,
}

impl DigestIndex {
    /// An index that must first read `lists` from the store.
    pub fn building(lists: Vec<ListId>) -> Self {
        DigestIndex {
            to_build: Some(lists),
            ..DigestIndex::default()
        }
    }

    /// Whether every stored list has been read.
    pub fn ready(&self) -> bool {
        self.to_build.is_none()
    }

    /// Up to `n` lists still to read at start.
    pub fn next_to_build(&mut self, n: usize) -> Vec<ListId> {
        let Some(todo) = &mut self.to_build else {
            return Vec::new();
        };
        let take = n.min(todo.len());
        let out: Vec<ListId> = todo.drain(todo.len() - take..).collect();
        if todo.is_empty() {
            self.to_build = None;
        }
        out
    }

    /// The list now has `heads` (empty: it is gone).
    pub fn update(&mut self, list: ListId, heads: &[ChangeHash]) {
        if let Some((pos, _, _)) = self.by_list.remove(&list) {
            self.by_pos.remove(&(pos, *list.as_bytes()));
        }
        if heads.is_empty() {
            return;
        }
        let pos = position(&list);
        let d = list_digest(&list, heads);
        self.by_list.insert(list, (pos, heads.to_vec(), d));
        self.by_pos.insert((pos, *list.as_bytes()), d);
    }

    /// Lists indexed.
    pub fn len(&self) -> usize {
        self.by_list.len()
    }

    /// Whether no list is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_list.is_empty()
    }

    fn in_range_iter(&self, range: [u64; 2]) -> impl Iterator<Item = (ListId, u64)> + '_ {
        let [lo, hi] = range;
        const LOW: [u8; 16] = [0; 16];
        const HIGH: [u8; 16] = [0xff; 16];
        let upper = self.by_pos.range(..=(hi, HIGH));
        let (first, second) = if lo < hi {
            (self.by_pos.range((lo + 1, LOW)..=(hi, HIGH)), None)
        } else {
            // Wraps: (lo, MAX] then [0, hi]; `lo == hi` is the whole ring.
            let tail = match lo.checked_add(1) {
                Some(start) => self.by_pos.range((start, LOW)..),
                None => self.by_pos.range((u64::MAX, HIGH)..(u64::MAX, HIGH)),
            };
            (tail, Some(upper))
        };
        first
            .chain(second.into_iter().flatten())
            .filter_map(|((_, id), d)| ListId::from_slice(id).map(|l| (l, *d)))
    }

    /// XOR of the digests of the lists in `range`.
    pub fn digest(&self, range: [u64; 2]) -> u64 {
        self.in_range_iter(range).fold(0, |acc, (_, d)| acc ^ d)
    }

    /// The lists in `range` in ring order after `after`, at most
    /// [`MAX_LIST_HEADS`], and where to continue.
    pub fn heads_in(
        &self,
        range: [u64; 2],
        after: Option<ListId>,
    ) -> (Vec<ListHeads>, Option<ListId>) {
        let mut iter = self.in_range_iter(range).map(|(l, _)| l).peekable();
        if let Some(a) = after {
            // Skip through `after` (ring order within the range).
            for l in iter.by_ref() {
                if l == a {
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for l in iter.by_ref() {
            if let Some((_, heads, _)) = self.by_list.get(&l) {
                out.push(ListHeads {
                    list: l,
                    heads: heads.clone(),
                });
            }
            if out.len() >= MAX_LIST_HEADS {
                break;
            }
        }
        let next = if out.len() >= MAX_LIST_HEADS && iter.peek().is_some() {
            out.last().map(|l| l.list)
        } else {
            None
        };
        (out, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> ChangeHash {
        ChangeHash([b; 32])
    }

    #[test]
    fn digests_agree_for_equal_lists_and_ranges_partition() {
        let lists: Vec<ListId> = (0..600).map(|_| ListId::new_random()).collect();
        let mut a = DigestIndex::default();
        let mut b = DigestIndex::default();
        for (i, l) in lists.iter().enumerate() {
            a.update(*l, &[h(1), h(i as u8)]);
            b.update(*l, &[h(i as u8), h(1)]);
        }
        let cuts = [0u64, u64::MAX / 3, u64::MAX / 2, u64::MAX - 5];
        let ranges: Vec<[u64; 2]> = (0..cuts.len())
            .map(|i| [cuts[i], cuts[(i + 1) % cuts.len()]])
            .collect();
        let mut listed = 0;
        for r in &ranges {
            assert_eq!(a.digest(*r), b.digest(*r));
            let mut after = None;
            loop {
                let (page, next) = a.heads_in(*r, after);
                listed += page.len();
                assert!(page.len() <= MAX_LIST_HEADS);
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
        }
        assert_eq!(listed, lists.len(), "the ranges cover the ring once");
        // One list moves: exactly its range's digest changes.
        b.update(lists[7], &[h(200)]);
        let changed = ranges
            .iter()
            .filter(|r| a.digest(**r) != b.digest(**r))
            .count();
        assert_eq!(changed, 1);
        // Whole ring.
        let whole = [5, 5];
        assert_eq!(a.heads_in(whole, None).0.len(), MAX_LIST_HEADS);
        b.update(lists[7], &[]);
        assert_eq!(b.len(), 599);
    }
}
