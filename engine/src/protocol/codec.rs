//! The multipart codec: [`Message`] ⇄ ZeroMQ payload frames.
//!
//! Frame 0 is the JSON header with the envelope fields `v` and `n` added;
//! frames 1..=n are raw change bytes. [`decode`] checks, in this order:
//! sizes (header frame, change count, each change frame, whole message),
//! then the header (UTF-8, JSON object, `v`, `op`), then counts (`n` against
//! the frames, hash and list counts), then the typed fields. Nothing is
//! parsed before the sizes pass, and change bytes are never interpreted
//! here: validating them is [`crate::ingest`]'s job.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::error::ProtocolError;
use super::limits::Limits;
use super::message::{op_carries_changes, op_may_carry_changes, Header, Message};

/// The protocol version this crate speaks (the header's `v`).
pub const PROTOCOL_VERSION: u64 = 2;

/// Longest `op` echoed back in an `unknown_op` error message.
const MAX_ECHOED_OP: usize = 64;

/// Encode a message into its payload frames (no routing envelope).
///
/// `n` is written for `sync` and `synced` (and for any message that has
/// change frames, so a peer can reject a misuse with `frame_count`).
pub fn encode(msg: &Message) -> Vec<Bytes> {
    let write_n = msg.header.carries_changes() || !msg.changes.is_empty();
    match encode_header(&msg.header, write_n.then_some(msg.changes.len())) {
        Some(head) => {
            let mut frames = Vec::with_capacity(1 + msg.changes.len());
            frames.push(Bytes::from(head));
            frames.extend(msg.changes.iter().cloned());
            frames
        }
        // Unreachable with the types above (no map keys, no fallible
        // Serialize impls); answer with an `internal` error, not a panic.
        None => vec![Bytes::from(format!(
            r#"{{"v":2,"op":"error","id":{},"code":"internal","message":"header could not be encoded"}}"#,
            msg.header.id()
        ))],
    }
}

fn encode_header(header: &Header, n: Option<usize>) -> Option<Vec<u8>> {
    let Value::Object(mut obj) = serde_json::to_value(header).ok()? else {
        return None;
    };
    obj.insert("v".into(), Value::from(PROTOCOL_VERSION));
    if let Some(n) = n {
        obj.insert("n".into(), Value::from(n));
    }
    serde_json::to_vec(&Value::Object(obj)).ok()
}

/// Decode payload frames (routing envelope already stripped) into a message.
pub fn decode<F: AsRef<[u8]>>(frames: &[F], limits: &Limits) -> Result<Message, ProtocolError> {
    check_sizes(frames, limits)?;
    let (head, rest) = frames.split_first().ok_or(ProtocolError::Empty)?;
    let obj = parse_object(head.as_ref())?;
    let op = check_version_and_op(&obj)?;
    check_counts(&obj, op, rest.len(), limits)?;
    let header: Header = serde_json::from_value(Value::Object(obj))
        .map_err(|e| ProtocolError::BadHeader(e.to_string()))?;
    let changes = rest
        .iter()
        .map(|f| Bytes::copy_from_slice(f.as_ref()))
        .collect();
    Ok(Message { header, changes })
}

/// Best-effort request id of a message that may not decode, so an `error`
/// reply can echo it: the header's `id` if frame 0 is within the header
/// size limit and is a JSON object with an unsigned integer `id`, else 0.
pub fn peek_id<F: AsRef<[u8]>>(frames: &[F], limits: &Limits) -> u64 {
    let Some(head) = frames.first().map(AsRef::as_ref) else {
        return 0;
    };
    if head.len() > limits.max_header_bytes {
        return 0;
    }
    parse_object(head)
        .ok()
        .and_then(|obj| obj.get("id").and_then(Value::as_u64))
        .unwrap_or(0)
}

fn too_large(what: impl Into<String>, size: usize, limit: usize) -> ProtocolError {
    ProtocolError::TooLarge {
        what: what.into(),
        size: size as u64,
        limit: limit as u64,
    }
}

