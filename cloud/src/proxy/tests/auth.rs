//! Worker admission (PROTOCOL §7.1, DESIGN §5 "Threat model"): only
//! connections that prove the cluster secret join the ring, receive
//! requests or count toward a quorum; the newest proven connection of a
//! worker id takes its route.

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::{encode, ErrorCode, Header, Message, WorkerStats};
use engine::ListId;

use super::*;

/// Every message the proxy sent to `r`.
fn sent_to(out: &[Effect], r: &Bytes) -> Vec<Message> {
    out.iter()
        .filter_map(|e| match e {
            Effect::ToWorker(to, m) if to == r => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// A hello without a nonce, as an attacker without the secret sends it.
fn bare_hello(name: &str) -> Vec<Bytes> {
    encode(&Message::new(Header::Hello {
        id: 1,
        worker: w(name),
        lists_hint: None,
        nonce: None,
        members: Vec::new(),
    }))
}

#[test]
fn a_worker_without_the_secret_never_joins_and_never_receives_a_request() {
    let now = Instant::now();
    let mut core = cluster(now);
    let fake = route("fake");
    let mut out = Vec::new();
    // hello, then straight to heartbeats and forged replies: no auth.
    core.on_worker(fake.clone(), &bare_hello("evil"), now, &mut out);
    let hb = Message::new(Header::Heartbeat {
        id: 2,
        worker: w("evil"),
        stats: None,
        members: Vec::new(),
    });
    core.on_worker(fake.clone(), &encode(&hb), now, &mut out);
    assert!(
        !core.status(now).iter().any(|s| s.id == w("evil")),
        "not a member"
    );
    for _ in 0..50 {
        let list = ListId::new_random();
        let out = client_sync(&mut core, "c", list, vec![Bytes::from_static(b"x")], now);
        assert!(
            !core.replicas_of(&list).contains(&w("evil")),
            "never on the ring"
        );
        assert!(sent_to(&out, &fake).is_empty(), "never sent a request");
    }
}

#[test]
fn a_wrong_secret_is_refused_with_unauthorized_and_counted() {
    let now = Instant::now();
    let mut core = cluster(now);
    let wrong = ClusterSecret::from_bytes(b"a-guessed-cluster-secret", "test").unwrap();
    let answer = handshake(&mut core, &wrong, "evil", route("fake"), now);
    assert!(
        matches!(
            answer.header,
            Header::Error {
                code: ErrorCode::Unauthorized,
                ..
            }
        ),
        "{answer:?}"
    );
    assert_eq!(core.admission.refused(), 1);
    assert!(!core.status(now).iter().any(|s| s.id == w("evil")));
    // An `auth` with no challenge before it is refused too.
    let auth = Message::new(Header::Auth {
        id: 3,
        worker: w("evil"),
        proof: engine::protocol::Token([9; 32]),
    });
    let mut out = Vec::new();
    core.on_worker(route("fake2"), &encode(&auth), now, &mut out);
    assert_eq!(core.admission.refused(), 2);
    assert!(!core.status(now).iter().any(|s| s.id == w("evil")));
}

#[test]
fn forged_replies_from_an_unadmitted_connection_do_not_count_toward_w() {
    // The measured attack: forged `synced` replies made writes acknowledged
    // that no replica stored.
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let out = client_sync(&mut core, "c", list, vec![Bytes::from_static(b"x")], now);
    let sent = syncs_to_workers(&out);
    assert_eq!(sent.len(), 3);
    let mut out = Vec::new();
    core.on_worker(route("fake"), &bare_hello("a"), now, &mut out);
    for (_, id, ..) in &sent {
        // Ids are guessable (a counter): forge an answer to each.
        core.on_worker(
            route("fake"),
            &synced(*id, list, vec![h(1)], vec![], vec![]),
            now,
            &mut out,
        );
        core.on_worker(
            route("fake"),
            &synced(*id, list, vec![h(1)], vec![h(9)], vec![]),
            now,
            &mut out,
        );
    }
    assert!(to_client(&out, "c").is_empty(), "{out:?}");
    assert!(
        syncs_to_workers(&out).is_empty(),
        "a forged `missing` starts no fill"
    );
    // The real replicas still decide it.
    for (r, id, ..) in sent.iter().take(2) {
        core.on_worker(
            r.clone(),
            &synced(*id, list, vec![h(1)], vec![], vec![]),
            now,
            &mut out,
        );
    }
    assert!(matches!(
        to_client(&out, "c")[..],
        [Message {
            header: Header::Synced { acked: 2, .. },
            ..
        }]
    ));
}

#[test]
fn a_worker_id_is_taken_over_only_by_a_proven_connection_and_the_newest_wins() {
    let now = Instant::now();
    let mut core = cluster(now);
    // An unproven hello with a live worker's id changes nothing.
    let mut out = Vec::new();
    core.on_worker(route("thief"), &bare_hello("a"), now, &mut out);
    let list = (0..200)
        .map(|_| ListId::new_random())
        .find(|l| core.replicas_of(l).contains(&w("a")))
        .expect("some list lives on a");
    let out = client_sync(&mut core, "c", list, vec![Bytes::from_static(b"x")], now);
    assert!(sent_to(&out, &route("thief")).is_empty());
    assert_eq!(sent_to(&out, &route("ra")).len(), 1);
    assert!(core.status(now).iter().all(|s| s.authenticated));

    // The same worker reconnects (a new socket): the proven newest wins and
    // the old route is dropped: nothing is sent to or accepted from it.
    let later = now + Duration::from_millis(10);
    let welcome = handshake(&mut core, &secret(), "a", route("ra2"), later);
    assert!(matches!(welcome.header, Header::Welcome { .. }));
    let out = client_sync(&mut core, "c", list, vec![Bytes::from_static(b"y")], later);
    assert!(sent_to(&out, &route("ra")).is_empty());
    assert_eq!(sent_to(&out, &route("ra2")).len(), 1);
    let hb = Message::new(Header::Heartbeat {
        id: 7,
        worker: w("a"),
        stats: None,
        members: Vec::new(),
    });
    let mut out = Vec::new();
    core.on_worker(route("ra"), &encode(&hb), later, &mut out);
    assert!(matches!(
        &sent_to(&out, &route("ra"))[..],
        [Message {
            header: Header::Error {
                code: ErrorCode::NotFound,
                ..
            },
            ..
        }]
    ));
}

#[test]
fn heartbeats_carry_the_workers_counters_into_status() {
    let now = Instant::now();
    let mut core = cluster(now);
    let stats = WorkerStats {
        lists_repaired: 2,
        quarantined: 1,
        overloaded: 7,
        hints: 0,
    };
    let hb = Message::new(Header::Heartbeat {
        id: 9,
        worker: w("b"),
        stats: Some(stats),
        members: Vec::new(),
    });
    let mut out = Vec::new();
    let later = now + Duration::from_millis(300);
    core.on_worker(route("rb"), &encode(&hb), later, &mut out);
    let status = core.status(later + Duration::from_millis(40));
    let b = status.iter().find(|s| s.id == w("b")).expect("b");
    assert_eq!(b.stats, stats);
    assert_eq!(b.heartbeat_age_ms, 40);
    assert!(b.authenticated);
    let a = status.iter().find(|s| s.id == w("a")).expect("a");
    assert_eq!(a.heartbeat_age_ms, 340);
}
