//! A TCP guard in front of every listening ZeroMQ port.
//!
//! # Why it exists
//!
//! The `zeromq` crate (0.7) trusts the peer's framing. Measured on this
//! project (DESIGN §5):
//!
//! - a single frame header claiming a 2^44-byte length, sent right after the
//!   64-byte greeting, makes its decoder reserve that much memory: the
//!   allocation fails and **the whole process aborts** (no panic to catch);
//! - there is no handshake timeout: a peer that connects and sends nothing
//!   holds a socket and a task forever;
//! - there is no cap on connections.
//!
//! So no zeromq socket of ours listens on a public address. It binds on
//! `127.0.0.1` (an ephemeral port), and this guard listens on the public
//! address instead and relays each connection to it over a fresh loopback
//! connection ([`Upstream::Tcp`]: the workers' port). On the clients' port
//! the guard relays instead into the proxy's in-process ROUTER
//! (`transport::hub`) over an in-memory pipe ([`Upstream::Pipe`]), so a
//! client costs the proxy one descriptor rather than three. On the way in, every byte passes through a
//! [`ZmtpInspector`], an incremental ZMTP 3.x checker (greeting, READY
//! handshake, frame flags and lengths); a frame header is only forwarded once
//! it is complete and its length is within [`GuardConfig::max_frame`], so the
//! poisonous header never reaches zeromq. Bytes from the server to the client
//! are copied as they are.
//!
//! The guard also closes connections that do not finish the handshake within
//! [`GuardConfig::handshake_timeout`] or see no traffic either way for
//! [`GuardConfig::idle_timeout`] (replies and `notify` pushes count as
//! activity). No crowd can lock others out (DESIGN §5): a source address
//! holds at most [`GuardConfig::max_per_source`] connections, and a new
//! connection beyond either cap evicts the least recently active one (of its
//! own address, else of all) instead of being refused.
//!
//! Memory stays bounded whatever clients send (PROTOCOL §9): a client may
//! have at most [`GuardConfig::max_unanswered`] requests whose replies the
//! server has not yet produced (the guard stops reading it until replies
//! come out, so a client that never reads its replies stalls only itself),
//! a message of [`GuardConfig::big_message`] bytes or more needs one of the
//! guard's [`GuardConfig::big_lanes`] before the frame that makes it big is
//! released, held until the reply to that message came out (or, without a
//! window, until the message has passed). A whole message holds one lane,
//! so lanes cannot deadlock; at most `big_lanes` big messages are inside
//! the server at once.
//!
//! # Use
//!
//! [`bind_guarded`] binds a zeromq socket on a loopback port and puts a guard
//! on the public address in front of it:
//!
//! ```no_run
//! # async fn run() -> Result<(), cloud::transport::guard::BindError> {
//! use cloud::transport::guard::{bind_guarded, GuardConfig};
//! use zeromq::Socket;
//!
//! let mut router = zeromq::RouterSocket::new();
//! let public = "0.0.0.0:5555".parse().expect("literal address");
//! let guard = bind_guarded(&mut router, public, GuardConfig::default()).await?;
//! println!("clients connect to tcp://{}", guard.public_addr);
//! // Keep `guard` as long as `router` serves: dropping it stops the guard.
//! # Ok(())
//! # }
//! ```
//!
//! Layout: [`inspector`] is the sans-IO checker, [`crowd`] the sans-IO
//! choice of whom to evict, `connection` relays one connection (through
//! `buffer`'s read buffers, 1 KiB while idle), this file
//! owns the listener and the statistics.

mod buffer;
mod connection;
pub mod crowd;
pub mod inspector;

pub use inspector::{Rejection, Verdict, ZmtpInspector};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use self::connection::Shared;
use self::crowd::{Crowd, Eviction};

