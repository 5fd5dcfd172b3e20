//! Folded reads: the materialized list, computed from every conflicting value.
//!
//! Reads go through `map_range`, one pass per object (Automerge 0.12 point
//! lookups cost ~10 µs each); any key the pass reports as conflicting is read
//! again with `get_all` and folded: legacy counters summed, `live` present
//! if any value is, objects under one key all visited. Quantities are the
//! sums of the contribution maps (`needs`, `buys`; see
//! [`super::quantities`]), whose `buyers` give `bought_by`. So no quantity
//! can silently vanish, and the common, conflict-free case stays cheap.
//!
//! The reader is liberal ([`super::lenient`], PROTOCOL.md "Document"): Text
//! strings, seconds, numbers in strings and `items` written as a list are
//! read; whatever it cannot read is named in [`ListView::warnings`] instead
//! of silently dropped.

use std::collections::{BTreeMap, HashMap};

use automerge::{Automerge, ObjId, ObjType, ReadDoc, Value, ValueRef, ROOT};
use serde::Serialize;

use super::lenient::{entry_int, entry_str, int_of, kind, num, value_kind, value_str, Warnings};
pub use super::lenient::{time_ms, MAX_WARNINGS};
use super::normalize::normalize;
use super::quantities::{BUYERS, BUYS, NEEDS};
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
    /// When it was first added (unix ms; a time written in seconds is read
    /// as seconds).
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
    /// Shapes the reader could not (fully) read, in words: a document
    /// written by another client that does not follow PROTOCOL.md
    /// "Document". Empty for every list this project writes. At most
    /// [`MAX_WARNINGS`] lines, plus one counting the rest.
    pub warnings: Vec<String>,
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
    /// What could not be read as documented (without the item's key).
    pub odd: Vec<String>,
}

/// Sum of every conflicting counter (or integer) value of `key`.
fn folded_sum(doc: &Automerge, obj: &ObjId, key: &str, odd: &mut Vec<String>) -> i64 {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .map(|(v, _)| match v {
            Value::Scalar(s) => num(s.as_ref(), &format!("`{key}`"), odd),
            other => {
                odd.push(format!("`{key}` is {}, not a number", value_kind(&other)));
                0
            }
        })
        .fold(0i64, |a, b| a.saturating_add(b))
}

/// A string field: a scalar string or a Text; anything else is reported.
fn string_field(
    doc: &Automerge,
    key: &str,
    value: &ValueRef<'_>,
    id: &ObjId,
    odd: &mut Vec<String>,
) -> Option<String> {
    let s = entry_str(doc, value, id);
    if s.is_none() {
        odd.push(format!("`{key}` is {}, not a string", kind(value)));
    }
    s
}

/// Read one item object in a single pass, folding conflicting keys.
pub(crate) fn read_item(doc: &Automerge, obj: &ObjId) -> ItemFields {
    let mut f = ItemFields::default();
    let mut odd = Vec::new();
    for entry in doc.map_range(obj, ..) {
        let id = entry.id();
        let v = &entry.value;
        match entry.key.as_ref() {
            "live" => f.live = true,
            k @ ("needed" | "acquired") => {
                let n = if entry.conflict {
                    folded_sum(doc, obj, k, &mut odd)
                } else {
                    entry_int(v, &format!("`{k}`"), &mut odd)
                };
                if k == "needed" {
                    f.needed = n;
                } else {
                    f.acquired = n;
                }
            }
            k @ "norm" => f.norm = string_field(doc, k, v, &id, &mut odd).map(|n| normalize(&n)),
            k @ "category" => f.category = string_field(doc, k, v, &id, &mut odd),
            k @ "note" => f.note = string_field(doc, k, v, &id, &mut odd),
            k @ "name" => f.name = string_field(doc, k, v, &id, &mut odd),
            k @ "added_by" => f.added_by = string_field(doc, k, v, &id, &mut odd),
            "added_at" => f.added_at = time_ms(entry_int(v, "`added_at`", &mut odd)),
            _ => {}
        }
    }
    // A writer that omits `norm` still names the product.
    if f.norm.is_none() {
        f.norm = f.name.as_deref().map(normalize).filter(|n| !n.is_empty());
    }
    add_contributions(doc, obj, &mut f, &mut odd);
    f.odd = odd;
    f
}

/// Every contribution under `key` of `item`: (token, quantity). A map is
/// the documented shape; a list or a bare number is read too, and reported.
fn contributions(
    doc: &Automerge,
    item: &ObjId,
    key: &str,
    odd: &mut Vec<String>,
) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (value, id) in doc.get_all(item, key).unwrap_or_default() {
        match value {
            Value::Object(ObjType::Map) => {
                for e in doc.map_range(&id, ..) {
                    let what = format!("`{key}` entry `{}`", e.key);
                    out.push((e.key.to_string(), entry_int(&e.value, &what, odd)));
                }
            }
            Value::Object(ObjType::List) => {
                odd.push(format!(
                    "`{key}` is a list, not a map: its numbers are summed"
                ));
                for e in doc.list_range(&id, ..) {
                    let what = format!("`{key}` element {}", e.index);
                    out.push((format!("#{}", e.index), entry_int(&e.value, &what, odd)));
                }
            }
            Value::Scalar(s) => {
                let what = format!("`{key}` (not a map)");
                let n = num(s.as_ref(), &what, odd);
                if int_of(s.as_ref()).is_ok() {
                    odd.push(format!("`{key}` is a number, not a map: read as {n}"));
                }
                out.push((String::new(), n));
            }
            other => odd.push(format!("`{key}` is {}, not a map", value_kind(&other))),
        }
    }
    out
}

