//! An in-memory index from normalized name to item objects, so an edit
//! touches only the objects of its product instead of reading every item.
//! Item objects are never deleted and an object's `norm` never changes, so
//! the index only grows; it is refreshed (a cheap key scan, reading `norm`
//! only for objects it has not seen) whenever the document's heads moved.

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, ChangeHash, ObjId, ReadDoc, ScalarValue, Value};

use super::view::item_objects;

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
            let norm = match doc.get(&obj, "norm") {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Str(s) => Some(s.to_string()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(norm) = norm {
                let group = self.by_norm.entry(norm).or_default();
                group.push((key, obj));
                group.sort_by(|a, b| a.0.cmp(&b.0));
            }
            self.seen.insert(tag);
        }
        self.heads = heads;
    }

    /// Item objects with normalized name `norm`, live or not, by key.
    pub fn objects(&self, norm: &str) -> Vec<ObjId> {
        self.by_norm
            .get(norm)
            .map(|g| g.iter().map(|(_, o)| o.clone()).collect())
            .unwrap_or_default()
    }
}