/// Limits the guard enforces on each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Largest frame length a client may declare. The default, 34 MiB, is
    /// above the protocol's 32 MiB message limit (PROTOCOL §9), so anything
    /// the codec would accept gets through and the codec gives the typed
    /// `too_large` error; what it stops is the absurd claims.
    pub max_frame: u64,
    /// Time from accept until the client's greeting and READY command have
    /// both arrived in full.
    pub handshake_timeout: Duration,
    /// Longest silence from the client after which its connection is closed.
    /// `Duration::MAX` disables it.
    pub idle_timeout: Duration,
    /// Most simultaneous connections; a new one beyond this evicts the
    /// least recently active.
    pub max_connections: usize,
    /// Most simultaneous connections from one source IP address; a new one
    /// beyond this evicts that address's least recently active.
    pub max_per_source: usize,
    /// Whether a peer may choose its routing identity (READY `Identity`).
    /// Off for the worker backend: a chosen identity takes over the route
    /// of the connection that had it.
    pub allow_identity: bool,
    /// Requests a client may have in flight (sent, reply not yet produced by
    /// the server) before the guard stops reading it. `None` for ports where
    /// the peer answers requests rather than makes them (the backend).
    pub max_unanswered: Option<u64>,
    /// Messages at least this long (all frames) need a big-message lane.
    pub big_message: u64,
    /// Big messages admitted at once, guard-wide.
    pub big_lanes: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_frame: 34 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_per_source: 256,
            allow_identity: true,
            max_unanswered: Some(64),
            big_message: 1024 * 1024,
            big_lanes: 1,
        }
    }
}

impl GuardConfig {
    /// The clients' port.
    pub fn frontend() -> Self {
        Self::default()
    }

    /// The workers' port: no chosen identities; workers answer requests,
    /// so no request window.
    pub fn backend() -> Self {
        Self {
            allow_identity: false,
            max_unanswered: None,
            ..Self::default()
        }
    }
}

/// A snapshot of a guard's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Connections admitted (under the cap) since the guard started.
    pub accepted: u64,
    /// Admitted connections still open.
    pub active: u64,
    /// Connections closed to make room under `max_connections`.
    pub evicted_idle: u64,
    /// Connections closed to make room under `max_per_source`.
    pub evicted_per_source: u64,
    /// Times a client's reading was paused because it had `max_unanswered`
    /// requests in flight.
    pub window_pauses: u64,
    /// Connections closed because a frame claimed more than `max_frame`.
    pub rejected_oversize: u64,
    /// Connections closed for any other ZMTP violation (bad greeting,
    /// mechanism, flags or handshake).
    pub rejected_protocol: u64,
    /// Connections closed by the handshake or the idle timeout.
    pub timed_out: u64,
    /// Connections closed because the upstream socket could not be reached.
    pub upstream_failed: u64,
}

/// The live counters behind [`GuardStats`], shared with connection tasks.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    active: AtomicU64,
    evicted_idle: AtomicU64,
    evicted_per_source: AtomicU64,
    window_pauses: AtomicU64,
    rejected_oversize: AtomicU64,
    rejected_protocol: AtomicU64,
    timed_out: AtomicU64,
    upstream_failed: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> GuardStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GuardStats {
            accepted: get(&self.accepted),
            active: get(&self.active),
            evicted_idle: get(&self.evicted_idle),
            evicted_per_source: get(&self.evicted_per_source),
            window_pauses: get(&self.window_pauses),
            rejected_oversize: get(&self.rejected_oversize),
            rejected_protocol: get(&self.rejected_protocol),
            timed_out: get(&self.timed_out),
            upstream_failed: get(&self.upstream_failed),
        }
    }
}

/// A running guard. Dropping it (or [`GuardHandle::shutdown`]) stops the
/// listener and closes every relayed connection.
#[derive(Debug)]
#[must_use = "dropping the handle stops the guard"]
pub struct GuardHandle {
    /// The address the guard listens on (with the real port if 0 was asked).
    pub public_addr: SocketAddr,
    counters: Arc<Counters>,
    task: Option<JoinHandle<()>>,
}

impl GuardHandle {
    /// The guard's counters right now.
    pub fn stats(&self) -> GuardStats {
        self.counters.snapshot()
    }

    /// Stops the guard and waits until its listener is closed.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The task was aborted: the only outcome is a cancelled JoinError.
            let _ = task.await;
        }
    }
}

impl Drop for GuardHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Opens in-memory pipes to an in-process server (the proxy's client hub,
/// `transport::hub`): the guard's end of each new connection.
pub trait Connector: Send + Sync {
    /// A new connection's pipe; the server serves the other end.
    fn connect(&self) -> tokio::io::DuplexStream;
}

/// Where the guard relays each checked connection.
#[derive(Clone)]
pub enum Upstream {
    /// A fresh TCP connection to this (loopback) address, e.g. a zeromq
    /// socket's: 3 descriptors per client in this process (the client's
    /// socket and both ends of the loopback connection).
    Tcp(SocketAddr),
    /// An in-memory pipe from the connector: 1 descriptor per client.
    Pipe(Arc<dyn Connector>),
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::Tcp(addr) => write!(f, "tcp://{addr}"),
            Upstream::Pipe(_) => f.write_str("in-process pipe"),
        }
    }
}

