//! Relaying one guarded connection: client → [`ZmtpInspector`] → upstream,
//! and upstream → client unchanged.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::inspector::{Rejection, Verdict, ZmtpInspector, MAX_HELD};
use super::{Counters, GuardConfig};

/// Read buffer per direction. Large enough for bulk transfers, small enough
/// that a full house of connections stays within tens of MiB.
const BUF_SIZE: usize = 32 * 1024;

/// How the client→upstream direction ended.
#[derive(Debug)]
enum Inbound {
    /// The client closed its side (or the connection broke).
    Closed,
    /// The inspector refused the stream.
    Rejected(Rejection),
    /// The client did not finish the handshake in time.
    HandshakeTimeout,
    /// The client was silent for the idle timeout.
    IdleTimeout,
}

/// Relays `client` to a fresh connection to `upstream` until either side
/// closes, the client breaks the protocol or times out. Both sockets are
/// closed on return.
pub(super) async fn relay(
    client: TcpStream,
    peer: SocketAddr,
    upstream: SocketAddr,
    cfg: &GuardConfig,
    counters: &Counters,
) {
    let handshake_deadline = deadline_after(Instant::now(), cfg.handshake_timeout);
    let connect = TcpStream::connect(upstream);
    let server = match with_deadline(handshake_deadline, connect).await {
        Some(Ok(server)) => server,
        Some(Err(error)) => {
            Counters::bump(&counters.upstream_failed);
            tracing::warn!(%peer, %upstream, %error, "guard cannot reach upstream; closing");
            return;
        }
        None => {
            Counters::bump(&counters.upstream_failed);
            tracing::warn!(%peer, %upstream, "guard upstream connect timed out; closing");
            return;
        }
    };
    // Small request/response messages: do not let Nagle add latency.
    for socket in [&client, &server] {
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%peer, %error, "set_nodelay failed");
        }
    }
    let (client_read, mut client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();

    let inbound = pump_inbound(client_read, server_write, cfg, handshake_deadline);
    let outbound = async {
        let mut reader = BufReader::with_capacity(BUF_SIZE, server_read);
        tokio::io::copy_buf(&mut reader, &mut client_write).await
    };
    tokio::select! {
        ended = inbound => match ended {
            Inbound::Closed => tracing::debug!(%peer, "client closed"),
            Inbound::Rejected(rejection) => {
                if rejection.is_oversize() {
                    Counters::bump(&counters.rejected_oversize);
                } else {
                    Counters::bump(&counters.rejected_protocol);
                }
                tracing::warn!(%peer, %rejection, "guard closed connection: ZMTP violation");
            }
            Inbound::HandshakeTimeout => {
                Counters::bump(&counters.timed_out);
                tracing::warn!(%peer, timeout = ?cfg.handshake_timeout, "guard closed connection: handshake timeout");
            }
            Inbound::IdleTimeout => {
                Counters::bump(&counters.timed_out);
                tracing::info!(%peer, timeout = ?cfg.idle_timeout, "guard closed connection: client idle");
            }
        },
        copied = outbound => tracing::debug!(%peer, ?copied, "upstream closed"),
    }
}

/// Reads the client, feeds the inspector and forwards what it releases.
async fn pump_inbound(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    cfg: &GuardConfig,
    handshake_deadline: Option<Instant>,
) -> Inbound {
    let mut inspector = ZmtpInspector::with_identity(cfg.max_frame, cfg.allow_identity);
    let mut buf = vec![0u8; BUF_SIZE];
    // buf[..held] are bytes the inspector holds back (a partial greeting,
    // frame header or READY command, at most MAX_HELD bytes).
    let mut held = 0usize;
    loop {
        let idle_deadline = deadline_after(Instant::now(), cfg.idle_timeout);
        let in_handshake = !inspector.handshake_complete();
        let deadline = match (in_handshake, handshake_deadline, idle_deadline) {
            (true, Some(h), Some(i)) => Some(h.min(i)),
            (true, Some(h), None) => Some(h),
            (_, _, idle) => idle,
        };
        let read = match with_deadline(deadline, from.read(&mut buf[held..])).await {
            Some(read) => read,
            None if in_handshake && deadline == handshake_deadline => {
                return Inbound::HandshakeTimeout
            }
            None => return Inbound::IdleTimeout,
        };
        let fresh = match read {
            Ok(0) | Err(_) => return Inbound::Closed,
            Ok(n) => n,
        };
        match inspector.feed(&buf[held..held + fresh]) {
            Verdict::Reject(rejection) => return Inbound::Rejected(rejection),
            Verdict::Forward(release) => {
                if release > 0 && to.write_all(&buf[..release]).await.is_err() {
                    return Inbound::Closed;
                }
                let end = held + fresh;
                buf.copy_within(release..end, 0);
                held = end - release;
                debug_assert!(held <= MAX_HELD);
            }
        }
    }
}

/// `now + after`, or `None` (no deadline) if that is beyond representable
/// time, which is how `Duration::MAX` disables a timeout.
fn deadline_after(now: Instant, after: Duration) -> Option<Instant> {
    now.checked_add(after)
}

/// Runs `fut` until `deadline` (if any); `None` if the deadline passed first.
async fn with_deadline<F: std::future::Future>(
    deadline: Option<Instant>,
    fut: F,
) -> Option<F::Output> {
    match deadline {
        Some(deadline) => timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}
