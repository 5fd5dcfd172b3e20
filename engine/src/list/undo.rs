//! Undo: revert this device's last edit on a list as a new, compensating
//! change, so it merges with everyone's edits like any other edit and works
//! offline.
//!
//! Which edit: the latest change of this document's actor that is neither a
//! creation nor an undo, and that no later undo already reverted (each undo
//! names the change it reverts in its message, `of`), so repeated undos walk
//! back through the device's history.
//!
//! How (selective undo): for every map key the edit wrote or deleted,
//!
//! - a value it *wrote* is reverted only if that value is still the current
//!   one (someone's later write wins over an undo): it is put back to what
//!   the key held before the edit, or deleted if the key did not exist;
//! - a value it *deleted* is put back only if nobody wrote the key since
//!   (so undoing a removal restores the item's `live` register and every
//!   quantity contribution the removal cleared);
//! - a counter increment (older documents) is compensated by the opposite
//!   increment.
//!
//! The identity of an item the edit created (`name`, `norm`, `added_*`) is
//! kept. An item's `live` register is not reverted key by key: after the
//! revert the item is on the list iff some quantity contribution is left on
//! it, so undos by several devices compose (Ann undoes her add of Eggs, Bob
//! undoes his: the eggs are gone, whichever order the undos merge in).

use std::collections::{BTreeMap, HashSet};

use automerge::legacy::{Key as OpKey, ObjectId, OpType};
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ReadDoc, ScalarValue, Value, ROOT};

use super::edit::{describe_message, live_token, ChangeMessage, EditContext};
use super::quantities::{entries, BUYERS, BUYS, LEGACY_ACQUIRED, LEGACY_NEEDED, NEEDS};
use super::{ListError, ShoppingList};

/// What `undo` reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// The reverted change's hash (hex).
    pub hash: String,
    /// What that change did, as `log` says it (`add 2 × Milk`).
    pub what: String,
}

/// Keys of an item this change created that stay when it is undone.
const IDENTITY: [&str; 4] = ["name", "norm", "added_by", "added_at"];

/// What the reverted change did to one key.
#[derive(Debug, Default)]
struct KeyEdit {
    /// Op ids (text) of values it wrote.
    wrote: Vec<String>,
    /// It deleted the key's values.
    deleted: bool,
    /// Sum of counter increments.
    incremented: i64,
}

fn obj_text(o: &ObjectId) -> String {
    o.to_string()
}

impl ShoppingList {
    /// The change [`Self::undo_last`] would revert: (hash, message).
    fn undo_target(&self) -> Option<(ChangeHash, ChangeMessage)> {
        let me = self.doc.get_actor().clone();
        let mut undone: HashSet<String> = HashSet::new();
        for m in self.doc.get_changes_meta(&[]).into_iter().rev() {
            if *m.actor != me {
                continue;
            }
            let Some(msg) = m
                .message
                .as_deref()
                .and_then(|s| serde_json::from_str::<ChangeMessage>(s).ok())
            else {
                continue;
            };
            let hex = crate::ids::hash_to_hex(&m.hash);
            match msg.op.as_str() {
                "undo" => {
                    if let Some(of) = msg.of {
                        undone.insert(of);
                    }
                }
                "create" => return None,
                _ if undone.contains(&hex) => {}
                _ => return Some((m.hash, msg)),
            }
        }
        None
    }

