//! The one error type of the transport crate.

use std::time::Duration;

use zeromq::ZmqError;

/// Why a connect, send or receive failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A [`SupervisedDealer`](crate::SupervisedDealer) was given no endpoint.
    #[error("no endpoint configured")]
    NoEndpoint,
    /// The connect did not finish within its bound.
    #[error("{endpoint}: connect timed out after {} ms", after.as_millis())]
    ConnectTimeout {
        /// The endpoint.
        endpoint: String,
        /// The bound that passed.
        after: Duration,
    },
    /// zeromq refused the connect (bad endpoint, refused connection, ...).
    #[error("{endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// zeromq's reason.
        #[source]
        source: ZmqError,
    },
    /// Every attempt allowed by the backoff failed.
    #[error("{endpoint}: gave up after {attempts} connect attempts ({last})")]
    GaveUp {
        /// The endpoint tried last.
        endpoint: String,
        /// Attempts made.
        attempts: usize,
        /// The last attempt's failure.
        last: Box<NetError>,
    },
    /// A send was attempted with no socket.
    #[error("{endpoint}: not connected")]
    NotConnected {
        /// The endpoint.
        endpoint: String,
    },
    /// The send failed; the socket has been dropped.
    #[error("send to {endpoint} failed: {source}")]
    Send {
        /// The endpoint.
        endpoint: String,
        /// zeromq's reason.
        #[source]
        source: ZmqError,
    },
    /// The receive failed; the socket has been dropped.
    #[error("receive from {endpoint} failed: {source}")]
    Recv {
        /// The endpoint.
        endpoint: String,
        /// zeromq's reason.
        #[source]
        source: ZmqError,
    },
}

impl NetError {
    /// The endpoint the failure happened on, if it concerns one.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            NetError::NoEndpoint => None,
            NetError::ConnectTimeout { endpoint, .. }
            | NetError::Connect { endpoint, .. }
            | NetError::GaveUp { endpoint, .. }
            | NetError::NotConnected { endpoint }
            | NetError::Send { endpoint, .. }
            | NetError::Recv { endpoint, .. } => Some(endpoint),
        }
    }
}
