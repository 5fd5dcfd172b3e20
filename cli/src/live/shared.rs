//! [`SharedStore`]: a device's one store connection, shared by its editing
//! side (the TUI's key handling, the benchmark's writers) and its live
//! session's driver ([`crate::watch::Watcher`]).
//!
//! Two connections on one database each keep their own Automerge document
//! of a list and catch up by applying the rows the other wrote, so every
//! edit was applied twice on the device. With one connection it is applied
//! once: the session pushes the changes the editor already made in memory.
//!
//! The lock is held only for store work, never across an `.await` (clippy's
//! `await_holding_lock` checks it; the one documented exception is the rare
//! copied-data-dir repair in `watch/phased.rs`): a sync locks to plan its
//! request and again to apply the reply, not while it waits for the cloud.
//!
//! It is `parking_lot`'s mutex, not an async one: a thread that finds it
//! free takes it at once (the editor keeps editing while the session's
//! thread is still waking up), and a fair hand-over every half millisecond
//! or so of contention keeps an editor editing flat out from starving the
//! session. A strictly first-come-first-served lock (tokio's) cost a thread
//! wake-up per edit under load: the editor waited, idle, for the session's
//! thread to be scheduled, take the lock and give it back.

use std::sync::Arc;

use engine::store::Store;
use parking_lot::{Mutex, MutexGuard};

/// One store connection behind a mutex; clones share it.
#[derive(Debug, Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    /// Share `store`.
    pub fn new(store: Store) -> Self {
        SharedStore(Arc::new(Mutex::new(store)))
    }

    /// Wait for the store. Blocks the thread: hold the guard for store work
    /// only, never across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.0.lock()
    }

    /// The store if nobody holds it now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Store>> {
        self.0.try_lock()
    }
}
