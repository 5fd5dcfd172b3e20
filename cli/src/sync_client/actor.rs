//! The connection actor behind [`SyncClient`](super::SyncClient): owns the
//! DEALER (a [`SupervisedDealer`] over the configured endpoints), matches
//! replies to pending requests by id, forwards `notify` pushes, and rebuilds
//! the socket (moving to the next endpoint) whenever a request timed out or
//! the socket failed.

use std::collections::HashMap;
use std::sync::Arc;

use engine::protocol::{decode, encode, Header, Limits, Message};
use shoplist_net::SupervisedDealer;
use tokio::sync::mpsc;
use zeromq::ZmqMessage;

use super::{ClientConfig, ClientEvent, Cmd, Reply};

/// Frames of a message as a ZeroMQ multipart message.
fn to_zmq(msg: &Message) -> Option<ZmqMessage> {
    ZmqMessage::try_from(encode(msg)).ok()
}

/// Decode a received multipart message (no envelope on a DEALER).
fn from_zmq(m: ZmqMessage, limits: &Limits) -> Option<Message> {
    let frames = m.into_vec();
    match decode(&frames, limits) {
        Ok(msg) => Some(msg),
        Err(e) => {
            tracing::debug!(error = %e, "undecodable message from the cloud ignored");
            None
        }
    }
}

/// The task state. See the module docs.
pub(super) struct Actor {
    config: Arc<ClientConfig>,
    dealer: SupervisedDealer,
    pending: HashMap<u64, Reply>,
    events: mpsc::UnboundedSender<ClientEvent>,
}

impl Actor {
    pub(super) fn new(
        config: Arc<ClientConfig>,
        events: mpsc::UnboundedSender<ClientEvent>,
    ) -> Self {
        let dealer = SupervisedDealer::new(config.endpoints.clone(), config.connect_timeout);
        Actor {
            config,
            dealer,
            pending: HashMap::new(),
            events,
        }
    }

    /// Run until every [`SyncClient`](super::SyncClient) handle is dropped.
    pub(super) async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None => break,
                    Some(Cmd::Request { msg, reply }) => self.send(msg, reply).await,
                    Some(Cmd::TimedOut { id }) => {
                        if self.pending.contains_key(&id) {
                            let dropped = self.dealer.rebuild();
                            self.lost(dropped, format!("request {id} timed out"));
                        }
                    }
                },
                got = self.dealer.recv() => match got {
                    Ok(m) => self.on_message(m),
                    Err(e) => self.lost(e.endpoint().map(str::to_string), e.to_string()),
                },
            }
        }
    }

    /// The socket to `dropped` is gone (the dealer has already moved to the
    /// next endpoint): report it and forget every request in flight on it
    /// (their callers see a dropped reply and retry).
    fn lost(&mut self, dropped: Option<String>, reason: String) {
        if let Some(endpoint) = dropped {
            let _ = self
                .events
                .send(ClientEvent::Disconnected { endpoint, reason });
        }
        self.pending.clear();
    }

    async fn send(&mut self, msg: Message, reply: Reply) {
        match self.dealer.connect().await {
            Ok(true) => {
                let endpoint = self.dealer.endpoint().to_string();
                let _ = self.events.send(ClientEvent::Connected { endpoint });
            }
            Ok(false) => {}
            Err(e) => {
                let _ = reply.send(Err(e.to_string()));
                return;
            }
        }
        let Some(frames) = to_zmq(&msg) else {
            let _ = reply.send(Err("message could not be framed".into()));
            return;
        };
        let id = msg.id();
        match self.dealer.send(frames).await {
            Ok(()) => {
                self.pending.insert(id, reply);
            }
            Err(e) => {
                let detail = e.to_string();
                self.lost(e.endpoint().map(str::to_string), detail.clone());
                let _ = reply.send(Err(detail));
            }
        }
    }

    fn on_message(&mut self, m: ZmqMessage) {
        let Some(msg) = from_zmq(m, &self.config.limits) else {
            return;
        };
        match msg.header {
            Header::Notify { list, heads, .. } => {
                let _ = self.events.send(ClientEvent::Notify { list, heads });
            }
            _ => {
                if let Some(reply) = self.pending.remove(&msg.id()) {
                    let _ = reply.send(Ok(msg));
                } else {
                    tracing::debug!(id = msg.id(), op = msg.header.op(), "stale reply ignored");
                }
            }
        }
    }
}
