//! The proxy's state machine driven without sockets: requests in, effects
//! out, time passed by hand (STYLE §1, §7).

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::{encode, ClusterMember, ErrorCode, Header, MemberState, Message};
use engine::{ChangeHash, ListId, WorkerId};

use super::{Effect, ProxyConfig, ProxyCore};
use crate::secret::{fresh_nonce, ClusterSecret};
use crate::transport::envelope::Envelope;

mod auth;
mod echo;
mod limits;
mod rebuild;
mod relay;
mod snapshot;
mod sync;

pub(super) fn w(s: &str) -> WorkerId {
    WorkerId::parse(s).unwrap()
}

pub(super) fn h(b: u8) -> ChangeHash {
    ChangeHash([b; 32])
}

pub(super) fn route(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

pub(super) fn client(s: &str) -> Envelope {
    Envelope::dealer(route(s))
}

/// The secret of the test clusters.
pub(super) fn secret() -> ClusterSecret {
    ClusterSecret::from_bytes(b"the-test-cluster-secret", "test").unwrap()
}

/// A proxy that demands [`secret`].
pub(super) fn secured() -> ProxyCore {
    ProxyCore::new(ProxyConfig {
        secret: Some(secret()),
        ..ProxyConfig::default()
    })
}

/// Runs the worker side of the handshake (PROTOCOL §7.1) for `name` on
/// `route` with `key`; returns the proxy's last answer (`welcome` when
/// admitted).
pub(super) fn handshake(
    core: &mut ProxyCore,
    key: &ClusterSecret,
    name: &str,
    route: Bytes,
    now: Instant,
) -> Message {
    let nonce = fresh_nonce();
    let hello = Message::new(Header::Hello {
        id: 1,
        worker: w(name),
        lists_hint: None,
        nonce: Some(nonce),
        members: Vec::new(),
    });
    let mut out = Vec::new();
    core.on_worker(route.clone(), &encode(&hello), now, &mut out);
    let challenge = match out.as_slice() {
        [Effect::ToWorker(r, m)] if *r == route => m.clone(),
        other => panic!("expected one challenge, got {other:?}"),
    };
    let Header::Challenge {
        nonce: proxy_nonce,
        proof,
        ..
    } = challenge.header
    else {
        panic!("expected a challenge, got {challenge:?}");
    };
    assert!(
        secret().verify_proxy(&w(name), &nonce, &proxy_nonce, &proof.expect("proxy proof")),
        "the proxy proves the secret"
    );
    let auth = Message::new(Header::Auth {
        id: 2,
        worker: w(name),
        proof: key.worker_proof(&w(name), &proxy_nonce, Some(&nonce)),
    });
    out.clear();
    core.on_worker(route.clone(), &encode(&auth), now, &mut out);
    match out.as_slice() {
        [Effect::ToWorker(r, m)] if *r == route => m.clone(),
        other => panic!("expected one answer to auth, got {other:?}"),
    }
}

/// A proxy with authenticated workers a, b, c (routes "ra", "rb", "rc"),
/// all `ready` members (as a worker's saved member set says).
pub(super) fn cluster(now: Instant) -> ProxyCore {
    let mut core = secured();
    for name in ["a", "b", "c"] {
        let welcome = handshake(&mut core, &secret(), name, route(&format!("r{name}")), now);
        assert!(
            matches!(welcome.header, Header::Welcome { .. }),
            "{welcome:?}"
        );
    }
    make_ready(&mut core, &["a", "b", "c"], now);
    core
}

/// Worker `names[0]` heartbeats a member set in which all `names` are ready.
pub(super) fn make_ready(core: &mut ProxyCore, names: &[&str], now: Instant) {
    let members = names
        .iter()
        .map(|n| ClusterMember {
            worker: w(n),
            state: MemberState::Ready,
        })
        .collect();
    let hb = Message::new(Header::Heartbeat {
        id: 99,
        worker: w(names[0]),
        stats: None,
        members,
    });
    let mut out = Vec::new();
    core.on_worker(
        route(&format!("r{}", names[0])),
        &encode(&hb),
        now,
        &mut out,
    );
    for n in names {
        assert_eq!(core.member_set().state(&w(n)), Some(MemberState::Ready));
    }
}

/// Worker-bound syncs in `out`, as (worker route, id, have, changes).
pub(super) fn syncs_to_workers(out: &[Effect]) -> Vec<(Bytes, u64, Vec<ChangeHash>, usize)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::ToWorker(r, m) => match &m.header {
                Header::Sync { id, have, .. } => {
                    Some((r.clone(), *id, have.clone(), m.changes.len()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

pub(super) fn to_client(out: &[Effect], who: &str) -> Vec<Message> {
    out.iter()
        .filter_map(|e| match e {
            Effect::ToClient(env, m) if env.route == route(who) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn synced(
    id: u64,
    list: ListId,
    heads: Vec<ChangeHash>,
    missing: Vec<ChangeHash>,
    changes: Vec<Bytes>,
) -> Vec<Bytes> {
    let acked = u32::from(missing.is_empty());
    encode(&Message::with_changes(
        Header::Synced {
            snapshot: None,
            id,
            list,
            heads,
            missing,
            acked,
            rejected: vec![],
            holds: true,
        },
        changes,
    ))
}

pub(super) fn client_sync(
    core: &mut ProxyCore,
    who: &str,
    list: ListId,
    changes: Vec<Bytes>,
    now: Instant,
) -> Vec<Effect> {
    let msg = Message::sync(42, list, vec![], changes);
    let mut out = Vec::new();
    core.on_client(client(who), &encode(&msg), now, &mut out);
    out
}

#[test]
fn a_silent_home_stays_a_home_and_a_stand_in_takes_its_writes_with_a_hint() {
    let now = Instant::now();
    let mut core = secured();
    let mut out = Vec::new();
    for name in ["a", "b", "c", "d"] {
        handshake(&mut core, &secret(), name, route(&format!("r{name}")), now);
    }
    make_ready(&mut core, &["a", "b", "c", "d"], now);
    let later = now + Duration::from_millis(2500);
    for name in ["a", "b", "c"] {
        let hb = Message::new(Header::Heartbeat {
            id: 2,
            worker: w(name),
            stats: None,
            members: Vec::new(),
        });
        core.on_worker(route(&format!("r{name}")), &encode(&hb), later, &mut out);
    }
    core.on_tick(later, &mut out);
    let status = core.status(later);
    assert!(status.iter().any(|s| s.id == w("d") && !s.alive));
    // A list homed on d: d stays a home; a stand-in gets the write with a hint.
    let list = (0..100)
        .map(|_| ListId::new_random())
        .find(|l| core.replicas_of(l).contains(&w("d")))
        .expect("some list is homed on d");
    assert_eq!(core.replicas_of(&list).len(), 3);
    out.clear();
    let sync = Message::sync(1, list, vec![], vec![Bytes::from_static(b"change")]);
    core.on_client(client("c"), &encode(&sync), later, &mut out);
    let hinted: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Effect::ToWorker(r, m) => match &m.header {
                Header::Sync { hint_for, .. } => Some((r.clone(), hint_for.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(hinted.len(), 3, "{hinted:?}");
    let stand_ins: Vec<_> = hinted.iter().filter(|(_, h)| h.is_some()).collect();
    assert_eq!(stand_ins.len(), 1);
    assert_eq!(stand_ins[0].1, Some(w("d")));
    assert!(!core
        .replicas_of(&list)
        .iter()
        .any(|x| route(&format!("r{x}")) == stand_ins[0].0));
}

#[test]
fn heartbeat_from_an_unknown_worker_gets_not_found() {
    let now = Instant::now();
    let mut core = cluster(now);
    let mut out = Vec::new();
    let hb = Message::new(Header::Heartbeat {
        id: 5,
        worker: w("zz"),
        stats: None,
        members: Vec::new(),
    });
    core.on_worker(route("rz"), &encode(&hb), now, &mut out);
    assert!(
        matches!(&out[..], [Effect::ToWorker(_, m)] if matches!(m.header, Header::Error { code: ErrorCode::NotFound, id: 5, .. }))
    );
}

#[test]
fn bad_input_gets_an_error_reply_not_a_crash() {
    let now = Instant::now();
    let mut core = cluster(now);
    let mut out = Vec::new();
    core.on_client(
        client("c"),
        &[Bytes::from_static(b"\xff\xfe")],
        now,
        &mut out,
    );
    core.on_client(client("c"), &[], now, &mut out);
    core.on_worker(route("ra"), &[Bytes::from_static(b"{}")], now, &mut out);
    let replies = to_client(&out, "c");
    assert_eq!(replies.len(), 2);
    assert!(replies
        .iter()
        .all(|m| matches!(m.header, Header::Error { .. })));
}

#[test]
fn no_live_worker_means_unavailable_at_once() {
    let now = Instant::now();
    let mut core = ProxyCore::new(ProxyConfig::default());
    let out = client_sync(&mut core, "c", ListId::new_random(), vec![], now);
    assert!(
        matches!(&to_client(&out, "c")[..], [m] if matches!(m.header, Header::Error { code: ErrorCode::Unavailable, answered: Some(0), .. }))
    );
}
