//! Relaying one guarded connection: client → [`ZmtpInspector`] → upstream,
//! and upstream → client, with the connection's shared state ([`Shared`]):
//! when it was last active either way, and how many replies the server has
//! produced, which opens the request window and frees big-message lanes.
//!
//! ZMTP 3.1 heartbeats end here: the client's command frames after the
//! handshake never reach zeromq 0.7 (which drops a connection on any
//! command but READY), and each `PING` is answered with a `PONG` written
//! into the server→client stream between two frames.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};

use super::buffer::GrowBuf;
use super::crowd::Recency;
use super::inspector::{pong_frame, Rejection, Verdict, ZmtpInspector, MAX_HELD};
use super::{Counters, GuardConfig, Upstream};

/// The upstream side's read half (a loopback TCP connection's, or an
/// in-memory pipe's).
type UpRead = Box<dyn AsyncRead + Unpin + Send>;
/// The upstream side's write half.
type UpWrite = Box<dyn AsyncWrite + Unpin + Send>;
/// The client's read half.
type ClientRead = tokio::net::tcp::OwnedReadHalf;
/// The client's write half.
type ClientWrite = tokio::net::tcp::OwnedWriteHalf;

/// Largest read buffer per direction (each starts at [`GrowBuf::MIN`] and
/// grows only while reads fill it): big enough for bulk transfers, while an
/// idle connection keeps 1 KiB each way.
const BUF_SIZE: usize = 32 * 1024;

/// PONGs waiting for a frame boundary of the server's stream, per
/// connection; a client that floods PINGs gets fewer PONGs.
const MAX_PENDING_PONGS: usize = 16;

/// What both directions of one connection (and the accept loop) share.
#[derive(Debug)]
pub(super) struct Shared {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last byte either way.
    last_active: AtomicU64,
    /// Data messages the server has sent (replies and pushes).
    replies: AtomicU64,
    /// Woken when `replies` grows.
    progress: Notify,
}

impl Shared {
    pub(super) fn new(epoch: Instant) -> Self {
        let shared = Shared {
            epoch,
            last_active: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            progress: Notify::new(),
        };
        shared.touch();
        shared
    }

    fn touch(&self) {
        let ms = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_millis();
        self.last_active
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// When the idle timeout falls, from the last activity either way
    /// (`None`: never).
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        let last = self.epoch + Duration::from_millis(self.last_active.load(Ordering::Relaxed));
        last.checked_add(idle)
    }

    /// Whether the connection has been idle for `idle` by now.
    fn idle_expired(&self, idle: Duration) -> bool {
        self.idle_deadline(idle)
            .is_some_and(|deadline| deadline <= Instant::now())
    }
}

impl Recency for Arc<Shared> {
    fn last_active(&self) -> u64 {
        self.last_active.load(Ordering::Relaxed)
    }
}

/// How the client→upstream direction ended.
#[derive(Debug)]
enum Inbound {
    /// The client closed its side (or the connection broke).
    Closed,
    /// The inspector refused the stream.
    Rejected(Rejection),
    /// The client did not finish the handshake in time.
    HandshakeTimeout,
    /// No traffic either way for the idle timeout.
    IdleTimeout,
}

/// Opens the upstream side of a connection: a fresh loopback TCP
/// connection (within `deadline`), or a pipe to an in-process hub.
async fn open_upstream(
    upstream: &Upstream,
    deadline: Option<Instant>,
) -> std::io::Result<(UpRead, UpWrite)> {
    match upstream {
        Upstream::Tcp(addr) => {
            let server = with_deadline(deadline, TcpStream::connect(*addr))
                .await
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            // Small request/response messages: do not let Nagle add latency.
            server.set_nodelay(true)?;
            let (read, write) = server.into_split();
            Ok((Box::new(read), Box::new(write)))
        }
        Upstream::Pipe(connect) => {
            let (read, write) = tokio::io::split(connect.connect());
            Ok((Box::new(read), Box::new(write)))
        }
    }
}

