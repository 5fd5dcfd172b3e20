//! Fresh open end to end on real SQLite files: a replica serves its stored
//! snapshot ([`Store::snapshot_for`]), a fresh device stores it
//! ([`Store::open_from_snapshot`]) and the changes after it, and tampered
//! or wrongly signed snapshots store nothing.

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

/// A replica holding one list with two authors, compacted, plus a few
/// changes after its snapshot; and the list.
fn replica(dir: &std::path::Path) -> (Store, ListId) {
    let mut author = Store::open(dir.join("author.db")).unwrap();
    let id = author.create_list("Groceries", &ctx()).unwrap();
    for i in 0..30 {
        author
            .edit(id, |l| l.add_item(&format!("a{i}"), 1, &ctx()))
            .unwrap();
    }
    let mut other = Store::open(dir.join("other.db")).unwrap();
    let (all, _) = author.changes_for(id, &[]).unwrap();
    other.ingest(id, &all).unwrap();
    for i in 0..20 {
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
fn a_fresh_device_opens_from_the_snapshot_and_the_changes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    let served = serve(&mut replica, id);
    assert_eq!(served.signatures.len(), 2, "one per actor");
    assert!(!served.after.is_empty(), "the late edit comes after it");
    assert_eq!(served.list_heads, replica.heads(id).unwrap());

    let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
    let n = fresh
        .open_from_snapshot(id, &served.doc, &served.heads, &served.signatures)
        .unwrap();
    assert_eq!(n, 51, "the create, 30 and 20 edits");
    let out = fresh.ingest_from_cloud(id, &served.after).unwrap();
    assert_eq!(out.applied.len(), served.after.len());
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
    let r = fresh.open_from_snapshot(id, &served.doc, &served.list_heads, &served.signatures);
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
fn only_uncompressed_snapshots_are_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, id) = replica(dir.path());
    assert!(replica.snapshot_for(id).unwrap().is_some());
    // A snapshot written compressed (as older versions did) is not offered.
    let compressed = replica.cache.get(&id).unwrap().list.doc().save();
    replica
        .conn
        .execute(
            "UPDATE lists SET snapshot = ?2 WHERE list_id = ?1",
            params![id.as_bytes().as_slice(), compressed],
        )
        .unwrap();
    assert!(replica.snapshot_for(id).unwrap().is_none());
    // Nor is anything for a list never compacted.
    let young = replica.create_list("young", &ctx()).unwrap();
    assert!(replica.snapshot_for(young).unwrap().is_none());
}
