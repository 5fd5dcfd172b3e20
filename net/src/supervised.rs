//! A DEALER that is connected lazily and rebuilt after a failure.
//!
//! What the sync client's connection actor and the cloud's `status` client
//! share: at most one socket at a time, to the current one of
//! [`Endpoints`]; connected on demand with a bounded connect; dropped (and
//! the next endpoint chosen) when a connect, send or receive fails or when
//! the caller decides the link went silent ([`SupervisedDealer::rebuild`]).
//! *When* to rebuild (a request timed out, heartbeats stopped) is the
//! caller's policy; see [`SilenceDetector`](crate::SilenceDetector).

use std::time::Duration;

use zeromq::{DealerSocket, SocketRecv, SocketSend, ZmqMessage};

use crate::connect::connect_dealer;
use crate::endpoints::Endpoints;
use crate::error::NetError;

/// A lazily connected, disposable DEALER. See the module docs.
pub struct SupervisedDealer {
    endpoints: Endpoints,
    connect_timeout: Duration,
    socket: Option<DealerSocket>,
}

impl std::fmt::Debug for SupervisedDealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisedDealer")
            .field("endpoint", &self.endpoints.current())
            .field("connected", &self.socket.is_some())
            .finish()
    }
}

impl SupervisedDealer {
    /// Nothing is connected until [`connect`](Self::connect).
    pub fn new(endpoints: Vec<String>, connect_timeout: Duration) -> Self {
        SupervisedDealer {
            endpoints: Endpoints::new(endpoints),
            connect_timeout,
            socket: None,
        }
    }

    /// The endpoint in use (or tried next).
    pub fn endpoint(&self) -> &str {
        self.endpoints.current().unwrap_or_default()
    }

    /// Whether a socket is up.
    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    /// Make sure a socket is up: `Ok(true)` if one was just connected (so
    /// whatever the peer knew of the old one, e.g. subscriptions, is gone),
    /// `Ok(false)` if it already was. A failed connect moves to the next
    /// endpoint.
    pub async fn connect(&mut self) -> Result<bool, NetError> {
        if self.socket.is_some() {
            return Ok(false);
        }
        let endpoint = self.endpoints.current().ok_or(NetError::NoEndpoint)?;
        match connect_dealer(endpoint, self.connect_timeout).await {
            Ok(socket) => {
                self.socket = Some(socket);
                Ok(true)
            }
            Err(e) => {
                self.endpoints.advance();
                Err(e)
            }
        }
    }

    /// Send on the current socket. On failure the socket is dropped and the
    /// next endpoint chosen; the error names the endpoint that failed.
    pub async fn send(&mut self, msg: ZmqMessage) -> Result<(), NetError> {
        let endpoint = self.endpoint().to_string();
        let Some(socket) = self.socket.as_mut() else {
            return Err(NetError::NotConnected { endpoint });
        };
        match socket.send(msg).await {
            Ok(()) => Ok(()),
            Err(source) => {
                self.rebuild();
                Err(NetError::Send { endpoint, source })
            }
        }
    }

    /// Receive from the current socket; with no socket this waits forever
    /// (so it can sit in a `select!` beside other events). Cancel-safe as
    /// far as zeromq's `recv` is. On failure the socket is dropped and the
    /// next endpoint chosen.
    pub async fn recv(&mut self) -> Result<ZmqMessage, NetError> {
        let Some(socket) = self.socket.as_mut() else {
            return std::future::pending().await;
        };
        match socket.recv().await {
            Ok(msg) => Ok(msg),
            Err(source) => {
                let endpoint = self.endpoint().to_string();
                self.rebuild();
                Err(NetError::Recv { endpoint, source })
            }
        }
    }

    /// Drop the socket, if any, and fail over to the next endpoint; the next
    /// [`connect`](Self::connect) builds a fresh socket. Returns the endpoint
    /// whose socket was dropped (`None` if there was none).
    pub fn rebuild(&mut self) -> Option<String> {
        let dropped = self.socket.take().map(|_| self.endpoint().to_string());
        self.endpoints.advance();
        dropped
    }
}
