//! The `sync` flow through the proxy core: quorum, union, timeout, fills,
//! read repair and notify (DESIGN §4, §6; Dynamo §4.6-4.7).

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::{encode, ErrorCode, Header, Message, SessionId};
use engine::ListId;

use super::*;
use crate::proxy::{NOTIFY_CHANGES_MAX, NOTIFY_CHANGES_MAX_BYTES};

#[test]
fn write_is_answered_at_w_and_notifies_the_other_subscribers() {
    // DESIGN §6: reply when W=2 replicas stored it; push to subscribers.
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let mut out = Vec::new();
    for who in ["writer", "watcher"] {
        let sub = Message::new(Header::Subscribe {
            id: 1,
            lists: vec![list],
            session: None,
            changes: None,
        });
        core.on_client(client(who), &encode(&sub), now, &mut out);
    }
    let out = client_sync(
        &mut core,
        "writer",
        list,
        vec![Bytes::from_static(b"c1")],
        now,
    );
    let sent = syncs_to_workers(&out);
    assert_eq!(sent.len(), 3, "N=3 replicas");
    let mut out = Vec::new();
    let (r0, id0, ..) = sent[0].clone();
    core.on_worker(
        r0,
        &synced(id0, list, vec![h(1)], vec![], vec![]),
        now,
        &mut out,
    );
    assert!(
        to_client(&out, "writer").is_empty(),
        "one ack is not a quorum"
    );
    let (r1, id1, ..) = sent[1].clone();
    core.on_worker(
        r1,
        &synced(id1, list, vec![h(1)], vec![], vec![]),
        now,
        &mut out,
    );
    let replies = to_client(&out, "writer");
    assert_eq!(replies.len(), 1, "{out:?}");
    assert!(matches!(
        &replies[0].header,
        Header::Synced {
            id: 42,
            acked: 2,
            ..
        }
    ));
    let pushed = to_client(&out, "watcher");
    assert!(
        matches!(&pushed[..], [m] if matches!(&m.header, Header::Notify { id: 0, heads, .. } if heads == &vec![h(1)]))
    );
}

#[test]
fn read_replies_with_the_deduplicated_union() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = syncs_to_workers(&client_sync(&mut core, "c", list, vec![], now));
    let (x, y) = (Bytes::from_static(b"x"), Bytes::from_static(b"y"));
    let mut out = Vec::new();
    core.on_worker(
        sent[0].0.clone(),
        &synced(
            sent[0].1,
            list,
            vec![h(1)],
            vec![],
            vec![x.clone(), y.clone()],
        ),
        now,
        &mut out,
    );
    core.on_worker(
        sent[1].0.clone(),
        &synced(sent[1].1, list, vec![h(1)], vec![], vec![y, x]),
        now,
        &mut out,
    );
    let replies = to_client(&out, "c");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].changes.len(), 2);
}

#[test]
fn quorum_timeout_answers_unavailable_with_counts() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = syncs_to_workers(&client_sync(
        &mut core,
        "c",
        list,
        vec![Bytes::from_static(b"c1")],
        now,
    ));
    let mut out = Vec::new();
    core.on_worker(
        sent[0].0.clone(),
        &synced(sent[0].1, list, vec![h(1)], vec![], vec![]),
        now,
        &mut out,
    );
    core.on_tick(now + Duration::from_millis(2100), &mut out);
    let replies = to_client(&out, "c");
    assert!(
        matches!(&replies[..], [m] if matches!(m.header, Header::Error { code: ErrorCode::Unavailable, answered: Some(1), needed: Some(2), .. })),
        "{replies:?}"
    );
    assert_eq!(core.pending(), 0);
}

