//! One list's sync over a [`SharedStore`], locking the store only for store
//! work: the planner ([`ListSync`]) builds each request under the lock, the
//! request goes out with the lock released, and the reply is applied under
//! the lock again. Edits made on the device meanwhile are not blocked by
//! the round trip; they stay pending and the session syncs again for them.
//!
//! The rare copied-data-dir repair (PROTOCOL §5.2) is left to
//! [`sync_list`], run with the store held for its whole duration.

use engine::ListId;

use crate::live::SharedStore;
use crate::sync::{is_actor_clash, sync_list, ListSync, Next, SyncError, SyncReport};
use crate::sync_client::SyncClient;

/// Sync `list` like [`sync_list`], with `store` locked only around store work.
pub async fn sync_shared(
    client: &SyncClient,
    store: &SharedStore,
    list: ListId,
) -> Result<SyncReport, SyncError> {
    match sync_unlocked_waits(client, store, list).await {
        Err(e) if is_actor_clash(&e) => repair_clash(client, store, list).await,
        other => other,
    }
}

/// [`sync_list`] with the store held throughout. Rare (a copied data dir)
/// and several round trips long: edits on the device wait for it. No other
/// task on the watcher's runtime takes the store, so holding it across the
/// round trips cannot deadlock; other threads just wait.
#[allow(clippy::await_holding_lock)]
async fn repair_clash(
    client: &SyncClient,
    store: &SharedStore,
    list: ListId,
) -> Result<SyncReport, SyncError> {
    let mut store = store.lock();
    sync_list(client, &mut store, list).await
}

async fn sync_unlocked_waits(
    client: &SyncClient,
    store: &SharedStore,
    list: ListId,
) -> Result<SyncReport, SyncError> {
    let mut plan = ListSync::new(list);
    let mut req = plan.start(&mut store.lock())?;
    loop {
        let reply = req.send(client, list).await?;
        let next = plan.on_reply(&mut store.lock(), reply)?;
        match next {
            Next::Send(r) => req = r,
            Next::Done(report) => return Ok(report),
        }
    }
}
