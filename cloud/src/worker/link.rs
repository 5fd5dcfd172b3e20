//! One worker's supervised connection to one proxy (PROTOCOL.md §7).
//!
//! A DEALER connects to the proxy's backend and says `hello`. With a cluster
//! secret, the proxy answers `challenge`: the worker checks the proxy's
//! proof over its own nonce (it never serves a proxy that cannot prove the
//! secret) and answers `auth` with its proof over the proxy's nonce
//! (PROTOCOL §7.1). The proxy then answers `welcome {heartbeat_ms}`; the
//! worker sends `heartbeat` every `heartbeat_ms` and the proxy echoes each.
//! Until welcomed by a proxy that proved itself, requests are not served. zeromq 0.7 DEALERs never
//! reconnect after the proxy restarts, so when nothing has arrived for
//! [`SILENCE_FACTOR`] × `heartbeat_ms` (or a send fails) the socket is
//! dropped and rebuilt, and `hello` is sent again. Requests go to the store
//! thread without waiting, so many can be committed together; replies come
//! back through this link's queue, which outlives socket rebuilds. A write
//! stored for this proxy is told to the worker's other proxies, and theirs
//! to this one, as `notify` ([`super::relay`]).

use std::time::{Duration, Instant};

use engine::protocol::{ErrorCode, Header, Message, Token};
use engine::WorkerId;
use shoplist_net::{connect_with_backoff, Backoff, BackoffPolicy, SilenceDetector};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, error, info, warn};
use zeromq::{SocketRecv, SocketSend};

use super::cluster_jobs::ClusterJob;
use super::relay::{self, Stored};
use super::repair::REPAIRS_PER_HEARTBEAT;
use super::store_thread::{StoreHandle, SyncJob};
use crate::secret::{fresh_nonce, ClusterSecret};
use crate::transport::{decode_frames, to_zmq};

/// Heartbeats missed before the proxy counts as gone.
pub const SILENCE_FACTOR: u32 = 3;
/// Requests queued at the store from this link before `overloaded`.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Hints offered for handoff per heartbeat, per link.
const HINTS_PER_HEARTBEAT: usize = 64;
/// Bounds on the heartbeat interval a proxy may ask for.
const HEARTBEAT_RANGE: (u64, u64) = (20, 60_000);
/// Delays between connect attempts; a round that runs out is logged and
/// another started (a worker serves its proxy until stopped).
const RECONNECT: BackoffPolicy = BackoffPolicy {
    first: Duration::from_millis(50),
    ceiling: Duration::from_secs(1),
    max_attempts: 120,
    max_total: Duration::from_secs(60),
};

/// What a link needs to know.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Which of the worker's proxies (its place in `--proxy`).
    pub index: usize,
    /// This worker's id.
    pub worker: WorkerId,
    /// The proxy's backend endpoint.
    pub endpoint: String,
    /// Heartbeat interval until the proxy's `welcome` says otherwise.
    pub heartbeat: Duration,
    /// Bound on one connect attempt.
    pub connect_timeout: Duration,
    /// The cluster secret to prove (and to demand of the proxy).
    pub secret: Option<ClusterSecret>,
}

/// Pause after the proxy refused our proof or failed to prove itself: a
/// misconfiguration, not a blip, so do not hammer it.
const REFUSED_PAUSE: Duration = Duration::from_secs(5);

/// Why a session ended.
enum End {
    Silent,
    SendFailed,
    RecvFailed,
    /// The proxy refused our proof, or could not prove the secret itself.
    Untrusted,
}

/// What one message from the proxy asks of the session.
#[derive(Default)]
struct Step {
    reply: Option<Message>,
    heartbeat: Option<Duration>,
    end: Option<End>,
}

impl Step {
    fn reply(msg: Message) -> Self {
        Step {
            reply: Some(msg),
            ..Step::default()
        }
    }

    fn end(end: End) -> Self {
        Step {
            end: Some(end),
            ..Step::default()
        }
    }
}

