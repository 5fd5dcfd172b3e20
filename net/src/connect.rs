//! Connecting a DEALER: one bounded attempt, or attempts paced by a
//! [`Backoff`].
//!
//! zeromq 0.7's `connect` retries a refused connection for up to 30 s
//! unless told otherwise; here every attempt is bounded by the socket's own
//! `connect_timeout` and, as a backstop, by a tokio timeout slightly longer.

use std::time::Duration;

use tokio::time::timeout;
use zeromq::{DealerSocket, Socket, SocketOptions};

use crate::backoff::Backoff;
use crate::error::NetError;

/// Extra time the tokio backstop allows beyond zeromq's own connect timeout.
const BACKSTOP: Duration = Duration::from_millis(100);

/// A fresh DEALER connected to `endpoint`, or why not, within about
/// `connect_timeout`.
pub async fn connect_dealer(
    endpoint: &str,
    connect_timeout: Duration,
) -> Result<DealerSocket, NetError> {
    let mut opts = SocketOptions::default();
    opts.connect_timeout(connect_timeout);
    let mut socket = DealerSocket::with_options(opts);
    match timeout(connect_timeout + BACKSTOP, socket.connect(endpoint)).await {
        Ok(Ok(())) => Ok(socket),
        Ok(Err(source)) => Err(NetError::Connect {
            endpoint: endpoint.to_string(),
            source,
        }),
        Err(_) => Err(NetError::ConnectTimeout {
            endpoint: endpoint.to_string(),
            after: connect_timeout,
        }),
    }
}

/// Connect to `endpoint`, sleeping `backoff`'s delays between failed
/// attempts, until one succeeds or the backoff's round is used up
/// ([`NetError::GaveUp`]). The backoff is not reset here: the caller resets
/// it once the connection has proven itself (e.g. the peer answered).
pub async fn connect_with_backoff(
    endpoint: &str,
    connect_timeout: Duration,
    backoff: &mut Backoff,
) -> Result<DealerSocket, NetError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let err = match connect_dealer(endpoint, connect_timeout).await {
            Ok(socket) => return Ok(socket),
            Err(e) => e,
        };
        tracing::debug!(%endpoint, attempts, "connect failed: {err}");
        match backoff.next_delay() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                return Err(NetError::GaveUp {
                    endpoint: endpoint.to_string(),
                    attempts,
                    last: Box::new(err),
                })
            }
        }
    }
}
