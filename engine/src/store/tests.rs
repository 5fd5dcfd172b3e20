//! Store tests on real SQLite files in a temp dir (DESIGN §3).

use super::*;
use crate::list::EditContext;

fn ctx() -> EditContext {
    EditContext::now("tester")
}

fn temp_store(dir: &tempfile::TempDir, opts: StoreOptions) -> Store {
    Store::open_with(dir.path().join("s.db"), opts).unwrap()
}

#[test]
fn edits_survive_reopen_and_identity_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let (id, actor, client) = {
        let mut s = temp_store(&dir, StoreOptions::default());
        let id = s.create_list("Groceries", &ctx()).unwrap();
        s.edit(id, |l| l.add_item("Milk", 2, &ctx())).unwrap();
        (id, s.actor().clone(), s.client_id())
    };
    let mut s = temp_store(&dir, StoreOptions::default());
    assert_eq!(s.actor(), &actor);
    assert_eq!(s.client_id(), client);
    assert_eq!(s.list_ids().unwrap(), vec![id]);
    let v = s.view(id).unwrap();
    assert_eq!(v.name, "Groceries");
    assert_eq!(v.items[0].needed, 2);
    assert!(s.integrity_ok().unwrap());
}

#[test]
fn refused_edit_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = temp_store(&dir, StoreOptions::default());
    let id = s.create_list("L", &ctx()).unwrap();
    let heads = s.heads(id).unwrap();
    assert!(matches!(
        s.edit(id, |l| l.add_item("x", 0, &ctx())),
        Err(StoreError::List(ListError::InvalidQuantity(0)))
    ));
    assert_eq!(s.heads(id).unwrap(), heads);
    assert!(matches!(
        s.view(ListId::new_random()),
        Err(StoreError::UnknownList(_))
    ));
}

#[test]
fn pending_counts_unacknowledged_local_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = temp_store(&dir, StoreOptions::default());
    let id = s.create_list("L", &ctx()).unwrap();
    assert_eq!(s.pending(id).unwrap(), 1);
    s.edit(id, |l| l.add_item("a", 1, &ctx())).unwrap();
    assert_eq!(s.pending(id).unwrap(), 2);
    let heads = s.heads(id).unwrap();
    s.set_acked_heads(id, &heads).unwrap();
    assert_eq!(s.pending(id).unwrap(), 0);
    s.edit(id, |l| l.add_item("b", 1, &ctx())).unwrap();
    assert_eq!(s.pending(id).unwrap(), 1);
    let (changes, _) = s.changes_for(id, &heads).unwrap();
    assert_eq!(changes.len(), 1);
}

/// DESIGN §3: compaction writes the snapshot and deletes the bytes it covers
/// in one transaction; the list reloads identically and old changes can
/// still be served to a peer that lacks them.
#[test]
fn compaction_replaces_rows_and_keeps_everything_servable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        compact_after: 10,
        ..StoreOptions::default()
    };
    let mut s = temp_store(&dir, opts.clone());
    let id = s.create_list("L", &ctx()).unwrap();
    for i in 0..25 {
        s.edit(id, |l| l.add_item(&format!("item{i}"), 1, &ctx()))
            .unwrap();
    }
    let with_bytes: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM changes WHERE bytes IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        with_bytes < 10,
        "compaction should have deleted bytes, {with_bytes} left"
    );
    let view = s.view(id).unwrap();
    let (all, heads) = s.changes_for(id, &[]).unwrap();
    assert_eq!(all.len(), 26);
    drop(s);
    let mut s = temp_store(&dir, opts);
    assert_eq!(s.view(id).unwrap(), view);
    assert_eq!(s.heads(id).unwrap(), heads);
    // A fresh replica can rebuild the list from what we serve.
    let dir2 = tempfile::tempdir().unwrap();
    let mut peer = temp_store(&dir2, StoreOptions::default());
    let out = peer.ingest(id, &all).unwrap();
    assert_eq!(out.applied.len(), 26);
    assert_eq!(peer.view(id).unwrap(), view);
}

/// Two handles on one file (a CLI command while `sync --watch` runs): each
/// sees the other's edits and the device actor never reuses a seq.
#[test]
fn two_handles_on_one_file_interleave_safely() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        compact_after: 4,
        ..StoreOptions::default()
    };
    let mut a = temp_store(&dir, opts.clone());
    let mut b = temp_store(&dir, opts);
    let id = a.create_list("L", &ctx()).unwrap();
    for i in 0..10 {
        a.edit(id, |l| l.add_item("milk", 1, &ctx())).unwrap();
        b.edit(id, |l| l.add_item(&format!("b{i}"), 1, &ctx()))
            .unwrap();
    }
    let va = a.view(id).unwrap();
    let vb = b.view(id).unwrap();
    assert_eq!(va, vb);
    assert_eq!(
        va.items.iter().find(|i| i.key == "milk").unwrap().needed,
        10
    );
    assert_eq!(va.items.len(), 11);
}

#[test]
fn a_damaged_snapshot_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut s = temp_store(&dir, StoreOptions::default());
        let id = s.create_list("L", &ctx()).unwrap();
        s.edit(id, |l| l.add_item("x", 1, &ctx())).unwrap();
        s.compact(id).unwrap();
        s.conn
            .execute("UPDATE lists SET snapshot = x'856f4a83deadbeef00'", [])
            .unwrap();
        id
    };
    let mut s = temp_store(&dir, StoreOptions::default());
    assert!(matches!(s.view(id), Err(StoreError::Corrupt { .. })));
}

/// A data dir from protocol v1 (schema 1: unsigned changes, a random actor)
/// is refused with a message that names the migration (README "Upgrading
/// from version 1"); nothing in it is changed.
#[test]
fn a_version_1_store_is_refused_with_a_clear_message() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             INSERT INTO meta VALUES ('schema_version', '1');
             INSERT INTO meta VALUES ('actor', x'00112233445566778899aabbccddeeff');
             CREATE TABLE changes (id INTEGER PRIMARY KEY AUTOINCREMENT, list_id BLOB NOT NULL,
                 hash BLOB NOT NULL, deps BLOB NOT NULL, actor BLOB NOT NULL, seq INTEGER NOT NULL,
                 bytes BLOB, UNIQUE (list_id, hash));",
        )
        .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaV1(1)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("protocol v1") && text.contains("Upgrading from version 1"),
        "{text}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let keys: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM meta WHERE key = 'signing_key'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keys, 0, "a refused store gets no key");
}