#[test]
fn lacking_replica_is_filled_and_then_counts_toward_w() {
    // DESIGN §4: fill from a replica that has the history; count only once
    // the lacking replica holds the write.
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let change = Bytes::from_static(b"c2");
    let sent = syncs_to_workers(&client_sync(
        &mut core,
        "c",
        list,
        vec![change.clone()],
        now,
    ));
    let mut out = Vec::new();
    let (good, lacking) = (&sent[0], &sent[1]);
    core.on_worker(
        good.0.clone(),
        &synced(good.1, list, vec![h(2)], vec![], vec![]),
        now,
        &mut out,
    );
    core.on_worker(
        lacking.0.clone(),
        &synced(lacking.1, list, vec![h(0)], vec![h(1)], vec![]),
        now,
        &mut out,
    );
    // The proxy asks the good replica what the lacking one misses.
    let fetch = syncs_to_workers(&out);
    assert_eq!(fetch.len(), 1, "{out:?}");
    assert_eq!(fetch[0].0, good.0);
    assert_eq!(fetch[0].2, vec![h(0)], "have = the lacking replica's heads");
    let mut out = Vec::new();
    let history = Bytes::from_static(b"c1");
    core.on_worker(
        good.0.clone(),
        &synced(fetch[0].1, list, vec![h(2)], vec![], vec![history, change]),
        now,
        &mut out,
    );
    let push = syncs_to_workers(&out);
    assert_eq!(push.len(), 1);
    assert_eq!(push[0].0, lacking.0);
    assert!(push[0].3 >= 2, "history and the client's change");
    let mut out = Vec::new();
    core.on_worker(
        lacking.0.clone(),
        &synced(push[0].1, list, vec![h(2)], vec![], vec![]),
        now,
        &mut out,
    );
    let replies = to_client(&out, "c");
    assert!(
        matches!(&replies[..], [m] if matches!(m.header, Header::Synced { acked: 2, .. })),
        "{replies:?}"
    );
}

#[test]
fn nobody_can_fill_so_missing_goes_to_the_client() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = syncs_to_workers(&client_sync(
        &mut core,
        "c",
        list,
        vec![Bytes::from_static(b"c2")],
        now,
    ));
    let mut out = Vec::new();
    for (r, id, ..) in &sent {
        core.on_worker(
            r.clone(),
            &synced(*id, list, vec![], vec![h(1)], vec![]),
            now,
            &mut out,
        );
    }
    let replies = to_client(&out, "c");
    assert!(
        matches!(&replies[..], [m] if matches!(&m.header, Header::Synced { missing, acked: 0, .. } if missing == &vec![h(1)])),
        "{replies:?}"
    );
}

#[test]
fn differing_heads_trigger_read_repair() {
    // Dynamo §4.7, between the R homes a read asked.
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = syncs_to_workers(&client_sync(&mut core, "c", list, vec![], now));
    assert_eq!(sent.len(), 2, "a read asks R homes first");
    let mut out = Vec::new();
    core.on_worker(
        sent[0].0.clone(),
        &synced(sent[0].1, list, vec![h(1)], vec![], vec![]),
        now,
        &mut out,
    );
    let mut out = Vec::new();
    core.on_worker(
        sent[1].0.clone(),
        &synced(sent[1].1, list, vec![], vec![], vec![]),
        now,
        &mut out,
    );
    assert_eq!(to_client(&out, "c").len(), 1, "R answered");
    let fetch = syncs_to_workers(&out);
    assert_eq!(
        fetch.len(),
        1,
        "one source for the lagging replica: {out:?}"
    );
    assert_eq!(fetch[0].0, sent[0].0);
    assert!(fetch[0].2.is_empty(), "have = lagging heads");
    let mut out = Vec::new();
    core.on_worker(
        sent[0].0.clone(),
        &synced(
            fetch[0].1,
            list,
            vec![h(1)],
            vec![],
            vec![Bytes::from_static(b"c1")],
        ),
        now,
        &mut out,
    );
    let push = syncs_to_workers(&out);
    assert_eq!(push.len(), 1);
    assert_eq!(push[0].0, sent[1].0);
    assert_eq!(push[0].3, 1);
}