/// Serve one proxy forever, rebuilding the socket whenever it goes quiet.
pub async fn run_link(cfg: LinkConfig, store: StoreHandle, relay: broadcast::Sender<Stored>) {
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Message>();
    let mut relayed = relay.subscribe();
    let mut backoff = Backoff::new(RECONNECT);
    let mut session = Session {
        cfg: cfg.clone(),
        store,
        reply_tx,
        heartbeat: cfg.heartbeat,
        next_id: 1,
        in_flight: 0,
        queued: std::collections::HashMap::new(),
        writes: std::collections::HashSet::new(),
        relay,
        welcomed: false,
        nonce: None,
        proxy_proved: false,
    };
    loop {
        let socket =
            match connect_with_backoff(&cfg.endpoint, cfg.connect_timeout, &mut backoff).await {
                Ok(s) => s,
                Err(e) => {
                    warn!("proxy unreachable: {e}; still trying");
                    backoff.reset();
                    continue;
                }
            };
        let end = session.serve(socket, &mut reply_rx, &mut relayed).await;
        let why = match end {
            End::Silent => "proxy silent",
            End::SendFailed => "send failed",
            End::RecvFailed => "receive failed",
            End::Untrusted => "no mutual authentication",
        };
        warn!(endpoint = %cfg.endpoint, "{why}; rebuilding the socket");
        if session.welcomed {
            backoff.reset();
        }
        let pause = match end {
            End::Untrusted => REFUSED_PAUSE,
            _ => backoff.next_delay().unwrap_or_else(|| {
                backoff.reset();
                backoff.next_delay().unwrap_or(RECONNECT.first)
            }),
        };
        tokio::time::sleep(pause).await;
    }
}

struct Session {
    cfg: LinkConfig,
    store: StoreHandle,
    reply_tx: mpsc::UnboundedSender<Message>,
    heartbeat: Duration,
    next_id: u64,
    in_flight: usize,
    /// Change bytes of each request queued at the store, by request id.
    queued: std::collections::HashMap<u64, usize>,
    /// Ids of the queued requests that carry changes (writes).
    writes: std::collections::HashSet<u64>,
    /// Writes stored here, told to the other proxies (see [`super::relay`]).
    relay: broadcast::Sender<Stored>,
    welcomed: bool,
    /// This socket's nonce for the proxy's proof (with a secret).
    nonce: Option<Token>,
    /// Whether the proxy proved the secret on this socket.
    proxy_proved: bool,
}

impl Session {
    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// A `hello` with a fresh nonce (when we have a secret); resets what
    /// this socket has proved.
    fn hello(&mut self) -> Message {
        self.nonce = self.cfg.secret.as_ref().map(|_| fresh_nonce());
        self.proxy_proved = false;
        self.welcomed = false;
        Message::new(Header::Hello {
            id: self.fresh_id(),
            worker: self.cfg.worker.clone(),
            lists_hint: None,
            nonce: self.nonce,
            members: self.members_wire(),
        })
    }

