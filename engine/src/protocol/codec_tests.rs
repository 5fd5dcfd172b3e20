//! Codec tests: every op round-trips, and every decode error code is
//! produced by a crafted bad input (PROTOCOL.md "Errors" and "Limits").

use bytes::Bytes;
use serde_json::{json, Value};

use super::*;
use crate::ids::{hash_to_hex, ChangeHash, ListId, WorkerId};

fn list(n: u128) -> ListId {
    ListId::parse(&uuid::Uuid::from_u128(n).to_string()).unwrap()
}

fn hash(b: u8) -> ChangeHash {
    ChangeHash([b; 32])
}

fn worker(s: &str) -> WorkerId {
    WorkerId::parse(s).unwrap()
}

/// One message of every op, with every optional field exercised somewhere.
pub(super) fn one_of_each_op() -> Vec<Message> {
    let change = Bytes::from_static(b"\x85\x6f\x4a\x83not-really-a-change");
    vec![
        Message::with_changes(
            Header::Sync {
                snapshot_ok: false,
                id: 1,
                list: list(1),
                have: vec![hash(1), hash(2)],
                hint_for: None,
            },
            vec![change.clone(), Bytes::new()],
        ),
        Message::new(Header::Subscribe {
            id: 2,
            lists: vec![list(1), list(2)],
            session: Some(crate::protocol::SessionId::new_random()),
            changes: Some(true),
        }),
        Message::new(Header::Unsubscribe {
            id: 3,
            lists: vec![list(2)],
            session: None,
        }),
        Message::new(Header::Ping { id: 4 }),
        Message::new(Header::ClusterStatus { id: 5 }),
        Message::new(Header::Where {
            id: 6,
            list: list(3),
        }),
        Message::with_changes(
            Header::Echo {
                id: 7,
                list: list(3),
            },
            vec![change.clone()],
        ),
        Message::new(Header::EchoOk {
            id: 7,
            list: list(3),
        }),
        Message::with_changes(
            Header::Synced {
                snapshot: None,
                id: 1,
                list: list(1),
                heads: vec![hash(3)],
                missing: vec![hash(4)],
                acked: 2,
                rejected: vec![Rejected {
                    index: 1,
                    code: ErrorCode::BadChange,
                    message: "empty change".into(),
                }],
                holds: true,
            },
            vec![change.clone()],
        ),
        Message::new(Header::Synced {
            snapshot: None,
            id: 9,
            list: list(1),
            heads: vec![],
            missing: vec![],
            acked: 0,
            rejected: vec![],
            holds: true,
        }),
        Message::new(Header::Subscribed {
            id: 2,
            lists: vec![list(1)],
            moved: true,
        }),
        Message::new(Header::Pong { id: 4 }),
        Message::new(Header::ClusterStatusOk {
            id: 5,
            workers: vec![
                WorkerStatus {
                    id: worker("w1"),
                    alive: true,
                    share: 0.625,
                    authenticated: true,
                    heartbeat_age_ms: 120,
                    stats: WorkerStats {
                        lists_repaired: 1,
                        quarantined: 2,
                        overloaded: 3,
                        hints: 0,
                    },
                    state: None,
                },
                WorkerStatus {
                    id: worker("w2"),
                    alive: true,
                    share: 0.375,
                    authenticated: false,
                    heartbeat_age_ms: 0,
                    stats: WorkerStats::default(),
                    state: None,
                },
                WorkerStatus {
                    id: worker("w3"),
                    alive: false,
                    share: 0.0,
                    authenticated: false,
                    heartbeat_age_ms: 0,
                    stats: WorkerStats::default(),
                    state: None,
                },
            ],
            proxy: Some(ProxyStats {
                connections: 3,
                evicted_idle: 1,
                evicted_per_source: 2,
                window_pauses: 4,
                overloaded: 5,
                workers_refused: 6,
                entropy_passes: 1,
                entropy_transfers: 2,
                entropy_last_dirty: 3,
            }),
        }),
        Message::new(Header::WhereOk {
            id: 6,
            list: list(3),
            replicas: vec![worker("w2"), worker("w1")],
        }),
        Message::new(Header::Notify {
            id: 0,
            list: list(1),
            heads: vec![hash(3)],
        }),
        Message::with_changes(
            Header::Notify {
                id: 0,
                list: list(2),
                heads: vec![hash(4)],
            },
            vec![change],
        ),
        Message::error(7, ErrorCode::BadHeader, "missing field `list`"),
        Message::unavailable(8, 1, 2),
        Message::new(Header::Hello {
            id: 10,
            worker: worker("w1"),
            lists_hint: Some(42),
            nonce: Some(Token([7; 32])),
            members: Vec::new(),
        }),
        Message::new(Header::Hello {
            id: 11,
            worker: worker("w1"),
            lists_hint: None,
            nonce: None,
            members: Vec::new(),
        }),
        Message::new(Header::Challenge {
            id: 11,
            nonce: Token([1; 32]),
            proof: Some(Token([2; 32])),
        }),
        Message::new(Header::Challenge {
            id: 11,
            nonce: Token([1; 32]),
            proof: None,
        }),
        Message::new(Header::Repair {
            id: 14,
            list: list(2),
        }),
        Message::new(Header::Auth {
            id: 12,
            worker: worker("w1"),
            proof: Token([3; 32]),
        }),
        Message::new(Header::Welcome {
            id: 10,
            heartbeat_ms: 1000,
            members: Vec::new(),
        }),
        Message::new(Header::Heartbeat {
            id: 12,
            worker: worker("w1"),
            stats: Some(WorkerStats {
                lists_repaired: 0,
                quarantined: 5,
                overloaded: 9,
                hints: 0,
            }),
            members: Vec::new(),
        }),
        Message::new(Header::Heartbeat {
            id: 13,
            worker: worker("w1"),
            stats: None,
            members: vec![crate::protocol::ClusterMember {
                worker: worker("w2"),
                state: crate::protocol::MemberState::Leaving,
            }],
        }),
        Message::new(Header::Digest {
            id: 14,
            ranges: vec![[u64::MAX - 1, 7], [7, 9]],
        }),
        Message::new(Header::DigestOk {
            id: 14,
            digests: vec![0, u64::MAX],
        }),
        Message::new(Header::ListHeadsIn {
            id: 15,
            range: [1, 2],
            after: Some(ListId::new_random()),
        }),
        Message::new(Header::ListHeadsOk {
            id: 15,
            lists: vec![crate::protocol::ListHeads {
                list: ListId::new_random(),
                heads: vec![ChangeHash([3; 32])],
            }],
            next: None,
        }),
        Message::new(Header::Handoff {
            id: 16,
            list: ListId::new_random(),
            home: worker("w3"),
        }),
        Message::new(Header::HandedOff {
            id: 16,
            list: ListId::new_random(),
            home: worker("w3"),
            release: true,
        }),
        Message::new(Header::Retire {
            id: 17,
            worker: worker("w4"),
            proof: crate::protocol::Token([9; 32]),
        }),
        Message::new(Header::RetireOk {
            id: 17,
            worker: worker("w4"),
            state: crate::protocol::MemberState::Leaving,
        }),
    ]
}

