//! The cloud client: one ZeroMQ DEALER connected to one proxy endpoint at a
//! time (PROTOCOL.md §1).
//!
//! A [`SyncClient`] is a cheap, cloneable handle to a background task (the
//! *connection actor*) that owns the socket. The actor
//!
//! - connects lazily, to one endpoint at a time, with a connect timeout;
//! - sends requests and matches replies to callers by request `id`, so
//!   several requests may be in flight;
//! - forwards unsolicited `notify` pushes (and connect / disconnect news) to
//!   the [`ClientEvent`] channel returned by [`SyncClient::start`];
//! - drops the socket when told a request timed out, and moves on to the next
//!   endpoint: zeromq 0.7 DEALERs do not reliably reconnect after the peer
//!   restarts, so a rebuilt socket is the only safe recovery (DESIGN §5).
//!
//! The socket handling (bounded connect, failover, rebuild) is the shared
//! [`shoplist_net::SupervisedDealer`]. The caller side
//! ([`SyncClient::request`]) owns the retry policy: a per-request timeout,
//! jittered exponential backoff ([`shoplist_net::Backoff`]) while the cloud
//! is unreachable, and a total budget after which it gives up with
//! [`ClientError::Unreachable`] (or [`ClientError::Unavailable`] when the
//! proxy answered but could not reach its quorum).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine::load::ActorSignature;
use engine::protocol::snapshot::{join_snapshot, signatures_of, SnapshotMeta};
use engine::protocol::{ErrorCode, Header, Limits, Message, Rejected, SessionId};
use engine::{ChangeHash, ListId};
use shoplist_net::{Backoff, BackoffPolicy};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, timeout, Instant};

/// The default cloud endpoint (where `shoplist-cloud up` listens).
pub const DEFAULT_ENDPOINT: &str = "tcp://127.0.0.1:5555";

/// The proxy's default per-request deadline (`shoplist-cloud proxy
/// --timeout-ms`): after it, the proxy answers `unavailable`.
pub const PROXY_DEADLINE: Duration = Duration::from_millis(2000);

/// The client's per-request deadline: the proxy's plus a margin for the
/// reply's trip and a busy machine (PROTOCOL §8.1).
pub const REQUEST_TIMEOUT: Duration = PROXY_DEADLINE.saturating_add(Duration::from_secs(1));

/// Silence after which a proxy is presumed dead (PROTOCOL §8.1): the bound
/// on failover is this plus one reconnect and one request.
pub const LIVENESS: Duration = Duration::from_millis(600);

/// Retries of one [`SyncClient::request`], at most (the budget usually ends
/// it first).
const MAX_RETRIES: usize = 32;

/// Timeouts and retry policy of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Proxy endpoints, tried in order (failover on failure).
    pub endpoints: Vec<String>,
    /// How long one request may wait for its reply before the socket is
    /// rebuilt. Longer than the proxy's own deadline
    /// ([`PROXY_DEADLINE`]), so a slow quorum reaches the user as the
    /// proxy's `unavailable` ("k of W replicas answered"), not as an
    /// unreachable cloud (PROTOCOL §8.1).
    pub request_timeout: Duration,
    /// Silence after which the proxy is presumed dead and the client fails
    /// over to the next endpoint. While an answer is expected the proxy is
    /// probed with `ping` every third of this; it answers pings itself, so
    /// a slow quorum does not look like silence.
    pub liveness: Duration,
    /// Probe even with no request in flight (a watcher, so its
    /// subscriptions move to another proxy as soon as this one dies).
    pub probe_idle: bool,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// Total time one [`SyncClient::request`] may spend, retries included.
    pub budget: Duration,
    /// First backoff delay between retries (jittered into
    /// `[backoff_initial/2, backoff_initial)`; doubles up to `backoff_max`).
    pub backoff_initial: Duration,
    /// Every backoff delay is below this.
    pub backoff_max: Duration,
    /// Limits applied when decoding replies.
    pub limits: Limits,
}

