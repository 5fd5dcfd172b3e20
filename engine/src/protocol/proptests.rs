//! Property tests: `decode` never panics on arbitrary or mutated frames, and
//! `encode` → `decode` is the identity on well-formed messages.
//! (DESIGN §5: the codec is the first thing untrusted bytes reach.)

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::codec_tests::one_of_each_op;
use super::*;
use crate::ids::{ChangeHash, ListId, WorkerId};

fn list_id() -> impl Strategy<Value = ListId> {
    any::<u128>().prop_map(|n| ListId::parse(&uuid::Uuid::from_u128(n).to_string()).unwrap())
}

fn hashes() -> impl Strategy<Value = Vec<ChangeHash>> {
    vec(any::<[u8; 32]>().prop_map(ChangeHash), 0..4)
}

fn worker_id() -> impl Strategy<Value = WorkerId> {
    "[A-Za-z0-9_.-]{1,64}".prop_map(|s| WorkerId::parse(&s).unwrap())
}

fn code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec())
}

fn rejected() -> impl Strategy<Value = Rejected> {
    (any::<u32>(), code(), any::<String>()).prop_map(|(index, code, message)| Rejected {
        index,
        code,
        message,
    })
}

fn worker_status() -> impl Strategy<Value = WorkerStatus> {
    // Shares with few decimal digits: serde_json (without its
    // `float_roundtrip` feature) may lose the last bit of an arbitrary f64.
    (worker_id(), any::<bool>(), 0u32..=1000).prop_map(|(id, alive, k)| WorkerStatus {
        id,
        alive,
        share: f64::from(k) / 1000.0,
        authenticated: alive,
        heartbeat_age_ms: u64::from(k),
        stats: WorkerStats {
            lists_repaired: u64::from(k),
            quarantined: 1,
            overloaded: 2,
            hints: 0,
        },
        state: None,
    })
}

fn header() -> impl Strategy<Value = Header> {
    let id = any::<u64>;
    prop_oneof![
        (id(), list_id(), hashes()).prop_map(|(id, list, have)| Header::Sync {
            snapshot_ok: false,
            id,
            list,
            have,
            hint_for: None
        }),
        (
            id(),
            vec(list_id(), 0..4),
            proptest::option::of(any::<u128>()),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(id, lists, s, changes)| Header::Subscribe {
                id,
                lists,
                session: s
                    .and_then(|n| crate::protocol::SessionId::parse(&format!("{n:032x}")).ok()),
                changes,
            }),
        (id(), vec(list_id(), 0..4)).prop_map(|(id, lists)| Header::Unsubscribe {
            id,
            lists,
            session: None,
        }),
        id().prop_map(|id| Header::Ping { id }),
        id().prop_map(|id| Header::ClusterStatus { id }),
        (id(), list_id()).prop_map(|(id, list)| Header::Where { id, list }),
        (id(), list_id()).prop_map(|(id, list)| Header::Echo { id, list }),
        (id(), list_id()).prop_map(|(id, list)| Header::EchoOk { id, list }),
        (
            id(),
            list_id(),
            hashes(),
            hashes(),
            any::<u32>(),
            vec(rejected(), 0..3)
        )
            .prop_map(
                |(id, list, heads, missing, acked, rejected)| Header::Synced {
                    snapshot: None,
                    id,
                    list,
                    heads,
                    missing,
                    acked,
                    rejected,
                    holds: true
                }
            ),
        (id(), vec(list_id(), 0..4), any::<bool>())
            .prop_map(|(id, lists, moved)| { Header::Subscribed { id, lists, moved } }),
        id().prop_map(|id| Header::Pong { id }),
        (
            id(),
            vec(worker_status(), 0..4),
            any::<Option<(u64, u64)>>()
        )
            .prop_map(|(id, workers, proxy)| Header::ClusterStatusOk {
                id,
                workers,
                proxy: proxy.map(|(connections, overloaded)| ProxyStats {
                    connections,
                    overloaded,
                    ..ProxyStats::default()
                }),
            }),
        (id(), list_id(), vec(worker_id(), 0..4))
            .prop_map(|(id, list, replicas)| Header::WhereOk { id, list, replicas }),
        (id(), list_id(), hashes()).prop_map(|(id, list, heads)| Header::Notify {
            id,
            list,
            heads
        }),
        (
            id(),
            code(),
            any::<String>(),
            any::<Option<u32>>(),
            any::<Option<u32>>()
        )
            .prop_map(|(id, code, message, answered, needed)| Header::Error {
                id,
                code,
                message,
                answered,
                needed
            }),
        (
            id(),
            worker_id(),
            any::<Option<u64>>(),
            any::<Option<[u8; 32]>>()
        )
            .prop_map(|(id, worker, lists_hint, nonce)| Header::Hello {
                id,
                worker,
                lists_hint,
                nonce: nonce.map(Token),
                members: Vec::new(),
            }),
        (id(), any::<[u8; 32]>(), any::<Option<[u8; 32]>>()).prop_map(|(id, nonce, proof)| {
            Header::Challenge {
                id,
                nonce: Token(nonce),
                proof: proof.map(Token),
            }
        }),
        (id(), worker_id(), any::<[u8; 32]>()).prop_map(|(id, worker, proof)| Header::Auth {
            id,
            worker,
            proof: Token(proof),
        }),
        (id(), any::<u64>()).prop_map(|(id, heartbeat_ms)| Header::Welcome {
            id,
            heartbeat_ms,
            members: Vec::new()
        }),
        (id(), list_id()).prop_map(|(id, list)| Header::Repair { id, list }),
        (id(), worker_id()).prop_map(|(id, worker)| Header::Heartbeat {
            id,
            worker,
            stats: None,
            members: Vec::new(),
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (header(), vec(vec(any::<u8>(), 0..64), 0..4)).prop_map(|(header, changes)| {
        let changes = if header.carries_changes() {
            changes.into_iter().map(Bytes::from).collect()
        } else {
            Vec::new()
        };
        Message::with_changes(header, changes)
    })
}

/// Small limits so that the size checks are reached by random inputs too.
fn small_limits() -> Limits {
    Limits {
        max_header_bytes: 512,
        max_change_bytes: 64,
        max_message_bytes: 1024,
        max_changes: 4,
        max_hashes: 3,
        max_lists: 3,
    }
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(msg in message()) {
        let frames = encode(&msg);
        prop_assert_eq!(decode(&frames, &Limits::default()), Ok(msg));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_frames(frames in vec(vec(any::<u8>(), 0..256), 0..6)) {
        let _ = decode(&frames, &Limits::default());
        let _ = decode(&frames, &small_limits());
        let _ = peek_id(&frames, &Limits::default());
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(
        pick in any::<prop::sample::Index>(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in any::<Option<prop::sample::Index>>(),
        drop_frame in any::<Option<prop::sample::Index>>(),
    ) {
        let msgs = one_of_each_op();
        let mut frames: Vec<Vec<u8>> =
            encode(pick.get(&msgs)).into_iter().map(|f| f.to_vec()).collect();
        for (at, byte) in edits {
            let head = &mut frames[0];
            let i = at.index(head.len());
            head[i] = byte;
        }
        if let Some(t) = truncate {
            let len = frames[0].len();
            frames[0].truncate(t.index(len));
        }
        if let Some(d) = drop_frame {
            let len = frames.len();
            frames.remove(d.index(len));
        }
        let limits = Limits::default();
        if let Err(e) = decode(&frames, &limits) {
            let reply = e.to_reply(peek_id(&frames, &limits));
            prop_assert_eq!(reply.header.op(), "error");
        }
        let _ = decode(&frames, &small_limits());
    }
}
