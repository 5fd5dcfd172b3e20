//! DEALER sockets with a bounded connect.
//!
//! zeromq 0.7's `connect` retries a refused connection for up to 30 s and a
//! DEALER never reconnects once its peer went away, so every caller here
//! treats a socket as disposable: connect with a short timeout, and on
//! silence or a send error drop it and call [`connect`] again.

use std::time::Duration;

use zeromq::{DealerSocket, Socket, SocketOptions, ZmqError};

/// A DEALER connected to `endpoint`, or an error after `timeout`.
pub async fn connect(endpoint: &str, timeout: Duration) -> Result<DealerSocket, ZmqError> {
    let mut opts = SocketOptions::default();
    opts.connect_timeout(timeout);
    let mut socket = DealerSocket::with_options(opts);
    match tokio::time::timeout(
        timeout + Duration::from_millis(100),
        socket.connect(endpoint),
    )
    .await
    {
        Ok(Ok(())) => Ok(socket),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ZmqError::ConnectTimeout(timeout)),
    }
}

/// Exponential backoff between reconnect attempts, capped.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            next: min,
            min,
            max,
        }
    }

    /// The delay before the next attempt; doubles it for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// A successful attempt: start small again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(35));
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        assert_eq!(b.next_delay(), Duration::from_millis(20));
        assert_eq!(b.next_delay(), Duration::from_millis(35));
        assert_eq!(b.next_delay(), Duration::from_millis(35));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }
}
