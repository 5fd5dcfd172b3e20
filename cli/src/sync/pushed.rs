//! The changes a `notify` carried (PROTOCOL §6.2): applied at once, so a
//! subscriber whose history the write builds on needs no `sync` round trip.
//!
//! The frames are as untrusted as a `synced` reply's: they go through the
//! same ingestion gate ([`Store::ingest_from_cloud`]). Anything that does
//! not work out — a list we do not hold, a frame the gate refuses, a
//! dependency we lack, heads beyond what came along — leaves the store as
//! it was (or with the changes that did apply) and the caller falls back
//! to a sync, as for a `notify` without changes. Only a failing store is
//! an error.

use bytes::Bytes;
use engine::store::{Store, StoreError};
use engine::{ChangeHash, ListId};

use super::{known_heads, unknown_changes};

/// What applying a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Changes newly applied and stored, in order.
    pub applied: Vec<ChangeHash>,
    /// Every head the `notify` named is now in the store: no sync needed.
    pub known: bool,
}

/// Apply the changes `notify {list, heads}` carried. When every notified
/// head is then known, the cloud is recorded as holding them
/// ([`Store::note_cloud_holds`]): the changes that came this way are not
/// pending, so they are never pushed back.
pub fn apply_pushed(
    store: &mut Store,
    list: ListId,
    heads: &[ChangeHash],
    changes: &[Bytes],
) -> Result<Pushed, StoreError> {
    if !store.has_list(list)? {
        // Not ours, or gone; a join goes through a sync.
        return Ok(Pushed::default());
    }
    let news = unknown_changes(store, list, changes)?;
    let mut applied = Vec::new();
    if !news.is_empty() {
        match store.ingest_from_cloud(list, &news) {
            Ok(outcome) => applied = outcome.applied,
            Err(StoreError::Ingest(e)) => {
                tracing::debug!(%list, "a notify's changes were refused ({e}); syncing instead");
                return Ok(Pushed::default());
            }
            Err(e) => return Err(e),
        }
    }
    let known = known_heads(store, list, heads)?.len() == heads.len();
    if known && !applied.is_empty() {
        store.note_cloud_holds(list, heads)?;
    }
    Ok(Pushed { applied, known })
}
