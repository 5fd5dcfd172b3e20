//! The transport guard in front of a real zeromq 0.7 ROUTER (DESIGN §5:
//! "a length-checking guard in front of every public port").
//!
//! Each test binds a ROUTER on loopback, puts a guard in front of it and
//! talks to the guard: with zeromq DEALERs (the normal path) and with raw TCP
//! streams (the attacks). All waits have a bounded deadline.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cloud::transport::guard::{bind_guarded, GuardConfig, GuardHandle, GuardStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use zeromq::{DealerSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

/// Upper bound for anything that should happen "at once".
const SOON: Duration = Duration::from_secs(5);

/// A ROUTER behind a guard that echoes every message back to its sender.
async fn echo_router(cfg: GuardConfig) -> GuardHandle {
    let mut router = RouterSocket::new();
    let guard = bind_guarded(&mut router, "127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("bind router behind guard");
    tokio::spawn(async move {
        while let Ok(message) = router.recv().await {
            // [identity, payload...] goes back to the same identity.
            if router.send(message).await.is_err() {
                break;
            }
        }
    });
    guard
}

/// A DEALER connected through the guard.
async fn dealer(guard: &GuardHandle) -> DealerSocket {
    let mut dealer = DealerSocket::new();
    timeout(
        SOON,
        dealer.connect(&format!("tcp://{}", guard.public_addr)),
    )
    .await
    .expect("connect through guard in time")
    .expect("connect through guard");
    dealer
}

/// Sends `frames` and expects them echoed back unchanged.
async fn round_trip(dealer: &mut DealerSocket, frames: Vec<Bytes>) {
    let mut message = ZmqMessage::from(frames[0].clone());
    for frame in &frames[1..] {
        message.push_back(frame.clone());
    }
    dealer.send(message).await.expect("send");
    let reply = timeout(SOON, dealer.recv())
        .await
        .expect("echo in time")
        .expect("recv");
    assert_eq!(reply.into_vec(), frames);
}

/// The 64-byte ZMTP 3.0 greeting zeromq sends (NULL mechanism).
fn greeting() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// A READY command frame for a DEALER.
fn ready_dealer() -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&6u32.to_be_bytes());
    body.extend_from_slice(b"DEALER");
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// Reads until the guard closes the stream; panics if that takes longer
/// than `within`. Returns how long it took.
async fn expect_closed(stream: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    let mut sink = Vec::new();
    // A reset counts as closed too.
    let _ = timeout(within, stream.read_to_end(&mut sink))
        .await
        .expect("guard should have closed the connection");
    start.elapsed()
}

/// Polls the guard's stats until `cond` holds (bounded by [`SOON`]).
async fn wait_stats(guard: &GuardHandle, what: &str, cond: impl Fn(&GuardStats) -> bool) {
    let deadline = Instant::now() + SOON;
    while !cond(&guard.stats()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; stats {:?}",
            guard.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn dealer_round_trips_through_guard_including_2_mib_frame() {
    let guard = echo_router(GuardConfig::default()).await;
    let mut dealer = dealer(&guard).await;
    round_trip(&mut dealer, vec![Bytes::from_static(b"hello")]).await;
    round_trip(
        &mut dealer,
        vec![
            Bytes::from_static(b"header"),
            Bytes::new(),
            Bytes::from(vec![0xAB; 300]),
        ],
    )
    .await;
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    round_trip(
        &mut dealer,
        vec![Bytes::from_static(b"big"), Bytes::from(big)],
    )
    .await;
    let stats = guard.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.rejected_oversize + stats.rejected_protocol, 0);
}

#[tokio::test]
async fn huge_length_claim_closes_only_that_connection_and_router_keeps_serving() {
    let guard = echo_router(GuardConfig::default()).await;
    let mut before = dealer(&guard).await;
    round_trip(&mut before, vec![Bytes::from_static(b"before")]).await;

    // Valid greeting and READY, then a LONG frame header claiming 2^44 bytes.
    // Without the guard this aborts the process that owns the ROUTER: this one.
    let mut attack = TcpStream::connect(guard.public_addr).await.unwrap();
    let mut bytes = greeting();
    bytes.extend(ready_dealer());
    bytes.push(0x02);
    bytes.extend_from_slice(&(1u64 << 44).to_be_bytes());
    attack.write_all(&bytes).await.unwrap();
    expect_closed(&mut attack, SOON).await;
    assert_eq!(guard.stats().rejected_oversize, 1);

    // Still alive: the old DEALER and a new one both round-trip.
    round_trip(&mut before, vec![Bytes::from_static(b"after")]).await;
    let mut second = dealer(&guard).await;
    round_trip(&mut second, vec![Bytes::from_static(b"second")]).await;
}

#[tokio::test]
async fn silent_connection_is_closed_after_handshake_timeout() {
    let cfg = GuardConfig {
        handshake_timeout: Duration::from_millis(300),
        ..GuardConfig::default()
    };
    let guard = echo_router(cfg).await;

    let mut silent = TcpStream::connect(guard.public_addr).await.unwrap();
    let took = expect_closed(&mut silent, SOON).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );

    // A greeting without READY does not complete the handshake either.
    let mut half = TcpStream::connect(guard.public_addr).await.unwrap();
    half.write_all(&greeting()).await.unwrap();
    expect_closed(&mut half, SOON).await;
    wait_stats(&guard, "two timeouts", |s| s.timed_out == 2).await;
}

