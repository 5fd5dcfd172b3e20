//! Recovery from an actor clash (PROTOCOL §5.2): the cloud holds other
//! changes under this device's `(actor, seq)`, because its data dir was
//! copied and the other copy synced first. The device rotates to a new key
//! (so a new actor id), rebuilds the list from what the cloud acknowledged
//! plus the cloud's changes, and replays the intents of its unacknowledged
//! edits as new changes. All in one SQLite transaction: a crash leaves the
//! old state (and the clash is met again at the next sync) or the new one.

use automerge::ReadDoc;
use rusqlite::{params, TransactionBehavior};

use super::ingest::{ingest_one, Fail};
use super::{ensure_loaded, insert_change, Store, StoreError, KEY_META};
use crate::ids::hashes_to_blob;
use crate::list::EditContext;
use crate::signing::DeviceKey;
use crate::ListId;

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Whether the device rotated to a new key (the clash was its current
    /// actor's).
    pub rotated: bool,
    /// Unacknowledged local changes dropped.
    pub dropped: usize,
    /// Their intents made again as new changes.
    pub replayed: usize,
    /// Changes from the cloud applied.
    pub received: usize,
}

impl Store {
    /// Rebuild list `id` after an actor clash: drop the changes the cloud has
    /// not acknowledged, apply `cloud` (signed frames of the cloud's changes
    /// after the acknowledged heads), and replay the dropped changes' intents
    /// in order with the current key — a new one first if any dropped change
    /// is by the current actor. Nothing changes if it fails.
    pub fn rebuild_after_clash<R: AsRef<[u8]>>(
        &mut self,
        id: ListId,
        cloud: &[R],
    ) -> Result<Rebuilt, StoreError> {
        let acked = self.acked_heads(id)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sole = self.opts.sole_writer;
        let l = ensure_loaded(&mut self.cache, &tx, &self.actor, id, sole)?;
        let dropped = l.graph.missing_for(&acked);
        let intents: Vec<_> = dropped.iter().filter_map(|h| l.list.intent_of(h)).collect();
        let ours = self.actor.to_bytes().to_vec();
        let rotated = dropped.iter().any(|h| {
            l.list
                .doc()
                .get_change_by_hash(h)
                .is_some_and(|c| c.actor_id().to_bytes() == ours.as_slice())
        });
        let base = if acked.is_empty() {
            None
        } else {
            let forked = l
                .list
                .doc()
                .fork_at(&acked)
                .map_err(|e| crate::list::ListError::Automerge(e.to_string()))?;
            Some(forked.save())
        };
        let key = if rotated {
            let k = DeviceKey::generate();
            tx.execute(
                "UPDATE meta SET value = ?2 WHERE key = ?1",
                params![KEY_META, k.seed().as_slice()],
            )?;
            k
        } else {
            self.key.clone()
        };
        let actor = key.actor();
        let key_blob = id.as_bytes().as_slice();
        {
            let mut del =
                tx.prepare_cached("DELETE FROM changes WHERE list_id = ?1 AND hash = ?2")?;
            for h in &dropped {
                del.execute(params![key_blob, h.0.as_slice()])?;
            }
        }
        tx.execute(
            "UPDATE lists SET snapshot = ?2, snapshot_heads = ?3 WHERE list_id = ?1",
            params![
                key_blob,
                base,
                base.as_ref().map(|_| hashes_to_blob(&acked))
            ],
        )?;
        tx.execute(
            "UPDATE changes SET bytes = NULL WHERE list_id = ?1",
            [key_blob],
        )?;
        self.cache.clear();
        let received = match ingest_one(
            &tx,
            &mut self.cache,
            &actor,
            &self.opts.ingest,
            id,
            cloud,
            sole,
            &mut self.stats,
        ) {
            Ok(outcome) => outcome.applied.len(),
            Err(Fail::Reject(e, _)) => return Err(StoreError::Ingest(e)),
            Err(Fail::Store(e)) => return Err(e),
        };
        let now_ms = EditContext::now("").now_ms;
        let mut replayed = 0;
        for intent in &intents {
            let l = ensure_loaded(&mut self.cache, &tx, &actor, id, sole)?;
            let before = l.graph.max_seq(actor.to_bytes());
            if !l.list.replay(intent, now_ms) {
                continue;
            }
            let Some(change) = l.list.last_local_change().filter(|c| c.seq() > before) else {
                continue;
            };
            let row = insert_change(&tx, id, &change, &key.sign(id, &change.hash()))?;
            l.graph
                .add(
                    change.hash(),
                    change.deps(),
                    change.actor_id().to_bytes(),
                    change.seq(),
                )
                .map_err(|e| crate::list::ListError::Automerge(e.to_string()))?;
            l.last_id = row;
            l.uncompacted += 1;
            replayed += 1;
        }
        let committed = tx.commit();
        self.cache.clear();
        committed?;
        if rotated {
            self.actor = actor;
            self.key = key;
        }
        Ok(Rebuilt {
            rotated,
            dropped: dropped.len(),
            replayed,
            received,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::IngestError;

    fn ctx(by: &str) -> EditContext {
        EditContext::now(by)
    }

    /// PROTOCOL §5.2 in one process: a data dir copied after a sync, an
    /// edit on each copy; the second copy's push clashes, it rebuilds and
    /// replays, and the cloud ends with both edits.
    #[test]
    fn a_copied_store_rotates_rebuilds_and_replays_without_losing_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        let (a_path, b_path) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let mut cloud = Store::open(dir.path().join("cloud.db")).unwrap();
        let id = {
            let mut a = Store::open(&a_path).unwrap();
            let id = a.create_list("L", &ctx("ann")).unwrap();
            a.edit(id, |l| l.add_item("milk", 1, &ctx("ann"))).unwrap();
            let (frames, heads) = a.changes_for(id, &[]).unwrap();
            cloud.ingest(id, &frames).unwrap();
            a.set_acked_heads(id, &heads).unwrap();
            id
        };
        std::fs::copy(&a_path, &b_path).unwrap();
        let mut a = Store::open(&a_path).unwrap();
        let mut b = Store::open(&b_path).unwrap();
        assert_eq!(a.actor(), b.actor(), "a copy shares the key");
        a.edit(id, |l| l.add_item("eggs", 2, &ctx("ann"))).unwrap();
        b.edit(id, |l| l.add_item("bread", 1, &ctx("ann"))).unwrap();
        b.edit(id, |l| l.buy_item("milk", Some(1), &ctx("ann")).map(|_| ()))
            .unwrap();
        let (from_a, _) = a.changes_for(id, &a.acked_heads(id).unwrap()).unwrap();
        cloud.ingest(id, &from_a).unwrap();
        let (from_b, _) = b.changes_for(id, &b.acked_heads(id).unwrap()).unwrap();
        match cloud.ingest(id, &from_b) {
            Err(StoreError::Ingest(IngestError::ActorClash { .. })) => {}
            other => panic!("expected an actor clash, got {other:?}"),
        }
        let old_actor = b.actor().clone();
        let (news, _) = cloud.changes_for(id, &b.acked_heads(id).unwrap()).unwrap();
        let rebuilt = b.rebuild_after_clash(id, &news).unwrap();
        assert_eq!(
            rebuilt,
            Rebuilt {
                rotated: true,
                dropped: 2,
                replayed: 2,
                received: 1
            }
        );
        assert_ne!(b.actor(), &old_actor);
        let (from_b, _) = b.changes_for(id, &b.acked_heads(id).unwrap()).unwrap();
        cloud.ingest(id, &from_b).unwrap();
        let view = cloud.view(id).unwrap();
        let got: Vec<(String, i64, i64)> = view
            .items
            .iter()
            .map(|i| (i.key.clone(), i.needed, i.acquired))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bread".into(), 1, 0),
                ("eggs".into(), 2, 0),
                ("milk".into(), 1, 1)
            ]
        );
        // The rotation survives a reopen; the replayed edits are b's.
        drop(b);
        let mut b = Store::open(&b_path).unwrap();
        assert_ne!(b.actor(), &old_actor);
        assert_eq!(b.view(id).unwrap().items.len(), 3);
    }
}
