//! Typed edits: each public edit is one Automerge transaction, committed as
//! one change with a message saying who did what (read back by `history`).

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, ROOT};
use serde::{Deserialize, Serialize};

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
}

/// Normalize a product name: trimmed, inner whitespace collapsed, case-folded.
/// "Milk" and " milk " are the same product.
pub fn normalize(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
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

/// A fresh value for the `live` register: every add/update writes a new one,
/// so it is never a no-op and always outlives a concurrent removal.
fn live_token() -> i64 {
    (uuid::Uuid::new_v4().as_u64_pair().0 >> 1) as i64
}

/// An item object created by an edit: (norm, key, object).
type NewItem = Option<(String, String, ObjId)>;

fn fresh_item_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl ShoppingList {
    fn commit(
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
        let msg = ChangeMessage {
            by: ctx.by.clone(),
            op: "create".into(),
            item: Some(name.clone()),
            n: None,
        };
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

    /// Add an item, or need `qty` more of it. Returns the item's display name.
    pub fn add_item(&mut self, name: &str, qty: i64, ctx: &EditContext) -> Result<(), ListError> {
        let display = check_name(name, MAX_ITEM_NAME)?;
        let qty = check_qty(qty)?;
        let norm = normalize(&display);
        let items = self.items_obj()?;
        let existing = self.live_objects(&norm);
        let msg = ChangeMessage {
            by: ctx.by.clone(),
            op: "add".into(),
            item: Some(display.clone()),
            n: Some(qty),
        };
        self.commit(ctx, msg, |tx| {
            if let Some(obj) = existing.first() {
                tx.increment(obj, "needed", qty)?;
                tx.put(obj, "live", live_token())?;
                Ok(None)
            } else {
                let key = fresh_item_key();
                let obj = tx.put_object(&items, key.as_str(), ObjType::Map)?;
                tx.put(&obj, "name", display.as_str())?;
                tx.put(&obj, "norm", norm.as_str())?;
                tx.put(&obj, "needed", ScalarValue::counter(qty))?;
                tx.put(&obj, "acquired", ScalarValue::counter(0))?;
                tx.put(&obj, "added_by", ctx.by.as_str())?;
                tx.put(&obj, "added_at", ctx.now_ms)?;
                tx.put(&obj, "live", live_token())?;
                Ok(Some((norm.clone(), key, obj)))
            }
        })
    }

    /// Acquire `qty` of an item; `None` means "all still needed". Returns the
    /// quantity recorded (0 when nothing was still needed: no change is made).
    pub fn buy_item(
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
        let qty = match qty {
            Some(q) => check_qty(q)?,
            None => {
                let (needed, acquired) = objs
                    .iter()
                    .map(|o| read_item(&self.doc, o))
                    .fold((0i64, 0i64), |(n, a), f| {
                        (n.saturating_add(f.needed), a.saturating_add(f.acquired))
                    });
                needed.saturating_sub(acquired).max(0)
            }
        };
        if qty == 0 {
            return Ok(0);
        }
        let msg = ChangeMessage {
            by: ctx.by.clone(),
            op: "buy".into(),
            item: Some(name.trim().to_string()),
            n: Some(qty),
        };
        self.commit(ctx, msg, |tx| {
            tx.increment(&first, "acquired", qty)?;
            tx.put(&first, "live", live_token())?;
            Ok(None)
        })?;
        Ok(qty)
    }

    /// Remove an item (every live object with its normalized name).
    pub fn remove_item(&mut self, name: &str, ctx: &EditContext) -> Result<(), ListError> {
        let norm = normalize(name);
        let objs = self.live_objects(&norm);
        if objs.is_empty() {
            return Err(ListError::UnknownItem(name.trim().to_string()));
        }
        let msg = ChangeMessage {
            by: ctx.by.clone(),
            op: "rm".into(),
            item: Some(name.trim().to_string()),
            n: None,
        };
        self.commit(ctx, msg, |tx| {
            for obj in &objs {
                tx.delete(obj, "live")?;
            }
            Ok(None)
        })
    }

    /// Rename the list.
    pub fn rename(&mut self, name: &str, ctx: &EditContext) -> Result<(), ListError> {
        let name = check_name(name, MAX_LIST_NAME)?;
        self.items_obj()?;
        let msg = ChangeMessage {
            by: ctx.by.clone(),
            op: "rename".into(),
            item: Some(name.clone()),
            n: None,
        };
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
    fn normalize_trims_and_case_folds() {
        assert_eq!(normalize("  Milk "), "milk");
        assert_eq!(normalize("Oat   MILK"), "oat milk");
    }

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
