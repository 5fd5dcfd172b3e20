//! Damaged lists on a replica (DESIGN §5, issue "cloud trust" §4): found,
//! dropped, and rebuilt from the other replicas.
//!
//! When the worker starts, its store thread runs `PRAGMA quick_check` and
//! then scrubs every list once in the background (between request batches,
//! [`SCRUB_SLICE`] lists at a time): each is loaded from its rows as a
//! request would load it. A request that finds a list damaged has the same
//! effect. A damaged list is purged from the store, so it is simply absent
//! on this replica (it no longer answers for it with broken data), and it
//! is put in the [`Damaged`] set. The worker's links ask the proxy to
//! `repair` every list in the set; the proxy fetches the list from another
//! replica and pushes it here, through the normal ingest path. Once a
//! damaged list holds changes again it leaves the set and counts as
//! repaired. Every step is logged.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use engine::store::{Store, StoreError};
use engine::ListId;
use tracing::{error, info, warn};

use super::store_thread::Counters;

/// Lists verified per idle slice of the store thread.
pub const SCRUB_SLICE: usize = 16;
/// Lists a link asks to repair per heartbeat.
pub const REPAIRS_PER_HEARTBEAT: usize = 16;

/// The lists this replica dropped as damaged and wants rebuilt (shared by
/// the store thread and the links).
#[derive(Debug, Clone, Default)]
pub struct Damaged(Arc<Mutex<BTreeSet<ListId>>>);

impl Damaged {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeSet<ListId>) -> T) -> T {
        // A poisoned lock only means a panic elsewhere; the set is still usable.
        let mut set = match self.0.lock() {
            Ok(set) => set,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut set)
    }

    /// Up to `n` lists to ask a proxy to repair.
    pub fn some(&self, n: usize) -> Vec<ListId> {
        self.with(|s| s.iter().take(n).copied().collect())
    }

    /// Whether `list` awaits its rebuild.
    pub fn contains(&self, list: &ListId) -> bool {
        self.with(|s| s.contains(list))
    }

    /// Lists awaiting their rebuild.
    pub fn len(&self) -> usize {
        self.with(|s| s.len())
    }

    /// Whether none awaits a rebuild.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, list: ListId) {
        self.with(|s| s.insert(list));
    }

    fn remove(&self, list: &ListId) -> bool {
        self.with(|s| s.remove(list))
    }
}

/// The store thread's side: the scrub queue and what to do on damage.
#[derive(Debug)]
pub struct Repairs {
    damaged: Damaged,
    counters: Arc<Counters>,
    to_scrub: Vec<ListId>,
}

impl Repairs {
    /// Check the file and queue every list for one scrub.
    pub fn at_start(store: &Store, damaged: Damaged, counters: Arc<Counters>) -> Self {
        match store.quick_check() {
            Ok(problems) if problems.is_empty() => info!("store quick_check: ok"),
            Ok(problems) => error!(
                count = problems.len(),
                first = %problems[0],
                "store quick_check found damage; damaged lists will be dropped and rebuilt"
            ),
            Err(e) => error!("store quick_check failed: {e}"),
        }
        let mut to_scrub = match store.list_ids() {
            Ok(ids) => ids,
            Err(e) => {
                error!("cannot list the store's lists to scrub them: {e}");
                Vec::new()
            }
        };
        to_scrub.reverse(); // popped from the end: oldest first
        Repairs {
            damaged,
            counters,
            to_scrub,
        }
    }

    /// The lists dropped as damaged, awaiting their rebuild.
    pub fn damaged(&self) -> &Damaged {
        &self.damaged
    }

    /// Whether lists remain to scrub.
    pub fn scrubbing(&self) -> bool {
        !self.to_scrub.is_empty()
    }

    /// Verify up to [`SCRUB_SLICE`] lists.
    pub fn scrub_slice(&mut self, store: &mut Store) {
        for _ in 0..SCRUB_SLICE {
            let Some(list) = self.to_scrub.pop() else {
                info!("store scrub finished");
                return;
            };
            if let Err(e) = store.verify_list(list) {
                self.on_error(store, &e);
            }
        }
    }

    /// A store error: if it says a list is damaged, drop that list and
    /// queue its rebuild. Returns whether it did.
    pub fn on_error(&mut self, store: &mut Store, e: &StoreError) -> bool {
        let Some(list) = e.damaged_list() else {
            if e.is_file_damage() {
                error!("the store file is damaged: {e}");
            }
            return false;
        };
        warn!(%list, "damaged list on this replica ({e}); dropping it to rebuild from the others");
        if let Err(purge) = store.purge_list(list) {
            error!(%list, "cannot drop the damaged list: {purge}");
        }
        self.damaged.insert(list);
        true
    }

    /// `list` took changes: if it was awaiting its rebuild and now holds
    /// changes again, it is repaired.
    pub fn on_ingested(&mut self, store: &mut Store, list: ListId) {
        if self.damaged.contains(&list)
            && store.has_list(list).unwrap_or(false)
            && store.heads(list).is_ok_and(|h| !h.is_empty())
            && self.damaged.remove(&list)
        {
            let n = self.counters.lists_repaired.fetch_add(1, Ordering::Relaxed) + 1;
            info!(%list, repaired = n, "damaged list rebuilt from the other replicas");
        }
    }
}