/// Every size limit, before anything is parsed.
fn check_sizes<F: AsRef<[u8]>>(frames: &[F], limits: &Limits) -> Result<(), ProtocolError> {
    let (head, rest) = frames.split_first().ok_or(ProtocolError::Empty)?;
    let head_len = head.as_ref().len();
    if head_len > limits.max_header_bytes {
        return Err(too_large("header frame", head_len, limits.max_header_bytes));
    }
    if rest.len() > limits.max_changes {
        return Err(too_large("change count", rest.len(), limits.max_changes));
    }
    let mut total = head_len;
    for (i, frame) in rest.iter().enumerate() {
        let len = frame.as_ref().len();
        if len > limits.max_change_bytes {
            return Err(too_large(
                format!("change frame {i}"),
                len,
                limits.max_change_bytes,
            ));
        }
        total = total.saturating_add(len);
    }
    if total > limits.max_message_bytes {
        return Err(too_large("message", total, limits.max_message_bytes));
    }
    Ok(())
}

fn parse_object(head: &[u8]) -> Result<Map<String, Value>, ProtocolError> {
    let text = std::str::from_utf8(head).map_err(|_| ProtocolError::HeaderNotUtf8)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(ProtocolError::BadHeader(
            "header is not a JSON object".into(),
        )),
        Err(e) => Err(ProtocolError::BadHeader(format!("header is not JSON: {e}"))),
    }
}

/// `v` must be 1; `op` must be a known op name. Returns the op.
fn check_version_and_op(obj: &Map<String, Value>) -> Result<&str, ProtocolError> {
    match obj.get("v") {
        None => return Err(ProtocolError::BadHeader("missing field `v`".into())),
        Some(v) => match v.as_u64() {
            Some(PROTOCOL_VERSION) => {}
            Some(other) => return Err(ProtocolError::UnsupportedVersion(other)),
            None => {
                return Err(ProtocolError::BadHeader(
                    "`v` must be an unsigned integer".into(),
                ))
            }
        },
    }
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(_) => return Err(ProtocolError::BadHeader("`op` must be a string".into())),
        None => return Err(ProtocolError::BadHeader("missing field `op`".into())),
    };
    if !Header::OPS.contains(&op) {
        return Err(ProtocolError::UnknownOp(
            op.chars().take(MAX_ECHOED_OP).collect(),
        ));
    }
    Ok(op)
}

/// `n` against the frames that follow, then the hash and list counts.
fn check_counts(
    obj: &Map<String, Value>,
    op: &str,
    frames_after_header: usize,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    let declared = match obj.get("n") {
        None if op_carries_changes(op) => {
            return Err(ProtocolError::BadHeader("missing field `n`".into()))
        }
        None => 0,
        Some(n) => n
            .as_u64()
            .ok_or_else(|| ProtocolError::BadHeader("`n` must be an unsigned integer".into()))?,
    };
    let actual = frames_after_header as u64;
    let may_carry = op_carries_changes(op) || op_may_carry_changes(op);
    if declared != actual || (!may_carry && actual != 0) {
        return Err(ProtocolError::FrameCount {
            op: op.to_string(),
            declared,
            actual,
        });
    }
    let (fields, limit): (&[&str], usize) = match op {
        "sync" => (&["have"], limits.max_hashes),
        "synced" => (&["heads", "missing"], limits.max_hashes),
        "notify" => (&["heads"], limits.max_hashes),
        "subscribe" | "unsubscribe" | "subscribed" => (&["lists"], limits.max_lists),
        "hello" | "welcome" | "heartbeat" => (&["members"], super::cluster::MAX_MEMBERS),
        "digest" => (&["ranges"], super::cluster::MAX_DIGEST_RANGES),
        "digest_ok" => (&["digests"], super::cluster::MAX_DIGEST_RANGES),
        "list_heads_ok" => (&["lists"], super::cluster::MAX_LIST_HEADS),
        _ => (&[], 0),
    };
    for field in fields {
        if let Some(Value::Array(items)) = obj.get(*field) {
            if items.len() > limit {
                return Err(too_large(format!("`{field}` list"), items.len(), limit));
            }
        }
    }
    Ok(())
}
