//! Compaction: rewrite a list's snapshot and delete the change bytes it now
//! covers, in one transaction (DESIGN §3, STYLE §6). The graph metadata of
//! compacted rows stays, so the change-graph index never needs the snapshot's
//! history; serving a compacted change to a peer falls back to Automerge.

use rusqlite::{params, TransactionBehavior};

use super::{ensure_loaded, Store, StoreError};
use crate::ids::hashes_to_blob;
use crate::ListId;

impl Store {
    /// Compact `id` if enough change rows accumulated since its snapshot.
    /// With [`crate::store::StoreOptions::compact_in_background`] the
    /// snapshot is built on the compaction thread ([`super::compactor`]);
    /// snapshots it finished are written first.
    pub(crate) fn maybe_compact(&mut self, id: ListId) -> Result<bool, StoreError> {
        if self.opts.compact_in_background {
            self.finish_compactions(false)?;
        }
        let due = self
            .cache
            .peek(&id)
            .is_some_and(|l| l.uncompacted >= self.opts.compact_after.max(1));
        if due {
            if self.opts.compact_in_background {
                self.start_compaction(id)?;
            } else {
                self.compact(id)?;
            }
        }
        Ok(due)
    }

    /// Write a fresh snapshot of `id` and delete the change bytes it covers,
    /// inline (tests, tools, and stores without background compaction).
    /// Returns the number of rows compacted.
    pub fn compact(&mut self, id: ListId) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let l = ensure_loaded(&mut self.cache, &tx, &self.actor, id, self.opts.sole_writer)?;
        let snapshot = l.list.doc().save();
        tx.execute(
            "UPDATE lists SET snapshot = ?2, snapshot_heads = ?3 WHERE list_id = ?1",
            params![
                id.as_bytes().as_slice(),
                snapshot,
                hashes_to_blob(&l.graph.heads())
            ],
        )?;
        let n = tx.execute(
            "UPDATE changes SET bytes = NULL WHERE list_id = ?1 AND id <= ?2 AND bytes IS NOT NULL",
            params![id.as_bytes().as_slice(), l.last_id],
        )?;
        tx.commit()?;
        if let Some(l) = self.cache.get_mut(&id) {
            l.uncompacted = 0;
        }
        Ok(n)
    }
}
