//! An in-memory index from normalized name to item objects, so an edit
//! touches only the objects of its product instead of reading every item.
//! Item objects are never deleted and an object's `norm` never changes, so
//! the index only grows. It remembers the heads it reflects: changes applied
//! through [`super::ShoppingList`] (local edits, `apply_changes`) update it
//! in time proportional to the change; if the document moved any other way,
//! the next use rescans every item key.

use std::collections::{HashMap, HashSet};

use automerge::legacy::{Key as OpKey, ObjectId, OpType};
use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, ScalarValue};

use super::normalize::normalize;
use super::view::{item_norm, item_objects};

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct NormIndex {
    heads: Vec<ChangeHash>,
    seen: HashSet<(String, ObjId)>,
    by_norm: HashMap<String, Vec<(String, ObjId)>>,
}

impl NormIndex {
    /// Bring the index up to date with `doc`.
    pub fn refresh(&mut self, doc: &Automerge) {
        let heads = doc.get_heads();
        if heads == self.heads && !heads.is_empty() {
            return;
        }
        for (key, obj) in item_objects(doc) {
            let tag = (key.clone(), obj.clone());
            if self.seen.contains(&tag) {
                continue;
            }
            match item_norm(doc, &obj) {
                Some(norm) => self.insert(norm, key, obj),
                None => {
                    self.seen.insert(tag);
                }
            }
        }
        self.heads = heads;
    }

    /// Whether the index reflects exactly the document at `heads`.
    pub fn is_at(&self, heads: &[ChangeHash]) -> bool {
        !heads.is_empty() && self.heads == heads
    }

    fn insert(&mut self, norm: String, key: String, obj: ObjId) {
        if self.seen.insert((key.clone(), obj.clone())) {
            let group = self.by_norm.entry(norm).or_default();
            group.push((key, obj));
            group.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }

    /// A local edit created item `obj` under `key`; the document moved from
    /// `before` to its current heads.
    pub fn note_local_item(
        &mut self,
        doc: &Automerge,
        before: &[ChangeHash],
        item: Option<(String, String, ObjId)>,
    ) {
        if !self.is_at(before) {
            return;
        }
        if let Some((norm, key, obj)) = item {
            self.insert(norm, key, obj);
        }
        self.heads = doc.get_heads();
    }

    /// New item objects created by `changes`: (object id text, key, norm).
    /// Decoding costs time proportional to the changes; it is skipped (and a
    /// rescan left to the next use) when the index is not current.
    pub fn scan_changes(
        &self,
        before: &[ChangeHash],
        changes: &[Change],
        items: Option<&str>,
    ) -> Option<Vec<(String, String, String)>> {
        if !self.is_at(before) {
            return None;
        }
        let items = items?;
        let mut out = Vec::new();
        for c in changes {
            let ex = c.decode();
            let actor = ex.actor_id.to_hex_string();
            let mut made: HashMap<String, String> = HashMap::new();
            let mut norms: Vec<(String, String)> = Vec::new();
            // Objects whose `name` / `norm` this change writes.
            let mut named: Vec<String> = Vec::new();
            for (i, op) in ex.operations.iter().enumerate() {
                let key = match &op.key {
                    OpKey::Map(k) => k.to_string(),
                    OpKey::Seq(_) => continue,
                };
                let root = matches!(op.obj, ObjectId::Root);
                match &op.action {
                    OpType::Make(ObjType::Map) if op.obj.to_string() == items => {
                        let id = format!("{}@{}", ex.start_op.get() + i as u64, actor);
                        made.insert(id, key);
                    }
                    OpType::Put(ScalarValue::Str(norm)) if key == "norm" && !root => {
                        norms.push((op.obj.to_string(), normalize(norm)));
                    }
                    OpType::Make(_) | OpType::Put(_)
                        if (key == "norm" || key == "name") && !root =>
                    {
                        named.push(op.obj.to_string());
                    }
                    _ => {}
                }
            }
            // Names written another way than ours (Text, in a later change,
            // no `norm`: other clients) are left to a rescan.
            if named.iter().any(|obj| !made.contains_key(obj)) {
                return None;
            }
            for (obj, norm) in norms {
                match made.remove(&obj) {
                    Some(key) => out.push((obj, key, norm)),
                    None => return None,
                }
            }
            if !made.is_empty() {
                return None;
            }
        }
        Some(out)
    }

    /// Record what [`Self::scan_changes`] found, after the changes applied.
    pub fn note_applied(&mut self, doc: &Automerge, found: Option<Vec<(String, String, String)>>) {
        let Some(found) = found else { return };
        for (obj, key, norm) in found {
            match doc.import_obj(&obj) {
                Ok(id) => self.insert(norm, key, id),
                Err(_) => return, // leave the heads stale: the next use rescans
            }
        }
        self.heads = doc.get_heads();
    }

    /// Item objects with normalized name `norm`, live or not, by key.
    pub fn objects(&self, norm: &str) -> Vec<ObjId> {
        self.by_norm
            .get(norm)
            .map(|g| g.iter().map(|(_, o)| o.clone()).collect())
            .unwrap_or_default()
    }
}
