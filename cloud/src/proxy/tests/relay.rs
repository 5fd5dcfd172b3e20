//! Notifies across proxies through the core (`proxy/relay.rs`): a worker's
//! `notify` for a write another proxy sent is pushed to this proxy's
//! subscribers once W homes reported it, never from a non-member or a
//! member that is not a home.

use std::time::Instant;

use engine::protocol::{encode, Header, Message};
use engine::ListId;

use super::*;

fn subscribe(core: &mut ProxyCore, who: &str, list: ListId, now: Instant) {
    let sub = Message::new(Header::Subscribe {
        id: 1,
        lists: vec![list],
        session: None,
        changes: None,
    });
    core.on_client(client(who), &encode(&sub), now, &mut Vec::new());
}

fn worker_notify(core: &mut ProxyCore, from: &str, list: ListId, now: Instant) -> Vec<Effect> {
    let msg = Message::new(Header::Notify {
        id: 0,
        list,
        heads: vec![h(7)],
    });
    let mut out = Vec::new();
    core.on_worker(route(from), &encode(&msg), now, &mut out);
    out
}

fn pushes(out: &[Effect]) -> usize {
    out.iter()
        .filter(
            |e| matches!(e, Effect::ToClient(_, m) if matches!(m.header, Header::Notify { .. })),
        )
        .count()
}

#[test]
fn a_write_reported_by_w_homes_is_pushed_to_subscribers() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    subscribe(&mut core, "watcher", list, now);
    let homes = core.replicas_of(&list);
    let r = |w: &engine::WorkerId| format!("r{w}");
    assert_eq!(
        pushes(&worker_notify(&mut core, &r(&homes[0]), list, now)),
        0
    );
    assert_eq!(
        pushes(&worker_notify(&mut core, &r(&homes[0]), list, now)),
        0,
        "one home twice is not W"
    );
    assert_eq!(
        pushes(&worker_notify(&mut core, &r(&homes[1]), list, now)),
        1
    );
}

#[test]
fn strangers_and_lists_without_subscribers_push_nothing() {
    let now = Instant::now();
    let mut core = cluster(now);
    let list = ListId::new_random();
    let homes = core.replicas_of(&list);
    // Nobody subscribed: nothing, whoever reports.
    for home in &homes {
        assert_eq!(
            pushes(&worker_notify(&mut core, &format!("r{home}"), list, now)),
            0
        );
    }
    subscribe(&mut core, "watcher", list, now);
    // A connection that never said hello, however often.
    for _ in 0..3 {
        assert_eq!(pushes(&worker_notify(&mut core, "stranger", list, now)), 0);
    }
}
