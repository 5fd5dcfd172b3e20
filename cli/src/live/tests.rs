//! Unit tests of [`LiveSession`] with hand-driven time: no sockets, no SQLite.

use std::time::{Duration, Instant};

use engine::{ChangeHash, ListId};

use super::session::SubscribeKind;
use super::*;
use crate::watch::WatchEvent;

const SEED: u64 = 11;

fn id(n: u8) -> ListId {
    ListId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).unwrap()
}

fn head(n: u8) -> ChangeHash {
    ChangeHash([n; 32])
}

fn scanned(list: ListId, pending: usize, h: u8) -> ScannedList {
    ScannedList {
        list,
        pending,
        heads: vec![head(h)],
    }
}

fn cfg() -> SessionConfig {
    println!("backoff seed {SEED}");
    SessionConfig {
        seed: SEED,
        ..SessionConfig::default()
    }
}

fn syncs(effects: &[Effect]) -> Vec<ListId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Sync(l) => Some(*l),
            _ => None,
        })
        .collect()
}

fn reports(effects: &[Effect]) -> Vec<WatchEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Report(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn wake(effects: &[Effect]) -> Instant {
    match effects.last() {
        Some(Effect::WakeAt(at)) => *at,
        other => panic!("last effect is not a wake-up: {other:?}"),
    }
}

fn synced(sent: usize, received: usize) -> SyncOutcome {
    SyncOutcome::Synced {
        name: "groceries".into(),
        sent,
        received,
        pending: 0,
        heads: vec![ChangeHash([7; 32])],
    }
}

/// A session at `t0` that scanned `lists` (nothing pending), renewed the
/// subscriptions and finished the first sync of each: online and idle.
fn online(lists: &[ListId]) -> (LiveSession, Instant) {
    let t0 = Instant::now();
    let mut s = LiveSession::new(cfg(), t0);
    let fx = s.handle(t0, Event::Tick);
    assert!(fx.contains(&Effect::Scan), "{fx:?}");
    let scan = lists.iter().map(|l| scanned(*l, 0, 1)).collect();
    let fx = s.handle(t0, Event::Scanned(scan));
    assert!(
        fx.contains(&Effect::Subscribe(SubscribeKind::Renew(lists.to_vec()))),
        "{fx:?}"
    );
    let fx = s.handle(
        t0,
        Event::Subscribed {
            kind: SubscribeKind::Renew(lists.to_vec()),
            generation: 1,
            result: Ok(lists.to_vec()),
        },
    );
    assert_eq!(syncs(&fx), lists.to_vec());
    for l in lists {
        let fx = s.handle(
            t0,
            Event::SyncDone {
                list: *l,
                outcome: synced(0, 0),
            },
        );
        assert!(syncs(&fx).is_empty());
    }
    (s, t0)
}

#[test]
fn start_scans_renews_then_syncs_every_list() {
    let (s, _) = online(&[id(1), id(2)]);
    assert!(!s.in_flight(id(1)) && !s.in_flight(id(2)));
    assert_eq!(s.subscribed().count(), 2);
}

#[test]
fn first_successful_subscribe_reports_online_once() {
    let t0 = Instant::now();
    let mut s = LiveSession::new(cfg(), t0);
    s.handle(t0, Event::Tick);
    s.handle(t0, Event::Scanned(vec![scanned(id(1), 0, 1)]));
    let fx = s.handle(
        t0,
        Event::Subscribed {
            kind: SubscribeKind::Renew(vec![id(1)]),
            generation: 1,
            result: Ok(vec![id(1)]),
        },
    );
    assert_eq!(reports(&fx), vec![WatchEvent::Online]);
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(0, 0),
        },
    );
    assert!(reports(&fx).is_empty(), "{fx:?}");
}

#[test]
fn an_edit_syncs_at_once() {
    let (mut s, t0) = online(&[id(1)]);
    let fx = s.handle(t0, Event::Edited(id(1)));
    assert_eq!(syncs(&fx), vec![id(1)]);
    assert!(s.in_flight(id(1)));
}

#[test]
fn at_most_one_sync_in_flight_per_list() {
    let (mut s, t0) = online(&[id(1)]);
    assert_eq!(syncs(&s.handle(t0, Event::Edited(id(1)))), vec![id(1)]);
    for i in 0..100u64 {
        let fx = s.handle(t0 + Duration::from_micros(i), Event::Edited(id(1)));
        assert!(syncs(&fx).is_empty(), "second sync while one is in flight");
    }
}

#[test]
fn edits_during_a_sync_coalesce_into_one_next_sync() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    for _ in 0..50 {
        s.handle(t0, Event::Edited(id(1)));
    }
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(1, 0),
        },
    );
    assert_eq!(syncs(&fx), vec![id(1)], "one batch for the 50 edits");
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(50, 0),
        },
    );
    assert!(syncs(&fx).is_empty(), "nothing left: no third sync");
}

