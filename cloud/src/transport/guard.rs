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
//! connection. On the way in, every byte passes through a
//! [`ZmtpInspector`], an incremental ZMTP 3.x checker (greeting, READY
//! handshake, frame flags and lengths); a frame header is only forwarded once
//! it is complete and its length is within [`GuardConfig::max_frame`], so the
//! poisonous header never reaches zeromq. Bytes from the server to the client
//! are copied as they are.
//!
//! The guard also closes connections that do not finish the handshake within
//! [`GuardConfig::handshake_timeout`] or stay silent for
//! [`GuardConfig::idle_timeout`] (peers keep busy connections alive with the
//! application heartbeats of PROTOCOL §7), and refuses connections beyond
//! [`GuardConfig::max_connections`] by closing them at once.
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
//! Layout: [`inspector`] is the sans-IO checker, `connection` relays one
//! connection, this file owns the listener, the cap and the statistics.

mod connection;
pub mod inspector;

pub use inspector::{Rejection, Verdict, ZmtpInspector};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

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
    /// Most simultaneous connections; more are closed at once.
    pub max_connections: usize,
    /// Whether a peer may choose its routing identity (READY `Identity`).
    /// Off for the worker backend: a chosen identity takes over the route
    /// of the connection that had it.
    pub allow_identity: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_frame: 34 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            allow_identity: true,
        }
    }
}

impl GuardConfig {
    /// The clients' port.
    pub fn frontend() -> Self {
        Self::default()
    }

    /// The workers' port: no chosen identities.
    pub fn backend() -> Self {
        Self {
            allow_identity: false,
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
    /// Connections closed at once because the cap was reached.
    pub rejected_cap: u64,
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
    rejected_cap: AtomicU64,
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
            rejected_cap: get(&self.rejected_cap),
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

/// Listens on `public` and relays each accepted connection, checked, to
/// `upstream` (the zeromq socket's loopback address). Must be called inside a
/// tokio runtime; fails only if `public` cannot be bound.
pub async fn spawn_guard(
    public: SocketAddr,
    upstream: SocketAddr,
    cfg: GuardConfig,
) -> std::io::Result<GuardHandle> {
    let listener = TcpListener::bind(public).await?;
    let public_addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let task = tokio::spawn(accept_loop(
        listener,
        upstream,
        Arc::new(cfg),
        counters.clone(),
    ));
    tracing::info!(%public_addr, %upstream, "transport guard listening");
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
    upstream: SocketAddr,
    cfg: Arc<GuardConfig>,
    counters: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        Counters::bump(&counters.accepted);
                        let (cfg, counters) = (cfg.clone(), counters.clone());
                        connections.spawn(async move {
                            counters.active.fetch_add(1, Ordering::Relaxed);
                            connection::relay(client, peer, upstream, &cfg, &counters).await;
                            counters.active.fetch_sub(1, Ordering::Relaxed);
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        Counters::bump(&counters.rejected_cap);
                        tracing::warn!(%peer, cap = cfg.max_connections, "connection cap reached; closing new connection");
                        drop(client);
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
