//! Fresh open end to end on real SQLite files: a replica serves a list as
//! one document ([`Store::snapshot_for`]), a fresh device stores it
//! ([`Store::open_from_snapshot`]) and works on from it, and tampered or
//! wrongly signed snapshots store nothing.

use super::*;
use crate::list::EditContext;
use crate::load::{ActorSignature, LoadError};

fn ctx() -> EditContext {
    EditContext::now("tester")
}

fn replica_opts() -> StoreOptions {
    StoreOptions {
        compact_after: 40,
        synchronous_full: false,
        ..StoreOptions::default()
    }
}

/// A replica holding one list of 272 changes by two authors (compacted
/// once along the way); and the list.
fn replica(dir: &std::path::Path) -> (Store, ListId) {
    let mut author = Store::open(dir.join("author.db")).unwrap();
    let id = author.create_list("Groceries", &ctx()).unwrap();
    for i in 0..150 {
        author
            .edit(id, |l| l.add_item(&format!("a{i}"), 1, &ctx()))
            .unwrap();
    }
    let mut other = Store::open(dir.join("other.db")).unwrap();
    let (all, _) = author.changes_for(id, &[]).unwrap();
    other.ingest(id, &all).unwrap();
    for i in 0..120 {
        other
            .edit(id, |l| l.add_item(&format!("b{i}"), 2, &ctx()))
            .unwrap();
    }
    let mut replica = Store::open_with(dir.join("replica.db"), replica_opts()).unwrap();
    let (all, _) = other.changes_for(id, &[]).unwrap();
    replica.ingest(id, &all).unwrap();
    replica.compact(id).unwrap();
    // Changes after the snapshot.
    let before = author.heads(id).unwrap();
    author.ingest(id, &all).unwrap();
    author.edit(id, |l| l.add_item("after", 3, &ctx())).unwrap();
    let (late, _) = author.changes_for(id, &before).unwrap();
    replica.ingest(id, &late).unwrap();
    (replica, id)
}

fn serve(replica: &mut Store, id: ListId) -> ServedSnapshot {
    replica
        .snapshot_for(id)
        .unwrap()
        .expect("a snapshot is offered")
}

#[test]
fn a_fresh_device_opens_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    let served = serve(&mut replica, id);
    assert_eq!(served.signatures.len(), 2, "one per actor");
    assert_eq!(served.heads, replica.heads(id).unwrap());

    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let n = fresh
        .open_from_snapshot(id, &served.doc, &served.heads, &served.signatures)
        .unwrap();
    assert_eq!(n, 272, "the create, 150 + 120 edits and the late one");
    let rows: i64 = fresh
        .conn
        .query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "the snapshot's changes get no rows");
    assert_eq!(fresh.heads(id).unwrap(), replica.heads(id).unwrap());
    assert_eq!(fresh.view(id).unwrap(), replica.view(id).unwrap());

    // What it stored reloads on its own, and the device edits on from it.
    drop(fresh);
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    assert_eq!(fresh.view(id).unwrap(), replica.view(id).unwrap());
    let acked = fresh.heads(id).unwrap();
    fresh.set_acked_heads(id, &acked).unwrap();
    fresh.edit(id, |l| l.add_item("mine", 1, &ctx())).unwrap();
    let (mine, _) = fresh.changes_for(id, &acked).unwrap();
    assert_eq!(mine.len(), 1);
    assert!(replica.ingest(id, &mine).unwrap().missing.is_empty());
    // Changes it holds only inside the snapshot are never served unsigned.
    assert!(matches!(
        fresh.changes_for(id, &[]),
        Err(StoreError::NotSignedHere { .. })
    ));

    // Compacted on the device too, it still reloads: the graph starts from
    // the snapshot, then the rows after it.
    fresh.compact(id).unwrap();
    fresh.edit(id, |l| l.add_item("later", 1, &ctx())).unwrap();
    let (heads, view) = (fresh.heads(id).unwrap(), fresh.view(id).unwrap());
    drop(fresh);
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    assert_eq!(fresh.heads(id).unwrap(), heads);
    assert_eq!(fresh.view(id).unwrap(), view);
    assert_eq!(fresh.pending(id).unwrap(), 2, "its own two edits");
}