#[test]
fn lists_sync_independently() {
    let (mut s, t0) = online(&[id(1), id(2)]);
    assert_eq!(syncs(&s.handle(t0, Event::Edited(id(1)))), vec![id(1)]);
    assert_eq!(syncs(&s.handle(t0, Event::Edited(id(2)))), vec![id(2)]);
}

#[test]
fn notify_with_unknown_heads_syncs() {
    let (mut s, t0) = online(&[id(1)]);
    let fx = s.handle(
        t0,
        Event::Notify {
            list: id(1),
            known: false,
        },
    );
    assert_eq!(syncs(&fx), vec![id(1)]);
}

#[test]
fn a_push_applied_is_reported_received_and_needs_no_sync() {
    let (mut s, t0) = online(&[id(1)]);
    let applied = |list| Event::PushApplied {
        list,
        name: "L".into(),
        received: 2,
        pending: 0,
        heads: vec![head(7)],
    };
    let fx = s.handle(t0, applied(id(1)));
    assert_eq!(
        reports(&fx),
        vec![WatchEvent::Received {
            id: id(1),
            name: "L".into(),
            received: 2,
            pending: 0,
            heads: vec![head(7)],
        }]
    );
    assert!(syncs(&fx).is_empty());
    // A list the session does not watch: nothing to tell.
    assert!(reports(&s.handle(t0, applied(id(9)))).is_empty());
}

#[test]
fn notify_with_known_heads_does_nothing() {
    let (mut s, t0) = online(&[id(1)]);
    let fx = s.handle(
        t0,
        Event::Notify {
            list: id(1),
            known: true,
        },
    );
    assert!(syncs(&fx).is_empty());
}

#[test]
fn notify_for_an_unknown_list_is_ignored() {
    let (mut s, t0) = online(&[id(1)]);
    let fx = s.handle(
        t0,
        Event::Notify {
            list: id(9),
            known: false,
        },
    );
    assert!(syncs(&fx).is_empty());
}

#[test]
fn notify_while_in_flight_marks_dirty_instead_of_a_second_request() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    for _ in 0..5 {
        let fx = s.handle(
            t0,
            Event::Notify {
                list: id(1),
                known: false,
            },
        );
        assert!(syncs(&fx).is_empty());
    }
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(1, 0),
        },
    );
    assert_eq!(syncs(&fx), vec![id(1)], "the dirty list syncs once more");
}

#[test]
fn a_sync_is_wanted_from_an_unknown_notify_until_it_starts() {
    let (mut s, t0) = online(&[id(1), id(2)]);
    assert!(!s.sync_wanted(id(1)));
    s.handle(t0, Event::Edited(id(1)));
    assert!(s.in_flight(id(1)));
    assert!(!s.sync_wanted(id(1)), "the sync started: nothing queued");
    s.handle(
        t0,
        Event::Notify {
            list: id(1),
            known: true,
        },
    );
    assert!(!s.sync_wanted(id(1)), "known heads queue nothing");
    s.handle(
        t0,
        Event::Notify {
            list: id(1),
            known: false,
        },
    );
    assert!(s.sync_wanted(id(1)), "queued behind the one in flight");
    assert!(!s.sync_wanted(id(2)));
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(1, 0),
        },
    );
    assert_eq!(syncs(&fx), vec![id(1)]);
    assert!(!s.sync_wanted(id(1)), "the queued sync started");
}

#[test]
fn reply_with_changes_reports_received_and_pushed() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(3, 7),
        },
    );
    let r = reports(&fx);
    assert!(r.contains(&WatchEvent::Received {
        id: id(1),
        name: "groceries".into(),
        received: 7,
        pending: 0,
        heads: vec![ChangeHash([7; 32])],
    }));
    assert!(r.contains(&WatchEvent::Pushed {
        id: id(1),
        name: "groceries".into(),
        sent: 3,
        pending: 0
    }));
}

#[test]
fn unavailable_retries_with_backoff_not_at_once() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: SyncOutcome::Unavailable("1 of 2 replicas answered".into()),
        },
    );
    assert!(syncs(&fx).is_empty());
    assert!(matches!(reports(&fx)[..], [WatchEvent::Unavailable { .. }]));
    // An edit during the backoff waits too.
    assert!(syncs(&s.handle(t0, Event::Edited(id(1)))).is_empty());
    let at = wake(&s.handle(t0, Event::Tick));
    assert!(at > t0, "a wake-up is scheduled for the retry");
    // The first delay is in [first/2, first).
    let first = SessionConfig::default().list_retry_first;
    let fx = s.handle(t0 + first, Event::Tick);
    assert_eq!(syncs(&fx), vec![id(1)], "retried once the backoff elapsed");
}