    /// Revert this device's last edit (see the module docs).
    pub fn undo_last(&mut self, ctx: &EditContext) -> Result<Undone, ListError> {
        let (hash, target_msg) = self.undo_target().ok_or(ListError::NothingToUndo)?;
        let change = self
            .doc
            .get_change_by_hash(&hash)
            .ok_or(ListError::NothingToUndo)?;
        let deps = change.deps().to_vec();
        let items_text = self.items_text();
        let ex = change.decode();
        let actor = ex.actor_id.to_hex_string();
        let start = ex.start_op.get();
        let mut created_items: HashSet<String> = HashSet::new();
        let mut edits: BTreeMap<(String, String), KeyEdit> = BTreeMap::new();
        for (i, op) in ex.operations.iter().enumerate() {
            let id = format!("{}@{actor}", start + i as u64);
            let OpKey::Map(key) = &op.key else { continue };
            let obj = obj_text(&op.obj);
            match &op.action {
                OpType::Make(_) if Some(&obj) == items_text.as_ref() => {
                    created_items.insert(id);
                }
                OpType::Make(_) => {}
                OpType::Put(_) => edits
                    .entry((obj, key.to_string()))
                    .or_default()
                    .wrote
                    .push(id),
                OpType::Delete => edits.entry((obj, key.to_string())).or_default().deleted = true,
                OpType::Increment(n) => {
                    let e = edits.entry((obj, key.to_string())).or_default();
                    e.incremented = e.incremented.saturating_add(*n);
                }
                _ => {}
            }
        }
        let what = describe_message(&target_msg);
        let mut msg = ChangeMessage::new(ctx, "undo", Some(what.clone()), None);
        msg.of = Some(crate::ids::hash_to_hex(&hash));
        let mut plan: Vec<(ObjId, String, Revert)> = Vec::new();
        let mut items: Vec<ObjId> = Vec::new();
        let import = |text: &str| {
            if text == "_root" {
                Ok(ROOT)
            } else {
                self.doc.import_obj(text)
            }
        };
        for id in &created_items {
            items.extend(import(id));
        }
        for ((obj, key), e) in edits {
            if created_items.contains(&obj) && IDENTITY.contains(&key.as_str()) {
                continue;
            }
            let Ok(o) = import(&obj) else { continue };
            if key == "live" {
                if !items.contains(&o) {
                    items.push(o);
                }
                continue;
            }
            if let Some(r) = self.revert_for(&o, &key, &e, &deps) {
                plan.push((o, key, r));
            }
        }
        let hash_hex = crate::ids::hash_to_hex(&hash);
        self.commit(ctx, msg, |tx| {
            for (obj, key, r) in &plan {
                match r {
                    Revert::Delete => tx.delete(obj, key.as_str())?,
                    Revert::Put(v) => tx.put(obj, key.as_str(), v.clone())?,
                    Revert::Increment(n) => tx.increment(obj, key.as_str(), *n)?,
                }
            }
            for item in &items {
                set_live(tx, item)?;
            }
            if plan.is_empty() && items.is_empty() {
                // Everything it wrote was overwritten since: still record the
                // undo, so the next one walks further back.
                tx.put(ROOT, "last_undo", hash_hex.as_str())?;
            }
            Ok(None)
        })?;
        Ok(Undone {
            hash: crate::ids::hash_to_hex(&hash),
            what,
        })
    }

    /// Whether `obj` is an item's `needs`, `buys` or `buyers` map.
    fn is_contribution_map(&self, obj: &ObjId) -> bool {
        let Ok(mut parents) = self.doc.parents(obj) else {
            return false;
        };
        matches!(
            parents.next().map(|p| p.prop),
            Some(automerge::Prop::Map(k)) if [NEEDS, BUYS, BUYERS].contains(&k.as_str())
        )
    }

    /// How to revert what the change did to `obj[key]`, if anything.
    fn revert_for(
        &self,
        obj: &ObjId,
        key: &str,
        e: &KeyEdit,
        deps: &[ChangeHash],
    ) -> Option<Revert> {
        let now: Vec<String> = self
            .doc
            .get_all(obj, key)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, id)| id.to_string())
            .collect();
        let before = match self.doc.get_at(obj, key, deps) {
            Ok(Some((Value::Scalar(s), _))) => Some(s.into_owned()),
            _ => None,
        };
        if e.incremented != 0 {
            return (!now.is_empty()).then(|| Revert::Increment(e.incremented.saturating_neg()));
        }
        if !e.wrote.is_empty() && self.is_contribution_map(obj) {
            // A contribution key is written once; a later write to it can
            // only be an undo restoring it, so it goes whatever wrote last.
            return (!now.is_empty()).then_some(Revert::Delete);
        }
        if !e.wrote.is_empty() {
            if !now.iter().any(|id| e.wrote.contains(id)) {
                return None; // overwritten since: the later write wins
            }
            return Some(match before {
                Some(v) => Revert::Put(v),
                None => Revert::Delete,
            });
        }
        if e.deleted && now.is_empty() {
            return before.map(Revert::Put);
        }
        None
    }
}

/// After the revert, an item is on the list iff some quantity contribution
/// is left on it (`live` is a derived register here, so undos of edits made
/// by several devices compose).
fn set_live<T: Transactable + ReadDoc>(tx: &mut T, item: &ObjId) -> Result<(), ListError> {
    let has_any = [NEEDS, BUYS]
        .iter()
        .any(|k| !entries(tx, item, k).is_empty())
        || [LEGACY_NEEDED, LEGACY_ACQUIRED]
            .iter()
            .any(|k| matches!(tx.get(item, *k), Ok(Some(_))));
    let live = matches!(tx.get(item, "live"), Ok(Some(_)));
    if has_any && !live {
        tx.put(item, "live", live_token())?;
    } else if !has_any && live {
        tx.delete(item, "live")?;
    }
    Ok(())
}

/// One compensating operation.
#[derive(Debug, Clone)]
enum Revert {
    Delete,
    Put(ScalarValue),
    Increment(i64),
}

#[cfg(test)]
#[path = "undo_tests.rs"]
mod tests;
