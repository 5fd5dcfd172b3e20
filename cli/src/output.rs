//! What commands print: the `--json` documents (stable field names,
//! documented in `cli/README-cli.md`) and their human renderings.
//!
//! Every command builds one of these documents; `--json` serializes it, the
//! default prints [`Render::human`]. Keeping both views on one struct means a
//! field shown to people is also available to scripts.

use engine::list::{HistoryEntry, ListView};
use engine::ListId;
use serde::Serialize;

use crate::timefmt;

/// Human rendering of a document.
pub trait Render {
    /// The text printed without `--json` (ends without a newline).
    fn human(&self) -> String;
}

/// `new`: the created list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDoc {
    /// UUID.
    pub id: ListId,
    /// Share URL.
    pub url: String,
    /// Name.
    pub name: String,
}

impl Render for NewDoc {
    fn human(&self) -> String {
        self.url.clone()
    }
}

/// One item of [`ShowDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemDoc {
    /// Display name.
    pub name: String,
    /// How many are wanted.
    pub needed: i64,
    /// How many were bought.
    pub acquired: i64,
    /// `acquired >= needed`.
    pub done: bool,
    /// Who added it first.
    pub added_by: String,
    /// When it was first added (unix ms).
    pub added_at_ms: i64,
}

/// `show` (and the result of `add`, `buy`, `rm`, `rename`, `join`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShowDoc {
    /// UUID.
    pub id: ListId,
    /// Share URL.
    pub url: String,
    /// Name (the deterministic winner of concurrent renames).
    pub name: String,
    /// Names written concurrently with the winner, kept visible.
    pub other_names: Vec<String>,
    /// Items sorted by normalized name.
    pub items: Vec<ItemDoc>,
    /// Local changes not yet acknowledged by the cloud.
    pub pending: usize,
}

impl ShowDoc {
    /// From a materialized list.
    pub fn new(id: ListId, view: ListView, pending: usize) -> Self {
        ShowDoc {
            id,
            url: id.url(),
            name: view.name,
            other_names: view.other_names,
            items: view
                .items
                .into_iter()
                .map(|i| ItemDoc {
                    name: i.name,
                    needed: i.needed,
                    acquired: i.acquired,
                    done: i.done,
                    added_by: i.added_by,
                    added_at_ms: i.added_at,
                })
                .collect(),
            pending,
        }
    }
}

impl Render for ShowDoc {
    fn human(&self) -> String {
        let mut out = format!("{}  {}", self.name, self.url);
        if !self.other_names.is_empty() {
            out += &format!("\n  (also named: {})", self.other_names.join(", "));
        }
        if self.items.is_empty() {
            out += "\n  (no items)";
        }
        let width = self
            .items
            .iter()
            .map(|i| i.name.chars().count())
            .max()
            .unwrap_or(0);
        for i in &self.items {
            let mark = if i.done { "[x]" } else { "[ ]" };
            out += &format!(
                "\n  {mark} {:<width$}  {}/{} bought",
                i.name, i.acquired, i.needed
            );
        }
        if self.pending > 0 {
            out += &format!("\n  {} edit(s) not yet synced", self.pending);
        }
        out
    }
}

/// One entry of `ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LsEntry {
    /// UUID.
    pub id: ListId,
    /// Share URL.
    pub url: String,
    /// Name.
    pub name: String,
    /// Number of items.
    pub items: usize,
    /// Number of items done.
    pub done: usize,
    /// Local changes not yet acknowledged by the cloud.
    pub pending: usize,
}

/// `ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LsDoc(pub Vec<LsEntry>);

impl Render for LsDoc {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no lists yet: create one with `shoplist new NAME`".into();
        }
        let width = self
            .0
            .iter()
            .map(|e| e.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!("{:<width$}  ITEMS  UNSYNCED  URL", "NAME");
        for e in &self.0 {
            out += &format!(
                "\n{:<width$}  {:>5}  {:>8}  {}",
                e.name,
                format!("{}/{}", e.done, e.items),
                e.pending,
                e.url
            );
        }
        out
    }
}

/// One entry of `status` (and of `sync`, which adds `sent`/`received`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// UUID.
    pub id: ListId,
    /// Name.
    pub name: String,
    /// Local changes not yet acknowledged by the cloud.
    pub pending: usize,
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StatusDoc(pub Vec<StatusEntry>);

impl Render for StatusDoc {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no lists yet".into();
        }
        self.0
            .iter()
            .map(|e| match e.pending {
                0 => format!("{}: in sync with the cloud", e.name),
                n => format!("{}: {n} edit(s) not yet acknowledged by the cloud", e.name),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `share`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareDoc {
    /// UUID.
    pub id: ListId,
    /// Share URL.
    pub url: String,
}

impl Render for ShareDoc {
    fn human(&self) -> String {
        self.url.clone()
    }
}

/// One entry of `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncEntry {
    /// UUID.
    pub id: ListId,
    /// Name after the sync.
    pub name: String,
    /// Changes sent.
    pub sent: usize,
    /// Changes received and applied.
    pub received: usize,
    /// Local changes still unacknowledged.
    pub pending: usize,
}

/// `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SyncDoc(pub Vec<SyncEntry>);

impl Render for SyncDoc {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no lists to sync".into();
        }
        self.0
            .iter()
            .map(|e| {
                format!(
                    "{}: sent {}, received {}, {} pending",
                    e.name, e.sent, e.received, e.pending
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One entry of `log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// Change hash (hex).
    pub hash: String,
    /// Author.
    pub by: String,
    /// Author's device actor id (hex).
    pub actor: String,
    /// Unix ms by the author's clock.
    pub time_ms: i64,
    /// The same as `YYYY-MM-DD HH:MM:SS UTC`.
    pub time: String,
    /// What happened.
    pub what: String,
}

impl From<HistoryEntry> for LogEntry {
    fn from(h: HistoryEntry) -> Self {
        LogEntry {
            time: timefmt::utc(h.time_ms),
            hash: h.hash,
            by: h.by,
            actor: h.actor,
            time_ms: h.time_ms,
            what: h.what,
        }
    }
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LogDoc(pub Vec<LogEntry>);

impl Render for LogDoc {
    fn human(&self) -> String {
        let width = self
            .0
            .iter()
            .map(|e| e.by.chars().count())
            .max()
            .unwrap_or(0);
        self.0
            .iter()
            .map(|e| format!("{}  {:<width$}  {}", e.time, e.by, e.what))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests;
