//! The SQLite schema (DESIGN §3) and its migration.
//!
//! ```text
//! meta(key, value)                       device signing key, client id, schema version
//! lists(list_id, created_at,             one row per known list
//!       acked_heads,                     heads a cloud quorum acknowledged (32-byte hashes)
//!       snapshot, snapshot_heads,        compacted Automerge document, or NULL
//!       graph_rows)                      1: every change of the snapshot has a row;
//!                                        0: opened from a snapshot (fresh open), whose
//!                                        changes have none (the graph starts from it)
//! changes(id, list_id, hash, deps,       one row per change, in the order applied
//!         actor, seq, bytes, sig)        (so `id` order is topological); `bytes` is
//!                                        NULL once a snapshot covers the change;
//!                                        `sig` (64 bytes) is kept for ever
//! hints(list_id, home, at)              cloud worker: `home` lacks the list (handoff)
//! quarantine(digest, reason, at)         change bytes that crashed the decoder once
//! list_local(list_id, archived,          this device's own facts about a list, never
//!            cloud_seen_at)              synced: archived?, last reply from the cloud
//! ```
//!
//! Graph metadata (hash, deps, actor, seq) is kept for every change even after
//! compaction, so the change-graph index can be rebuilt without decoding the
//! snapshot's history.

use rusqlite::Connection;

use super::StoreError;

/// The schema version this code writes. Version 2 (protocol v2) added the
/// signing key and `changes.sig`; version 3 `lists.graph_rows` (fresh open
/// from a snapshot), migrated from 2 in place.
pub const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS lists (
    list_id        BLOB PRIMARY KEY,
    created_at     INTEGER NOT NULL,
    acked_heads    BLOB NOT NULL DEFAULT x'',
    snapshot       BLOB,
    snapshot_heads BLOB,
    graph_rows     INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id BLOB NOT NULL,
    hash    BLOB NOT NULL,
    deps    BLOB NOT NULL,
    actor   BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    bytes   BLOB,
    sig     BLOB NOT NULL,
    UNIQUE (list_id, hash)
);
CREATE INDEX IF NOT EXISTS changes_by_list ON changes (list_id, id);
CREATE TABLE IF NOT EXISTS list_local (
    list_id       BLOB PRIMARY KEY,
    archived      INTEGER NOT NULL DEFAULT 0,
    cloud_seen_at INTEGER
);
CREATE TABLE IF NOT EXISTS hints (
    list_id BLOB NOT NULL,
    home    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (list_id, home)
);
CREATE TABLE IF NOT EXISTS quarantine (
    digest BLOB PRIMARY KEY,
    reason TEXT NOT NULL,
    at     INTEGER NOT NULL
);
";

/// Open-time setup: pragmas, tables, version check.
pub fn migrate(conn: &Connection, synchronous_full: bool) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if synchronous_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    let version: Option<i64> = conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok();
    match version {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaTooNew(v)),
        Some(2) => migrate_2_to_3(conn),
        Some(v) if v < SCHEMA_VERSION => Err(StoreError::SchemaV1(v)),
        Some(_) => Ok(()),
        None => {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
            Ok(())
        }
    }
}

/// 2 → 3: one column whose default says what every version-2 list is (all
/// its changes have rows), in one transaction that re-reads the version
/// under the write lock (another process may have just migrated).
fn migrate_2_to_3(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let step = || -> Result<(), StoreError> {
        let version: i64 = conn.query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )?;
        if version == 2 {
            conn.execute_batch(
                "ALTER TABLE lists ADD COLUMN graph_rows INTEGER NOT NULL DEFAULT 1;
                 UPDATE meta SET value = '3' WHERE key = 'schema_version';",
            )?;
        }
        Ok(())
    };
    match step() {
        Ok(()) => Ok(conn.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
