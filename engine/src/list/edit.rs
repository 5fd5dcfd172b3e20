//! Typed edits: each public edit is one Automerge transaction, committed as
//! one change with a message saying who did what (read back by `history`).

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ObjId, ObjType, ReadDoc, ROOT};
use serde::{Deserialize, Serialize};

use super::normalize::normalize;
use super::quantities::{add_buy, add_need, clear_seen};
use super::view::read_item;
use super::{ListError, ShoppingList};

/// Longest accepted item name, in characters.
pub const MAX_ITEM_NAME: usize = 200;
/// Longest accepted list name, in characters.
pub const MAX_LIST_NAME: usize = 200;
/// Largest quantity accepted in one edit.
pub const MAX_QTY: i64 = 1_000_000;

/// Who is editing and when: recorded in the item and the change message.
#[derive(Debug, Clone)]
pub struct EditContext {
    /// A human-readable author (user or device name).
    pub by: String,
    /// Unix time in milliseconds.
    pub now_ms: i64,
}

impl EditContext {
    /// A context stamped with the current wall-clock time.
    pub fn now(by: impl Into<String>) -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        EditContext {
            by: by.into(),
            now_ms,
        }
    }
}

/// The change message: machine-readable, shown by `log`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ChangeMessage {
    pub by: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<i64>,
    /// For `undo`: the hash (hex) of the change it compensates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
}

impl ChangeMessage {
    pub(crate) fn new(ctx: &EditContext, op: &str, item: Option<String>, n: Option<i64>) -> Self {
        ChangeMessage {
            by: ctx.by.clone(),
            op: op.into(),
            item,
            n,
            of: None,
        }
    }
}

/// What a change did, in words (`add 2 × Milk`), as `log` shows it.
pub(crate) fn describe_message(m: &ChangeMessage) -> String {
    let item = m.item.as_deref().unwrap_or("");
    match (m.op.as_str(), m.n) {
        ("create", _) => format!("created list {item:?}"),
        ("add", Some(n)) => format!("add {n} × {item}"),
        ("buy", Some(n)) => format!("bought {n} × {item}"),
        ("unbuy", Some(n)) => format!("un-bought {n} × {item}"),
        ("rm", _) => format!("removed {item}"),
        ("rename", _) => format!("renamed list to {item:?}"),
        ("undo", _) => format!("undid: {item}"),
        (op, _) => format!("{op} {item}"),
    }
}

/// Optional details of an item, set by `add` (`None` leaves a detail as it
/// is; an empty string clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemDetails {
    /// A category such as "dairy": items are grouped by it.
    pub category: Option<String>,
    /// A free-form note such as "lactose-free, 1 L".
    pub note: Option<String>,
}

/// Longest accepted category, in characters.
pub const MAX_CATEGORY: usize = 60;
/// Longest accepted note, in characters.
pub const MAX_NOTE: usize = 300;

fn check_detail(value: &str, max: usize, what: &str) -> Result<String, ListError> {
    let v = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if v.chars().count() > max {
        return Err(ListError::InvalidName(format!(
            "{what} longer than {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ListError::InvalidName(format!(
            "control characters are not allowed in a {what}"
        )));
    }
    Ok(v)
}

/// What a buy did, for the caller to tell the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bought {
    /// Quantity recorded (0: nothing was still needed, no change made).
    pub qty: i64,
    /// How many of it were bought beyond what was needed.
    pub beyond_needed: i64,
}