/// Relays `client` to a fresh connection to `upstream` until either side
/// closes, the client breaks the protocol or times out. Both sides are
/// closed on return (or when the task is aborted: eviction).
pub(super) async fn relay(
    client: TcpStream,
    peer: SocketAddr,
    upstream: &Upstream,
    cfg: &GuardConfig,
    counters: &Counters,
    shared: &Shared,
    lanes: &Arc<Semaphore>,
) {
    let handshake_deadline = deadline_after(Instant::now(), cfg.handshake_timeout);
    let (server_read, server_write) = match open_upstream(upstream, handshake_deadline).await {
        Ok(halves) => halves,
        Err(error) => {
            Counters::bump(&counters.upstream_failed);
            tracing::warn!(%peer, ?upstream, %error, "guard cannot reach upstream; closing");
            return;
        }
    };
    if let Err(error) = client.set_nodelay(true) {
        tracing::debug!(%peer, %error, "set_nodelay failed");
    }
    let (client_read, client_write) = client.into_split();
    let (pongs, pong_rx) = mpsc::channel(MAX_PENDING_PONGS);

    let inbound = Inbound::pump(
        client_read,
        server_write,
        cfg,
        counters,
        shared,
        lanes,
        handshake_deadline,
        &pongs,
    );
    let outbound = pump_outbound(server_read, client_write, shared, pong_rx);
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
                tracing::info!(%peer, timeout = ?cfg.idle_timeout, "guard closed connection: idle");
            }
        },
        copied = outbound => tracing::debug!(%peer, ?copied, "upstream closed"),
    }
}

/// Copies the server's bytes to the client, counting the data messages in
/// them (a parser only counts; the server is trusted) and marking activity.
/// PONGs for the client's PINGs (contexts from `pongs`) go in between two
/// of the server's frames.
async fn pump_outbound(
    mut from: UpRead,
    mut to: ClientWrite,
    shared: &Shared,
    mut pongs: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut counter = ZmtpInspector::new(u64::MAX);
    let mut buf = GrowBuf::new(BUF_SIZE);
    let mut waiting: Vec<Vec<u8>> = Vec::new();
    let mut pings_open = true;
    loop {
        tokio::select! {
            read = from.read(buf.space(0)) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                shared.touch();
                // A reply counts as produced as soon as the guard holds it,
                // so a client that does not read cannot hold budget through it.
                if let Verdict::Forward(_) = counter.feed(&buf[..n]) {
                    let produced = counter.messages();
                    if produced > shared.replies.load(Ordering::Relaxed) {
                        shared.replies.store(produced, Ordering::Relaxed);
                        shared.progress.notify_waiters();
                    }
                }
                to.write_all(&buf[..n]).await?;
                buf.filled(n);
            }
            context = pongs.recv(), if pings_open => match context {
                Some(context) if waiting.len() < MAX_PENDING_PONGS => waiting.push(context),
                Some(_) => {}
                None => pings_open = false,
            },
        }
        if counter.at_frame_boundary() {
            for context in waiting.drain(..) {
                to.write_all(&pong_frame(&context)).await?;
            }
        }
        shared.touch();
    }
}

/// The parts of `len` released bytes, the first at stream offset `start`,
/// that are not inside a swallowed command (`skips`, in stream order; the
/// ones wholly before `start + len` are consumed): ranges of buffer indices.
fn unskipped(start: u64, len: usize, skips: &mut VecDeque<Range<u64>>) -> Vec<Range<usize>> {
    let end = start + len as u64;
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        match skips.front() {
            Some(skip) if skip.end <= at => {
                skips.pop_front();
            }
            Some(skip) if skip.start < end => {
                if skip.start > at {
                    out.push((at - start) as usize..(skip.start - start) as usize);
                }
                at = skip.end.min(end);
            }
            _ => {
                out.push((at - start) as usize..len);
                at = end;
            }
        }
    }
    while skips.front().is_some_and(|skip| skip.end <= end) {
        skips.pop_front();
    }
    out
}

