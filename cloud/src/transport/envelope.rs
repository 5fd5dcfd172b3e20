//! ROUTER envelopes (PROTOCOL.md §1 "Envelopes").
//!
//! A ROUTER receives `[routing id, payload...]` from a DEALER and
//! `[routing id, "", payload...]` from a REQ socket. The header frame is never
//! empty, so an empty frame right after the routing id is a REQ delimiter.
//! Replies go back with the same envelope.

use bytes::Bytes;
use engine::protocol::{encode, Message};
use zeromq::ZmqMessage;

/// The routing part of a message received on a ROUTER.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// The peer's routing id.
    pub route: Bytes,
    /// Whether the peer is a REQ socket (an empty delimiter frame follows).
    pub delimiter: bool,
}

impl Envelope {
    /// A DEALER peer's envelope.
    pub fn dealer(route: Bytes) -> Self {
        Envelope {
            route,
            delimiter: false,
        }
    }
}

/// Split a message received on a ROUTER into its envelope and payload.
/// `None` if there is no routing id.
pub fn split(msg: ZmqMessage) -> Option<(Envelope, Vec<Bytes>)> {
    let mut frames = msg.into_vec().into_iter();
    let route = frames.next()?;
    let mut payload: Vec<Bytes> = frames.collect();
    let delimiter = payload.first().is_some_and(|f| f.is_empty());
    if delimiter {
        payload.remove(0);
    }
    Some((Envelope { route, delimiter }, payload))
}

/// A message to send on a ROUTER to the peer of `env`.
pub fn wrap(env: &Envelope, msg: &Message) -> Option<ZmqMessage> {
    let payload = encode(msg);
    let mut frames = Vec::with_capacity(payload.len() + 2);
    frames.push(env.route.clone());
    if env.delimiter {
        frames.push(Bytes::new());
    }
    frames.extend(payload);
    ZmqMessage::try_from(frames).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::protocol::Header;

    #[test]
    fn req_delimiter_is_kept_for_the_reply() {
        let raw = ZmqMessage::try_from(vec![
            Bytes::from_static(b"id"),
            Bytes::new(),
            Bytes::from_static(b"{}"),
        ])
        .unwrap();
        let (env, payload) = split(raw).unwrap();
        assert!(env.delimiter);
        assert_eq!(payload, vec![Bytes::from_static(b"{}")]);
        let reply = wrap(&env, &Message::new(Header::Pong { id: 1 })).unwrap();
        assert_eq!(reply.len(), 3);
        assert!(reply.get(1).unwrap().is_empty());
    }

    #[test]
    fn dealer_envelope_is_just_the_route() {
        let raw = ZmqMessage::try_from(vec![Bytes::from_static(b"id"), Bytes::from_static(b"{}")])
            .unwrap();
        let (env, payload) = split(raw).unwrap();
        assert_eq!(env, Envelope::dealer(Bytes::from_static(b"id")));
        assert_eq!(payload.len(), 1);
    }
}
