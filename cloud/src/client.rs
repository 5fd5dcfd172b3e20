//! A small request/reply client for a proxy's frontend (used by `status`,
//! `where` and the tests).
//!
//! One DEALER, requests numbered from 1, replies matched by `id` (anything
//! else that arrives meanwhile, e.g. a `notify` or a late reply, is skipped),
//! a deadline per request. zeromq 0.7 DEALERs do not reconnect after the
//! proxy restarts, so after a timeout or a send or receive failure the socket
//! is dropped and the next request connects afresh (the shared
//! [`SupervisedDealer`]).

use std::time::Duration;

use engine::protocol::Message;
use shoplist_net::SupervisedDealer;
use tokio::time::Instant;

use crate::transport::{decode_frames, to_zmq};

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect, or the send failed.
    #[error("cannot reach {endpoint}: {detail}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        detail: String,
    },
    /// No reply within the deadline.
    #[error("no reply from {0} in time")]
    Timeout(String),
}

/// A client of one proxy endpoint.
pub struct Client {
    endpoint: String,
    socket: SupervisedDealer,
    timeout: Duration,
    next_id: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.socket.is_connected())
            .finish()
    }
}

impl Client {
    /// A client; it connects on the first request.
    pub fn new(endpoint: impl Into<String>, timeout: Duration) -> Self {
        let endpoint = endpoint.into();
        Client {
            socket: SupervisedDealer::new(vec![endpoint.clone()], timeout),
            endpoint,
            timeout,
            next_id: 1,
        }
    }

    /// Send the message `make(id)` and wait for the reply with that id.
    pub async fn request(
        &mut self,
        make: impl FnOnce(u64) -> Message,
    ) -> Result<Message, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let deadline = Instant::now() + self.timeout;
        let unreachable = |endpoint: &str, detail: String| ClientError::Unreachable {
            endpoint: endpoint.to_string(),
            detail,
        };
        self.socket
            .connect()
            .await
            .map_err(|e| unreachable(&self.endpoint, e.to_string()))?;
        let Some(zm) = to_zmq(&make(id)) else {
            return Err(unreachable(&self.endpoint, "empty message".into()));
        };
        self.socket
            .send(zm)
            .await
            .map_err(|e| unreachable(&self.endpoint, e.to_string()))?;
        loop {
            let got = tokio::time::timeout_at(deadline, self.socket.recv()).await;
            match got {
                Ok(Ok(zm)) => {
                    let frames = zm.into_vec();
                    let msg = match decode_frames(&frames) {
                        Ok(m) => m,
                        Err(_) => continue,
                    };
                    if msg.id() == id {
                        return Ok(msg);
                    }
                }
                Ok(Err(e)) => return Err(unreachable(&self.endpoint, e.to_string())),
                Err(_) => {
                    self.socket.rebuild();
                    return Err(ClientError::Timeout(self.endpoint.clone()));
                }
            }
        }
    }
}
