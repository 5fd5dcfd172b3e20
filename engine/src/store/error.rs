//! Store errors.

use crate::ingest::IngestError;
use crate::list::ListError;
use crate::ListId;

/// Everything that can go wrong in the store. Nothing is written when an
/// operation returns an error (each operation is one SQLite transaction).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (I/O, locking, a full disk).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The list is not in this store.
    #[error("unknown list {0}")]
    UnknownList(ListId),
    /// The edit was refused.
    #[error(transparent)]
    List(#[from] ListError),
    /// Incoming change bytes were rejected.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Stored data could not be decoded (a damaged file); nothing was changed.
    #[error("stored data for list {list} is damaged: {detail}")]
    Corrupt {
        /// The list whose rows failed to decode.
        list: ListId,
        /// What failed.
        detail: String,
    },
    /// A snapshot from the network failed the guarded loader (fresh open,
    /// PROTOCOL §4.2.1); nothing was stored, sync change by change instead.
    #[error(transparent)]
    Snapshot(#[from] crate::load::LoadError),
    /// A fresh open from a snapshot of a list the store already holds.
    #[error("list {0} is already in this store; a snapshot only opens a list afresh")]
    AlreadyHeld(ListId),
    /// A change that came inside a snapshot (so without its own signature)
    /// was asked for: this device can serve only changes it holds signed.
    #[error("change {change} of list {list} came in a snapshot without its own signature; this device cannot resend it")]
    NotSignedHere {
        /// The list.
        list: ListId,
        /// Hex of the change hash.
        change: String,
    },
    /// The database was written by a newer shoplist.
    #[error("database schema version {0} is newer than this program supports")]
    SchemaTooNew(i64),
    /// The database was written by a protocol-v1 shoplist: its changes are
    /// unsigned, and version 2 neither signs them after the fact nor syncs
    /// them (README "Upgrading from version 1").
    #[error("database schema version {0} was written by shoplist protocol v1 (unsigned changes), which this version cannot use; move this data dir aside and start a fresh one (README \"Upgrading from version 1\")")]
    SchemaV1(i64),
}
