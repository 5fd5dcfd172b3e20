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

/// What a replica answers to `req`.
fn replica(cloud: &mut Store, list: ListId, req: &Request) -> SyncedReply {
    let outcome = cloud.ingest(list, &req.changes).unwrap();
    let (changes, heads) = if cloud.has_list(list).unwrap() {
        cloud.changes_for(list, &req.have).unwrap()
    } else {
        (Vec::new(), Vec::new())
    };
    SyncedReply {
        list,
        heads,
        acked: u32::from(outcome.missing.is_empty()),
        missing: outcome.missing,
        rejected: vec![],
        changes: changes.into_iter().map(Bytes::from).collect(),
    }
}

fn run(client: &mut Store, cloud: &mut Store, list: ListId) -> Result<SyncReport, SyncError> {
    let mut plan = ListSync::new(list);
    let mut req = plan.start(client)?;
    loop {
        let reply = replica(cloud, list, &req);
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
    };
    assert_eq!(req.changes.len(), 1);
    assert!(matches!(
        plan.on_reply(&mut a, reply),
        Err(SyncError::Rejected { .. })
    ));
    assert_eq!(a.pending(list).unwrap(), 1);
}
