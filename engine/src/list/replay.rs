//! Replaying an edit's intent (PROTOCOL §5.2): after an actor clash a
//! device rebuilds a list from what the cloud acknowledged and makes its
//! unacknowledged edits again, as new changes, from their change messages
//! (`{"by","op","item","n"}`, see [`super::edit`]).

use automerge::{ChangeHash, ReadDoc};

use super::edit::ChangeMessage;
use super::{EditContext, ShoppingList};

impl ShoppingList {
    /// The intent (change message) of change `hash`, if it has a readable one.
    pub(crate) fn intent_of(&self, hash: &ChangeHash) -> Option<ChangeMessage> {
        let change = self.doc.get_change_by_hash(hash)?;
        serde_json::from_str(change.message()?).ok()
    }

    /// Make the edit `intent` describes again, as a new change by this
    /// document's actor, stamped `now_ms`. `false` (and no change) when it no
    /// longer applies: an unknown item, nothing left to buy, an `undo`
    /// (whose target is gone), a `create` of a list that exists.
    pub(crate) fn replay(&mut self, intent: &ChangeMessage, now_ms: i64) -> bool {
        let ctx = EditContext {
            by: intent.by.clone(),
            now_ms,
        };
        let item = intent.item.clone().unwrap_or_default();
        let before = self.doc.get_heads();
        let done = match intent.op.as_str() {
            "create" if self.doc.get_heads().is_empty() => self.init(&item, &ctx).is_ok(),
            "add" => self.add_item(&item, intent.n.unwrap_or(1), &ctx).is_ok(),
            "buy" => self.buy_item(&item, intent.n, &ctx).is_ok(),
            "unbuy" => self.unbuy_item(&item, intent.n, &ctx).is_ok(),
            "rm" => self.remove_item(&item, &ctx).is_ok(),
            "rename" => self.rename(&item, &ctx).is_ok(),
            _ => false,
        };
        done && self.doc.get_heads() != before
    }
}
