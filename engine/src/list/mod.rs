//! The shopping-list CRDT: one Automerge document per list (DESIGN §2).
//!
//! ## Document layout
//!
//! ```text
//! ROOT
//! ├── "name"  : str                      list name (concurrent renames conflict;
//! │                                      one deterministic winner, the rest kept
//! │                                      in `ListView::other_names`)
//! └── "items" : map  item-key -> map     item-key = random 128-bit hex, unique
//!      ├── "name"     : str              display name as first typed
//!      ├── "norm"     : str              normalized name (see `normalize`)
//!      ├── "needs"    : map token -> int one entry per `add`: needed = the sum
//!      ├── "buys"     : map token -> int one entry per buy (negative: un-buy)
//!      ├── "buyers"   : map token -> str who made each buy
//!      ├── "category" : str (optional)   "dairy": grouped by it
//!      ├── "note"     : str (optional)   "lactose-free, 1 L"
//!      ├── "added_by" : str              who added it
//!      ├── "added_at" : int              unix milliseconds
//!      └── "live"     : int              present while the item is on the list
//! ```
//!
//! Quantities are observed-remove sets of contributions ([`quantities`]):
//! a removal clears what it saw, a concurrent addition survives. Items
//! written by older versions carry `needed` / `acquired` counters instead,
//! still read and cleared.
//!
//! Items are never deleted from `items`: removal deletes `live` (and the
//! contributions it saw), and every add
//! or update *rewrites* `live` with a fresh random value. In Automerge a delete
//! only removes the values it has seen, so a concurrent update survives a
//! concurrent removal: **add/update wins**. A product re-added after removal
//! gets a fresh item key, so its quantities start from zero instead of
//! resurrecting old counts.
//!
//! Reads fold: every conflicting value of every key is read with `get_all`,
//! contributions (and legacy counters) are summed, and all live item objects
//! with the same normalized name are shown as one item whose quantities are
//! the sums. So concurrent adds of the same product combine, and no quantity
//! can silently vanish. See README "Merge semantics" for the table and
//! `tests::semantics` for one test per row.

mod edit;
mod error;
mod history;
mod index;
mod lenient;
mod normalize;
mod quantities;
#[cfg(feature = "store")]
mod replay;
mod undo;
mod view;

pub use edit::{
    Bought, EditContext, ItemDetails, MAX_CATEGORY, MAX_ITEM_NAME, MAX_LIST_NAME, MAX_LIVE,
    MAX_NOTE, MAX_QTY,
};
pub use error::ListError;
pub use history::HistoryEntry;
pub use normalize::normalize;
pub use undo::Undone;
pub use view::{time_ms, ItemView, ListView, MAX_WARNINGS};

use std::sync::{Mutex, MutexGuard};

use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, ReadDoc};

use index::NormIndex;

/// A shopping list: an Automerge document with typed edits and folded reads.
#[derive(Debug)]
pub struct ShoppingList {
    doc: Automerge,
    index: Mutex<NormIndex>,
}

impl Clone for ShoppingList {
    fn clone(&self) -> Self {
        ShoppingList {
            doc: self.doc.clone(),
            index: Mutex::new(self.lock_index().clone()),
        }
    }
}

impl ShoppingList {
    /// An empty document (no name, no items) for `actor`; the state of a list
    /// joined from the cloud before any change arrived.
    pub fn empty(actor: ActorId) -> Self {
        Self::from_doc(Automerge::new().with_actor(actor))
    }

    /// Create a new list named `name`: one change that sets the name and
    /// creates the `items` map.
    pub fn create(actor: ActorId, name: &str, ctx: &EditContext) -> Result<Self, ListError> {
        let mut list = Self::empty(actor);
        list.init(name, ctx)?;
        Ok(list)
    }

    /// Wrap an existing document (loaded from the local store).
    pub fn from_doc(doc: Automerge) -> Self {
        ShoppingList {
            doc,
            index: Mutex::new(NormIndex::default()),
        }
    }

    fn lock_index(&self) -> MutexGuard<'_, NormIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `items` map's object id, as text (`counter@actor`).
    fn items_text(&self) -> Option<String> {
        match self.doc.get(automerge::ROOT, "items") {
            Ok(Some((automerge::Value::Object(automerge::ObjType::Map), id))) => {
                Some(id.to_string())
            }
            _ => None,
        }
    }

    /// Apply (already validated) changes, keeping the item index current in
    /// time proportional to the changes.
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> Result<(), automerge::AutomergeError> {
        let before = self.doc.get_heads();
        let items = self.items_text();
        let found = self
            .lock_index()
            .scan_changes(&before, &changes, items.as_deref());
        self.doc.apply_changes(changes)?;
        let doc = &self.doc;
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note_applied(doc, found);
        Ok(())
    }

    /// The live item objects with normalized name `norm`, ordered by key.
    pub(crate) fn live_objects(&self, norm: &str) -> Vec<ObjId> {
        let mut idx = self.lock_index();
        idx.refresh(&self.doc);
        idx.objects(norm)
            .into_iter()
            .filter(|o| !self.doc.get_all(o, "live").unwrap_or_default().is_empty())
            .collect()
    }

    /// The underlying document.
    pub fn doc(&self) -> &Automerge {
        &self.doc
    }

    /// Mutable access, for the store and ingestion (apply changes).
    pub fn doc_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }

    /// Current heads, sorted.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The change this document's actor made last (the one an edit just committed).
    pub fn last_local_change(&self) -> Option<Change> {
        self.doc.get_last_local_change()
    }
}

#[cfg(test)]
mod foreign_tests;
#[cfg(test)]
mod tests;
