//! The proxy's client side. Guarded (the default, on TCP), the transport
//! guard listens on the endpoint and hands each checked connection to the
//! in-process hub (`transport::hub`) over a pipe: one descriptor per client.
//! Unguarded (`--no-guard`, experiments) or on another transport, a zeromq
//! ROUTER binds the endpoint itself. Either way, received messages enter
//! the event loop as [`Event::Client`], and [`ToClients::send`] takes
//! replies: straight into the hub's per-connection queue (no task hop), or
//! to a writer task for zeromq, which reports failed sends as
//! [`Event::ClientGone`].

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use engine::protocol::Limits;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use zeromq::{RouterSocket, Socket, SocketSend, ZmqMessage};

use super::{spawn_reader, tcp_addr, Event, OUT_QUEUE};
use crate::transport::guard::{spawn_guard_to, GuardConfig, GuardHandle, Upstream};
use crate::transport::hub::{self, HubSend};

/// Where replies to clients go.
pub(super) enum ToClients {
    /// The hub's connections (guarded).
    Hub(HubSend),
    /// The queue of the task that sends on a zeromq ROUTER (unguarded).
    Task(mpsc::Sender<(Bytes, ZmqMessage)>),
}

impl ToClients {
    /// Sends `message` (routing identity `route` first) or queues it.
    /// `Err(route)` when the client is known to be gone now (its
    /// subscriptions should go); a full writer queue drops the message.
    pub fn send(&self, route: Bytes, message: ZmqMessage) -> Result<(), Bytes> {
        match self {
            ToClients::Hub(hub) => hub.send(message).map_err(|e| {
                debug!("send to a client failed: {e}");
                route
            }),
            ToClients::Task(queue) => {
                if queue.try_send((route, message)).is_err() {
                    warn!("outgoing queue full; message dropped");
                }
                Ok(())
            }
        }
    }
}

/// The bound client side.
pub(super) struct Front {
    /// Where replies go.
    pub to_clients: ToClients,
    /// The guard, when there is one (keep it: dropping it stops the guard).
    pub guard: Option<GuardHandle>,
    /// The endpoint really listened on (port 0 resolved).
    pub bound: String,
}

/// Binds the client endpoint; received messages go to `events`.
pub(super) async fn bind_front(
    endpoint: &str,
    guarded: bool,
    guard: GuardConfig,
    events: &mpsc::Sender<Event>,
) -> anyhow::Result<Front> {
    if guarded {
        if let Some(public) = tcp_addr(endpoint).await? {
            // A message holds at most MAX_CHANGES change frames and a header.
            let (hub, send) = hub::hub(
                events.clone(),
                Event::Client,
                guard.max_frame,
                Limits::MAX_CHANGES + 1,
            );
            let guard = spawn_guard_to(public, Upstream::Pipe(Arc::new(hub)), guard)
                .await
                .with_context(|| format!("cannot bind {endpoint}"))?;
            let bound = format!("tcp://{}", guard.public_addr);
            return Ok(Front {
                to_clients: ToClients::Hub(send),
                guard: Some(guard),
                bound,
            });
        }
    }
    let mut socket = RouterSocket::new();
    let bound = socket
        .bind(endpoint)
        .await
        .with_context(|| format!("cannot bind {endpoint}"))?;
    let (tx, rx) = socket.split();
    spawn_reader(rx, events.clone(), Event::Client, "frontend");
    Ok(Front {
        to_clients: ToClients::Task(spawn_writer(tx, events.clone())),
        guard: None,
        bound: bound.to_string(),
    })
}

/// A task that sends to clients on a zeromq ROUTER; failed sends are
/// reported as [`Event::ClientGone`] so their subscriptions are dropped.
fn spawn_writer(
    mut sender: zeromq::RouterSendHalf,
    gone: mpsc::Sender<Event>,
) -> mpsc::Sender<(Bytes, ZmqMessage)> {
    let (tx, mut rx) = mpsc::channel::<(Bytes, ZmqMessage)>(OUT_QUEUE);
    tokio::spawn(async move {
        while let Some((route, zm)) = rx.recv().await {
            if let Err(e) = sender.send(zm).await {
                debug!("send to a client failed: {e}");
                let _ = gone.try_send(Event::ClientGone(route));
            }
        }
    });
    tx
}