impl ClientConfig {
    /// Defaults for one-shot commands: gives up after about 4 seconds.
    pub fn new(endpoints: Vec<String>) -> Self {
        let endpoints = if endpoints.is_empty() {
            vec![DEFAULT_ENDPOINT.to_string()]
        } else {
            endpoints
        };
        ClientConfig {
            endpoints,
            request_timeout: REQUEST_TIMEOUT,
            liveness: LIVENESS,
            probe_idle: false,
            connect_timeout: Duration::from_millis(500),
            budget: REQUEST_TIMEOUT + Duration::from_secs(1),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(800),
            limits: Limits::default(),
        }
    }

    /// The same endpoints with a different total budget per request.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }
}

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No endpoint answered within the budget.
    #[error("cloud unreachable at {endpoints}: {detail}")]
    Unreachable {
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// The last failure seen.
        detail: String,
    },
    /// The proxy answered but fewer replicas than its quorum did
    /// ("k of W replicas answered").
    #[error("the cloud did not reach its quorum: {0}")]
    Unavailable(String),
    /// The cloud refused the request and retrying will not help.
    #[error("the cloud refused the request ({code}): {message}")]
    Refused {
        /// The wire error code.
        code: ErrorCode,
        /// The cloud's explanation.
        message: String,
    },
    /// The reply was not the kind of message the request calls for.
    #[error("unexpected reply from the cloud: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Whether this means "the cloud could not be reached or did not reach
    /// its quorum" (exit code 2; the edits stay safe locally).
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Unavailable(_)
        )
    }
}

/// News from the connection actor, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The cloud says `list` changed; its heads are now `heads`.
    Notify {
        /// The list.
        list: ListId,
        /// Its heads after the write.
        heads: Vec<ChangeHash>,
        /// The write's signed change frames when the proxy sent them along
        /// (small writes, PROTOCOL §6.2; this client always asks), else
        /// empty. Untrusted like any other: see [`crate::sync::apply_pushed`].
        changes: Vec<bytes::Bytes>,
    },
    /// A (new) connection to `endpoint` is up: subscriptions must be renewed
    /// and lists synced, since pushes may have been missed.
    Connected {
        /// The endpoint.
        endpoint: String,
        /// The connection's number: 1 for the first socket, one more for
        /// each new one (see [`SyncClient::connection_generation`]).
        generation: u64,
    },
    /// The connection was dropped (timeout, error, or failover).
    Disconnected {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

/// A `synced` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncedReply {
    /// The list.
    pub list: ListId,
    /// The cloud's heads after storing the request's changes.
    pub heads: Vec<ChangeHash>,
    /// Dependencies a replica lacked (send again from further back).
    pub missing: Vec<ChangeHash>,
    /// Replicas that durably stored the request's changes.
    pub acked: u32,
    /// Refused changes of the request.
    pub rejected: Vec<Rejected>,
    /// The changes the requester lacks, dependencies first (after the
    /// snapshot, when there is one).
    pub changes: Vec<Bytes>,
    /// A fresh open's snapshot (PROTOCOL §4.2.1), only when the request had
    /// `snapshot_ok`; `Err` says why its frames could not be taken apart
    /// (the requester then syncs without one).
    pub snapshot: Option<Result<ReceivedSnapshot, String>>,
}

/// A snapshot as it arrived: unchecked bytes for the guarded loader
/// (`Store::open_from_snapshot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSnapshot {
    /// The document chunk, joined from its frames.
    pub doc: Vec<u8>,
    /// The heads the document is advertised with.
    pub heads: Vec<ChangeHash>,
    /// One signature per actor.
    pub signatures: Vec<ActorSignature>,
}

/// Split a reply's frames into its snapshot (if `meta`) and its changes.
fn take_snapshot(
    meta: Option<SnapshotMeta>,
    frames: Vec<Bytes>,
) -> (Option<Result<ReceivedSnapshot, String>>, Vec<Bytes>) {
    let Some(meta) = meta else {
        return (None, frames);
    };
    let (doc, rest) = match join_snapshot(&meta, &frames) {
        Ok((doc, rest)) => (doc, rest.to_vec()),
        Err(e) => return (Some(Err(e.to_string())), Vec::new()),
    };
    match signatures_of(&meta) {
        Ok(signatures) => (
            Some(Ok(ReceivedSnapshot {
                doc,
                heads: meta.heads,
                signatures,
            })),
            rest,
        ),
        Err(e) => (Some(Err(e.to_string())), rest),
    }
}

