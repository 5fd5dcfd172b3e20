//! Up-to-date reads answered without the store thread (issue 11, transport).
//!
//! Most reads a replica serves carry nothing new and ask about a list the
//! requester already has in full: a `sync` with no changes whose `have` is
//! exactly this replica's heads. The store thread would answer it with
//! `synced {heads, no changes, acked 1, holds}` after a hop to its thread
//! and back (two cross-thread wake-ups, measured as ~0.1 ms of a 0.5 ms
//! round trip). The link answers it itself from this map instead.
//!
//! The map holds, per list, the heads the store thread last answered with
//! after a commit. Only the store thread writes it, and always before the
//! replies of a batch are sent, so a reader never sees heads older than
//! what this replica has acknowledged. Anything else that can change a
//! list's heads or drop it forgets that list (a handoff that releases it),
//! or forgets everything (a batch that panicked, a list found damaged). A
//! miss costs nothing: the request takes the store thread as before.
//!
//! Memory is bounded: at [`MAX_ENTRIES`] the map is emptied and refills
//! from the next answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use engine::protocol::{Header, Message};
use engine::{ChangeHash, ListId};

/// Lists remembered at most (≈ 100 bytes each with one head).
pub const MAX_ENTRIES: usize = 65_536;
/// Heads remembered per list at most (more concurrent heads: not cached).
pub const MAX_HEADS: usize = 16;

/// See the module docs. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct ReadCache {
    inner: Arc<Mutex<HashMap<ListId, Vec<ChangeHash>>>>,
    hits: Arc<AtomicU64>,
}

impl ReadCache {
    fn map(&self) -> MutexGuard<'_, HashMap<ListId, Vec<ChangeHash>>> {
        // A poisoned lock only means a panic elsewhere; forget everything.
        match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => {
                let mut m = poisoned.into_inner();
                m.clear();
                m
            }
        }
    }

    /// The answer to a read of `list` with no changes and `have`, if `have`
    /// is exactly this replica's heads: `synced` with those heads.
    pub fn answer(&self, id: u64, list: ListId, have: &[ChangeHash]) -> Option<Message> {
        if have.is_empty() || have.len() > MAX_HEADS {
            return None;
        }
        let mut asked = have.to_vec();
        asked.sort_unstable();
        asked.dedup();
        let heads = {
            let map = self.map();
            let heads = map.get(&list)?;
            if *heads != asked {
                return None;
            }
            heads.clone()
        };
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(Message::new(Header::Synced {
            snapshot: None,
            id,
            list,
            heads,
            missing: Vec::new(),
            acked: 1,
            holds: true,
            rejected: Vec::new(),
        }))
    }

    /// Learn from a reply the store thread is about to send for `list`:
    /// remember its heads when it says the replica holds the list, forget
    /// the list otherwise (an error, or not held).
    pub fn observe(&self, list: ListId, reply: &Message) {
        let mut map = self.map();
        match &reply.header {
            Header::Synced {
                heads, holds: true, ..
            } if !heads.is_empty() && heads.len() <= MAX_HEADS => {
                let mut heads = heads.clone();
                heads.sort_unstable();
                heads.dedup();
                if map.len() >= MAX_ENTRIES && !map.contains_key(&list) {
                    map.clear();
                }
                map.insert(list, heads);
            }
            _ => {
                map.remove(&list);
            }
        }
    }

    /// Forget `list` (its heads may change other than through a reply).
    pub fn forget(&self, list: &ListId) {
        self.map().remove(list);
    }

    /// Forget every list.
    pub fn clear(&self) {
        self.map().clear();
    }

    /// Lists remembered now.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no list is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads answered from the map so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> ChangeHash {
        ChangeHash([b; 32])
    }

    fn synced(list: ListId, heads: Vec<ChangeHash>, holds: bool) -> Message {
        Message::new(Header::Synced {
            snapshot: None,
            id: 7,
            list,
            heads,
            missing: Vec::new(),
            acked: 1,
            holds,
            rejected: Vec::new(),
        })
    }

    #[test]
    fn answers_only_a_read_whose_have_is_exactly_the_heads() {
        let cache = ReadCache::default();
        let list = ListId::new_random();
        assert!(
            cache.answer(1, list, &[hash(1)]).is_none(),
            "nothing known yet"
        );
        cache.observe(list, &synced(list, vec![hash(2), hash(1)], true));
        // Same set, any order, duplicates ignored.
        let reply = cache.answer(9, list, &[hash(1), hash(2), hash(1)]);
        match reply.map(|m| m.header) {
            Some(Header::Synced {
                id,
                heads,
                missing,
                acked,
                holds,
                ..
            }) => {
                assert_eq!(id, 9);
                assert_eq!(heads, vec![hash(1), hash(2)]);
                assert!(missing.is_empty());
                assert_eq!((acked, holds), (1, true));
            }
            other => panic!("expected synced, got {other:?}"),
        }
        assert!(
            cache.answer(1, list, &[hash(1)]).is_none(),
            "behind: needs changes"
        );
        assert!(cache
            .answer(1, list, &[hash(1), hash(2), hash(3)])
            .is_none());
        assert!(
            cache.answer(1, list, &[]).is_none(),
            "a fresh device needs changes"
        );
        assert!(cache.answer(1, ListId::new_random(), &[hash(1)]).is_none());
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn an_error_or_a_list_not_held_forgets_the_list() {
        let cache = ReadCache::default();
        let list = ListId::new_random();
        cache.observe(list, &synced(list, vec![hash(1)], true));
        cache.observe(
            list,
            &Message::error(7, engine::protocol::ErrorCode::Unavailable, "x"),
        );
        assert!(cache.answer(1, list, &[hash(1)]).is_none());
        cache.observe(list, &synced(list, vec![hash(1)], true));
        cache.observe(list, &synced(list, Vec::new(), false));
        assert!(cache.answer(1, list, &[hash(1)]).is_none());
        cache.observe(list, &synced(list, vec![hash(1)], true));
        cache.forget(&list);
        assert!(cache.is_empty());
    }

    #[test]
    fn newer_heads_replace_older_ones() {
        let cache = ReadCache::default();
        let list = ListId::new_random();
        cache.observe(list, &synced(list, vec![hash(1)], true));
        cache.observe(list, &synced(list, vec![hash(2)], true));
        assert!(cache.answer(1, list, &[hash(1)]).is_none());
        assert!(cache.answer(1, list, &[hash(2)]).is_some());
    }

    #[test]
    fn memory_is_bounded() {
        let cache = ReadCache::default();
        for _ in 0..MAX_ENTRIES + 10 {
            let list = ListId::new_random();
            cache.observe(list, &synced(list, vec![hash(1)], true));
            assert!(cache.len() <= MAX_ENTRIES);
        }
        let wide: Vec<ChangeHash> = (0..=MAX_HEADS as u8).map(hash).collect();
        let list = ListId::new_random();
        cache.observe(list, &synced(list, wide.clone(), true));
        assert!(
            cache.answer(1, list, &wide).is_none(),
            "too many heads: not cached"
        );
    }
}