fn check_name(name: &str, max: usize) -> Result<String, ListError> {
    let trimmed = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.is_empty() {
        return Err(ListError::InvalidName("a name cannot be empty".into()));
    }
    if trimmed.chars().count() > max {
        return Err(ListError::InvalidName(format!(
            "longer than {max} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ListError::InvalidName(
            "control characters are not allowed".into(),
        ));
    }
    Ok(trimmed)
}

fn check_qty(qty: i64) -> Result<i64, ListError> {
    if (1..=MAX_QTY).contains(&qty) {
        Ok(qty)
    } else {
        Err(ListError::InvalidQuantity(qty))
    }
}

/// Largest `live` value: JavaScript's `Number.MAX_SAFE_INTEGER` (2^53 - 1),
/// so JS Automerge can decode every change we write (PROTOCOL.md "Document").
pub const MAX_LIVE: i64 = (1 << 53) - 1;

/// A fresh value for the `live` register: every add/update writes a new one,
/// so it is never a no-op and always outlives a concurrent removal. Random
/// in `1..=MAX_LIVE`.
pub(super) fn live_token() -> i64 {
    let r = uuid::Uuid::new_v4().as_u64_pair().0 % (MAX_LIVE as u64);
    r as i64 + 1
}

/// An item object created by an edit: (norm, key, object).
pub(super) type NewItem = Option<(String, String, ObjId)>;

fn fresh_item_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl ShoppingList {
    pub(super) fn commit(
        &mut self,
        ctx: &EditContext,
        msg: ChangeMessage,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<NewItem, ListError>,
    ) -> Result<(), ListError> {
        let message = serde_json::to_string(&msg).unwrap_or_default();
        let before = self.doc.get_heads();
        let mut tx = self.doc.transaction();
        match f(&mut tx) {
            Ok(created) => {
                tx.commit_with(
                    CommitOptions::default()
                        .with_message(message)
                        .with_time(ctx.now_ms),
                );
                let doc = &self.doc;
                self.index
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .note_local_item(doc, &before, created);
                Ok(())
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }

    pub(super) fn init(&mut self, name: &str, ctx: &EditContext) -> Result<(), ListError> {
        let name = check_name(name, MAX_LIST_NAME)?;
        let msg = ChangeMessage::new(ctx, "create", Some(name.clone()), None);
        self.commit(ctx, msg, |tx| {
            tx.put(ROOT, "name", name.as_str())?;
            tx.put_object(ROOT, "items", ObjType::Map)?;
            Ok(None)
        })
    }

    /// The `items` map (the winner, when a malformed history has several).
    fn items_obj(&self) -> Result<ObjId, ListError> {
        match self.doc.get(ROOT, "items")? {
            Some((automerge::Value::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(ListError::NotInitialized),
        }
    }

    /// Add an item, or need `qty` more of it.
    pub fn add_item(&mut self, name: &str, qty: i64, ctx: &EditContext) -> Result<(), ListError> {
        self.add_item_with(name, qty, &ItemDetails::default(), ctx)
    }

    /// Add an item, or need `qty` more of it, and set its details.
    pub fn add_item_with(
        &mut self,
        name: &str,
        qty: i64,
        details: &ItemDetails,
        ctx: &EditContext,
    ) -> Result<(), ListError> {
        let display = check_name(name, MAX_ITEM_NAME)?;
        let qty = check_qty(qty)?;
        let category = details
            .category
            .as_deref()
            .map(|c| check_detail(c, MAX_CATEGORY, "category"))
            .transpose()?;
        let note = details
            .note
            .as_deref()
            .map(|c| check_detail(c, MAX_NOTE, "note"))
            .transpose()?;
        let norm = normalize(&display);
        let items = self.items_obj()?;
        let existing = self.live_objects(&norm);
        let msg = ChangeMessage::new(ctx, "add", Some(display.clone()), Some(qty));
        self.commit(ctx, msg, |tx| {
            let (obj, created) = match existing.first() {
                Some(obj) => (obj.clone(), None),
                None => {
                    let key = fresh_item_key();
                    let obj = tx.put_object(&items, key.as_str(), ObjType::Map)?;
                    tx.put(&obj, "name", display.as_str())?;
                    tx.put(&obj, "norm", norm.as_str())?;
                    tx.put(&obj, "added_by", ctx.by.as_str())?;
                    tx.put(&obj, "added_at", ctx.now_ms)?;
                    (obj.clone(), Some((norm.clone(), key, obj)))
                }
            };
            add_need(tx, &obj, qty)?;
            for (key, value) in [("category", &category), ("note", &note)] {
                match value.as_deref() {
                    Some("") if tx.get(&obj, key)?.is_some() => tx.delete(&obj, key)?,
                    Some("") | None => {}
                    Some(v) => tx.put(&obj, key, v)?,
                }
            }
            tx.put(&obj, "live", live_token())?;
            Ok(created)
        })
    }

    /// The summed (needed, acquired) of the live objects `objs`.
    fn totals(&self, objs: &[ObjId]) -> (i64, i64) {
        objs.iter()
            .map(|o| read_item(&self.doc, o))
            .fold((0i64, 0i64), |(n, a), f| {
                (n.saturating_add(f.needed), a.saturating_add(f.acquired))
            })
    }

    /// Acquire `qty` of an item; `None` means "all still needed". Buying more
    /// than needed is recorded as asked ([`Bought::beyond_needed`] says by how
    /// much). Returns the quantity recorded (0 when nothing was still needed:
    /// no change is made).
    pub fn buy_item(
        &mut self,
        name: &str,
        qty: Option<i64>,
        ctx: &EditContext,
    ) -> Result<i64, ListError> {
        self.buy(name, qty, ctx).map(|b| b.qty)
    }

    /// [`Self::buy_item`], telling how much beyond the need was bought.
    pub fn buy(
        &mut self,
        name: &str,
        qty: Option<i64>,
        ctx: &EditContext,
    ) -> Result<Bought, ListError> {
        let norm = normalize(name);
        let objs = self.live_objects(&norm);
        let Some(first) = objs.first().cloned() else {
            return Err(ListError::UnknownItem(name.trim().to_string()));
        };
        let (needed, acquired) = self.totals(&objs);
        let still = needed.saturating_sub(acquired).max(0);
        let qty = match qty {
            Some(q) => check_qty(q)?,
            None => still,
        };
        if qty == 0 {
            return Ok(Bought {
                qty: 0,
                beyond_needed: 0,
            });
        }
        let msg = ChangeMessage::new(ctx, "buy", Some(name.trim().to_string()), Some(qty));
        self.commit(ctx, msg, |tx| {
            add_buy(tx, &first, qty, &ctx.by)?;
            tx.put(&first, "live", live_token())?;
            Ok(None)
        })?;
        Ok(Bought {
            qty,
            beyond_needed: qty.saturating_sub(still).max(0),
        })
    }

    /// Un-buy: `qty` of an item were not bought after all (`None`: all that
    /// were). Returns the quantity taken back; it never goes below zero.
    pub fn unbuy_item(
        &mut self,
        name: &str,
        qty: Option<i64>,
        ctx: &EditContext,
    ) -> Result<i64, ListError> {
        let norm = normalize(name);
        let objs = self.live_objects(&norm);
        let Some(first) = objs.first().cloned() else {
            return Err(ListError::UnknownItem(name.trim().to_string()));
        };
        let (_, acquired) = self.totals(&objs);
        if acquired <= 0 {
            return Err(ListError::NothingBought(name.trim().to_string()));
        }
        let qty = match qty {
            Some(q) => check_qty(q)?.min(acquired),
            None => acquired,
        };
        let msg = ChangeMessage::new(ctx, "unbuy", Some(name.trim().to_string()), Some(qty));
        self.commit(ctx, msg, |tx| {
            add_buy(tx, &first, -qty, &ctx.by)?;
            tx.put(&first, "live", live_token())?;
            Ok(None)
        })?;
        Ok(qty)
    }

    /// Remove an item (every live object with its normalized name). The
    /// quantities this device has seen are cleared (observed-remove): only
    /// a concurrent addition survives.
    pub fn remove_item(&mut self, name: &str, ctx: &EditContext) -> Result<(), ListError> {
        let norm = normalize(name);
        let objs = self.live_objects(&norm);
        if objs.is_empty() {
            return Err(ListError::UnknownItem(name.trim().to_string()));
        }
        let msg = ChangeMessage::new(ctx, "rm", Some(name.trim().to_string()), None);
        self.commit(ctx, msg, |tx| {
            for obj in &objs {
                clear_seen(tx, obj)?;
            }
            Ok(None)
        })
    }

    /// Rename the list.
    pub fn rename(&mut self, name: &str, ctx: &EditContext) -> Result<(), ListError> {
        let name = check_name(name, MAX_LIST_NAME)?;
        self.items_obj()?;
        let msg = ChangeMessage::new(ctx, "rename", Some(name.clone()), None);
        self.commit(ctx, msg, |tx| {
            tx.put(ROOT, "name", name.as_str())?;
            Ok(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_quantities_are_refused_without_a_change() {
        let ctx = EditContext::now("t");
        let mut l = ShoppingList::create(automerge::ActorId::random(), "L", &ctx).unwrap();
        let heads = l.heads();
        assert!(matches!(
            l.add_item("  ", 1, &ctx),
            Err(ListError::InvalidName(_))
        ));
        assert!(matches!(
            l.add_item("x", 0, &ctx),
            Err(ListError::InvalidQuantity(0))
        ));
        assert!(matches!(
            l.add_item("x", -3, &ctx),
            Err(ListError::InvalidQuantity(-3))
        ));
        assert!(matches!(
            l.buy_item("nope", None, &ctx),
            Err(ListError::UnknownItem(_))
        ));
        assert!(matches!(
            l.remove_item("nope", &ctx),
            Err(ListError::UnknownItem(_))
        ));
        assert!(matches!(l.rename("", &ctx), Err(ListError::InvalidName(_))));
        assert_eq!(l.heads(), heads);
    }
}