/// Issue 11 §7: a read asks R homes, not N; a write asks every home.
#[test]
fn a_read_asks_r_homes_first_and_a_write_asks_all() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let read = syncs_to_workers(&client_sync(&mut core, "c", list, vec![], now));
    let homes: Vec<Bytes> = core
        .replicas_of(&list)
        .iter()
        .map(|w| route(&format!("r{w}")))
        .collect();
    assert_eq!(
        read.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        homes[..2].to_vec(),
        "the first two homes in preference order"
    );
    let write = client_sync(&mut core, "c", list, vec![Bytes::from_static(b"c1")], now);
    assert_eq!(syncs_to_workers(&write).len(), 3);
}

/// A home that fails a read has the held home asked at once; one that is
/// merely slow has it asked at the hedge time, and the read completes.
#[test]
fn a_failed_or_slow_home_makes_the_read_ask_the_next() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let third = route(&format!("r{}", core.replicas_of(&list)[2]));
    let sent = syncs_to_workers(&client_sync(&mut core, "c", list, vec![], now));
    let mut out = Vec::new();
    let err = Message::error(sent[0].1, ErrorCode::Internal, "disk on fire");
    core.on_worker(sent[0].0.clone(), &encode(&err), now, &mut out);
    let asked = syncs_to_workers(&out);
    assert_eq!(asked.len(), 1, "{out:?}");
    assert_eq!(asked[0].0, third);
    let mut out = Vec::new();
    for (route, id) in [(&sent[1].0, sent[1].1), (&asked[0].0, asked[0].1)] {
        core.on_worker(
            route.clone(),
            &synced(id, list, vec![h(1)], vec![], vec![]),
            now,
            &mut out,
        );
    }
    let replies = to_client(&out, "c");
    assert!(
        matches!(&replies[..], [m] if matches!(m.header, Header::Synced { .. })),
        "{replies:?}"
    );

    // Slow: nothing at all from the first home.
    let sent = syncs_to_workers(&client_sync(&mut core, "d", list, vec![], now));
    let mut out = Vec::new();
    core.on_tick(now + Duration::from_millis(10), &mut out);
    assert!(syncs_to_workers(&out).is_empty(), "before the hedge time");
    core.on_tick(now + Duration::from_millis(60), &mut out);
    let asked = syncs_to_workers(&out);
    assert_eq!(asked.len(), 1, "{out:?}");
    assert_eq!(asked[0].0, third);
    let mut out = Vec::new();
    for (route, id) in [(&sent[1].0, sent[1].1), (&asked[0].0, asked[0].1)] {
        core.on_worker(
            route.clone(),
            &synced(id, list, vec![h(1)], vec![], vec![]),
            now + Duration::from_millis(70),
            &mut out,
        );
    }
    assert_eq!(to_client(&out, "d").len(), 1);
}

/// A write by `writer` acknowledged by two replicas: every effect after it.
fn acked_write(core: &mut ProxyCore, list: ListId, now: Instant) -> Vec<Effect> {
    let out = client_sync(core, "writer", list, vec![Bytes::from_static(b"c1")], now);
    let mut acked = Vec::new();
    for (route, id, ..) in syncs_to_workers(&out).into_iter().take(2) {
        core.on_worker(
            route,
            &synced(id, list, vec![h(1)], vec![], vec![]),
            now,
            &mut acked,
        );
    }
    acked
}

fn notified(out: &[Effect], who: &str) -> bool {
    to_client(out, who)
        .iter()
        .any(|m| matches!(m.header, Header::Notify { .. }))
}

