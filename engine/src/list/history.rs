//! The list's history, read from Automerge change metadata: who changed what, when.

use automerge::ChangeHash;
use serde::Serialize;

use super::edit::{describe_message, ChangeMessage};
use super::ShoppingList;

/// One change in the history.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The change hash (hex).
    pub hash: String,
    /// Who made it (from the change message; the actor id when absent).
    pub by: String,
    /// The device's Automerge actor id (hex): since protocol v2 its
    /// Ed25519 public key, the key that signed the change.
    pub actor: String,
    /// The change's sequence number for its actor.
    pub seq: u64,
    /// Unix milliseconds as stamped by the author's clock (a change time
    /// written in seconds, as JS Automerge does, is read as seconds).
    pub time_ms: i64,
    /// What happened, e.g. `add 2 × Milk`.
    pub what: String,
    /// The kind of edit: `create`, `add`, `buy`, `unbuy`, `rm`, `rename`,
    /// `undo` (empty when the change carries no readable message).
    pub op: String,
    /// The item or name the edit was about, as typed.
    pub item: Option<String>,
}

impl ShoppingList {
    /// All changes in causal (topological) order.
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                let actor = m.actor.to_hex_string();
                let parsed: Option<ChangeMessage> = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok());
                let (by, what, op, item) = match parsed {
                    Some(msg) => (
                        msg.by.clone(),
                        describe_message(&msg),
                        msg.op.clone(),
                        msg.item.clone(),
                    ),
                    None => (
                        actor.chars().take(8).collect(),
                        m.message.as_deref().unwrap_or("(no message)").to_string(),
                        String::new(),
                        None,
                    ),
                };
                HistoryEntry {
                    hash: hex_hash(&m.hash),
                    by,
                    actor,
                    seq: m.seq,
                    time_ms: super::lenient::time_ms(m.timestamp),
                    what,
                    op,
                    item,
                }
            })
            .collect()
    }
}

fn hex_hash(h: &ChangeHash) -> String {
    crate::ids::hash_to_hex(h)
}
