//! The connection actor behind [`SyncClient`](super::SyncClient): owns the
//! DEALER (a [`SupervisedDealer`] over the configured endpoints), matches
//! replies to pending requests by id, forwards `notify` pushes, and rebuilds
//! the socket (moving to the next endpoint) whenever a request timed out,
//! the socket failed, or the proxy went silent ([`Liveness`]: probed with
//! `ping` while an answer is expected, presumed dead after
//! [`ClientConfig::liveness`](super::ClientConfig::liveness) of silence).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use engine::protocol::{decode, encode, Header, Limits, Message};
use shoplist_net::SupervisedDealer;
use tokio::sync::mpsc;
use tokio::time::Instant;
use zeromq::ZmqMessage;

use super::liveness::{Due, Liveness};
use super::{ClientConfig, ClientEvent, Cmd, Reply};

/// Ids of liveness probes count down from here; requests count up from 1,
/// so the two never meet.
const FIRST_PROBE_ID: u64 = u64::MAX;

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
    liveness: Liveness,
    next_probe_id: u64,
    generation: Arc<AtomicU64>,
}

impl Actor {
    pub(super) fn new(
        config: Arc<ClientConfig>,
        events: mpsc::UnboundedSender<ClientEvent>,
        generation: Arc<AtomicU64>,
    ) -> Self {
        let dealer = SupervisedDealer::new(config.endpoints.clone(), config.connect_timeout);
        let liveness = Liveness::new(config.liveness, Instant::now().into_std());
        Actor {
            config,
            dealer,
            pending: HashMap::new(),
            events,
            liveness,
            next_probe_id: FIRST_PROBE_ID,
            generation,
        }
    }

    /// Run until every [`SyncClient`](super::SyncClient) handle is dropped.
    pub(super) async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            let now = Instant::now().into_std();
            let check = Instant::from_std(self.liveness.next_check(now));
            let watching = self.expecting();
            tokio::select! {
                _ = tokio::time::sleep_until(check), if watching => self.check_liveness().await,
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
                    Ok(m) => {
                        self.liveness.heard(Instant::now().into_std());
                        self.on_message(m)
                    }
                    Err(e) => self.lost(e.endpoint().map(str::to_string), e.to_string()),
                },
            }
        }
    }

    /// Whether an answer is expected, so silence means a dead proxy: a
    /// request is in flight, or (a watcher's client) a socket is up.
    fn expecting(&self) -> bool {
        self.dealer.is_connected() && (!self.pending.is_empty() || self.config.probe_idle)
    }

    /// Probe a quiet proxy, or fail over from a silent one.
    async fn check_liveness(&mut self) {
        if !self.expecting() {
            return;
        }
        match self.liveness.due(Instant::now().into_std()) {
            Due::Nothing => {}
            Due::Probe => {
                let id = self.next_probe_id;
                self.next_probe_id = self.next_probe_id.saturating_sub(1);
                let Some(frames) = to_zmq(&Message::new(Header::Ping { id })) else {
                    return;
                };
                if let Err(e) = self.dealer.send(frames).await {
                    self.lost(e.endpoint().map(str::to_string), e.to_string());
                }
            }
            Due::Dead => {
                let dropped = self.dealer.rebuild();
                let limit = self.config.liveness.as_millis();
                self.lost(dropped, format!("no sign of life for {limit} ms"));
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
        if !self.expecting() {
            // The link was idle: that time was no silence.
            self.liveness.restart(Instant::now().into_std());
        }
        match self.dealer.connect().await {
            Ok(true) => {
                self.liveness.restart(Instant::now().into_std());
                let endpoint = self.dealer.endpoint().to_string();
                let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                let _ = self.events.send(ClientEvent::Connected {
                    endpoint,
                    generation,
                });
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
                let _ = self.events.send(ClientEvent::Notify {
                    list,
                    heads,
                    changes: msg.changes,
                });
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