type Reply = oneshot::Sender<Result<Message, String>>;

enum Cmd {
    Request {
        msg: Message,
        reply: Reply,
    },
    /// Request `id` timed out: rebuild the socket if it is still outstanding.
    TimedOut {
        id: u64,
    },
}

/// A handle to the connection actor. Cloning shares the connection.
#[derive(Clone)]
pub struct SyncClient {
    cmds: mpsc::UnboundedSender<Cmd>,
    config: Arc<ClientConfig>,
    next_id: Arc<AtomicU64>,
    /// Named in every `subscribe`: the subscriptions belong to it and
    /// survive a new connection (a rebuilt socket, a failover to another
    /// endpoint of the same proxy) (PROTOCOL §6 "Sessions").
    session: SessionId,
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("endpoints", &self.config.endpoints)
            .finish()
    }
}

impl SyncClient {
    /// Start the connection actor on the current tokio runtime. Nothing is
    /// connected until the first request. The actor stops when every handle
    /// is dropped. Events may be ignored (drop the receiver).
    pub fn start(config: ClientConfig) -> (SyncClient, mpsc::UnboundedReceiver<ClientEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let config = Arc::new(config);
        let generation = Arc::new(AtomicU64::new(0));
        let actor = actor::Actor::new(config.clone(), ev_tx, generation.clone());
        tokio::spawn(actor.run(cmd_rx));
        let client = SyncClient {
            cmds: cmd_tx,
            config,
            next_id: Arc::new(AtomicU64::new(1)),
            session: SessionId::new_random(),
            generation,
        };
        (client, ev_rx)
    }

    /// How many sockets the client has connected so far (0 before the
    /// first): a caller that renewed its subscriptions on connection `g`
    /// can tell a later [`ClientEvent::Connected`] (a new proxy) from the
    /// one its own request caused.
    pub fn connection_generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn unreachable(&self, detail: impl Into<String>) -> ClientError {
        ClientError::Unreachable {
            endpoints: self.config.endpoints.join(","),
            detail: detail.into(),
        }
    }

