//! Quantities as observed-remove sets of contributions (DESIGN §2, last row).
//!
//! An item's `needed` is the sum of the values in its `needs` map, one entry
//! per `add` (key: a fresh random token, value: the quantity), and its
//! `acquired` the sum of its `buys` map, one entry per buy (a negative value
//! is an un-buy); `buyers` maps the same token to who bought. Two devices
//! adding concurrently write two different keys, so their quantities add up,
//! exactly like counters. A removal deletes every entry it *saw*; an entry
//! written concurrently by another device is not among them, so it survives:
//! Alice removes Milk (needed 2) while Bob adds 1 → Milk stays with 0/1.
//! Concurrent removals delete the same keys, which is idempotent.
//!
//! Items written before this layout carry `needed` / `acquired` Automerge
//! counters; they are still read (added to the sums) and a removal deletes
//! them, but new edits only write contributions.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value, ValueRef};

use super::ListError;

/// The map of `add` contributions.
pub(crate) const NEEDS: &str = "needs";
/// The map of buy contributions (negative: un-buy).
pub(crate) const BUYS: &str = "buys";
/// Who made each buy contribution (same keys as [`BUYS`]).
pub(crate) const BUYERS: &str = "buyers";
/// Pre-contribution counters, read and cleared but never written.
pub(crate) const LEGACY_NEEDED: &str = "needed";
/// See [`LEGACY_NEEDED`].
pub(crate) const LEGACY_ACQUIRED: &str = "acquired";

/// A fresh key for one contribution.
pub(crate) fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Every map object stored under `key` of `obj`, across conflicts.
pub(crate) fn map_values<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Vec<ObjId> {
    doc.get_all(obj, key)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, id)| matches!(v, Value::Object(ObjType::Map)).then_some(id))
        .collect()
}

/// Every entry of the contribution maps under `key`: (token, value).
pub(crate) fn entries<R: ReadDoc>(doc: &R, item: &ObjId, key: &str) -> Vec<(String, ScalarValue)> {
    let mut out = Vec::new();
    for map in map_values(doc, item, key) {
        for e in doc.map_range(&map, ..) {
            if let ValueRef::Scalar(s) = &e.value {
                out.push((e.key.to_string(), ScalarValue::from(s.clone())));
            }
        }
    }
    out
}

/// The contribution map `key` of `item`, created if missing.
fn map_for<T: Transactable + ReadDoc>(
    tx: &mut T,
    item: &ObjId,
    key: &str,
) -> Result<ObjId, ListError> {
    match map_values(tx, item, key).into_iter().next() {
        Some(m) => Ok(m),
        None => Ok(tx.put_object(item, key, ObjType::Map)?),
    }
}

/// Record that `qty` more of `item` are needed.
pub(crate) fn add_need<T: Transactable + ReadDoc>(
    tx: &mut T,
    item: &ObjId,
    qty: i64,
) -> Result<(), ListError> {
    let needs = map_for(tx, item, NEEDS)?;
    tx.put(&needs, token().as_str(), qty)?;
    Ok(())
}

/// Record that `by` bought `qty` of `item` (negative: un-bought).
pub(crate) fn add_buy<T: Transactable + ReadDoc>(
    tx: &mut T,
    item: &ObjId,
    qty: i64,
    by: &str,
) -> Result<(), ListError> {
    let key = token();
    let buys = map_for(tx, item, BUYS)?;
    tx.put(&buys, key.as_str(), qty)?;
    let buyers = map_for(tx, item, BUYERS)?;
    tx.put(&buyers, key.as_str(), by)?;
    Ok(())
}

/// Observed-remove: delete every contribution this device has seen, the
/// legacy counters, and the `live` register.
pub(crate) fn clear_seen<T: Transactable + ReadDoc>(
    tx: &mut T,
    item: &ObjId,
) -> Result<(), ListError> {
    for key in [NEEDS, BUYS, BUYERS] {
        for map in map_values(tx, item, key) {
            let keys: Vec<String> = tx.keys(&map).collect();
            for k in keys {
                tx.delete(&map, k.as_str())?;
            }
        }
    }
    for key in [LEGACY_NEEDED, LEGACY_ACQUIRED, "live"] {
        if tx.get(item, key)?.is_some() {
            tx.delete(item, key)?;
        }
    }
    Ok(())
}