/// Listens on `public` and relays each accepted connection, checked, to
/// `upstream` (the zeromq socket's loopback address). Must be called inside a
/// tokio runtime; fails only if `public` cannot be bound.
pub async fn spawn_guard(
    public: SocketAddr,
    upstream: SocketAddr,
    cfg: GuardConfig,
) -> std::io::Result<GuardHandle> {
    spawn_guard_to(public, Upstream::Tcp(upstream), cfg).await
}

/// [`spawn_guard`] relaying to any [`Upstream`].
pub async fn spawn_guard_to(
    public: SocketAddr,
    upstream: Upstream,
    cfg: GuardConfig,
) -> std::io::Result<GuardHandle> {
    let listener = TcpListener::bind(public).await?;
    let public_addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    tracing::info!(%public_addr, ?upstream, "transport guard listening");
    let task = tokio::spawn(accept_loop(
        listener,
        Arc::new(upstream),
        Arc::new(cfg),
        counters.clone(),
    ));
    Ok(GuardHandle {
        public_addr,
        counters,
        task: Some(task),
    })
}

/// Why [`bind_guarded`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The zeromq socket could not bind its loopback port.
    #[error("cannot bind the zeromq socket on loopback: {0}")]
    Zmq(#[from] zeromq::ZmqError),
    /// zeromq reported a bound endpoint that is not a TCP address.
    #[error("zeromq bound an unexpected endpoint {0}")]
    Endpoint(String),
    /// The guard could not listen on the public address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The public address asked for.
        addr: SocketAddr,
        /// The listener's error.
        source: std::io::Error,
    },
}

/// Binds `socket` on `127.0.0.1` (a port the OS picks) and starts a guard on
/// `public` that relays to it. The socket must not be bound anywhere else.
pub async fn bind_guarded<S: zeromq::Socket>(
    socket: &mut S,
    public: SocketAddr,
    cfg: GuardConfig,
) -> Result<GuardHandle, BindError> {
    let endpoint = socket.bind("tcp://127.0.0.1:0").await?;
    let upstream = match &endpoint {
        zeromq::Endpoint::Tcp(zeromq::Host::Ipv4(ip), port) => SocketAddr::from((*ip, *port)),
        other => return Err(BindError::Endpoint(other.to_string())),
    };
    spawn_guard(public, upstream, cfg)
        .await
        .map_err(|source| BindError::Listen {
            addr: public,
            source,
        })
}

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until aborted. The connection tasks live in a
/// `JoinSet` owned by this task, so aborting it closes them all.
async fn accept_loop(
    listener: TcpListener,
    upstream: Arc<Upstream>,
    cfg: Arc<GuardConfig>,
    counters: Arc<Counters>,
) {
    let lanes = Arc::new(Semaphore::new(
        cfg.big_lanes.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let epoch = tokio::time::Instant::now();
    let mut crowd = Crowd::new(cfg.max_connections, cfg.max_per_source);
    let mut aborts = std::collections::HashMap::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    for (victim, why) in crowd.make_room(peer.ip()) {
                        let counter = match why {
                            Eviction::PerSource => &counters.evicted_per_source,
                            Eviction::Total => &counters.evicted_idle,
                        };
                        Counters::bump(counter);
                        tracing::info!(%peer, ?why, "guard evicted the least recently active connection");
                        if let Some(abort) = aborts.remove(&victim) {
                            tokio::task::AbortHandle::abort(&abort);
                        }
                    }
                    Counters::bump(&counters.accepted);
                    let shared = Arc::new(Shared::new(epoch));
                    let (cfg, counters, lanes) = (cfg.clone(), counters.clone(), lanes.clone());
                    let (task_shared, upstream) = (shared.clone(), upstream.clone());
                    let abort = connections.spawn(async move {
                        connection::relay(client, peer, &upstream, &cfg, &counters, &task_shared, &lanes).await;
                    });
                    crowd.admit(abort.id(), peer.ip(), shared);
                    aborts.insert(abort.id(), abort);
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = connections.join_next_with_id(), if !connections.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                crowd.remove(id);
                aborts.remove(&id);
            }
        }
        counters.active.store(crowd.len() as u64, Ordering::Relaxed);
    }
}
