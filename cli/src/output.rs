//! What commands print: the `--json` documents (stable field names,
//! documented in `cli/README-cli.md`) and their human renderings.
//!
//! Every command builds one of these documents; `--json` serializes it, the
//! default prints [`Render::human`]. Keeping both views on one struct means a
//! field shown to people is also available to scripts.

mod show;
pub mod text;

pub use show::{ItemDoc, ShowDoc, BOUGHT_SECTION, NAME_COLUMN_MAX};

use engine::list::HistoryEntry;
use engine::ListId;
use serde::Serialize;

use crate::timefmt;
use text::{pad, width};

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
    /// Hidden from `ls` unless `--all`.
    pub archived: bool,
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
        let cols = self
            .0
            .iter()
            .map(|e| width(&e.name) + if e.archived { 11 } else { 0 })
            .filter(|w| *w <= NAME_COLUMN_MAX)
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = format!("{}  ITEMS  UNSYNCED  URL", pad("NAME", cols));
        for e in &self.0 {
            let name = if e.archived {
                format!("{} (archived)", e.name)
            } else {
                e.name.clone()
            };
            out += &format!(
                "\n{}  {:>5}  {:>8}  {}",
                pad(&name, cols),
                format!("{}/{}", e.done, e.items),
                e.pending,
                e.url
            );
        }
        out
    }
}

/// One entry of `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// UUID.
    pub id: ListId,
    /// Name.
    pub name: String,
    /// Local changes not yet acknowledged by the cloud.
    pub pending: usize,
    /// When the cloud last answered a sync of this list (unix ms), or null.
    pub last_synced_ms: Option<i64>,
    /// The same, formatted (local time unless `--utc`), or null.
    pub last_synced: Option<String>,
    /// `reachable` or `unreachable` (asked just now).
    pub cloud: String,
    /// With a reachable cloud: how many changes the cloud has that this
    /// device lacks (0: up to date); null when the cloud was not reached.
    pub cloud_ahead: Option<usize>,
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
            .map(|e| {
                let ours = match e.pending {
                    0 => "the cloud has every edit made here".to_string(),
                    n => format!("{n} edit(s) here not yet acknowledged by the cloud"),
                };
                let theirs = match e.cloud_ahead {
                    Some(0) if e.last_synced_ms.is_none() => {
                        "and the cloud does not have this list yet (`shoplist sync` or `shoplist share` puts it there)".to_string()
                    }
                    Some(0) => "and this device has every edit the cloud has".to_string(),
                    Some(n) => format!(
                        "and the cloud has {n} edit(s) this device lacks (run `shoplist sync`)"
                    ),
                    None => "the cloud cannot be reached now".to_string(),
                };
                let seen = match &e.last_synced {
                    Some(t) => format!("last synced {t}"),
                    None => "never synced".to_string(),
                };
                let sep = if e.cloud_ahead.is_some() { " " } else { "; " };
                format!("{}: {ours}{sep}{theirs}; {seen}", e.name)
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
    /// The public key (hex) of the device that signed the change (protocol
    /// v2: the actor id is the signing key, PROTOCOL §2.1).
    pub signed_by: String,
    /// The change's sequence number for its actor.
    pub seq: u64,
    /// Unix ms by the author's clock.
    pub time_ms: i64,
    /// The same as `YYYY-MM-DD HH:MM:SS` and the zone (local, or `UTC`
    /// with `--utc`).
    pub time: String,
    /// What happened.
    pub what: String,
}

impl LogEntry {
    /// From a history entry; the time in UTC or the local zone.
    pub fn new(h: HistoryEntry, utc: bool) -> Self {
        LogEntry {
            time: timefmt::format(h.time_ms, utc),
            hash: h.hash,
            by: h.by,
            signed_by: h.actor.clone(),
            actor: h.actor,
            seq: h.seq,
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
        let cols = self.0.iter().map(|e| width(&e.by)).max().unwrap_or(0);
        self.0
            .iter()
            .map(|e| {
                let device: String = e.signed_by.chars().take(8).collect();
                format!(
                    "{}  {}  [device {device}]  {}",
                    e.time,
                    pad(&e.by, cols),
                    e.what
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests;

/// `undo` with `--json`: what was reverted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndoDoc {
    /// UUID.
    pub id: ListId,
    /// The list's name.
    pub name: String,
    /// What the reverted edit did (`add 2 × Milk`).
    pub undone: String,
    /// The reverted change's hash.
    pub hash: String,
}

impl Render for UndoDoc {
    fn human(&self) -> String {
        format!("{}: undid \"{}\"", self.name, self.undone)
    }
}

/// `delete`, `archive`, `unarchive`: the list and its new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleDoc {
    /// UUID.
    pub id: ListId,
    /// Share URL.
    pub url: String,
    /// Name.
    pub name: String,
    /// `deleted`, `archived` or `unarchived`.
    pub state: String,
}

impl LifecycleDoc {
    /// The document for `id`.
    pub fn new(id: ListId, name: String, state: &str) -> Self {
        LifecycleDoc {
            id,
            url: id.url(),
            name,
            state: state.into(),
        }
    }
}

impl Render for LifecycleDoc {
    fn human(&self) -> String {
        format!("{}: {}", self.name, self.state)
    }
}