#[test]
fn a_version_2_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    let (id, view) = {
        let mut s = Store::open(&path).unwrap();
        let id = s.create_list("Old", &ctx()).unwrap();
        s.edit(id, |l| l.add_item("milk", 1, &ctx())).unwrap();
        s.compact(id).unwrap();
        s.conn
            .execute_batch(
                "ALTER TABLE lists DROP COLUMN graph_rows;
                 UPDATE meta SET value = '2' WHERE key = 'schema_version';",
            )
            .unwrap();
        (id, s.view(id).unwrap())
    };
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.view(id).unwrap(), view);
    let (version, rows): (i64, i64) = s
        .conn
        .query_row(
            "SELECT (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'),
                    (SELECT graph_rows FROM lists)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, rows), (SCHEMA_VERSION, 1));
    // Opening again is a no-op.
    drop(s);
    assert_eq!(Store::open(&path).unwrap().view(id).unwrap(), view);
}

#[test]
fn a_tampered_snapshot_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    let served = serve(&mut replica, id);
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let mut seed = 0x5eed_u64;
    println!("seed {seed:#x}");
    for _ in 0..20 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut doc = served.doc.clone();
        let at = (seed >> 33) as usize % doc.len();
        doc[at] ^= 0x41;
        let r = fresh.open_from_snapshot(id, &doc, &served.heads, &served.signatures);
        assert!(
            matches!(r, Err(StoreError::Snapshot(_))),
            "byte {at}: {r:?}"
        );
        assert!(!fresh.has_list(id).unwrap());
    }
}

#[test]
fn a_snapshot_without_its_authors_signatures_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    let served = serve(&mut replica, id);
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    // One actor's signature dropped.
    let r = fresh.open_from_snapshot(id, &served.doc, &served.heads, &served.signatures[..1]);
    assert!(matches!(
        r,
        Err(StoreError::Snapshot(LoadError::Unsigned { .. }))
    ));
    // A signature bound to another list.
    let mut forged: Vec<ActorSignature> = served.signatures.clone();
    let other = ListId::new_random();
    forged[0].signature = fresh.key.sign(other, &forged[0].hash);
    let r = fresh.open_from_snapshot(id, &served.doc, &served.heads, &forged);
    assert!(matches!(
        r,
        Err(StoreError::Snapshot(LoadError::Unsigned { .. }))
    ));
    // Heads other than the document's.
    let r = fresh.open_from_snapshot(id, &served.doc, &served.heads[..0], &served.signatures);
    assert!(matches!(
        r,
        Err(StoreError::Snapshot(LoadError::WrongHeads))
    ));
    assert!(!fresh.has_list(id).unwrap());
}

#[test]
fn a_held_list_is_not_reopened_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    let served = serve(&mut replica, id);
    let heads = replica.heads(id).unwrap();
    let r = replica.open_from_snapshot(id, &served.doc, &served.heads, &served.signatures);
    assert!(matches!(r, Err(StoreError::AlreadyHeld(_))));
    assert_eq!(replica.heads(id).unwrap(), heads);
}

#[test]
fn small_lists_and_lists_held_only_in_a_snapshot_are_not_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    let served = serve(&mut replica, id);
    // Replaying a short history is as cheap as loading a document.
    let young = replica.create_list("young", &ctx()).unwrap();
    assert!(replica.snapshot_for(young).unwrap().is_none());
    // A device that opened the list from a snapshot lacks the per-change
    // signatures a snapshot needs.
    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    fresh
        .open_from_snapshot(id, &served.doc, &served.heads, &served.signatures)
        .unwrap();
    assert!(fresh.snapshot_for(id).unwrap().is_none());
}
