//! The proxy process: two ROUTER sockets around a [`ProxyCore`].
//!
//! - frontend ROUTER (clients, default `tcp://0.0.0.0:5555`),
//! - backend ROUTER (workers, default `tcp://127.0.0.1:5556`; a backend on
//!   any other address is refused unless a cluster secret is configured,
//!   DESIGN §5). The backend's guard also refuses ZMTP peers that choose
//!   their own routing identity, so no connection can take over an
//!   admitted worker's route.
//!
//! The frontend's connection caps are settings ([`caps`]); at start the
//! proxy raises its descriptor limit to what `--max-connections` needs (the
//! hard limit too, when permitted) and logs how many connections fit,
//! warning only when that is fewer than the cap.
//!
//! The client side is `front`: guarded, the transport guard hands each
//! client to an in-process ZMTP hub (one descriptor per client); workers
//! reach a guarded zeromq ROUTER.
//!
//! One reader task per socket feeds an event channel; the main loop hands
//! each event and a 25 ms tick to the sans-IO core and passes the resulting
//! [`Effect`]s to one writer task per socket, so a slow peer never stalls
//! the state machine. A failed send to a client drops its subscriptions.

pub mod caps;
mod echo;
mod entropy;
mod front;
mod rebuild;
mod refusal;
mod relay;
mod state;
mod subscribe;
mod sync_flow;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use engine::protocol::ProxyStats;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zeromq::{RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

pub use self::state::{Effect, ProxyConfig, ProxyCore};
pub use self::sync_flow::{NOTIFY_CHANGES_MAX, NOTIFY_CHANGES_MAX_BYTES};
use crate::transport::envelope::{self, Envelope};
use crate::transport::guard::{bind_guarded, GuardConfig, GuardHandle};
/// The ready file (`--ready-file`) is written by the format the shared
/// launcher (`shoplist_launch`) reads.
pub use shoplist_launch::{write_ready_file, ReadyEndpoints};

/// How often the core is ticked (deadlines, membership).
const TICK: Duration = Duration::from_millis(25);
/// Messages queued per writer task before new ones are dropped.
const OUT_QUEUE: usize = 100_000;

enum Event {
    Client(ZmqMessage),
    Worker(ZmqMessage),
    ClientGone(Bytes),
}

/// The socket address of a `tcp://host:port` endpoint (`*` = all
/// interfaces); `None` for other transports.
pub async fn tcp_addr(endpoint: &str) -> anyhow::Result<Option<SocketAddr>> {
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return Ok(None);
    };
    let rest = rest.replacen("*:", "0.0.0.0:", 1);
    let mut addrs = tokio::net::lookup_host(rest.as_str())
        .await
        .with_context(|| format!("bad endpoint {endpoint}"))?;
    addrs
        .next()
        .map(Some)
        .with_context(|| format!("endpoint {endpoint} resolves to nothing"))
}

/// Bind a ROUTER for `endpoint` (the workers' side; clients are
/// `front`'s). With `guarded` (the default), zeromq binds
/// a loopback port and the transport guard listens on the endpoint's
/// address in front of it (DESIGN §5); keep the returned handle alive.
/// The returned string is the endpoint really listened on (port 0 resolved).
pub async fn bind(
    endpoint: &str,
    guarded: bool,
    guard: GuardConfig,
) -> anyhow::Result<(RouterSocket, Option<GuardHandle>, String)> {
    let mut socket = RouterSocket::new();
    if guarded {
        if let Some(public) = tcp_addr(endpoint).await? {
            let guard = bind_guarded(&mut socket, public, guard)
                .await
                .with_context(|| format!("cannot bind {endpoint}"))?;
            let bound = format!("tcp://{}", guard.public_addr);
            return Ok((socket, Some(guard), bound));
        }
    }
    let bound = socket
        .bind(endpoint)
        .await
        .with_context(|| format!("cannot bind {endpoint}"))?;
    Ok((socket, None, bound.to_string()))
}

/// Raises the descriptor limit for `--max-connections` ([`caps::Caps::fds_needed`]:
/// the hard limit too when this process may) and logs how many client
/// connections it allows. Warns only when that is below `--max-connections`
/// (beyond it newcomers are refused at `accept`, nobody crashes), saying
/// how to give the proxy more.
fn log_fd_capacity(caps: &caps::Caps) {
    let needed = caps.fds_needed();
    match shoplist_net::fdlimit::raise_nofile(needed) {
        Ok(limit) => {
            let fit = caps::Caps::fd_capacity(limit.soft);
            if fit < caps.max_connections as u64 {
                warn!(
                    nofile = limit.soft,
                    needed,
                    fit,
                    max_connections = caps.max_connections,
                    "the descriptor limit allows only {fit} connections, fewer than \
                     --max-connections: raise the hard limit to {needed} (`ulimit -Hn \
                     {needed}` as root before starting, or LimitNOFILE={needed} in the \
                     systemd unit) or lower --max-connections"
                );
            } else {
                info!(
                    nofile = limit.soft,
                    fit,
                    max_connections = caps.max_connections,
                    max_per_source = caps.max_per_source,
                    "connection capacity"
                );
            }
        }
        Err(error) => warn!(%error, "cannot raise the descriptor limit"),
    }
}

