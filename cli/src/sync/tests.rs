//! The sync planner against an in-process "cloud" (another store answering
//! exactly as a replica would, PROTOCOL.md §5): one round trip normally,
//! resend from further back on `missing`, `join` of unknown lists.

use bytes::Bytes;
use engine::list::EditContext;
use engine::store::Store;
use engine::ListId;
use tempfile::TempDir;

use super::*;
use crate::sync_client::SyncedReply;

fn store(dir: &TempDir, name: &str) -> Store {
    Store::open(dir.path().join(name)).unwrap()
}

/// What a snapshot does on its way (a test's tampering).
type Mangle = fn(&mut Option<Result<ReceivedSnapshot, String>>);

/// What a replica answers to `req`: from its snapshot when the request
/// takes one and the list has one (PROTOCOL §4.2.1), as a worker does; the
/// snapshot passes through `mangle` on its way.
fn replica_mangling(cloud: &mut Store, list: ListId, req: &Request, mangle: Mangle) -> SyncedReply {
    let outcome = cloud.ingest(list, &req.changes).unwrap();
    let holds = cloud.has_list(list).unwrap();
    let served = if holds && req.snapshot_ok {
        cloud.snapshot_for(list).unwrap()
    } else {
        None
    };
    let (changes, heads, mut snapshot) = match served {
        Some(s) => (
            Vec::new(),
            s.heads.clone(),
            Some(Ok(ReceivedSnapshot {
                doc: s.doc,
                heads: s.heads,
                signatures: s.signatures,
            })),
        ),
        None if holds => {
            let (changes, heads) = cloud.changes_for(list, &req.have).unwrap();
            (changes, heads, None)
        }
        None => (Vec::new(), Vec::new(), None),
    };
    mangle(&mut snapshot);
    SyncedReply {
        list,
        heads,
        acked: u32::from(outcome.missing.is_empty()),
        missing: outcome.missing,
        rejected: vec![],
        changes: changes.into_iter().map(Bytes::from).collect(),
        snapshot,
    }
}

fn run(client: &mut Store, cloud: &mut Store, list: ListId) -> Result<SyncReport, SyncError> {
    run_mangling(client, cloud, list, |_| {})
}

fn run_mangling(
    client: &mut Store,
    cloud: &mut Store,
    list: ListId,
    mangle: Mangle,
) -> Result<SyncReport, SyncError> {
    let mut plan = ListSync::new(list);
    let mut req = plan.start(client)?;
    loop {
        let reply = replica_mangling(cloud, list, &req, mangle);
        match plan.on_reply(client, reply)? {
            Next::Send(r) => req = r,
            Next::Done(rep) => return Ok(rep),
        }
    }
}

#[test]
fn one_round_trip_pushes_then_a_second_device_joins() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut b, mut cloud) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "c"));
    let ctx = EditContext::now("ann");
    let list = a.create_list("Groceries", &ctx).unwrap();
    a.edit(list, |l| l.add_item("Milk", 2, &ctx)).unwrap();
    assert_eq!(a.pending(list).unwrap(), 2);
    let rep = run(&mut a, &mut cloud, list).unwrap();
    assert_eq!(
        (rep.sent, rep.received, rep.pending, rep.rounds),
        (2, 0, 0, 1)
    );
    let rep = run(&mut b, &mut cloud, list).unwrap();
    assert_eq!(
        (rep.sent, rep.received, rep.pending, rep.rounds),
        (0, 2, 0, 1)
    );
    assert_eq!(b.view(list).unwrap(), a.view(list).unwrap());
    // Nothing new: nothing sent again.
    let rep = run(&mut a, &mut cloud, list).unwrap();
    assert_eq!((rep.sent, rep.received), (0, 0));
}

#[test]
fn concurrent_edits_flow_both_ways_in_one_round_trip() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut b, mut cloud) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "c"));
    let ctx = EditContext::now("t");
    let list = a.create_list("L", &ctx).unwrap();
    run(&mut a, &mut cloud, list).unwrap();
    run(&mut b, &mut cloud, list).unwrap();
    a.edit(list, |l| l.add_item("eggs", 1, &ctx)).unwrap();
    b.edit(list, |l| l.add_item("eggs", 1, &ctx)).unwrap();
    run(&mut a, &mut cloud, list).unwrap();
    let rep = run(&mut b, &mut cloud, list).unwrap();
    assert_eq!((rep.sent, rep.received, rep.rounds), (1, 1, 1));
    run(&mut a, &mut cloud, list).unwrap();
    assert_eq!(a.view(list).unwrap(), b.view(list).unwrap());
    assert_eq!(a.view(list).unwrap().items[0].needed, 2);
    assert_eq!(a.pending(list).unwrap(), 0);
}

