//! The proxy's memory bounds (DESIGN §5, PROTOCOL §8 `overloaded`): per
//! connection and in total, client syncs in progress and the change bytes
//! they hold are capped; what is over is refused at once, and capacity comes
//! back when syncs finish.

use std::time::Instant;

use bytes::Bytes;
use engine::protocol::{ErrorCode, Header};
use engine::ListId;

use super::*;

fn overloaded(out: &[Effect], who: &str) -> usize {
    to_client(out, who)
        .iter()
        .filter(|m| {
            matches!(
                m.header,
                Header::Error {
                    code: ErrorCode::Overloaded,
                    ..
                }
            )
        })
        .count()
}

fn with(cfg: ProxyConfig, now: Instant) -> ProxyCore {
    let mut core = ProxyCore::new(ProxyConfig {
        secret: Some(secret()),
        ..cfg
    });
    for name in ["a", "b", "c"] {
        handshake(&mut core, &secret(), name, route(&format!("r{name}")), now);
    }
    super::make_ready(&mut core, &["a", "b", "c"], now);
    core
}

#[test]
fn one_connection_cannot_hold_more_than_its_share_of_syncs() {
    let now = Instant::now();
    let cfg = ProxyConfig {
        max_pending_per_client: 4,
        ..ProxyConfig::default()
    };
    let mut core = with(cfg, now);
    let mut refused = 0;
    for _ in 0..10 {
        let out = client_sync(&mut core, "flood", ListId::new_random(), vec![], now);
        refused += overloaded(&out, "flood");
    }
    assert_eq!(refused, 6);
    assert_eq!(core.pending(), 4);
    // Another connection is not affected.
    let out = client_sync(&mut core, "other", ListId::new_random(), vec![], now);
    assert_eq!(overloaded(&out, "other"), 0);
    assert_eq!(core.overloaded, 6);
}

#[test]
fn change_bytes_in_flight_are_capped_and_come_back_when_syncs_finish() {
    let now = Instant::now();
    let cfg = ProxyConfig {
        max_pending_bytes: 1000,
        ..ProxyConfig::default()
    };
    let mut core = with(cfg, now);
    let big = || vec![Bytes::from(vec![1u8; 600])];
    let list = ListId::new_random();
    let first = client_sync(&mut core, "c1", list, big(), now);
    assert_eq!(overloaded(&first, "c1"), 0);
    let second = client_sync(&mut core, "c2", ListId::new_random(), big(), now);
    assert_eq!(overloaded(&second, "c2"), 1, "600 + 600 > 1000");
    assert_eq!(core.pending_bytes, 600);
    // Reads hold no change bytes: still served.
    let read = client_sync(&mut core, "c3", ListId::new_random(), vec![], now);
    assert_eq!(overloaded(&read, "c3"), 0);
    // All three replicas answer the first: it is done, its bytes released.
    let mut out = Vec::new();
    for (r, id, ..) in syncs_to_workers(&first) {
        core.on_worker(
            r,
            &synced(id, list, vec![h(1)], vec![], vec![]),
            now,
            &mut out,
        );
    }
    assert_eq!(core.pending_bytes, 0);
    let again = client_sync(&mut core, "c2", ListId::new_random(), big(), now);
    assert_eq!(overloaded(&again, "c2"), 0);
}