#[test]
fn repeated_unavailable_backs_off_longer() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..4 {
        s.handle(
            now,
            Event::SyncDone {
                list: id(1),
                outcome: SyncOutcome::Unavailable("quorum".into()),
            },
        );
        // Step time until the retry starts (bounded).
        let started = now;
        let mut retried = false;
        for _ in 0..1000 {
            now += Duration::from_millis(50);
            if !syncs(&s.handle(now, Event::Tick)).is_empty() {
                retried = true;
                break;
            }
        }
        assert!(retried, "no retry within 50 s");
        waits.push(now - started);
    }
    assert!(waits[3] > waits[0], "backoff grows: {waits:?}");
}

#[test]
fn store_error_during_sync_is_reported_and_retried() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: SyncOutcome::StoreFailed("disk I/O error".into()),
        },
    );
    assert_eq!(
        reports(&fx),
        vec![WatchEvent::StoreError {
            id: Some(id(1)),
            message: "disk I/O error".into()
        }]
    );
    let later = t0 + SessionConfig::default().list_retry_max;
    assert_eq!(syncs(&s.handle(later, Event::Tick)), vec![id(1)]);
}

#[test]
fn store_error_outside_a_sync_is_reported() {
    let (mut s, t0) = online(&[id(1)]);
    let fx = s.handle(
        t0,
        Event::StoreFailed {
            list: None,
            message: "database is locked".into(),
        },
    );
    assert_eq!(
        reports(&fx),
        vec![WatchEvent::StoreError {
            id: None,
            message: "database is locked".into()
        }]
    );
}

#[test]
fn offline_reports_once_and_waits_for_the_backoff() {
    let (mut s, t0) = online(&[id(1)]);
    s.handle(t0, Event::Edited(id(1)));
    let fx = s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: SyncOutcome::Offline("cloud unreachable".into()),
        },
    );
    assert!(matches!(reports(&fx)[..], [WatchEvent::Offline { .. }]));
    assert_eq!(s.subscribed().count(), 0);
    // Nothing happens before the retry time, edits included.
    assert!(syncs(&s.handle(t0, Event::Edited(id(1)))).is_empty());
    let fx = s.handle(t0 + Duration::from_millis(100), Event::Tick);
    assert!(!fx.contains(&Effect::Scan), "{fx:?}");
    // After it, a full round: scan, renew, sync every list.
    let later = t0 + Duration::from_secs(1);
    assert!(s.handle(later, Event::Tick).contains(&Effect::Scan));
    let fx = s.handle(later, Event::Scanned(vec![scanned(id(1), 1, 2)]));
    assert!(fx.contains(&Effect::Subscribe(SubscribeKind::Renew(vec![id(1)]))));
    let fx = s.handle(
        later,
        Event::Subscribed {
            kind: SubscribeKind::Renew(vec![id(1)]),
            generation: 2,
            result: Ok(vec![id(1)]),
        },
    );
    assert_eq!(reports(&fx), vec![WatchEvent::Online]);
    assert_eq!(syncs(&fx), vec![id(1)]);
}

#[test]
fn failed_subscribe_goes_offline() {
    let t0 = Instant::now();
    let mut s = LiveSession::new(cfg(), t0);
    s.handle(t0, Event::Tick);
    s.handle(t0, Event::Scanned(vec![scanned(id(1), 1, 1)]));
    let fx = s.handle(
        t0,
        Event::Subscribed {
            kind: SubscribeKind::Renew(vec![id(1)]),
            generation: 1,
            result: Err("cloud unreachable".into()),
        },
    );
    assert!(matches!(reports(&fx)[..], [WatchEvent::Offline { .. }]));
    assert!(syncs(&fx).is_empty());
    assert!(wake(&fx) > t0);
}

#[test]
fn scan_pushes_edits_of_other_processes() {
    let (mut s, t0) = online(&[id(1), id(2)]);
    let t1 = t0 + SessionConfig::default().local_poll;
    assert!(s.handle(t1, Event::Tick).contains(&Effect::Scan));
    let fx = s.handle(
        t1,
        Event::Scanned(vec![scanned(id(1), 0, 1), scanned(id(2), 3, 2)]),
    );
    assert_eq!(syncs(&fx), vec![id(2)]);
}

#[test]
fn scan_subscribes_new_lists_then_syncs_them() {
    let (mut s, t0) = online(&[id(1)]);
    let t1 = t0 + SessionConfig::default().local_poll;
    s.handle(t1, Event::Tick);
    let fx = s.handle(
        t1,
        Event::Scanned(vec![scanned(id(1), 0, 1), scanned(id(2), 1, 1)]),
    );
    assert_eq!(
        fx.iter()
            .filter(|e| matches!(e, Effect::Subscribe(_)))
            .collect::<Vec<_>>(),
        vec![&Effect::Subscribe(SubscribeKind::Add(vec![id(2)]))]
    );
    assert!(syncs(&fx).is_empty(), "not before the proxy knows it");
    let fx = s.handle(
        t1,
        Event::Subscribed {
            kind: SubscribeKind::Add(vec![id(2)]),
            generation: 1,
            result: Ok(vec![id(1), id(2)]),
        },
    );
    assert_eq!(syncs(&fx), vec![id(2)]);
}

