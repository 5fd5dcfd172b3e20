//! ZeroMQ adapters shared by the proxy, the workers and the client helper.
//!
//! Only bytes cross this layer: it splits ROUTER envelopes from payload
//! frames ([`envelope`]), turns payload frames into typed messages with the
//! engine's one codec (and the `error` reply when they do not decode), and
//! builds DEALER sockets with a bounded connect ([`dealer`]). ZeroMQ 0.7
//! gaps it works around: DEALERs never reconnect after the peer restarts
//! (callers drop and rebuild the socket on heartbeat silence or send
//! failure), `connect` waits 30 s by default (bounded here), and a frame
//! header claiming a huge length aborts the process before any handshake
//! ([`guard`]: a ZMTP-checking TCP relay in front of every listening port;
//! on the client port it relays into [`hub`], an in-process ROUTER, so a
//! client costs one descriptor).

pub mod dealer; // re-exports the shared `shoplist_net::connect_dealer`
pub mod envelope;
pub mod guard;
pub mod hub;

use bytes::Bytes;
use engine::protocol::{decode, encode, peek_id, Limits, Message};
use zeromq::ZmqMessage;

/// Decode payload frames (envelope stripped) with the protocol's default
/// limits; on failure, the `error` reply to send back (boxed: a `Message`
/// is large and the error path is rare).
pub fn decode_frames(frames: &[Bytes]) -> Result<Message, Box<Message>> {
    let limits = Limits::default();
    decode(frames, &limits).map_err(|e| Box::new(e.to_reply(peek_id(frames, &limits))))
}

/// The ZeroMQ message of a protocol message (no envelope, for a DEALER).
pub fn to_zmq(msg: &Message) -> Option<ZmqMessage> {
    ZmqMessage::try_from(encode(msg)).ok()
}