#[test]
fn a_replica_missing_history_gets_it_resent_from_further_back() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut cloud1, mut cloud2) = (store(&dir, "a"), store(&dir, "c1"), store(&dir, "c2"));
    let ctx = EditContext::now("t");
    let list = a.create_list("L", &ctx).unwrap();
    run(&mut a, &mut cloud1, list).unwrap();
    a.edit(list, |l| l.add_item("tea", 1, &ctx)).unwrap();
    // cloud2 never saw the creation: the first request only carries the edit.
    let rep = run(&mut a, &mut cloud2, list).unwrap();
    assert_eq!(rep.rounds, 2);
    assert_eq!(rep.pending, 0);
    assert_eq!(cloud2.view(list).unwrap(), a.view(list).unwrap());
}

#[test]
fn joining_a_list_the_cloud_lacks_is_not_found() {
    let dir = TempDir::new().unwrap();
    let (mut b, mut cloud) = (store(&dir, "b"), store(&dir, "c"));
    let list = ListId::new_random();
    assert!(matches!(
        run(&mut b, &mut cloud, list),
        Err(SyncError::NotFound(_))
    ));
    assert!(!b.has_list(list).unwrap());
}

#[test]
fn rejected_changes_are_an_error_not_an_ack() {
    let dir = TempDir::new().unwrap();
    let mut a = store(&dir, "a");
    let ctx = EditContext::now("t");
    let list = a.create_list("L", &ctx).unwrap();
    let mut plan = ListSync::new(list);
    let req = plan.start(&mut a).unwrap();
    let reply = SyncedReply {
        list,
        heads: vec![],
        missing: vec![],
        acked: 2,
        rejected: vec![engine::protocol::Rejected {
            index: 0,
            code: ErrorCode::BadChange,
            message: "nope".into(),
        }],
        changes: vec![],
        snapshot: None,
    };
    assert_eq!(req.changes.len(), 1);
    assert!(matches!(
        plan.on_reply(&mut a, reply),
        Err(SyncError::Rejected { .. })
    ));
    assert_eq!(a.pending(list).unwrap(), 1);
}

/// A cloud store holding a list of 300 edits by one author.
fn compacted_cloud(dir: &TempDir) -> (Store, ListId) {
    let mut a = store(dir, "author");
    let ctx = EditContext::now("ann");
    let list = a.create_list("Long", &ctx).unwrap();
    for i in 0..300 {
        a.edit(list, |l| l.add_item(&format!("item {i}"), 1, &ctx))
            .unwrap();
    }
    let mut cloud = store(dir, "cloud");
    let (all, _) = a.changes_for(list, &[]).unwrap();
    cloud.ingest(list, &all).unwrap();
    cloud.compact(list).unwrap();
    a.edit(list, |l| l.add_item("after the snapshot", 1, &ctx))
        .unwrap();
    run(&mut a, &mut cloud, list).unwrap();
    (cloud, list)
}

#[test]
fn a_fresh_device_opens_a_compacted_list_from_its_snapshot() {
    let dir = TempDir::new().unwrap();
    let (mut cloud, list) = compacted_cloud(&dir);
    let mut fresh = store(&dir, "fresh");
    let rep = run(&mut fresh, &mut cloud, list).unwrap();
    assert!(rep.from_snapshot);
    assert_eq!((rep.received, rep.rounds, rep.pending), (302, 1, 0));
    assert_eq!(fresh.view(list).unwrap(), cloud.view(list).unwrap());
    assert_eq!(fresh.acked_heads(list).unwrap(), cloud.heads(list).unwrap());
    // A device that has the list is never offered one.
    let mut plan = ListSync::new(list);
    assert!(!plan.start(&mut fresh).unwrap().snapshot_ok);
}