fn decode_default(frames: &[Vec<u8>]) -> Result<Message, ProtocolError> {
    decode(frames, &Limits::default())
}

fn header(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn code_of(frames: &[Vec<u8>]) -> ErrorCode {
    match decode_default(frames) {
        Ok(m) => panic!("decoded a bad message: {m:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn every_op_round_trips() {
    let msgs = one_of_each_op();
    for op in Header::OPS {
        assert!(
            msgs.iter().any(|m| m.header.op() == op),
            "no example of {op}"
        );
    }
    for msg in msgs {
        let frames = encode(&msg);
        assert_eq!(frames.len(), 1 + msg.changes.len());
        let back = decode(&frames, &Limits::default()).unwrap();
        assert_eq!(back, msg);
        assert_eq!(back.id(), msg.id());
    }
}

#[test]
fn header_uses_the_documented_field_names() {
    let msg = Message::with_changes(
        Header::Sync {
            snapshot_ok: false,
            id: 1,
            list: list(1),
            have: vec![hash(0xab)],
            hint_for: None,
        },
        vec![Bytes::from_static(b"x")],
    );
    let frames = encode(&msg);
    let v: Value = serde_json::from_slice(&frames[0]).unwrap();
    assert_eq!(
        v,
        json!({"v": 2, "op": "sync", "id": 1, "list": list(1).to_string(),
               "have": ["ab".repeat(32)], "n": 1})
    );
    assert_eq!(&frames[1][..], b"x");
    // Ops without changes carry no `n`; optional fields are left out.
    let v: Value =
        serde_json::from_slice(&encode(&Message::error(3, ErrorCode::Timeout, "t"))[0]).unwrap();
    assert_eq!(
        v,
        json!({"v": 2, "op": "error", "id": 3, "code": "timeout", "message": "t"})
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let frames = vec![header(
        json!({"v": 2, "op": "ping", "id": 5, "future": {"x": [1, 2]}}),
    )];
    assert_eq!(
        decode_default(&frames).unwrap(),
        Message::new(Header::Ping { id: 5 })
    );
}

#[test]
fn uppercase_hashes_are_accepted() {
    let frames = vec![header(json!({"v": 2, "op": "notify", "id": 0,
        "list": list(1).to_string(), "heads": ["AB".repeat(32)]}))];
    let msg = decode_default(&frames).unwrap();
    assert_eq!(
        msg.header,
        Header::Notify {
            id: 0,
            list: list(1),
            heads: vec![hash(0xab)]
        }
    );
    assert_eq!(hash_to_hex(&hash(0xab)), "ab".repeat(32));
}

#[test]
fn no_frames_is_bad_frame() {
    assert_eq!(code_of(&[]), ErrorCode::BadFrame);
}

#[test]
fn non_utf8_header_is_bad_frame() {
    assert_eq!(code_of(&[vec![0xff, 0xfe, b'{']]), ErrorCode::BadFrame);
}

#[test]
fn oversized_header_frame_is_too_large_before_json_is_parsed() {
    // Not JSON either: the size check must win.
    let frames = vec![vec![b'x'; Limits::MAX_HEADER_BYTES + 1]];
    assert_eq!(code_of(&frames), ErrorCode::TooLarge);
}

#[test]
fn oversized_change_frame_is_too_large() {
    let frames = vec![
        header(
            json!({"v": 2, "op": "sync", "id": 1, "list": list(1).to_string(), "have": [], "n": 1}),
        ),
        vec![0; Limits::MAX_CHANGE_BYTES + 1],
    ];
    assert_eq!(code_of(&frames), ErrorCode::TooLarge);
}

#[test]
fn oversized_message_is_too_large() {
    let limits = Limits {
        max_message_bytes: 1000,
        ..Limits::default()
    };
    let mut frames = vec![header(json!({"v": 2, "op": "sync", "id": 1,
        "list": list(1).to_string(), "have": [], "n": 3}))];
    frames.extend((0..3).map(|_| vec![0u8; 400]));
    let err = decode(&frames, &limits).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TooLarge);
    assert!(err.to_string().contains("message"), "{err}");
    // The same frames fit the default limits.
    assert!(decode_default(&frames).is_ok());
}

#[test]
fn too_many_changes_is_too_large_even_with_a_garbage_header() {
    let limits = Limits {
        max_changes: 4,
        ..Limits::default()
    };
    let mut frames = vec![b"not json".to_vec()];
    frames.extend((0..5).map(|_| vec![1u8]));
    assert_eq!(
        decode(&frames, &limits).unwrap_err().code(),
        ErrorCode::TooLarge
    );
}

#[test]
fn too_many_hashes_or_lists_is_too_large() {
    let have: Vec<String> = (0..=Limits::MAX_HASHES).map(|_| "00".repeat(32)).collect();
    let frames = vec![header(json!({"v": 2, "op": "sync", "id": 1,
        "list": list(1).to_string(), "have": have, "n": 0}))];
    let limits = Limits {
        max_header_bytes: 1 << 20,
        ..Limits::default()
    };
    assert_eq!(
        decode(&frames, &limits).unwrap_err().code(),
        ErrorCode::TooLarge
    );

    let limits = Limits {
        max_lists: 2,
        ..Limits::default()
    };
    let lists: Vec<String> = (1..=3).map(|n| list(n).to_string()).collect();
    let frames = vec![header(
        json!({"v": 2, "op": "subscribe", "id": 1, "lists": lists}),
    )];
    assert_eq!(
        decode(&frames, &limits).unwrap_err().code(),
        ErrorCode::TooLarge
    );
}

#[test]
fn wrong_n_is_frame_count() {
    let sync = |n: u64| {
        header(json!({"v": 2, "op": "sync", "id": 1,
        "list": list(1).to_string(), "have": [], "n": n}))
    };
    assert_eq!(code_of(&[sync(2), vec![1]]), ErrorCode::FrameCount);
    assert_eq!(code_of(&[sync(0), vec![1]]), ErrorCode::FrameCount);
    assert_eq!(code_of(&[sync(1)]), ErrorCode::FrameCount);
    assert!(decode_default(&[sync(1), vec![1]]).is_ok());
    // Ops without changes may not carry frames, even with a matching `n`.
    let ping = header(json!({"v": 2, "op": "ping", "id": 1, "n": 1}));
    assert_eq!(code_of(&[ping, vec![1]]), ErrorCode::FrameCount);
    let ping = header(json!({"v": 2, "op": "ping", "id": 1}));
    assert_eq!(code_of(&[ping, vec![1]]), ErrorCode::FrameCount);
}

#[test]
fn a_notify_may_carry_changes_and_then_counts_them() {
    let notify = |n: Option<u64>| {
        let mut h = json!({"v": 2, "op": "notify", "id": 0,
            "list": list(1).to_string(), "heads": [hash_to_hex(&hash(1))]});
        if let Some(n) = n {
            h["n"] = json!(n);
        }
        header(h)
    };
    // Without `n`: no frames (as every version 2 notify so far).
    assert!(decode_default(&[notify(None)]).unwrap().changes.is_empty());
    assert_eq!(code_of(&[notify(None), vec![1]]), ErrorCode::FrameCount);
    // With `n`: exactly n frames.
    let msg = decode_default(&[notify(Some(2)), vec![1], vec![2]]).unwrap();
    assert_eq!(msg.changes.len(), 2);
    assert_eq!(code_of(&[notify(Some(2)), vec![1]]), ErrorCode::FrameCount);
    // Encoding writes `n` only when there are frames.
    let bare = encode(&Message::new(Header::Notify {
        id: 0,
        list: list(1),
        heads: vec![hash(1)],
    }));
    assert_eq!(bare.len(), 1);
    assert!(!String::from_utf8_lossy(&bare[0]).contains("\"n\""));
}

#[test]
fn non_json_and_non_object_headers_are_bad_header() {
    assert_eq!(code_of(&[b"{\"v\":2,".to_vec()]), ErrorCode::BadHeader);
    assert_eq!(code_of(&[b"[1, \"ping\"]".to_vec()]), ErrorCode::BadHeader);
    assert_eq!(code_of(&[b"\"ping\"".to_vec()]), ErrorCode::BadHeader);
}

#[test]
fn other_versions_are_unsupported() {
    assert_eq!(
        code_of(&[header(json!({"v": 1, "op": "ping", "id": 1}))]),
        ErrorCode::UnsupportedVersion
    );
    // Version is checked before the op: a v1 request is a version error (v2 signs changes).
    assert_eq!(
        code_of(&[header(json!({"v": 1, "op": "frobnicate", "id": 1}))]),
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(
        code_of(&[header(json!({"op": "ping", "id": 1}))]),
        ErrorCode::BadHeader
    );
    assert_eq!(
        code_of(&[header(json!({"v": "1", "op": "ping", "id": 1}))]),
        ErrorCode::BadHeader
    );
}

#[test]
fn unknown_op_is_unknown_op() {
    assert_eq!(
        code_of(&[header(json!({"v": 2, "op": "frobnicate", "id": 1}))]),
        ErrorCode::UnknownOp
    );
    assert_eq!(
        code_of(&[header(json!({"v": 2, "op": "SYNC", "id": 1}))]),
        ErrorCode::UnknownOp
    );
    assert_eq!(
        code_of(&[header(json!({"v": 2, "id": 1}))]),
        ErrorCode::BadHeader
    );
}

#[test]
fn malformed_fields_are_bad_header() {
    let l = list(1).to_string();
    let cases = [
        json!({"v": 2, "op": "sync", "id": 1, "list": l, "have": ["zz"], "n": 0}),
        json!({"v": 2, "op": "sync", "id": 1, "list": l, "have": ["ab".repeat(31)], "n": 0}),
        json!({"v": 2, "op": "sync", "id": 1, "list": "not-a-uuid", "have": [], "n": 0}),
        json!({"v": 2, "op": "sync", "id": 1, "have": [], "n": 0}),
        json!({"v": 2, "op": "sync", "id": 1, "list": l, "have": []}),
        json!({"v": 2, "op": "sync", "id": 1, "list": l, "have": [], "n": -1}),
        json!({"v": 2, "op": "ping", "id": -1}),
        json!({"v": 2, "op": "ping"}),
        json!({"v": 2, "op": "hello", "id": 1, "worker": "bad worker id"}),
        json!({"v": 2, "op": "error", "id": 1, "code": "no_such_code", "message": "m"}),
        json!({"v": 2, "op": "cluster_status_ok", "id": 1, "workers": [{"id": "w1", "alive": true}]}),
    ];
    for case in cases {
        let err = decode_default(&[header(case.clone())]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadHeader, "{case}: {err}");
    }
}

#[test]
fn decode_errors_become_error_replies_that_echo_the_id() {
    let frames = vec![header(json!({"v": 2, "op": "where", "id": 77}))];
    let err = decode_default(&frames).unwrap_err();
    let id = peek_id(&frames, &Limits::default());
    assert_eq!(id, 77);
    let reply = err.to_reply(id);
    assert_eq!(reply.id(), 77);
    match reply.header {
        Header::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::BadHeader);
            assert!(message.contains("list"), "{message}");
        }
        other => panic!("not an error reply: {other:?}"),
    }
    assert_eq!(peek_id(&[b"garbage".to_vec()], &Limits::default()), 0);
    assert_eq!(peek_id::<Vec<u8>>(&[], &Limits::default()), 0);
}

/// The example exchange in PROTOCOL.md decodes as documented.
#[test]
fn protocol_md_example_decodes() {
    let doc = include_str!("../../../PROTOCOL.md");
    let json_lines: Vec<&str> = doc.lines().filter(|l| l.starts_with("{\"v\":2,")).collect();
    assert!(json_lines.len() >= 2, "example headers not found");
    for line in json_lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let n = v.get("n").and_then(Value::as_u64).unwrap_or(0) as usize;
        let mut frames = vec![line.as_bytes().to_vec()];
        frames.extend((0..n).map(|_| vec![0u8; 8]));
        decode_default(&frames).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}