#[tokio::test]
async fn idle_client_is_closed_after_idle_timeout() {
    let cfg = GuardConfig {
        idle_timeout: Duration::from_millis(300),
        ..GuardConfig::default()
    };
    let guard = echo_router(cfg).await;
    let mut idle = TcpStream::connect(guard.public_addr).await.unwrap();
    let mut bytes = greeting();
    bytes.extend(ready_dealer());
    idle.write_all(&bytes).await.unwrap();
    let took = expect_closed(&mut idle, SOON).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    wait_stats(&guard, "one timeout", |s| s.timed_out == 1).await;
}

#[tokio::test]
async fn connection_beyond_cap_is_closed_at_once() {
    let cfg = GuardConfig {
        max_connections: 2,
        handshake_timeout: Duration::from_secs(30),
        ..GuardConfig::default()
    };
    let guard = echo_router(cfg).await;
    let first = TcpStream::connect(guard.public_addr).await.unwrap();
    let _second = TcpStream::connect(guard.public_addr).await.unwrap();
    wait_stats(&guard, "two admitted", |s| s.accepted == 2).await;

    let mut third = TcpStream::connect(guard.public_addr).await.unwrap();
    // Far sooner than the 30 s handshake timeout: refused by the cap.
    expect_closed(&mut third, Duration::from_secs(2)).await;
    assert_eq!(guard.stats().rejected_cap, 1);

    // A slot frees when a connection ends.
    drop(first);
    wait_stats(&guard, "slot freed", |s| s.active == 1).await;
    let _fourth = TcpStream::connect(guard.public_addr).await.unwrap();
    wait_stats(&guard, "fourth admitted", |s| s.accepted == 3).await;
    assert_eq!(guard.stats().rejected_cap, 1);
}

#[tokio::test]
async fn garbage_instead_of_greeting_is_refused() {
    let guard = echo_router(GuardConfig::default()).await;
    let mut http = TcpStream::connect(guard.public_addr).await.unwrap();
    http.write_all(&b"GET / HTTP/1.1\r\nHost: shoplist\r\n\r\n".repeat(4))
        .await
        .unwrap();
    expect_closed(&mut http, SOON).await;
    wait_stats(&guard, "protocol rejection", |s| s.rejected_protocol == 1).await;
    let mut ok = dealer(&guard).await;
    round_trip(&mut ok, vec![Bytes::from_static(b"still here")]).await;
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let guard = echo_router(GuardConfig::default()).await;
    let addr: SocketAddr = guard.public_addr;
    guard.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

/// Set in the child process of the abort demonstration.
const ABORT_CHILD_ENV: &str = "SHOPLIST_GUARD_ABORT_CHILD";

/// Demonstrates the bug the guard exists for: a ROUTER *without* the guard,
/// sent greeting + READY + a 2^44 length claim, aborts its whole process.
/// Runs the attack in a child process (this test binary, re-executed), and
/// expects the child to die of SIGABRT. Ignored: it proves zeromq's bug, not
/// our code, and deliberately crashes a process.
#[test]
#[ignore = "demonstrates the zeromq 0.7 abort in a child process"]
fn unguarded_router_aborts_on_huge_length_claim() {
    if std::env::var_os(ABORT_CHILD_ENV).is_some() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(attack_unguarded_router());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([
            "unguarded_router_aborts_on_huge_length_claim",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(ABORT_CHILD_ENV, "1")
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "expected the unguarded child to abort, got {status:?}"
    );
}

/// The child side: bind a bare ROUTER and attack it. Returning means the
/// process survived (the demonstration then fails in the parent).
async fn attack_unguarded_router() {
    let mut router = RouterSocket::new();
    let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
    let zeromq::Endpoint::Tcp(_, port) = endpoint else {
        panic!("unexpected endpoint {endpoint}");
    };
    tokio::spawn(async move { while router.recv().await.is_ok() {} });
    let mut attack = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut bytes = greeting();
    bytes.extend(ready_dealer());
    bytes.push(0x02);
    bytes.extend_from_slice(&(1u64 << 44).to_be_bytes());
    attack.write_all(&bytes).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    eprintln!("child survived the attack");
}
