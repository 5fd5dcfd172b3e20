//! Fresh open through the proxy core (PROTOCOL §4.2.1): `snapshot_ok` goes
//! to the replicas only for a requester that has nothing and writes
//! nothing; the reply carries one snapshot, document frames first, then the
//! deduplicated changes; a snapshot nobody asked for does not count.

use std::time::Instant;

use bytes::Bytes;
use engine::protocol::snapshot::SnapshotMeta;
use engine::protocol::{encode, Header, Message};
use engine::{ChangeHash, ListId};

use super::*;

fn sync_asking(
    core: &mut ProxyCore,
    list: ListId,
    have: Vec<ChangeHash>,
    changes: Vec<Bytes>,
) -> Vec<Effect> {
    let msg = Message::with_changes(
        Header::Sync {
            id: 42,
            list,
            have,
            hint_for: None,
            snapshot_ok: true,
        },
        changes,
    );
    let mut out = Vec::new();
    core.on_client(client("c"), &encode(&msg), Instant::now(), &mut out);
    out
}

fn asked_for_snapshot(out: &[Effect]) -> Vec<bool> {
    out.iter()
        .filter_map(|e| match e {
            Effect::ToWorker(_, m) => match &m.header {
                Header::Sync { snapshot_ok, .. } => Some(*snapshot_ok),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn with_snapshot(
    id: u64,
    list: ListId,
    doc: &[&'static [u8]],
    after: &[&'static [u8]],
) -> Vec<Bytes> {
    let meta = SnapshotMeta {
        frames: doc.len() as u32,
        heads: vec![h(1)],
        signatures: vec![],
    };
    let frames = doc
        .iter()
        .chain(after)
        .map(|b| Bytes::from_static(b))
        .collect();
    encode(&Message::with_changes(
        Header::Synced {
            id,
            list,
            heads: vec![h(2)],
            missing: vec![],
            acked: 1,
            rejected: vec![],
            holds: true,
            snapshot: Some(meta),
        },
        frames,
    ))
}

#[test]
fn only_a_read_from_nothing_asks_the_replicas_for_a_snapshot() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let fresh = asked_for_snapshot(&sync_asking(&mut core, list, vec![], vec![]));
    assert!(!fresh.is_empty() && fresh.iter().all(|&a| a), "{fresh:?}");
    let has = asked_for_snapshot(&sync_asking(&mut core, list, vec![h(1)], vec![]));
    assert!(!has.is_empty() && has.iter().all(|&a| !a), "{has:?}");
    let write = asked_for_snapshot(&sync_asking(
        &mut core,
        list,
        vec![],
        vec![Bytes::from_static(b"c")],
    ));
    assert!(!write.is_empty() && write.iter().all(|&a| !a), "{write:?}");
    let plain = asked_for_snapshot(&client_sync(&mut core, "d", list, vec![], now));
    assert!(!plain.is_empty() && plain.iter().all(|&a| !a), "{plain:?}");
}

#[test]
fn the_reply_carries_one_snapshot_then_the_union_of_changes() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = syncs_to_workers(&sync_asking(&mut core, list, vec![], vec![]));
    let mut out = Vec::new();
    core.on_worker(
        sent[0].0.clone(),
        &with_snapshot(sent[0].1, list, &[b"doc-a1", b"doc-a2"], &[b"x", b"y"]),
        now,
        &mut out,
    );
    core.on_worker(
        sent[1].0.clone(),
        &with_snapshot(sent[1].1, list, &[b"doc-b"], &[b"y", b"z"]),
        now,
        &mut out,
    );
    let replies = to_client(&out, "c");
    assert_eq!(replies.len(), 1, "{out:?}");
    let Header::Synced {
        snapshot: Some(meta),
        heads,
        ..
    } = &replies[0].header
    else {
        panic!("expected a synced with a snapshot: {:?}", replies[0].header);
    };
    assert_eq!(meta.frames, 2);
    assert_eq!(heads, &vec![h(2)]);
    let frames: Vec<&[u8]> = replies[0].changes.iter().map(|b| b.as_ref()).collect();
    assert_eq!(frames, vec![&b"doc-a1"[..], b"doc-a2", b"x", b"y", b"z"]);
}

#[test]
fn a_snapshot_nobody_asked_for_does_not_count() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = syncs_to_workers(&client_sync(&mut core, "c", list, vec![], now));
    let mut out = Vec::new();
    core.on_worker(
        sent[0].0.clone(),
        &with_snapshot(sent[0].1, list, &[b"doc"], &[]),
        now,
        &mut out,
    );
    core.on_worker(
        sent[1].0.clone(),
        &synced(
            sent[1].1,
            list,
            vec![h(1)],
            vec![],
            vec![Bytes::from_static(b"x")],
        ),
        now,
        &mut out,
    );
    assert!(
        to_client(&out, "c").is_empty(),
        "one counted answer is not R=2"
    );
    // The read is hedged to the third home at once: R is out of reach.
    let hedged = syncs_to_workers(&out);
    assert_eq!(hedged.len(), 1, "{out:?}");
    core.on_worker(
        hedged[0].0.clone(),
        &synced(
            hedged[0].1,
            list,
            vec![h(1)],
            vec![],
            vec![Bytes::from_static(b"x")],
        ),
        now,
        &mut out,
    );
    let replies = to_client(&out, "c");
    assert!(
        matches!(&replies[..], [m] if matches!(&m.header, Header::Synced { snapshot: None, .. }) && m.changes.len() == 1),
        "{replies:?}"
    );
}
