//! [`SharedStore`]: a device's one store connection, shared by its editing
//! side (the TUI's key handling, the benchmark's writers) and its live
//! session's driver ([`crate::watch::Watcher`]).
//!
//! Two connections on one database each keep their own Automerge document
//! of a list and catch up by applying the rows the other wrote, so every
//! edit was applied twice on the device. With one connection it is applied
//! once: the session pushes the changes the editor already made in memory.
//!
//! The lock is a fair (first come, first served) async mutex: an editor
//! editing flat out cannot starve the session, and the session holds it
//! only for store work, never while it waits for the network (a sync locks
//! to plan its request and again to apply the reply).

use std::sync::Arc;

use engine::store::Store;
use tokio::sync::{Mutex, MutexGuard};

/// One store connection behind a fair mutex; clones share it.
#[derive(Debug, Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    /// Share `store`.
    pub fn new(store: Store) -> Self {
        SharedStore(Arc::new(Mutex::new(store)))
    }

    /// Wait for the store (in async code).
    pub async fn lock(&self) -> MutexGuard<'_, Store> {
        self.0.lock().await
    }

    /// Wait for the store from a thread that is not running async code
    /// (the TUI's event loop). Panics if called inside an async runtime,
    /// like [`tokio::sync::Mutex::blocking_lock`].
    pub fn blocking_lock(&self) -> MutexGuard<'_, Store> {
        self.0.blocking_lock()
    }

    /// The store if nobody holds it now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Store>> {
        self.0.try_lock().ok()
    }
}
