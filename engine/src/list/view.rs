//! Folded reads: the materialized list, computed from every conflicting value.

use std::collections::BTreeMap;

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde::Serialize;

use super::ShoppingList;

/// One product on the list, folded over every live item object with the
/// same normalized name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemView {
    /// Display name (of the earliest-added object of the group).
    pub name: String,
    /// Normalized name: the product's identity.
    pub key: String,
    /// Sum of every `needed` counter value in the group.
    pub needed: i64,
    /// Sum of every `acquired` counter value in the group.
    pub acquired: i64,
    /// Derived: `acquired >= needed`.
    pub done: bool,
    /// Who added it first.
    pub added_by: String,
    /// When it was first added (unix ms).
    pub added_at: i64,
}

/// The materialized list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListView {
    /// The list's name (the deterministic winner among concurrent renames).
    pub name: String,
    /// Other concurrently written names, not lost: shown to the user.
    pub other_names: Vec<String>,
    /// Items sorted by normalized name.
    pub items: Vec<ItemView>,
}

/// Every map object stored under `key` of `obj`, across conflicts.
fn map_values(doc: &Automerge, obj: &ObjId, key: &str) -> Vec<ObjId> {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, id)| matches!(v, Value::Object(ObjType::Map)).then_some(id))
        .collect()
}

fn str_value(doc: &Automerge, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn int_value(doc: &Automerge, obj: &ObjId, key: &str) -> i64 {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Int(i) => *i,
            ScalarValue::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
            ScalarValue::Timestamp(t) => *t,
            _ => 0,
        },
        _ => 0,
    }
}

/// Sum of every conflicting counter (or integer) value of `key`.
fn counter_sum(doc: &Automerge, obj: &ObjId, key: &str) -> i64 {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Counter(c) => i64::from(c),
                ScalarValue::Int(i) => *i,
                _ => 0,
            },
            _ => 0,
        })
        .fold(0i64, |a, b| a.saturating_add(b))
}

/// An item object as stored.
struct RawItem {
    key: String,
    obj: ObjId,
    norm: String,
    live: bool,
}

fn raw_items(doc: &Automerge) -> Vec<RawItem> {
    let mut out = Vec::new();
    for items in map_values(doc, &ROOT, "items") {
        for key in doc.keys(&items) {
            for obj in map_values(doc, &items, &key) {
                let Some(norm) = str_value(doc, &obj, "norm") else {
                    continue;
                };
                let live = !doc.get_all(&obj, "live").unwrap_or_default().is_empty();
                out.push(RawItem {
                    key: key.clone(),
                    obj,
                    norm,
                    live,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.key, a.obj.to_string()).cmp(&(&b.key, b.obj.to_string())));
    out
}

/// The live item objects with normalized name `norm`, in a deterministic order.
pub(crate) fn live_objects(doc: &Automerge, norm: &str) -> Vec<ObjId> {
    raw_items(doc)
        .into_iter()
        .filter(|r| r.live && r.norm == norm)
        .map(|r| r.obj)
        .collect()
}

impl ShoppingList {
    /// Materialize the list, folding every conflicting value.
    pub fn view(&self) -> ListView {
        let doc = &self.doc;
        let mut names: Vec<String> = doc
            .get_all(ROOT, "name")
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, _)| match v {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Str(s) => Some(s.to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let winner = str_value(doc, &ROOT, "name").unwrap_or_default();
        names.retain(|n| n != &winner);
        names.sort();
        names.dedup();

        let mut groups: BTreeMap<String, ItemView> = BTreeMap::new();
        for raw in raw_items(doc).into_iter().filter(|r| r.live) {
            let needed = counter_sum(doc, &raw.obj, "needed");
            let acquired = counter_sum(doc, &raw.obj, "acquired");
            let added_at = int_value(doc, &raw.obj, "added_at");
            let name = str_value(doc, &raw.obj, "name").unwrap_or_else(|| raw.norm.clone());
            let added_by = str_value(doc, &raw.obj, "added_by").unwrap_or_default();
            let entry = groups.entry(raw.norm.clone()).or_insert_with(|| ItemView {
                name: name.clone(),
                key: raw.norm.clone(),
                needed: 0,
                acquired: 0,
                done: false,
                added_by: added_by.clone(),
                added_at,
            });
            entry.needed = entry.needed.saturating_add(needed);
            entry.acquired = entry.acquired.saturating_add(acquired);
            if added_at < entry.added_at {
                entry.added_at = added_at;
                entry.name = name;
                entry.added_by = added_by;
            }
        }
        let items = groups
            .into_values()
            .map(|mut i| {
                i.done = i.acquired >= i.needed;
                i
            })
            .collect();
        ListView {
            name: winner,
            other_names: names,
            items,
        }
    }
}
