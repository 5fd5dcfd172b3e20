//! The proxy's half of rebuilding a damaged replica (issue "cloud trust"
//! §4): `repair {list}` from a member fetches the list from another live
//! replica and pushes it to the member, once at a time.

use std::time::Instant;

use bytes::Bytes;
use engine::protocol::{encode, Header, Message};
use engine::ListId;

use super::*;

fn repair(list: ListId) -> Vec<Bytes> {
    encode(&Message::new(Header::Repair { id: 1, list }))
}

#[test]
fn a_repair_request_fetches_from_another_replica_and_pushes_to_the_requester() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let mut out = Vec::new();
    core.on_worker(route("ra"), &repair(list), now, &mut out);
    let fetches = syncs_to_workers(&out);
    assert_eq!(fetches.len(), 1, "{out:?}");
    let (source, id, have, n) = fetches[0].clone();
    assert_ne!(source, route("ra"), "fetched from another replica");
    assert!(have.is_empty() && n == 0, "a full read");

    // Asked again while in flight: nothing new.
    let mut again = Vec::new();
    core.on_worker(route("ra"), &repair(list), now, &mut again);
    assert!(syncs_to_workers(&again).is_empty());

    // The source answers with the list: pushed to the requester.
    let change = Bytes::from_static(b"c1");
    let mut out = Vec::new();
    core.on_worker(
        source,
        &synced(id, list, vec![h(1)], vec![], vec![change]),
        now,
        &mut out,
    );
    let pushes = syncs_to_workers(&out);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].0, route("ra"));
    assert_eq!(pushes[0].3, 1, "the change is pushed");

    // Once the push is answered, a new request starts a new rebuild.
    let mut out = Vec::new();
    core.on_worker(
        route("ra"),
        &synced(pushes[0].1, list, vec![h(1)], vec![], vec![]),
        now,
        &mut out,
    );
    let mut out = Vec::new();
    core.on_worker(route("ra"), &repair(list), now, &mut out);
    assert_eq!(syncs_to_workers(&out).len(), 1);
}

#[test]
fn repair_requests_from_strangers_are_ignored() {
    let now = Instant::now();
    let mut core = cluster(now);
    let mut out = Vec::new();
    core.on_worker(
        route("stranger"),
        &repair(ListId::new_random()),
        now,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
}