    /// Send a request built by `build(id)` and wait for its reply, retrying
    /// (with a fresh id) on timeouts, unreachable endpoints and retryable
    /// error codes until the budget is spent. `error` replies are turned into
    /// [`ClientError`]s.
    pub async fn request(&self, build: impl Fn(u64) -> Message) -> Result<Message, ClientError> {
        let cfg = &self.config;
        let deadline = Instant::now() + cfg.budget;
        let mut backoff = Backoff::new(BackoffPolicy {
            first: cfg.backoff_initial,
            ceiling: cfg.backoff_max,
            max_attempts: MAX_RETRIES,
            max_total: cfg.budget,
        });
        // An `unavailable` seen earlier says more than a later timeout.
        let mut unavailable: Option<ClientError> = None;
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            let msg = build(id);
            if self.cmds.send(Cmd::Request { msg, reply: tx }).is_err() {
                return Err(self.unreachable("the connection task has stopped"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = cfg.request_timeout.min(left).max(Duration::from_millis(1));
            let err = match timeout(wait, rx).await {
                Ok(Ok(Ok(reply))) => match reply.header {
                    Header::Error {
                        code,
                        message,
                        answered,
                        needed,
                        ..
                    } => match code {
                        ErrorCode::Unavailable => {
                            let err = ClientError::Unavailable(match (answered, needed) {
                                (Some(a), Some(n)) => format!("{a} of {n} replicas answered"),
                                _ => message,
                            });
                            unavailable = Some(err.clone());
                            err
                        }
                        ErrorCode::Timeout | ErrorCode::Overloaded | ErrorCode::Internal => {
                            self.unreachable(format!("{code}: {message}"))
                        }
                        _ => return Err(ClientError::Refused { code, message }),
                    },
                    _ => return Ok(reply),
                },
                Ok(Ok(Err(detail))) => self.unreachable(detail),
                Ok(Err(_)) => self.unreachable("connection dropped"),
                Err(_) => {
                    let _ = self.cmds.send(Cmd::TimedOut { id });
                    self.unreachable(format!("no reply within {} ms", wait.as_millis()))
                }
            };
            let give_up = |err: ClientError| Err(unavailable.clone().unwrap_or(err));
            let Some(delay) = backoff.next_delay() else {
                return give_up(err);
            };
            let retry_at = Instant::now() + delay;
            // A retry after `unavailable` is only worth it if the proxy has
            // its whole deadline to answer it.
            let room = if matches!(err, ClientError::Unavailable(_)) {
                cfg.request_timeout
            } else {
                Duration::ZERO
            };
            if retry_at + room >= deadline {
                return give_up(err);
            }
            tracing::debug!(error = %err, ?delay, "request failed; retrying");
            sleep(delay).await;
        }
    }

    /// One `sync` round trip: store `changes`, get what a peer with heads
    /// `have` lacks.
    pub async fn sync(
        &self,
        list: ListId,
        have: &[ChangeHash],
        changes: &[Bytes],
    ) -> Result<SyncedReply, ClientError> {
        self.sync_with(list, have, changes, false).await
    }

    /// [`Self::sync`], accepting a snapshot in the reply when `snapshot_ok`
    /// (a fresh open: `have` empty, PROTOCOL §4.2.1).
    pub async fn sync_with(
        &self,
        list: ListId,
        have: &[ChangeHash],
        changes: &[Bytes],
        snapshot_ok: bool,
    ) -> Result<SyncedReply, ClientError> {
        let reply = self
            .request(|id| {
                Message::with_changes(
                    Header::Sync {
                        snapshot_ok,
                        id,
                        list,
                        have: have.to_vec(),
                        hint_for: None,
                    },
                    changes.to_vec(),
                )
            })
            .await?;
        match reply.header {
            Header::Synced {
                list: got,
                heads,
                missing,
                acked,
                rejected,
                snapshot,
                ..
            } if got == list => {
                if snapshot.is_some() && !snapshot_ok {
                    return Err(ClientError::Protocol(format!(
                        "a snapshot of list {list} nobody asked for"
                    )));
                }
                let (snapshot, changes) = take_snapshot(snapshot, reply.changes);
                Ok(SyncedReply {
                    list,
                    heads,
                    missing,
                    acked,
                    rejected,
                    changes,
                    snapshot,
                })
            }
            other => Err(ClientError::Protocol(format!(
                "expected synced for list {list}, got {}",
                other.op()
            ))),
        }
    }

    /// Subscribe this client's session to `lists` (in chunks within the
    /// protocol limit); returns every list the session is now subscribed
    /// to. An empty `lists` only asks for the current set, and re-attaches
    /// the session to the current connection after a reconnect.
    pub async fn subscribe(&self, lists: &[ListId]) -> Result<Vec<ListId>, ClientError> {
        let chunk = self.config.limits.max_lists.max(1);
        let mut all = Vec::new();
        let mut chunks: Vec<&[ListId]> = lists.chunks(chunk).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for part in chunks {
            let reply = self
                .request(|id| {
                    Message::new(Header::Subscribe {
                        id,
                        lists: part.to_vec(),
                        session: Some(self.session.clone()),
                        changes: Some(true),
                    })
                })
                .await?;
            match reply.header {
                Header::Subscribed { lists, .. } => all = lists,
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected subscribed, got {}",
                        other.op()
                    )))
                }
            }
        }
        Ok(all)
    }

    /// Liveness check.
    pub async fn ping(&self) -> Result<(), ClientError> {
        let reply = self.request(|id| Message::new(Header::Ping { id })).await?;
        match reply.header {
            Header::Pong { .. } => Ok(()),
            other => Err(ClientError::Protocol(format!(
                "expected pong, got {}",
                other.op()
            ))),
        }
    }
}

mod actor;
mod liveness;

#[cfg(test)]
pub(crate) mod tests;
