//! Folded reads: the materialized list, computed from every conflicting value.
//!
//! Reads go through `map_range`, one pass per object (Automerge 0.12 point
//! lookups cost ~10 µs each); any key the pass reports as conflicting is read
//! again with `get_all` and folded: legacy counters summed, `live` present
//! if any value is, objects under one key all visited. Quantities are the
//! sums of the contribution maps (`needs`, `buys`; see
//! [`super::quantities`]), whose `buyers` give `bought_by`. So no quantity
//! can silently vanish, and the common, conflict-free case stays cheap.

use std::collections::{BTreeMap, HashMap};

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value, ValueRef, ROOT};
use serde::Serialize;

use super::normalize::normalize;
use super::quantities::{entries, map_values, scalar_int, BUYERS, BUYS, NEEDS};
use super::ShoppingList;

/// One product on the list, folded over every live item object with the
/// same normalized name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemView {
    /// Display name (of the earliest-added object of the group).
    pub name: String,
    /// Normalized name: the product's identity.
    pub key: String,
    /// Sum of every `needs` contribution (and legacy counter) in the group.
    pub needed: i64,
    /// Sum of every `buys` contribution (and legacy counter) in the group.
    pub acquired: i64,
    /// Derived: `acquired >= needed`.
    pub done: bool,
    /// Who added it first.
    pub added_by: String,
    /// When it was first added (unix ms).
    pub added_at: i64,
    /// Optional category ("dairy"), the last one written.
    pub category: Option<String>,
    /// Optional note ("lactose-free, 1 L"), the last one written.
    pub note: Option<String>,
    /// Who bought it, in the order of their first buy (net buys above zero).
    pub bought_by: Vec<String>,
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

/// The fields of one item object, conflicts folded.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemFields {
    pub norm: Option<String>,
    pub name: Option<String>,
    pub added_by: Option<String>,
    pub added_at: i64,
    pub needed: i64,
    pub acquired: i64,
    pub live: bool,
    pub category: Option<String>,
    pub note: Option<String>,
    /// Per buyer, net quantity, in key order of their buys.
    pub buyers: Vec<(String, i64)>,
}

fn scalar_str(s: &ScalarValue) -> Option<String> {
    match s {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Sum of every conflicting counter (or integer) value of `key`.
fn folded_sum(doc: &Automerge, obj: &ObjId, key: &str) -> i64 {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Counter(_) | ScalarValue::Int(_) => scalar_int(s.as_ref()),
                _ => 0,
            },
            _ => 0,
        })
        .fold(0i64, |a, b| a.saturating_add(b))
}

/// Read one item object in a single pass, folding conflicting keys.
pub(crate) fn read_item(doc: &Automerge, obj: &ObjId) -> ItemFields {
    let mut f = ItemFields::default();
    for entry in doc.map_range(obj, ..) {
        let scalar = match &entry.value {
            ValueRef::Scalar(s) => Some(ScalarValue::from(s.clone())),
            ValueRef::Object(_) => None,
        };
        match entry.key.as_ref() {
            "live" => f.live = true,
            "needed" if entry.conflict => f.needed = folded_sum(doc, obj, "needed"),
            "acquired" if entry.conflict => f.acquired = folded_sum(doc, obj, "acquired"),
            "needed" => f.needed = scalar.as_ref().map(scalar_int).unwrap_or(0),
            "acquired" => f.acquired = scalar.as_ref().map(scalar_int).unwrap_or(0),
            "norm" => f.norm = scalar.as_ref().and_then(scalar_str).map(|n| normalize(&n)),
            "category" => f.category = scalar.as_ref().and_then(scalar_str),
            "note" => f.note = scalar.as_ref().and_then(scalar_str),
            "name" => f.name = scalar.as_ref().and_then(scalar_str),
            "added_by" => f.added_by = scalar.as_ref().and_then(scalar_str),
            "added_at" => f.added_at = scalar.as_ref().map(scalar_int).unwrap_or(0),
            _ => {}
        }
    }
    add_contributions(doc, obj, &mut f);
    f
}

/// Fold the contribution maps (see [`super::quantities`]) into `f`.
fn add_contributions(doc: &Automerge, obj: &ObjId, f: &mut ItemFields) {
    let needs: i64 = entries(doc, obj, NEEDS)
        .iter()
        .map(|(_, v)| scalar_int(v))
        .fold(0, i64::saturating_add);
    f.needed = f.needed.saturating_add(needs);
    let buyers: HashMap<String, String> = entries(doc, obj, BUYERS)
        .into_iter()
        .filter_map(|(k, v)| scalar_str(&v).map(|by| (k, by)))
        .collect();
    for (key, v) in entries(doc, obj, BUYS) {
        let n = scalar_int(&v);
        f.acquired = f.acquired.saturating_add(n);
        let by = buyers.get(&key).cloned().unwrap_or_default();
        match f.buyers.iter_mut().find(|(b, _)| *b == by) {
            Some((_, total)) => *total = total.saturating_add(n),
            None => f.buyers.push((by, n)),
        }
    }
}

/// Every item object: (key, object id), conflicts at item keys included.
pub(crate) fn item_objects(doc: &Automerge) -> Vec<(String, ObjId)> {
    let mut out = Vec::new();
    for items in map_values(doc, &ROOT, "items") {
        for entry in doc.map_range(&items, ..) {
            if entry.conflict {
                for obj in map_values(doc, &items, &entry.key) {
                    out.push((entry.key.to_string(), obj));
                }
            } else if matches!(entry.value, ValueRef::Object(ObjType::Map)) {
                out.push((entry.key.to_string(), entry.id()));
            }
        }
    }
    out
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
                Value::Scalar(s) => scalar_str(s.as_ref()),
                _ => None,
            })
            .collect();
        let winner = match doc.get(ROOT, "name") {
            Ok(Some((Value::Scalar(s), _))) => scalar_str(s.as_ref()).unwrap_or_default(),
            _ => String::new(),
        };
        names.retain(|n| n != &winner);
        names.sort();
        names.dedup();

        let mut groups: BTreeMap<String, ItemView> = BTreeMap::new();
        let mut objs = item_objects(doc);
        objs.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, obj) in objs {
            let f = read_item(doc, &obj);
            let (Some(norm), true) = (f.norm.clone(), f.live) else {
                continue;
            };
            let name = f.name.clone().unwrap_or_else(|| norm.clone());
            let added_by = f.added_by.clone().unwrap_or_default();
            let entry = groups.entry(norm.clone()).or_insert_with(|| ItemView {
                name: name.clone(),
                key: norm,
                needed: 0,
                acquired: 0,
                done: false,
                added_by: added_by.clone(),
                added_at: f.added_at,
                category: None,
                note: None,
                bought_by: Vec::new(),
            });
            if f.category.is_some() {
                entry.category = f.category.clone();
            }
            if f.note.is_some() {
                entry.note = f.note.clone();
            }
            for (by, n) in &f.buyers {
                if *n > 0 && !by.is_empty() && !entry.bought_by.contains(by) {
                    entry.bought_by.push(by.clone());
                }
            }
            entry.needed = entry.needed.saturating_add(f.needed);
            entry.acquired = entry.acquired.saturating_add(f.acquired);
            if f.added_at < entry.added_at {
                entry.added_at = f.added_at;
                entry.name = name;
                entry.added_by = added_by;
            }
        }
        let items = groups
            .into_values()
            .map(|mut i| {
                i.done = i.acquired >= i.needed;
                if i.acquired <= 0 {
                    i.bought_by.clear();
                }
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
