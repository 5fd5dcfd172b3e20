//! Fresh open on the receiving side (issue 11 deliverable 4, PROTOCOL
//! §4.2.1): a list this store lacks is stored from a snapshot a replica
//! served, without replaying its history.
//!
//! The bytes go through the guarded loader ([`crate::load::load_untrusted`]:
//! prescan, load with panics caught, heads, one signature per actor) and
//! nothing else ever loads them. Then, in one transaction (without an fsync,
//! like everything received from the cloud, [`super::relaxed`]): the `lists`
//! row with the snapshot, and one `changes` row per change of the document
//! (graph metadata, bytes NULL as after a compaction) so the change-graph
//! index needs no re-derivation. The signatures that came with the snapshot
//! are kept on their changes; the other rows have an empty signature and
//! [`Store::changes_for`] refuses to serve them
//! ([`StoreError::NotSignedHere`]): this device holds them only inside the
//! snapshot. The loaded document goes straight into the cache (no second
//! load). The changes after the snapshot then enter through the usual gate.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::Automerge;
use rusqlite::{params, TransactionBehavior};

use super::{insert_change_row, Loaded, Store, StoreError};
use crate::graph::ChangeGraph;
use crate::ids::hashes_to_blob;
use crate::ingest::prescan::DocLimits;
use crate::list::ShoppingList;
use crate::load::{load_untrusted, ActorSignature};
use crate::{ChangeHash, ListId};

/// One change of a loaded document, as its row needs it.
struct Meta {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    actor: Vec<u8>,
    seq: u64,
}

fn corrupt(list: ListId, detail: &str) -> StoreError {
    StoreError::Corrupt {
        list,
        detail: detail.to_string(),
    }
}

/// The document's changes, dependencies first (Kahn's algorithm: the
/// order automerge lists them in is not promised to be topological).
fn changes_in_order(list: ListId, doc: &Automerge) -> Result<Vec<Meta>, StoreError> {
    let metas: Vec<Meta> = catch_unwind(AssertUnwindSafe(|| {
        doc.get_changes_meta(&[])
            .into_iter()
            .map(|m| Meta {
                hash: m.hash,
                deps: m.deps,
                actor: m.actor.to_bytes().to_vec(),
                seq: m.seq,
            })
            .collect()
    }))
    .map_err(|_| corrupt(list, "listing the snapshot's changes panicked"))?;
    let index: HashMap<ChangeHash, usize> =
        metas.iter().enumerate().map(|(i, m)| (m.hash, i)).collect();
    let mut waiting = vec![0usize; metas.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); metas.len()];
    for (i, m) in metas.iter().enumerate() {
        for d in &m.deps {
            let Some(&j) = index.get(d) else {
                return Err(corrupt(list, "a change of the snapshot lacks a dependency"));
            };
            waiting[i] += 1;
            dependents[j].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..metas.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(metas.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &k in &dependents[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(k);
            }
        }
    }
    if order.len() != metas.len() {
        return Err(corrupt(list, "the snapshot's changes form a cycle"));
    }
    let mut slots: Vec<Option<Meta>> = metas.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect())
}

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
        let metas = changes_in_order(id, &loaded)?;
        let sig_of: HashMap<ChangeHash, &[u8]> = signatures
            .iter()
            .map(|s| (s.hash, s.signature.as_slice()))
            .collect();
        let actor = self.actor.clone();
        self.relaxed(|s| {
            let tx = s
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            if super::loaded_list_exists(&tx, id)? {
                return Err(StoreError::AlreadyHeld(id));
            }
            let key = id.as_bytes().as_slice();
            tx.execute(
                "INSERT INTO lists (list_id, created_at, snapshot, snapshot_heads)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    key,
                    crate::list::EditContext::now("").now_ms,
                    doc,
                    hashes_to_blob(heads)
                ],
            )?;
            let mut graph = ChangeGraph::new();
            for m in &metas {
                graph
                    .add(m.hash, &m.deps, &m.actor, m.seq)
                    .map_err(|e| corrupt(id, &format!("change graph: {e}")))?;
            }
            let mut last_id = 0;
            for m in &metas {
                let sig = sig_of.get(&m.hash).copied().unwrap_or(&[]);
                last_id = insert_change_row(&tx, id, &m.hash, &m.deps, &m.actor, m.seq, None, sig)?;
            }
            tx.commit()?;
            s.cache.put(
                id,
                Loaded {
                    list: ShoppingList::from_doc(loaded.with_actor(actor)),
                    graph,
                    last_id,
                    uncompacted: 0,
                },
            );
            Ok(metas.len())
        })
    }
}