#[test]
fn a_rejected_list_is_not_retried_until_it_changes() {
    let (mut s, t0) = online(&[id(1)]);
    let t1 = t0 + SessionConfig::default().local_poll;
    s.handle(t1, Event::Tick);
    assert_eq!(
        syncs(&s.handle(t1, Event::Scanned(vec![scanned(id(1), 1, 5)]))),
        vec![id(1)]
    );
    let fx = s.handle(
        t1,
        Event::SyncDone {
            list: id(1),
            outcome: SyncOutcome::Failed("rejected".into()),
        },
    );
    assert!(matches!(reports(&fx)[..], [WatchEvent::Error { .. }]));
    let t2 = t1 + SessionConfig::default().local_poll;
    s.handle(t2, Event::Tick);
    assert!(syncs(&s.handle(t2, Event::Scanned(vec![scanned(id(1), 1, 5)]))).is_empty());
    let t3 = t2 + SessionConfig::default().local_poll;
    s.handle(t3, Event::Tick);
    assert_eq!(
        syncs(&s.handle(t3, Event::Scanned(vec![scanned(id(1), 2, 6)]))),
        vec![id(1)],
        "new heads: tried again"
    );
}

#[test]
fn recheck_that_finds_subscriptions_lost_renews_them() {
    let (mut s, t0) = online(&[id(1)]);
    let t1 = t0 + SessionConfig::default().recheck;
    let fx = s.handle(t1, Event::Tick);
    assert!(
        fx.contains(&Effect::Subscribe(SubscribeKind::Check)),
        "{fx:?}"
    );
    let fx = s.handle(t1, Event::Scanned(vec![scanned(id(1), 0, 1)]));
    assert!(syncs(&fx).is_empty());
    s.handle(
        t1,
        Event::Subscribed {
            kind: SubscribeKind::Check,
            generation: 1,
            result: Ok(vec![]),
        },
    );
    let fx = s.handle(t1, Event::Tick);
    assert!(fx.contains(&Effect::Scan), "{fx:?}");
    let fx = s.handle(t1, Event::Scanned(vec![scanned(id(1), 0, 1)]));
    assert!(fx.contains(&Effect::Subscribe(SubscribeKind::Renew(vec![id(1)]))));
}

#[test]
fn a_new_connection_triggers_a_full_round_but_the_renewing_one_does_not() {
    let (mut s, t0) = online(&[id(1)]);
    // Generation 1 is the one the renewal ran on.
    let fx = s.handle(t0, Event::Connected { generation: 1 });
    assert!(!fx.contains(&Effect::Scan));
    assert_eq!(syncs(&s.handle(t0, Event::Edited(id(1)))), vec![id(1)]);
    s.handle(
        t0,
        Event::SyncDone {
            list: id(1),
            outcome: synced(1, 0),
        },
    );
    s.handle(t0, Event::Connected { generation: 2 });
    // No sync until the subscriptions are renewed.
    assert!(syncs(&s.handle(t0, Event::Edited(id(1)))).is_empty());
    assert!(s.handle(t0, Event::Tick).contains(&Effect::Scan));
}

#[test]
fn only_named_lists_are_watched() {
    let t0 = Instant::now();
    let mut s = LiveSession::new(
        SessionConfig {
            only: Some(vec![id(1)]),
            ..cfg()
        },
        t0,
    );
    s.handle(t0, Event::Tick);
    let fx = s.handle(
        t0,
        Event::Scanned(vec![scanned(id(1), 0, 1), scanned(id(2), 4, 1)]),
    );
    assert!(fx.contains(&Effect::Subscribe(SubscribeKind::Renew(vec![id(1)]))));
    let fx = s.handle(
        t0,
        Event::Subscribed {
            kind: SubscribeKind::Renew(vec![id(1)]),
            generation: 1,
            result: Ok(vec![id(1)]),
        },
    );
    assert_eq!(syncs(&fx), vec![id(1)]);
    assert!(syncs(&s.handle(t0, Event::Edited(id(2)))).is_empty());
}

#[test]
fn every_handle_ends_with_a_bounded_wake_up() {
    let (mut s, t0) = online(&[id(1)]);
    let fx = s.handle(t0, Event::Tick);
    let at = wake(&fx);
    assert!(at >= t0 && at <= t0 + SessionConfig::default().recheck);
}
