//! One worker's supervised connection to one proxy (PROTOCOL.md §7).
//!
//! A DEALER connects to the proxy's backend and says `hello`; the proxy
//! answers `welcome {heartbeat_ms}`; the worker then sends `heartbeat` every
//! `heartbeat_ms` and the proxy echoes each. zeromq 0.7 DEALERs never
//! reconnect after the proxy restarts, so when nothing has arrived for
//! [`SILENCE_FACTOR`] × `heartbeat_ms` (or a send fails) the socket is
//! dropped and rebuilt, and `hello` is sent again. Requests go to the store
//! thread without waiting, so many can be committed together; replies come
//! back through this link's queue, which outlives socket rebuilds.

use std::time::{Duration, Instant};

use engine::protocol::{ErrorCode, Header, Message};
use engine::WorkerId;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zeromq::{SocketRecv, SocketSend};

use super::store_thread::{StoreHandle, SyncJob};
use crate::transport::dealer::{connect, Backoff};
use crate::transport::{decode_frames, to_zmq};

/// Heartbeats missed before the proxy counts as gone.
pub const SILENCE_FACTOR: u32 = 3;
/// Requests queued at the store from this link before `overloaded`.
pub const MAX_IN_FLIGHT: usize = 8192;
/// Bounds on the heartbeat interval a proxy may ask for.
const HEARTBEAT_RANGE: (u64, u64) = (20, 60_000);

/// What a link needs to know.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// This worker's id.
    pub worker: WorkerId,
    /// The proxy's backend endpoint.
    pub endpoint: String,
    /// Heartbeat interval until the proxy's `welcome` says otherwise.
    pub heartbeat: Duration,
    /// Bound on one connect attempt.
    pub connect_timeout: Duration,
}

/// Why a session ended.
enum End {
    Silent,
    SendFailed,
    RecvFailed,
}

/// Serve one proxy forever, rebuilding the socket whenever it goes quiet.
pub async fn run_link(cfg: LinkConfig, store: StoreHandle) {
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Message>();
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let mut session = Session {
        cfg: cfg.clone(),
        store,
        reply_tx,
        heartbeat: cfg.heartbeat,
        next_id: 1,
        in_flight: 0,
        welcomed: false,
    };
    loop {
        let socket = match connect(&cfg.endpoint, cfg.connect_timeout).await {
            Ok(s) => s,
            Err(e) => {
                debug!(endpoint = %cfg.endpoint, "connect failed: {e}");
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        session.welcomed = false;
        let end = session.serve(socket, &mut reply_rx).await;
        let why = match end {
            End::Silent => "proxy silent",
            End::SendFailed => "send failed",
            End::RecvFailed => "receive failed",
        };
        warn!(endpoint = %cfg.endpoint, "{why}; rebuilding the socket");
        if session.welcomed {
            backoff.reset();
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

struct Session {
    cfg: LinkConfig,
    store: StoreHandle,
    reply_tx: mpsc::UnboundedSender<Message>,
    heartbeat: Duration,
    next_id: u64,
    in_flight: usize,
    welcomed: bool,
}

impl Session {
    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn hello(&mut self) -> Message {
        Message::new(Header::Hello {
            id: self.fresh_id(),
            worker: self.cfg.worker.clone(),
            lists_hint: None,
        })
    }

    /// One socket's lifetime.
    async fn serve(
        &mut self,
        socket: zeromq::DealerSocket,
        replies: &mut mpsc::UnboundedReceiver<Message>,
    ) -> End {
        let (mut tx, mut rx) = socket.split();
        let hello = self.hello();
        if !send(&mut tx, &hello).await {
            return End::SendFailed;
        }
        let mut last_heard = Instant::now();
        let mut ticker = tokio::time::interval(self.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let outgoing: Option<Message> = tokio::select! {
                r = rx.recv() => match r {
                    Ok(zm) => {
                        last_heard = Instant::now();
                        let frames = zm.into_vec();
                        let (reply, new_hb) = self.handle(&frames);
                        if let Some(hb) = new_hb {
                            ticker = tokio::time::interval(hb);
                            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        }
                        reply
                    }
                    Err(e) => {
                        warn!("receive from proxy failed: {e}");
                        return End::RecvFailed;
                    }
                },
                Some(reply) = replies.recv() => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    Some(reply)
                }
                _ = ticker.tick() => {
                    if last_heard.elapsed() > self.heartbeat * SILENCE_FACTOR {
                        return End::Silent;
                    }
                    Some(Message::new(Header::Heartbeat {
                        id: self.fresh_id(),
                        worker: self.cfg.worker.clone(),
                    }))
                }
            };
            if let Some(msg) = outgoing {
                if !send(&mut tx, &msg).await {
                    return End::SendFailed;
                }
            }
        }
    }

    /// One message from the proxy: the reply to send now, if any, and a new
    /// heartbeat interval, if the proxy set one.
    fn handle(&mut self, frames: &[bytes::Bytes]) -> (Option<Message>, Option<Duration>) {
        let msg = match decode_frames(frames) {
            Ok(m) => m,
            Err(reply) => return (Some(*reply), None),
        };
        match msg.header {
            Header::Sync { id, list, have } => {
                if self.in_flight >= MAX_IN_FLIGHT {
                    let busy = Message::error(id, ErrorCode::Overloaded, "worker busy");
                    return (Some(busy), None);
                }
                let job = SyncJob {
                    id,
                    list,
                    have,
                    changes: msg.changes,
                    reply: self.reply_tx.clone(),
                };
                match self.store.submit(job) {
                    Ok(()) => {
                        self.in_flight += 1;
                        (None, None)
                    }
                    Err(_) => (
                        Some(Message::error(id, ErrorCode::Internal, "store unavailable")),
                        None,
                    ),
                }
            }
            Header::Ping { id } => (Some(Message::new(Header::Pong { id })), None),
            // The benchmark's transport probe: answered here, store untouched.
            Header::Echo { id, list } => (
                Some(Message::with_changes(
                    Header::EchoOk { id, list },
                    msg.changes,
                )),
                None,
            ),
            Header::Welcome { heartbeat_ms, .. } => {
                let ms = heartbeat_ms.clamp(HEARTBEAT_RANGE.0, HEARTBEAT_RANGE.1);
                if !self.welcomed {
                    info!(endpoint = %self.cfg.endpoint, heartbeat_ms = ms, "welcomed by proxy");
                }
                self.welcomed = true;
                let hb = Duration::from_millis(ms);
                let changed = hb != self.heartbeat;
                self.heartbeat = hb;
                (None, changed.then_some(hb))
            }
            Header::Heartbeat { .. } | Header::Pong { .. } => (None, None),
            Header::Error {
                code: ErrorCode::NotFound,
                ..
            } => {
                info!("proxy does not know us; saying hello again");
                (Some(self.hello()), None)
            }
            Header::Error { code, message, .. } => {
                warn!("proxy reported {code}: {message}");
                (None, None)
            }
            other => (
                Some(Message::error(
                    other.id(),
                    ErrorCode::UnknownOp,
                    format!("a worker does not serve `{}`", other.op()),
                )),
                None,
            ),
        }
    }
}

async fn send(tx: &mut zeromq::DealerSendHalf, msg: &Message) -> bool {
    let Some(zm) = to_zmq(msg) else {
        return true;
    };
    match tx.send(zm).await {
        Ok(()) => true,
        Err(e) => {
            debug!("send to proxy failed: {e}");
            false
        }
    }
}
