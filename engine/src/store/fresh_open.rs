//! Fresh open on the receiving side (issue 11 deliverable 4, PROTOCOL
//! §4.2.1): a list this store lacks is stored from a snapshot a replica
//! served, without replaying its history.
//!
//! The bytes go through the guarded loader ([`crate::load::load_untrusted`]:
//! prescan, load with panics caught, heads, one signature per actor) and
//! nothing else ever loads them. Then one transaction (without an fsync,
//! like everything received from the cloud, [`super::relaxed`]) writes the
//! `lists` row with the snapshot and `graph_rows = 0`: the snapshot's
//! changes get no `changes` rows (10,000 rows cost a fresh open a third of
//! its time); the change graph of such a list starts from the snapshot's
//! own metadata whenever it is loaded ([`super::loaded::graph_of_doc`]).
//! This device holds those changes only inside the snapshot, without their
//! own signatures: [`Store::changes_for`] refuses to serve them
//! ([`StoreError::NotSignedHere`]). The loaded document goes straight into
//! the cache (no second load). The changes after the snapshot then enter
//! through the usual gate.

use rusqlite::{params, TransactionBehavior};

use super::{Loaded, Store, StoreError};
use crate::ids::hashes_to_blob;
use crate::ingest::prescan::DocLimits;
use crate::list::ShoppingList;
use crate::load::{load_untrusted, ActorSignature};
use crate::{ChangeHash, ListId};

impl Store {
    /// Store list `id`, which this store lacks, from a snapshot a replica
    /// served: `doc` with its advertised `heads` and one signature per actor.
    /// Returns the number of changes the snapshot holds.
    ///
    /// # Errors
    /// [`StoreError::Snapshot`] when the guarded loader refuses the bytes,
    /// [`StoreError::AlreadyHeld`] when the list is already stored; nothing
    /// is stored in either case, and the caller syncs change by change.
    pub fn open_from_snapshot(
        &mut self,
        id: ListId,
        doc: &[u8],
        heads: &[ChangeHash],
        signatures: &[ActorSignature],
    ) -> Result<usize, StoreError> {
        if self.has_list(id)? {
            return Err(StoreError::AlreadyHeld(id));
        }
        let loaded = load_untrusted(id, doc, heads, Some(signatures), &DocLimits::default())?;
        // A document Automerge loaded has a consistent change graph; should
        // it not, the snapshot is refused like any other (the caller falls
        // back), not reported as this store's damage.
        let graph = super::loaded::graph_of_doc(id, &loaded)
            .map_err(|e| crate::load::LoadError::Undecodable(e.to_string()))?;
        let changes = graph.len();
        let actor = self.actor.clone();
        self.relaxed(|s| {
            let tx = s
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            if super::loaded_list_exists(&tx, id)? {
                return Err(StoreError::AlreadyHeld(id));
            }
            tx.execute(
                "INSERT INTO lists (list_id, created_at, snapshot, snapshot_heads, graph_rows)
                 VALUES (?1, ?2, ?3, ?4, 0)",
                params![
                    id.as_bytes().as_slice(),
                    crate::list::EditContext::now("").now_ms,
                    doc,
                    hashes_to_blob(heads)
                ],
            )?;
            tx.commit()?;
            s.cache.put(
                id,
                Loaded {
                    list: ShoppingList::from_doc(loaded.with_actor(actor)),
                    graph,
                    last_id: 0,
                    uncompacted: 0,
                    rows_cover_snapshot: false,
                },
            );
            Ok(changes)
        })
    }
}