/// PROTOCOL §6: a REQ socket cannot take pushes, so its `subscribe` is
/// refused with a clear error and nothing is pushed to it after a write.
#[test]
fn a_req_socket_that_subscribes_gets_a_clear_error_and_no_pushes() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let mut out = Vec::new();
    let req = Envelope {
        route: route("req"),
        delimiter: true,
    };
    let sub = Message::new(Header::Subscribe {
        id: 1,
        lists: vec![list],
        session: None,
        changes: None,
    });
    core.on_client(req, &encode(&sub), now, &mut out);
    core.on_client(client("dealer"), &encode(&sub), now, &mut out);
    match &to_client(&out, "req")[..] {
        [Message {
            header: Header::Error { code, message, .. },
            ..
        }] => {
            assert_eq!(*code, ErrorCode::UnknownOp);
            assert!(message.contains("DEALER"), "{message}");
        }
        other => panic!("expected one error, got {other:?}"),
    }
    let out = acked_write(&mut core, list, now);
    assert!(notified(&out, "dealer"), "{out:?}");
    assert!(!notified(&out, "req"), "{out:?}");
}

/// PROTOCOL §6 "Sessions": a subscriber that comes back on a new routing
/// id (libzmq's reconnect) and names its session gets the pushes there.
#[test]
fn a_session_named_on_a_new_connection_gets_the_pushes() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let session = SessionId::new_random();
    let sub = |lists: Vec<ListId>| {
        encode(&Message::new(Header::Subscribe {
            id: 1,
            lists,
            session: Some(session.clone()),
            changes: None,
        }))
    };
    let mut out = Vec::new();
    core.on_client(client("before"), &sub(vec![list]), now, &mut out);
    core.on_client_gone(&route("before"));
    out.clear();
    core.on_client(client("after"), &sub(vec![]), now, &mut out);
    match &to_client(&out, "after")[..] {
        [Message {
            header: Header::Subscribed { lists, moved, .. },
            ..
        }] => assert_eq!((lists, *moved), (&vec![list], true)),
        other => panic!("expected subscribed, got {other:?}"),
    }
    let out = acked_write(&mut core, list, now);
    assert!(notified(&out, "after"), "{out:?}");
    assert!(!notified(&out, "before"), "{out:?}");
}

/// The pushes to a subscriber that did not ask for changes and to one that
/// did, after a write of `changes` reached quorum.
fn pushes_after_write(changes: Vec<Bytes>) -> (Vec<Message>, Vec<Message>) {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let mut out = Vec::new();
    for (who, changes) in [("plain", None), ("wants", Some(true))] {
        let sub = Message::new(Header::Subscribe {
            id: 1,
            lists: vec![list],
            session: None,
            changes,
        });
        core.on_client(client(who), &encode(&sub), now, &mut out);
    }
    let sent = syncs_to_workers(&client_sync(&mut core, "writer", list, changes, now));
    let mut out = Vec::new();
    for (route, id, ..) in sent.into_iter().take(2) {
        core.on_worker(
            route,
            &synced(id, list, vec![h(1)], vec![], vec![]),
            now,
            &mut out,
        );
    }
    (to_client(&out, "plain"), to_client(&out, "wants"))
}

#[test]
fn a_notify_carries_a_small_write_to_subscribers_that_asked_for_it() {
    // PROTOCOL §6.2.
    let write = vec![Bytes::from_static(b"c1"), Bytes::from_static(b"c2")];
    let (plain, wants) = pushes_after_write(write.clone());
    assert!(
        matches!(&plain[..], [m] if m.changes.is_empty() && matches!(m.header, Header::Notify { .. })),
        "{plain:?}"
    );
    assert!(
        matches!(&wants[..], [m] if m.changes == write && matches!(&m.header, Header::Notify { heads, .. } if heads == &vec![h(1)])),
        "{wants:?}"
    );
    // Too big to ride along: heads only, for everyone.
    let big = vec![Bytes::from(vec![7u8; NOTIFY_CHANGES_MAX_BYTES + 1])];
    let (plain, wants) = pushes_after_write(big);
    for pushed in [plain, wants] {
        assert!(
            matches!(&pushed[..], [m] if m.changes.is_empty()),
            "{pushed:?}"
        );
    }
    let many = vec![Bytes::from_static(b"c"); NOTIFY_CHANGES_MAX + 1];
    let (_, wants) = pushes_after_write(many);
    assert!(matches!(&wants[..], [m] if m.changes.is_empty()));
}
