//! `subscribe` and `unsubscribe` from clients (PROTOCOL.md §6): the
//! subscriptions of the connection or of the session it names
//! ([`crate::subscriptions`]). A REQ socket cannot take `notify` pushes
//! (the first one would arrive where it waits for a reply), so its
//! `subscribe` is refused with a clear error instead.

use engine::protocol::{ErrorCode, Header, Message};

use super::state::ProxyCore;
use crate::transport::envelope::Envelope;

/// The error a REQ socket's `subscribe` gets.
pub const REQ_CANNOT_SUBSCRIBE: &str = "`subscribe` needs a DEALER socket: a REQ socket cannot \
     receive `notify` pushes (PROTOCOL.md §6); use a DEALER, or poll with `sync`";

impl ProxyCore {
    /// The reply to a `subscribe` or `unsubscribe` (other headers: `None`).
    pub(super) fn on_subscription(
        &mut self,
        env: &Envelope,
        header: &Header,
        now: std::time::Instant,
    ) -> Option<Message> {
        Some(match header {
            Header::Subscribe { id, .. } if env.delimiter => {
                Message::error(*id, ErrorCode::UnknownOp, REQ_CANNOT_SUBSCRIBE)
            }
            Header::Subscribe {
                id,
                lists,
                session,
                changes,
            } => {
                match self
                    .subs
                    .subscribe_moving(&env.route, session.as_ref(), lists, now)
                {
                    Ok((lists, moved)) => {
                        if let Some(on) = changes {
                            self.subs.want_changes(&env.route, session.as_ref(), *on);
                        }
                        Message::new(Header::Subscribed {
                            id: *id,
                            lists,
                            moved,
                        })
                    }
                    Err(e) => Message::error(*id, ErrorCode::Overloaded, e.to_string()),
                }
            }
            Header::Unsubscribe { id, lists, session } => {
                let lists = self
                    .subs
                    .unsubscribe(&env.route, session.as_ref(), lists, now);
                Message::new(Header::Subscribed {
                    id: *id,
                    lists,
                    moved: false,
                })
            }
            _ => return None,
        })
    }
}