#[test]
fn a_refused_snapshot_falls_back_to_change_by_change() {
    let dir = TempDir::new().unwrap();
    let (mut cloud, list) = compacted_cloud(&dir);
    let tampered: Mangle = |s| {
        if let Some(Ok(s)) = s {
            let mid = s.doc.len() / 2;
            s.doc[mid] ^= 0x20;
        }
    };
    let malformed: Mangle = |s| {
        if s.is_some() {
            *s = Some(Err("snapshot claims 9 frames, reply has 1".into()));
        }
    };
    for (name, mangle) in [("tampered", tampered), ("malformed", malformed)] {
        let mut fresh = store(&dir, name);
        let rep = run_mangling(&mut fresh, &mut cloud, list, mangle).unwrap();
        assert!(!rep.from_snapshot, "{name}");
        assert_eq!(rep.rounds, 2, "{name}: one refused, one change by change");
        assert_eq!(
            fresh.view(list).unwrap(),
            cloud.view(list).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn changes_the_store_holds_are_dropped_before_decoding() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut b) = (store(&dir, "a"), store(&dir, "b"));
    let ctx = EditContext::now("ann");
    let list = a.create_list("L", &ctx).unwrap();
    let (held, _) = a.changes_for(list, &[]).unwrap();
    b.ingest(list, &held).unwrap();
    b.edit(list, |l| l.add_item("new", 1, &ctx)).unwrap();
    let (all, _) = b.changes_for(list, &[]).unwrap();
    let frames: Vec<Bytes> = all.into_iter().map(Bytes::from).collect();
    let news = unknown_changes(&mut a, list, &frames).unwrap();
    assert_eq!(news.len(), 1, "only b's edit is new to a");
    assert_eq!(news[0], frames[1]);
    // Bytes that are no change chunk are left for the gate to refuse.
    let junk = vec![Bytes::from_static(b"not a frame")];
    assert_eq!(unknown_changes(&mut a, list, &junk).unwrap(), junk);
}

/// Two devices on one list through `cloud`; `a` then adds `items` and
/// syncs. Returns the list, the signed frames of `a`'s new changes (what its
/// write carried, hence what a `notify` may carry) and the cloud's heads.
fn a_writes_after_b_joined(
    a: &mut Store,
    b: &mut Store,
    cloud: &mut Store,
    items: &[&str],
) -> (ListId, Vec<Bytes>, Vec<engine::ChangeHash>) {
    let ctx = EditContext::now("ann");
    let list = a.create_list("L", &ctx).unwrap();
    run(a, cloud, list).unwrap();
    run(b, cloud, list).unwrap();
    let before = a.heads(list).unwrap();
    for item in items {
        a.edit(list, |l| l.add_item(item, 1, &ctx)).unwrap();
    }
    run(a, cloud, list).unwrap();
    let (frames, heads) = a.changes_for(list, &before).unwrap();
    (list, frames.into_iter().map(Bytes::from).collect(), heads)
}

#[test]
fn a_pushed_write_is_applied_without_a_round_trip_and_is_not_pending() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut b, mut cloud) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "c"));
    let (list, frames, heads) = a_writes_after_b_joined(&mut a, &mut b, &mut cloud, &["tea"]);
    let pushed = apply_pushed(&mut b, list, &heads, &frames).unwrap();
    assert_eq!((pushed.applied.len(), pushed.known), (1, true));
    assert_eq!(b.view(list).unwrap(), a.view(list).unwrap());
    // The cloud holds it: not pending, so never sent back.
    assert_eq!(b.pending(list).unwrap(), 0);
    let rep = run(&mut b, &mut cloud, list).unwrap();
    assert_eq!((rep.sent, rep.received), (0, 0));
    // The same push again: nothing new, still known.
    let again = apply_pushed(&mut b, list, &heads, &frames).unwrap();
    assert_eq!((again.applied.len(), again.known), (0, true));
}

#[test]
fn a_local_edit_stays_pending_when_a_push_arrives() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut b, mut cloud) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "c"));
    let (list, frames, heads) = a_writes_after_b_joined(&mut a, &mut b, &mut cloud, &["tea"]);
    let ctx = EditContext::now("bob");
    b.edit(list, |l| l.add_item("jam", 1, &ctx)).unwrap();
    let pushed = apply_pushed(&mut b, list, &heads, &frames).unwrap();
    assert!(pushed.known);
    assert_eq!(
        b.pending(list).unwrap(),
        1,
        "b's own edit is not acked by a push"
    );
    let rep = run(&mut b, &mut cloud, list).unwrap();
    assert_eq!((rep.sent, rep.received, rep.pending), (1, 0, 0));
}

#[test]
fn a_push_that_cannot_be_applied_leaves_the_store_to_a_sync() {
    let dir = TempDir::new().unwrap();
    let (mut a, mut b, mut cloud) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "c"));
    let (list, frames, heads) =
        a_writes_after_b_joined(&mut a, &mut b, &mut cloud, &["tea", "jam"]);
    let b_heads = b.heads(list).unwrap();
    // Only the second change: its dependency is missing here.
    let pushed = apply_pushed(&mut b, list, &heads, &frames[1..]).unwrap();
    assert_eq!(pushed, Pushed::default());
    // A forged frame (one signature byte flipped): refused, nothing stored.
    let mut forged = frames[0].to_vec();
    forged[3] ^= 0x40;
    let pushed = apply_pushed(&mut b, list, &heads, &[Bytes::from(forged)]).unwrap();
    assert_eq!(pushed, Pushed::default());
    assert_eq!(b.heads(list).unwrap(), b_heads);
    // Heads beyond what came along: applied, but a sync is still wanted.
    let pushed = apply_pushed(&mut b, list, &heads, &frames[..1]).unwrap();
    assert_eq!((pushed.applied.len(), pushed.known), (1, false));
    // A list this device does not hold: left to a join.
    let other = ListId::new_random();
    assert_eq!(
        apply_pushed(&mut b, other, &heads, &frames).unwrap(),
        Pushed::default()
    );
    // The sync catches up from there.
    let rep = run(&mut b, &mut cloud, list).unwrap();
    assert_eq!((rep.received, rep.pending), (1, 0));
    assert_eq!(b.view(list).unwrap(), a.view(list).unwrap());
}