/// Run the proxy until the process is stopped. `guarded`: put the transport
/// guard in front of both ports (turn off only for experiments). Once both
/// ports listen, the real endpoints (port 0 resolved) are logged in the
/// "proxy listening" line and, with `ready_file`, written there as JSON
/// ([`ReadyEndpoints`]).
pub async fn run(
    cfg: ProxyConfig,
    frontend: &str,
    backend: &str,
    guarded: bool,
    ready_file: Option<&Path>,
) -> anyhow::Result<()> {
    if cfg.secret.is_none() {
        if let Some(addr) = tcp_addr(backend).await? {
            if !addr.ip().is_loopback() {
                anyhow::bail!(
                    "refusing to bind the worker backend on {backend} without a cluster secret: \
                     anyone who reaches it could join the ring. Set --secret-file or \
                     SHOPLIST_CLUSTER_SECRET_FILE, or bind 127.0.0.1"
                );
            }
            warn!(
                backend,
                "no cluster secret: any local process may join as a worker"
            );
        }
    }
    log_fd_capacity(&cfg.caps);
    let (ev_tx, mut ev_rx) = mpsc::channel::<Event>(4096);
    let front = front::bind_front(
        frontend,
        guarded,
        cfg.caps.apply(GuardConfig::frontend()),
        &ev_tx,
    )
    .await?;
    let front_guard = front.guard;
    let (back, _back_guard, backend) = bind(backend, guarded, GuardConfig::backend()).await?;
    let endpoints = ReadyEndpoints {
        frontend: front.bound,
        backend,
    };
    if let Some(path) = ready_file {
        write_ready_file(path, &endpoints)
            .with_context(|| format!("cannot write the ready file {}", path.display()))?;
    }
    info!(
        frontend = %endpoints.frontend,
        backend = %endpoints.backend,
        guarded,
        authenticated_workers = cfg.secret.is_some(),
        n = cfg.replicas,
        w = cfg.write_quorum,
        r = cfg.read_quorum,
        "proxy listening"
    );
    let (back_tx, back_rx) = back.split();
    spawn_reader(back_rx, ev_tx.clone(), Event::Worker, "backend");
    let to_clients = front.to_clients;
    let to_workers = spawn_writer(back_tx);

    let mut core = ProxyCore::new(cfg);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = Vec::new();
    let mut gone = Vec::new();
    loop {
        tokio::select! {
            ev = ev_rx.recv() => {
                let Some(ev) = ev else { break };
                let now = Instant::now();
                match ev {
                    Event::Client(m) => {
                        if let Some((env, payload)) = envelope::split(m) {
                            core.on_client(env, &payload, now, &mut out);
                        }
                    }
                    Event::Worker(m) => {
                        if let Some((env, payload)) = envelope::split(m) {
                            core.on_worker(env.route, &payload, now, &mut out);
                        }
                    }
                    Event::ClientGone(route) => core.on_client_gone(&route),
                }
            }
            _ = tick.tick() => {
                if let Some(guard) = &front_guard {
                    let g = guard.stats();
                    core.set_guard_stats(ProxyStats {
                        connections: g.active,
                        evicted_idle: g.evicted_idle,
                        evicted_per_source: g.evicted_per_source,
                        window_pauses: g.window_pauses,
                        ..ProxyStats::default()
                    });
                }
                core.on_tick(Instant::now(), &mut out)
            }
        }
        for effect in out.drain(..) {
            let (to_client, env, msg) = match effect {
                Effect::ToClient(env, msg) => (true, env, msg),
                Effect::ToWorker(route, msg) => (false, Envelope::dealer(route), msg),
            };
            let Some(zm) = envelope::wrap(&env, &msg) else {
                continue;
            };
            if to_client {
                if let Err(route) = to_clients.send(env.route, zm) {
                    gone.push(route);
                }
            } else if to_workers.try_send((env.route, zm)).is_err() {
                warn!("outgoing queue full; message dropped");
            }
        }
        for route in gone.drain(..) {
            core.on_client_gone(&route);
        }
    }
    Ok(())
}

/// Forwards every message a ROUTER half receives into the event loop,
/// wrapped by `wrap`; a receive error is logged and retried shortly.
fn spawn_reader<R>(
    mut rx: R,
    tx: mpsc::Sender<Event>,
    wrap: fn(ZmqMessage) -> Event,
    side: &'static str,
) where
    R: SocketRecv + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(m) => {
                    if tx.send(wrap(m)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    warn!("{side} receive failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}

/// A task that sends to workers on the backend ROUTER.
fn spawn_writer(mut socket: zeromq::RouterSendHalf) -> mpsc::Sender<(Bytes, ZmqMessage)> {
    let (tx, mut rx) = mpsc::channel::<(Bytes, ZmqMessage)>(OUT_QUEUE);
    tokio::spawn(async move {
        while let Some((_route, zm)) = rx.recv().await {
            if let Err(e) = socket.send(zm).await {
                debug!("send to a worker failed: {e}");
            }
        }
    });
    tx
}

#[cfg(test)]
mod deadline_tests {
    use shoplist_cli::sync_client::{ClientConfig, PROXY_DEADLINE};

    use super::ProxyConfig;

    /// Issue 9 §6, PROTOCOL §8.1: the proxy gives up before its clients
    /// do, so they hear its `unavailable` rather than timing out.
    #[test]
    fn the_proxy_deadline_is_the_one_clients_outwait() {
        assert_eq!(ProxyConfig::default().timeout, PROXY_DEADLINE);
        let client = ClientConfig::new(vec![]);
        assert!(client.request_timeout > PROXY_DEADLINE);
        assert!(client.budget >= client.request_timeout);
        let watcher = shoplist_cli::commands::watch_client_config(vec![]);
        assert!(watcher.request_timeout > PROXY_DEADLINE);
        assert!(watcher.budget >= watcher.request_timeout);
    }
}
