//! The `echo` relay through the proxy core (PROTOCOL.md §4.1; the bare
//! transport path of DESIGN §9 "transport"): exactly one replica, the
//! payload both ways, the client's id restored, and a timeout answered.

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::{encode, ErrorCode, Header, Message};
use engine::ListId;

use super::*;

fn client_echo(core: &mut ProxyCore, list: ListId, now: Instant) -> Vec<Effect> {
    let msg = Message::with_changes(
        Header::Echo { id: 77, list },
        vec![Bytes::from_static(b"payload")],
    );
    let mut out = Vec::new();
    core.on_client(client("c"), &encode(&msg), now, &mut out);
    out
}

/// The echos in `out` bound for workers: (route, id, payload frames).
fn echos_to_workers(out: &[Effect]) -> Vec<(Bytes, u64, Vec<Bytes>)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::ToWorker(r, m) => match m.header {
                Header::Echo { id, .. } => Some((r.clone(), id, m.changes.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn echo_goes_to_the_first_replica_only_and_comes_back_with_its_payload() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let out = client_echo(&mut core, list, now);
    assert_eq!(out.len(), 1, "one message, to one worker: {out:?}");
    let sent = echos_to_workers(&out);
    let [(r, id, payload)] = &sent[..] else {
        panic!("expected one echo to a worker, got {out:?}");
    };
    let first = core.replicas_of(&list)[0].to_string();
    assert_eq!(r, &route(&format!("r{first}")), "the list's first replica");
    assert_eq!(payload, &vec![Bytes::from_static(b"payload")]);
    assert_ne!(*id, 77, "the proxy uses its own id towards workers");

    let reply = Message::with_changes(Header::EchoOk { id: *id, list }, payload.clone());
    let mut out = Vec::new();
    core.on_worker(r.clone(), &encode(&reply), now, &mut out);
    let replies = to_client(&out, "c");
    let [m] = &replies[..] else {
        panic!("expected one reply to the client, got {out:?}");
    };
    assert_eq!(m.header, Header::EchoOk { id: 77, list });
    assert_eq!(m.changes, vec![Bytes::from_static(b"payload")]);
    assert_eq!(core.pending(), 0, "an echo is not a sync");
}

#[test]
fn echo_from_the_wrong_worker_is_ignored() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let sent = echos_to_workers(&client_echo(&mut core, list, now));
    let (r, id, _) = sent[0].clone();
    let other = ["ra", "rb", "rc"]
        .into_iter()
        .map(route)
        .find(|x| *x != r)
        .unwrap();
    let reply = Message::new(Header::EchoOk { id, list });
    let mut out = Vec::new();
    core.on_worker(other, &encode(&reply), now, &mut out);
    assert!(to_client(&out, "c").is_empty());
}

#[test]
fn unanswered_echo_times_out_and_no_worker_means_unavailable() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    client_echo(&mut core, list, now);
    let mut out = Vec::new();
    core.on_tick(now + Duration::from_secs(3), &mut out);
    assert!(
        matches!(&to_client(&out, "c")[..], [m] if matches!(m.header, Header::Error { id: 77, code: ErrorCode::Timeout, .. }))
    );

    let mut empty = ProxyCore::new(ProxyConfig::default());
    let out = client_echo(&mut empty, list, now);
    assert!(
        matches!(&to_client(&out, "c")[..], [m] if matches!(m.header, Header::Error { id: 77, code: ErrorCode::Unavailable, .. }))
    );
}