/// Writes `bytes` (starting at stream offset `start`) but the parts in
/// swallowed commands.
async fn write_unskipped(
    to: &mut UpWrite,
    bytes: &[u8],
    start: u64,
    skips: &mut VecDeque<Range<u64>>,
) -> std::io::Result<()> {
    for part in unskipped(start, bytes.len(), skips) {
        to.write_all(&bytes[part]).await?;
    }
    Ok(())
}

impl Inbound {
    /// Reads the client, feeds the inspector and forwards what it releases,
    /// within the request window and the big-frame budget.
    #[allow(clippy::too_many_arguments)]
    async fn pump(
        mut from: ClientRead,
        mut to: UpWrite,
        cfg: &GuardConfig,
        counters: &Counters,
        shared: &Shared,
        lanes: &Arc<Semaphore>,
        handshake_deadline: Option<Instant>,
        pongs: &mpsc::Sender<Vec<u8>>,
    ) -> Inbound {
        let mut inspector = ZmtpInspector::with_identity(cfg.max_frame, cfg.allow_identity)
            .with_big_message(cfg.big_message)
            .swallowing_commands();
        let mut skips: VecDeque<Range<u64>> = VecDeque::new();
        let mut buf = GrowBuf::new(BUF_SIZE);
        // Lanes held by big messages: (the message's number, lane).
        let mut held_lanes: VecDeque<(u64, OwnedSemaphorePermit)> = VecDeque::new();
        // buf[..held] are bytes the inspector holds back (a partial greeting,
        // frame header or READY command, at most MAX_HELD bytes).
        let mut held = 0usize;
        // Stream offset of the first byte not yet forwarded.
        let mut forwarded = 0u64;
        loop {
            release_answered(&mut held_lanes, shared, cfg, inspector.messages());
            if let Some(window) = cfg.max_unanswered {
                if inspector.messages() >= shared.replies.load(Ordering::Relaxed) + window {
                    Counters::bump(&counters.window_pauses);
                    if let Some(end) = wait_for_replies(&inspector, shared, window, cfg).await {
                        return end;
                    }
                    continue;
                }
            }
            let in_handshake = !inspector.handshake_complete();
            let idle_deadline = shared.idle_deadline(cfg.idle_timeout);
            let deadline = match (in_handshake, handshake_deadline, idle_deadline) {
                (true, Some(h), Some(i)) => Some(h.min(i)),
                (true, Some(h), None) => Some(h),
                (_, _, idle) => idle,
            };
            let read = match with_deadline(deadline, from.read(buf.space(held))).await {
                Some(read) => read,
                None if in_handshake && deadline == handshake_deadline => {
                    return Inbound::HandshakeTimeout
                }
                None => {
                    if shared.idle_expired(cfg.idle_timeout) {
                        return Inbound::IdleTimeout;
                    }
                    continue; // the server spoke meanwhile: still active
                }
            };
            let fresh = match read {
                Ok(0) | Err(_) => return Inbound::Closed,
                Ok(n) => n,
            };
            shared.touch();
            match inspector.feed(&buf[held..held + fresh]) {
                Verdict::Reject(rejection) => return Inbound::Rejected(rejection),
                Verdict::Forward(release) => {
                    skips.extend(inspector.take_skips());
                    for context in inspector.take_pings() {
                        // Full: the client floods PINGs; it gets fewer PONGs.
                        let _ = pongs.try_send(context);
                    }
                    // Bytes before the frame that makes a message big go
                    // first (they may end the previous message, whose reply
                    // frees a lane); then a lane; then the rest.
                    let mut sent = 0usize;
                    if let Some(at) = inspector.take_became_big() {
                        let before = usize::try_from(at.saturating_sub(forwarded))
                            .unwrap_or(release)
                            .min(release);
                        if before > 0
                            && write_unskipped(&mut to, &buf[..before], forwarded, &mut skips)
                                .await
                                .is_err()
                        {
                            return Inbound::Closed;
                        }
                        sent = before;
                        let waited =
                            take_lane(lanes, &mut held_lanes, shared, cfg, inspector.messages())
                                .await;
                        match waited {
                            // The message in progress: it is not complete
                            // yet (the crossing frame has just started).
                            Ok(lane) => held_lanes.push_back((inspector.messages() + 1, lane)),
                            Err(end) => return end,
                        }
                    }
                    if release > sent
                        && write_unskipped(
                            &mut to,
                            &buf[sent..release],
                            forwarded + sent as u64,
                            &mut skips,
                        )
                        .await
                        .is_err()
                    {
                        return Inbound::Closed;
                    }
                    forwarded += release as u64;
                    let end = held + fresh;
                    buf.filled(end);
                    buf.copy_within(release..end, 0);
                    held = end - release;
                    debug_assert!(held <= MAX_HELD);
                }
            }
        }
    }
}