    /// One socket's lifetime.
    async fn serve(
        &mut self,
        socket: zeromq::DealerSocket,
        replies: &mut mpsc::UnboundedReceiver<Message>,
        relayed: &mut broadcast::Receiver<Stored>,
    ) -> End {
        let (mut tx, mut rx) = socket.split();
        let hello = self.hello();
        if !send(&mut tx, &hello).await {
            return End::SendFailed;
        }
        let mut silence = SilenceDetector::new(self.heartbeat * SILENCE_FACTOR, Instant::now());
        let mut ticker = tokio::time::interval(self.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let outgoing: Option<Message> = tokio::select! {
                r = rx.recv() => match r {
                    Ok(zm) => {
                        silence.heard(Instant::now());
                        let frames = zm.into_vec();
                        let step = self.handle(&frames);
                        if let Some(end) = step.end {
                            return end;
                        }
                        if let Some(hb) = step.heartbeat {
                            silence.set_limit(hb * SILENCE_FACTOR);
                            ticker = tokio::time::interval(hb);
                            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        }
                        step.reply
                    }
                    Err(e) => {
                        warn!("receive from proxy failed: {e}");
                        return End::RecvFailed;
                    }
                },
                Some(reply) = replies.recv() => {
                    // Sync replies free their slot; cluster replies and
                    // handoff requests took none.
                    if let Some(bytes) = self.queued.remove(&reply.id()) {
                        self.in_flight = self.in_flight.saturating_sub(1);
                        self.store.release(bytes);
                        if self.writes.remove(&reply.id()) {
                            if let Some(s) = relay::stored(self.cfg.index, &reply) {
                                // No receiver (one proxy) is not an error.
                                let _ = self.relay.send(s);
                            }
                        }
                    }
                    Some(reply)
                }
                r = relayed.recv() => match r {
                    Ok(s) if self.welcomed => relay::notify_for(self.cfg.index, &s),
                    Ok(_) => None,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        debug!(skipped = n, "relayed writes skipped (best effort)");
                        None
                    }
                    // Never: this session holds a sender.
                    Err(broadcast::error::RecvError::Closed) => None,
                },
                _ = ticker.tick() => {
                    if silence.is_silent(Instant::now()) {
                        return End::Silent;
                    }
                    // Heartbeats only once admitted: before, the proxy
                    // does not know us and the handshake is under way.
                    if !self.welcomed {
                        continue;
                    }
                    // Ask for the rebuild of lists found damaged here.
                    for list in self.store.damaged().some(REPAIRS_PER_HEARTBEAT) {
                        let repair = Message::new(Header::Repair { id: self.fresh_id(), list });
                        if !send(&mut tx, &repair).await {
                            return End::SendFailed;
                        }
                    }
                    // Offer a few hints for handoff (sent via `replies`).
                    self.store.submit_cluster(ClusterJob::OfferHints {
                        limit: HINTS_PER_HEARTBEAT,
                        link: self.reply_tx.clone(),
                    });
                    Some(Message::new(Header::Heartbeat {
                        id: self.fresh_id(),
                        worker: self.cfg.worker.clone(),
                        stats: Some(self.store.stats()),
                        members: self.members_wire(),
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

    /// One message from the proxy: what to send back, a new heartbeat
    /// interval, or the end of this socket.
    fn handle(&mut self, frames: &[bytes::Bytes]) -> Step {
        let msg = match decode_frames(frames) {
            Ok(m) => m,
            Err(reply) => return Step::reply(*reply),
        };
        match msg.header {
            Header::Challenge { nonce, proof, .. } => self.on_challenge(nonce, proof),
            Header::Welcome {
                heartbeat_ms,
                members,
                ..
            } => {
                let step = self.on_welcome(heartbeat_ms);
                if self.welcomed {
                    self.merge_members(&members);
                }
                step
            }
            Header::Error {
                code: ErrorCode::Unauthorized,
                message,
                ..
            } => {
                error!(endpoint = %self.cfg.endpoint, "the proxy refused our cluster secret: {message}");
                Step::end(End::Untrusted)
            }
            Header::Error {
                code: ErrorCode::NotFound,
                ..
            } if self.welcomed => {
                info!("proxy does not know us; saying hello again");
                Step::reply(self.hello())
            }
            Header::Error { code, message, .. } => {
                warn!("proxy reported {code}: {message}");
                Step::default()
            }
            Header::Heartbeat { members, .. } if self.welcomed => {
                self.merge_members(&members);
                Step::default()
            }
            Header::Heartbeat { .. } | Header::Pong { .. } => Step::default(),
            _ if !self.welcomed => {
                debug!(op = msg.header.op(), "request before welcome; ignored");
                Step::default()
            }
            Header::Digest { id, ranges } => {
                self.store.submit_cluster(ClusterJob::Digest {
                    id,
                    ranges,
                    reply: self.reply_tx.clone(),
                });
                Step::default()
            }
            Header::ListHeadsIn { id, range, after } => {
                self.store.submit_cluster(ClusterJob::ListHeads {
                    id,
                    range,
                    after,
                    reply: self.reply_tx.clone(),
                });
                Step::default()
            }
            Header::HandedOff {
                list,
                home,
                release,
                ..
            } => {
                self.store.submit_cluster(ClusterJob::HandedOff {
                    list,
                    home,
                    release,
                });
                Step::default()
            }
            Header::Sync {
                id,
                list,
                have,
                hint_for,
                snapshot_ok,
            } => {
                let has_changes = !msg.changes.is_empty();
                // A read of a list the requester has in full: answered here.
                if !has_changes && hint_for.is_none() && !self.store.damaged().contains(&list) {
                    if let Some(reply) = self.store.reads().answer(id, list, &have) {
                        return Step::reply(reply);
                    }
                }
                let bytes: usize = msg.changes.iter().map(|c| c.len()).sum();
                if self.in_flight >= MAX_IN_FLIGHT || !self.store.try_reserve(bytes) {
                    self.store.count_overloaded();
                    return Step::reply(Message::error(id, ErrorCode::Overloaded, "worker busy"));
                }
                let job = SyncJob {
                    id,
                    list,
                    have,
                    changes: msg.changes,
                    hint_for,
                    snapshot_ok,
                    reply: self.reply_tx.clone(),
                };
                match self.store.submit(job) {
                    Ok(()) => {
                        self.in_flight += 1;
                        if let Some(old) = self.queued.insert(id, bytes) {
                            self.store.release(old);
                        }
                        if has_changes {
                            self.writes.insert(id);
                        } else {
                            self.writes.remove(&id);
                        }
                        Step::default()
                    }
                    Err(_) => {
                        self.store.release(bytes);
                        Step::reply(Message::error(id, ErrorCode::Internal, "store unavailable"))
                    }
                }
            }
            Header::Ping { id } => Step::reply(Message::new(Header::Pong { id })),
            // The benchmark's transport probe: answered here, store untouched.
            Header::Echo { id, list } => Step::reply(Message::with_changes(
                Header::EchoOk { id, list },
                msg.changes,
            )),
            other => Step::reply(Message::error(
                other.id(),
                ErrorCode::UnknownOp,
                format!("a worker does not serve `{}`", other.op()),
            )),
        }
    }

    /// The member set this worker knows, for `hello` and heartbeats.
    fn members_wire(&self) -> Vec<engine::protocol::ClusterMember> {
        match self.store.members().lock() {
            Ok(m) => m.to_wire(),
            Err(_) => Vec::new(),
        }
    }

    /// Merge a proven proxy's member set; save it if it changed.
    fn merge_members(&mut self, members: &[engine::protocol::ClusterMember]) {
        let saved = match self.store.members().lock() {
            Ok(mut m) => m.merge(members).then(|| serde_json::to_vec(&m.to_wire())),
            Err(_) => None,
        };
        if let Some(Ok(bytes)) = saved {
            self.store.submit_cluster(ClusterJob::SaveMembers(bytes));
        }
    }

    /// The proxy's `challenge`: check its proof, answer with ours.
    fn on_challenge(&mut self, proxy_nonce: Token, proof: Option<Token>) -> Step {
        let (Some(secret), Some(ours)) = (&self.cfg.secret, self.nonce) else {
            error!(
                endpoint = %self.cfg.endpoint,
                "the proxy demands the cluster secret and this worker has none \
                 (set SHOPLIST_CLUSTER_SECRET_FILE)"
            );
            return Step::end(End::Untrusted);
        };
        let worker = &self.cfg.worker;
        let proved = proof.is_some_and(|p| secret.verify_proxy(worker, &ours, &proxy_nonce, &p));
        if !proved {
            error!(endpoint = %self.cfg.endpoint, "the proxy could not prove the cluster secret; not serving it");
            return Step::end(End::Untrusted);
        }
        let proof = secret.worker_proof(worker, &proxy_nonce, Some(&ours));
        let worker = worker.clone();
        self.proxy_proved = true;
        Step::reply(Message::new(Header::Auth {
            id: self.fresh_id(),
            worker,
            proof,
        }))
    }

    /// The proxy's `welcome`: serve it (if it proved the secret we hold).
    fn on_welcome(&mut self, heartbeat_ms: u64) -> Step {
        if self.cfg.secret.is_some() && !self.proxy_proved {
            error!(
                endpoint = %self.cfg.endpoint,
                "welcomed by a proxy that never proved the cluster secret; not serving it"
            );
            return Step::end(End::Untrusted);
        }
        let ms = heartbeat_ms.clamp(HEARTBEAT_RANGE.0, HEARTBEAT_RANGE.1);
        if !self.welcomed {
            info!(endpoint = %self.cfg.endpoint, heartbeat_ms = ms, "welcomed by proxy");
        }
        self.welcomed = true;
        let hb = Duration::from_millis(ms);
        let changed = hb != self.heartbeat;
        self.heartbeat = hb;
        Step {
            heartbeat: changed.then_some(hb),
            ..Step::default()
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