/// Fold the contribution maps (see [`super::quantities`]) into `f`.
fn add_contributions(doc: &Automerge, obj: &ObjId, f: &mut ItemFields, odd: &mut Vec<String>) {
    let needs: i64 = contributions(doc, obj, NEEDS, odd)
        .iter()
        .map(|(_, n)| *n)
        .fold(0, i64::saturating_add);
    f.needed = f.needed.saturating_add(needs);
    let mut buyers: HashMap<String, String> = HashMap::new();
    for (_, map) in doc.get_all(obj, BUYERS).unwrap_or_default() {
        for e in doc.map_range(&map, ..) {
            if let Some(by) = entry_str(doc, &e.value, &e.id()) {
                buyers.insert(e.key.to_string(), by);
            }
        }
    }
    for (key, n) in contributions(doc, obj, BUYS, odd) {
        f.acquired = f.acquired.saturating_add(n);
        let by = buyers.get(&key).cloned().unwrap_or_default();
        match f.buyers.iter_mut().find(|(b, _)| *b == by) {
            Some((_, total)) => *total = total.saturating_add(n),
            None => f.buyers.push((by, n)),
        }
    }
}

/// An item's normalized name: its `norm` (string or Text), else its
/// normalized `name`.
pub(crate) fn item_norm(doc: &Automerge, obj: &ObjId) -> Option<String> {
    let read = |key: &str| match doc.get(obj, key) {
        Ok(Some((v, id))) => value_str(doc, &v, &id),
        _ => None,
    };
    read("norm")
        .or_else(|| read("name"))
        .map(|n| normalize(&n))
        .filter(|n| !n.is_empty())
}

/// Every item object: (key, object id), conflicts at item keys included.
pub(crate) fn item_objects(doc: &Automerge) -> Vec<(String, ObjId)> {
    item_entries(doc, &mut Warnings::default())
}

/// [`item_objects`], reporting what is not an item: a value under `items`
/// that is not a map, an `items` that is not a map (a list's map elements
/// are read as items, keyed `#index`), a document with changes but no
/// `items`.
fn item_entries(doc: &Automerge, warn: &mut Warnings) -> Vec<(String, ObjId)> {
    let mut out = Vec::new();
    let all = doc.get_all(ROOT, "items").unwrap_or_default();
    if all.is_empty() && !doc.get_heads().is_empty() {
        warn.push("the document has no `items` map: no items to show".into());
    }
    for (value, items) in all {
        match value {
            Value::Object(ObjType::Map) => {
                for entry in doc.map_range(&items, ..) {
                    for (v, obj) in doc.get_all(&items, &*entry.key).unwrap_or_default() {
                        if matches!(v, Value::Object(ObjType::Map)) {
                            out.push((entry.key.to_string(), obj));
                        } else {
                            warn.push(format!(
                                "item `{}` is {}, not a map: skipped",
                                entry.key,
                                value_kind(&v)
                            ));
                        }
                    }
                }
            }
            Value::Object(ObjType::List) => {
                warn.push("`items` is a list, not a map: its maps are read as items".into());
                for entry in doc.list_range(&items, ..) {
                    if matches!(entry.value, ValueRef::Object(ObjType::Map)) {
                        out.push((format!("#{}", entry.index), entry.id()));
                    } else {
                        warn.push(format!(
                            "item #{} is {}, not a map: skipped",
                            entry.index,
                            kind(&entry.value)
                        ));
                    }
                }
            }
            other => warn.push(format!(
                "`items` is {}, not a map: no items to show",
                value_kind(&other)
            )),
        }
    }
    out
}

impl ShoppingList {
    /// Materialize the list, folding every conflicting value.
    pub fn view(&self) -> ListView {
        let doc = &self.doc;
        let mut warn = Warnings::default();
        let mut names: Vec<String> = Vec::new();
        for (v, id) in doc.get_all(ROOT, "name").unwrap_or_default() {
            match value_str(doc, &v, &id) {
                Some(n) => names.push(n),
                None => warn.push(format!("`name` is {}, not a string", value_kind(&v))),
            }
        }
        let winner = match doc.get(ROOT, "name") {
            Ok(Some((v, id))) => value_str(doc, &v, &id).unwrap_or_default(),
            _ => String::new(),
        };
        names.retain(|n| n != &winner);
        names.sort();
        names.dedup();

        let mut groups: BTreeMap<String, ItemView> = BTreeMap::new();
        let mut objs = item_entries(doc, &mut warn);
        objs.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, obj) in objs {
            let f = read_item(doc, &obj);
            for odd in &f.odd {
                warn.push(format!("item `{key}`: {odd}"));
            }
            let Some(norm) = f.norm.clone() else {
                if f.live {
                    warn.push(format!("item `{key}` has no name: skipped"));
                }
                continue;
            };
            if !f.live {
                // Removal clears what it saw, so a quantity left on an item
                // without `live` means a writer that never set it.
                if f.needed > 0 || f.acquired > 0 {
                    warn.push(format!(
                        "item `{key}` ({norm}) has quantities but no `live` key: shown as removed"
                    ));
                }
                continue;
            }
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
            warnings: warn.into_vec(),
        }
    }
}