/// Frees the lanes of big messages that are answered (with a request
/// window), or have passed in full (without one; `forwarded` messages have).
fn release_answered(
    held: &mut VecDeque<(u64, OwnedSemaphorePermit)>,
    shared: &Shared,
    cfg: &GuardConfig,
    forwarded: u64,
) {
    let done = if cfg.max_unanswered.is_some() {
        shared.replies.load(Ordering::Relaxed)
    } else {
        forwarded
    };
    while held.front().is_some_and(|(message, _)| *message <= done) {
        held.pop_front();
    }
}

/// Takes a big-message lane, waiting while freeing this connection's own
/// answered lanes as replies come out (so a connection never waits on a
/// lane that only it could give back).
async fn take_lane(
    lanes: &Arc<Semaphore>,
    held: &mut VecDeque<(u64, OwnedSemaphorePermit)>,
    shared: &Shared,
    cfg: &GuardConfig,
    forwarded: u64,
) -> Result<OwnedSemaphorePermit, Inbound> {
    loop {
        release_answered(held, shared, cfg, forwarded);
        let progress = shared.progress.notified();
        let deadline = shared.idle_deadline(cfg.idle_timeout);
        tokio::select! {
            permit = lanes.clone().acquire_owned() => {
                return permit.map_err(|_| Inbound::Closed);
            }
            _ = progress => {}
            _ = sleep_until(deadline) => {
                if shared.idle_expired(cfg.idle_timeout) {
                    return Err(Inbound::IdleTimeout);
                }
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Waits until the server has produced enough replies to open the window,
/// or the connection has been idle too long.
async fn wait_for_replies(
    inspector: &ZmtpInspector,
    shared: &Shared,
    window: u64,
    cfg: &GuardConfig,
) -> Option<Inbound> {
    loop {
        let notified = shared.progress.notified();
        if inspector.messages() < shared.replies.load(Ordering::Relaxed) + window {
            return None;
        }
        let deadline = shared.idle_deadline(cfg.idle_timeout);
        if with_deadline(deadline, notified).await.is_none()
            && shared.idle_expired(cfg.idle_timeout)
        {
            return Some(Inbound::IdleTimeout);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_ranges_are_cut_out_of_released_bytes() {
        let mut skips: VecDeque<Range<u64>> = [5..8, 12..20, 30..31].into_iter().collect();
        // Bytes 0..10: 0..5 and 8..10 go.
        assert_eq!(unskipped(0, 10, &mut skips), vec![0..5, 8..10]);
        // Bytes 10..15: 10..12 go; 12..20 is still open, so kept.
        assert_eq!(unskipped(10, 5, &mut skips), vec![0..2]);
        assert_eq!(skips.front(), Some(&(12..20)));
        // Bytes 15..40: 20..30 and 31..40 go.
        assert_eq!(unskipped(15, 25, &mut skips), vec![5..15, 16..25]);
        assert!(skips.is_empty());
        assert_eq!(unskipped(40, 3, &mut skips), vec![0..3]);
        assert_eq!(unskipped(43, 0, &mut skips), Vec::<Range<usize>>::new());
    }
}
