//! Writes told to the other proxies (PROTOCOL §6, "Several proxies").
//!
//! When this worker stored a write that one proxy sent (a `sync` with
//! changes answered `synced` with nothing missing), each of its *other*
//! proxy links sends that proxy `notify {list, heads}`, so devices watching
//! through it hear of the write too (the proxy pushes once W homes told it,
//! `cloud/src/proxy/relay.rs`). Links share a bounded broadcast channel; a
//! link that falls behind skips reports (a `notify` is best effort).

use engine::protocol::{Header, Message};
use engine::{ChangeHash, ListId};
use tokio::sync::broadcast;

/// Reports a lagging link may fall behind by before it skips some.
pub const RELAY_CAPACITY: usize = 1024;

/// A write stored here, sent by the proxy of link `origin`.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The index of the link (proxy) that sent the write.
    pub origin: usize,
    /// The list written.
    pub list: ListId,
    /// Its heads here after the write.
    pub heads: Vec<ChangeHash>,
}

/// The channel every link of one worker shares.
pub fn channel() -> broadcast::Sender<Stored> {
    broadcast::channel(RELAY_CAPACITY).0
}

/// What a reply to a write says was stored, if anything: a `synced` that
/// holds the list with nothing missing.
pub fn stored(origin: usize, reply: &Message) -> Option<Stored> {
    match &reply.header {
        Header::Synced {
            list,
            heads,
            missing,
            holds: true,
            ..
        } if missing.is_empty() => Some(Stored {
            origin,
            list: *list,
            heads: heads.clone(),
        }),
        _ => None,
    }
}

/// The `notify` link `link` sends its proxy for `s`, unless that proxy sent
/// the write itself.
pub fn notify_for(link: usize, s: &Stored) -> Option<Message> {
    (s.origin != link).then(|| {
        Message::new(Header::Notify {
            id: 0,
            list: s.list,
            heads: s.heads.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced(holds: bool, missing: Vec<ChangeHash>) -> Message {
        Message::new(Header::Synced {
            snapshot: None,
            id: 1,
            list: ListId::new_random(),
            heads: vec![ChangeHash([1; 32])],
            missing,
            acked: 1,
            rejected: Vec::new(),
            holds,
        })
    }

    #[test]
    fn only_a_stored_write_is_reported_and_only_to_other_proxies() {
        let s = stored(0, &synced(true, vec![])).expect("stored");
        assert!(notify_for(0, &s).is_none(), "not back to the sender");
        assert!(matches!(
            notify_for(1, &s).map(|m| m.header),
            Some(Header::Notify { heads, .. }) if heads == s.heads
        ));
        assert!(stored(0, &synced(true, vec![ChangeHash([2; 32])])).is_none());
        assert!(stored(0, &synced(false, vec![])).is_none());
        let err = Message::error(1, engine::protocol::ErrorCode::BadChange, "no");
        assert!(stored(0, &err).is_none());
    }
}
