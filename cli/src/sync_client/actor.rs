//! The connection actor behind [`SyncClient`](super::SyncClient): owns the
//! DEALER socket, matches replies to pending requests by id, forwards
//! `notify` pushes, and rebuilds the socket (moving to the next endpoint)
//! whenever a request timed out or the socket failed.

use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;

use engine::protocol::{decode, encode, Header, Limits, Message};
use tokio::sync::mpsc;
use tokio::time::timeout;
use zeromq::{DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage, ZmqResult};

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

/// A fresh DEALER connected to `endpoint`, or why not.
async fn connect(endpoint: &str, connect_timeout: Duration) -> Result<DealerSocket, String> {
    let mut opts = SocketOptions::default();
    opts.connect_timeout(connect_timeout);
    let mut socket = DealerSocket::with_options(opts);
    match timeout(
        connect_timeout + Duration::from_millis(50),
        socket.connect(endpoint),
    )
    .await
    {
        Ok(Ok(())) => Ok(socket),
        Ok(Err(e)) => Err(format!("{endpoint}: {e}")),
        Err(_) => Err(format!("{endpoint}: connect timed out")),
    }
}

/// The task state. See the module docs.
pub(super) struct Actor {
    config: Arc<ClientConfig>,
    /// Index into `config.endpoints` of the endpoint in use (or next to try).
    endpoint: usize,
    socket: Option<DealerSocket>,
    pending: HashMap<u64, Reply>,
    events: mpsc::UnboundedSender<ClientEvent>,
}

/// Receive from the socket, or wait forever when there is none.
async fn recv_opt(socket: &mut Option<DealerSocket>) -> ZmqResult<ZmqMessage> {
    match socket {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

impl Actor {
    pub(super) fn new(
        config: Arc<ClientConfig>,
        events: mpsc::UnboundedSender<ClientEvent>,
    ) -> Self {
        Actor {
            config,
            endpoint: 0,
            socket: None,
            pending: HashMap::new(),
            events,
        }
    }

    fn endpoint_name(&self) -> String {
        let eps = &self.config.endpoints;
        eps.get(self.endpoint % eps.len().max(1))
            .cloned()
            .unwrap_or_default()
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
                            self.drop_socket(format!("request {id} timed out"));
                        }
                    }
                },
                got = recv_opt(&mut self.socket) => match got {
                    Ok(m) => self.on_message(m),
                    Err(e) => self.drop_socket(format!("receive failed: {e}")),
                },
            }
        }
    }

    /// Forget the socket and every request in flight on it (their callers see
    /// a dropped reply and retry), and fail over to the next endpoint.
    fn drop_socket(&mut self, reason: String) {
        if self.socket.take().is_some() {
            let _ = self.events.send(ClientEvent::Disconnected {
                endpoint: self.endpoint_name(),
                reason,
            });
        }
        self.pending.clear();
        self.endpoint = self.endpoint.wrapping_add(1);
    }

    async fn send(&mut self, msg: Message, reply: Reply) {
        if self.socket.is_none() {
            let endpoint = self.endpoint_name();
            match connect(&endpoint, self.config.connect_timeout).await {
                Ok(s) => {
                    self.socket = Some(s);
                    let _ = self.events.send(ClientEvent::Connected { endpoint });
                }
                Err(detail) => {
                    self.endpoint = self.endpoint.wrapping_add(1);
                    let _ = reply.send(Err(detail));
                    return;
                }
            }
        }
        let Some(frames) = to_zmq(&msg) else {
            let _ = reply.send(Err("message could not be framed".into()));
            return;
        };
        let id = msg.id();
        let sent = match self.socket.as_mut() {
            Some(s) => s.send(frames).await.map_err(|e| e.to_string()),
            None => Err("not connected".into()),
        };
        match sent {
            Ok(()) => {
                self.pending.insert(id, reply);
            }
            Err(e) => {
                self.drop_socket(format!("send failed: {e}"));
                let _ = reply.send(Err(e));
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
