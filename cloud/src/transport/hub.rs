//! The proxy's client ROUTER without zeromq: the guard hands each checked
//! client connection to the [`Hub`] over an in-memory pipe instead of a
//! fresh loopback TCP connection to a zeromq ROUTER, so a client costs the
//! proxy one descriptor (its socket) instead of three.
//!
//! On each pipe the hub speaks the server side of ZMTP 3 (NULL mechanism):
//! it sends its greeting and READY (`Socket-Type` ROUTER), reads whole
//! messages with a bounded [`Decoder`] and hands each on with the
//! connection's routing identity in front, as a zeromq ROUTER's `recv`
//! does. [`HubSend::send`] routes a message by its first frame, as a
//! ROUTER's `send`, and fails for a connection that is gone, or whose queue
//! is full (the connection is then closed), so the proxy drops its
//! subscriptions as it does for a failed zeromq send.
//!
//! The guard in front has checked the bytes (greeting, handshake, frame
//! lengths, request window, big-message lanes) and swallows the client's
//! ZMTP commands; the hub's decoder still bounds every length itself.
//! Identities are the hub's own (a counter), never the client's choice.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use shoplist_net::zmtp::{self, Decoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, Notify};
use zeromq::ZmqMessage;

use super::guard::Connector;

/// Bytes an in-memory pipe buffers each way (the guard reads and writes
/// through 1–32 KiB buffers).
const PIPE_BYTES: usize = 32 * 1024;
/// Messages queued for one connection before it counts as stuck and is
/// closed (a client has at most 64 requests in flight, plus its notifies).
pub const CONNECTION_QUEUE: usize = 1024;

/// Frames of one outgoing message, routing identity removed.
type Frames = VecDeque<Bytes>;
/// One open connection, as the senders see it.
struct Route {
    /// Its outgoing queue.
    queue: mpsc::Sender<Frames>,
    /// Wakes its task to close it (even while it is stuck writing to a
    /// client that does not read).
    close: Arc<Notify>,
}

/// Routing identity → the connection.
type Routes = Arc<Mutex<HashMap<Bytes, Route>>>;

/// Locks `routes`; a panic elsewhere while holding it leaves a map that is
/// still consistent (every operation is one insert or remove).
fn lock(routes: &Routes) -> MutexGuard<'_, HashMap<Bytes, Route>> {
    routes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why [`HubSend::send`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// The message has no routing identity frame.
    #[error("message without a routing identity")]
    NoRoute,
    /// No open connection has this identity.
    #[error("no connection with this identity")]
    Gone,
    /// The connection's queue was full: it is closed.
    #[error("connection queue full; closed")]
    Full,
}

/// Accepts connections (as the guard's [`Connector`]) and delivers their
/// messages, identity first, into `inbox` wrapped by `wrap`.
pub struct Hub<T> {
    routes: Routes,
    inbox: mpsc::Sender<T>,
    wrap: fn(ZmqMessage) -> T,
    next_id: AtomicU64,
    max_frame: u64,
    max_frames: usize,
}

/// Sends messages to the hub's connections, routed by their first frame.
#[derive(Clone)]
pub struct HubSend {
    routes: Routes,
}

/// A hub delivering into `inbox` (each message wrapped by `wrap`), whose
/// decoders accept frames up to `max_frame` bytes and messages of up to
/// `max_frames` frames; and the sender for its connections.
pub fn hub<T: Send + 'static>(
    inbox: mpsc::Sender<T>,
    wrap: fn(ZmqMessage) -> T,
    max_frame: u64,
    max_frames: usize,
) -> (Arc<Hub<T>>, HubSend) {
    let routes = Routes::default();
    let hub = Arc::new(Hub {
        routes: routes.clone(),
        inbox,
        wrap,
        next_id: AtomicU64::new(1),
        max_frame,
        max_frames,
    });
    (hub, HubSend { routes })
}

impl<T: Send + 'static> Connector for Arc<Hub<T>> {
    fn connect(&self) -> DuplexStream {
        let (guard_end, hub_end) = tokio::io::duplex(PIPE_BYTES);
        let id =
            Bytes::copy_from_slice(&self.next_id.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let (queue, rx) = mpsc::channel(CONNECTION_QUEUE);
        let close = Arc::new(Notify::new());
        let route = Route {
            queue,
            close: close.clone(),
        };
        lock(&self.routes).insert(id.clone(), route);
        tokio::spawn(serve(self.clone(), hub_end, id, rx, close));
        guard_end
    }
}

impl<T> Hub<T> {
    /// Open connections.
    pub fn connections(&self) -> usize {
        lock(&self.routes).len()
    }
}

/// Serves one connection until either direction ends, then forgets it.
async fn serve<T: Send + 'static>(
    hub: Arc<Hub<T>>,
    pipe: DuplexStream,
    id: Bytes,
    mut out: mpsc::Receiver<Frames>,
    close: Arc<Notify>,
) {
    let (mut read, mut write) = tokio::io::split(pipe);
    let mut hello = zmtp::greeting();
    hello.extend(zmtp::ready("ROUTER"));
    // Far below the pipe's buffer: completes without the guard reading.
    if write.write_all(&hello).await.is_err() {
        lock(&hub.routes).remove(&id);
        return;
    }
    let outbound = async {
        while let Some(mut frames) = out.recv().await {
            write
                .write_all(&zmtp::message(frames.make_contiguous()))
                .await?;
        }
        std::io::Result::Ok(())
    };
    let inbound = async {
        let mut decoder = Decoder::with_limits(hub.max_frame, hub.max_frames);
        loop {
            if read.read_buf(decoder.buffer()).await? == 0 {
                return std::io::Result::Ok(());
            }
            while let Some(frames) = decoder
                .next_message()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
            {
                let mut message = ZmqMessage::from(id.clone());
                for frame in frames {
                    message.push_back(frame);
                }
                if hub.inbox.send((hub.wrap)(message)).await.is_err() {
                    return Ok(()); // The proxy is shutting down.
                }
            }
        }
    };
    let ended = tokio::select! {
        ended = outbound => ended,
        ended = inbound => ended,
        () = close.notified() => Ok(()),
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "hub connection ended");
    }
    lock(&hub.routes).remove(&id);
}

impl HubSend {
    /// Queues `message` (routing identity first, as for a zeromq ROUTER)
    /// for its connection.
    pub fn send(&self, message: ZmqMessage) -> Result<(), HubError> {
        let mut frames = message.into_vecdeque();
        let id = frames.pop_front().ok_or(HubError::NoRoute)?;
        let mut routes = lock(&self.routes);
        let route = routes.get(&id).ok_or(HubError::Gone)?;
        match route.queue.try_send(frames) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                // `notify_one` keeps the wake-up if the task is not waiting yet.
                route.close.notify_one();
                routes.remove(&id);
                Err(HubError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                routes.remove(&id);
                Err(HubError::Gone)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::DuplexStream;

    async fn read_message(pipe: &mut DuplexStream, decoder: &mut Decoder) -> Vec<Bytes> {
        loop {
            if let Some(m) = decoder.next_message().unwrap() {
                return m;
            }
            assert!(
                pipe.read_buf(decoder.buffer()).await.unwrap() > 0,
                "pipe closed"
            );
        }
    }

    #[tokio::test]
    async fn messages_go_in_with_an_identity_and_replies_route_back() {
        let (tx, mut rx) = mpsc::channel(16);
        let (hub, send) = hub(tx, |m| m, 1024, 8);
        let (mut a, mut b) = (hub.connect(), hub.connect());
        assert_eq!(hub.connections(), 2);
        for (pipe, body) in [(&mut a, b"from a".as_slice()), (&mut b, b"from b")] {
            let mut bytes = zmtp::hello();
            bytes.extend(zmtp::message(&[body, b"second"]));
            pipe.write_all(&bytes).await.unwrap();
        }
        let mut ids = HashMap::new();
        for _ in 0..2 {
            let m = rx.recv().await.unwrap().into_vec();
            assert_eq!(m.len(), 3);
            assert_eq!(m[2], Bytes::from_static(b"second"));
            ids.insert(m[1].clone(), m[0].clone());
        }
        assert_ne!(ids[b"from a".as_slice()], ids[b"from b".as_slice()]);

        // A reply to b reaches b only, after the hub's greeting and READY.
        let mut reply = ZmqMessage::from(ids[b"from b".as_slice()].clone());
        reply.push_back(Bytes::from_static(b"to b"));
        send.send(reply).unwrap();
        let mut decoder = Decoder::default();
        assert_eq!(
            read_message(&mut b, &mut decoder).await,
            vec![Bytes::from_static(b"to b")]
        );

        // Once a is closed, sending to it fails and the route is gone.
        drop(a);
        while hub.connections() > 1 {
            tokio::task::yield_now().await;
        }
        let mut late = ZmqMessage::from(ids[b"from a".as_slice()].clone());
        late.push_back(Bytes::from_static(b"late"));
        assert_eq!(send.send(late), Err(HubError::Gone));
    }

    #[tokio::test]
    async fn an_oversized_frame_closes_only_its_connection() {
        let (tx, mut rx) = mpsc::channel(16);
        let (hub, _send) = hub(tx, |m| m, 16, 8);
        let mut bad = hub.connect();
        let mut bytes = zmtp::hello();
        bytes.extend(zmtp::data_frame(&[0u8; 17], false));
        bad.write_all(&bytes).await.unwrap();
        // The hub closes its end: the greeting and READY, then EOF.
        let mut seen = Vec::new();
        bad.read_to_end(&mut seen).await.unwrap();
        assert_eq!(seen[..64], zmtp::greeting()[..]);
        assert_eq!(hub.connections(), 0);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_connection_that_does_not_read_is_closed_when_its_queue_fills() {
        let (tx, mut rx) = mpsc::channel(16);
        let (hub, send) = hub(tx, |m| m, 1 << 20, 8);
        let mut slow = hub.connect();
        let mut bytes = zmtp::hello();
        bytes.extend(zmtp::message(&[b"hi".as_slice()]));
        slow.write_all(&bytes).await.unwrap();
        let id = rx.recv().await.unwrap().into_vec()[0].clone();
        let big = Bytes::from(vec![7u8; 64 * 1024]);
        let mut result = Ok(());
        for _ in 0..=CONNECTION_QUEUE + 2 {
            let mut m = ZmqMessage::from(id.clone());
            m.push_back(big.clone());
            result = send.send(m);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(HubError::Full));
        let mut m = ZmqMessage::from(id);
        m.push_back(big);
        assert_eq!(send.send(m), Err(HubError::Gone));
        // The hub closed its end although its writer was stuck: what the
        // pipe holds, then EOF (bounded, in case it never comes).
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
            .await
            .expect("the hub closes a stuck connection")
            .unwrap();
        assert!(rest.len() <= PIPE_BYTES + 64 * 1024 + 64);
    }
}
