//! Many live devices on one proxy (issue 11 deliverable 8): with a raised
//! `--max-connections`, more than 1,024 connections are all served at once,
//! and `--max-per-source` still holds one address to its share (its least
//! recently active connection is closed) while other addresses get in.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use shoplist_net::zmtp;
use shoplist_tests::{procfs, Cluster, ClusterOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// Connections opened, above the guard's old fixed cap of 1,024.
const DEVICES: usize = 1_100;
/// `--max-per-source` for the test.
const PER_SOURCE: usize = 8;
/// Bound on one connect + handshake, and on waiting for an eviction.
const STEP: Duration = Duration::from_secs(10);

/// Raises this process's descriptor limit for every device and a margin.
fn raise_nofile() {
    let want = DEVICES as u64 + 64;
    let limit = shoplist_net::fdlimit::raise_nofile(want).expect("raise the fd limit");
    assert!(limit.soft >= want, "hard fd limit too low: {limit:?}");
}

/// Source address number `k` in 127.1.0.0/16.
fn source(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (k / 250) as u8, (k % 250 + 1) as u8)
}

/// Connects from `from` to the proxy and completes the ZMTP handshake as a
/// DEALER: the server's greeting and READY come back through the guard.
async fn handshake(from: Ipv4Addr, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind source");
    let mut stream = timeout(
        STEP,
        socket.connect(SocketAddr::from(([127, 0, 0, 1], port))),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let hello = zmtp::hello();
    stream.write_all(&hello).await.expect("send greeting");
    let mut greeting = [0u8; 64];
    let mut ready = [0u8; 2];
    timeout(STEP, async {
        stream.read_exact(&mut greeting).await?;
        stream.read_exact(&mut ready).await
    })
    .await
    .expect("server handshake in time")
    .expect("server greeting and READY");
    assert_eq!(greeting[0], 0xFF, "not a ZMTP greeting");
    assert_eq!(ready[0], 0x04, "not a READY command");
    let mut body = vec![0u8; usize::from(ready[1])];
    stream.read_exact(&mut body).await.expect("READY body");
    stream
}

/// Whether the proxy closed `stream` (EOF or reset), waiting at most `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        timeout(wait, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[test]
fn more_than_1024_devices_are_served_and_the_per_source_cap_holds() {
    raise_nofile();
    let cluster = Cluster::start(
        1,
        ClusterOptions {
            replicas: Some(1),
            write_quorum: Some(1),
            read_quorum: Some(1),
            proxy_args: [
                "--max-connections",
                "2000",
                "--max-per-source",
                &PER_SOURCE.to_string(),
            ]
            .map(String::from)
            .to_vec(),
            ..ClusterOptions::default()
        },
    );
    let port = cluster.frontend_port();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let proxy = cluster.proxy_pid().expect("proxy pid");
    let rss_before = procfs::rss_kib(proxy).map_or(0, |(now, _)| now);
    rt.block_on(async {
        let mut devices = Vec::with_capacity(DEVICES);
        for i in 0..DEVICES {
            devices.push(handshake(source(i / PER_SOURCE), port).await);
        }
        // Memory is reported, not asserted (speed and size are benchmarked).
        let rss_after = procfs::rss_kib(proxy).map_or(0, |(now, _)| now);
        eprintln!(
            "proxy RSS {rss_before} KiB -> {rss_after} KiB with {DEVICES} connections: {:.1} KiB each",
            rss_after.saturating_sub(rss_before) as f64 / DEVICES as f64
        );
        // All still open: none was evicted to make room.
        for (i, device) in devices.iter_mut().enumerate() {
            assert!(
                !closed_within(device, Duration::from_millis(1)).await,
                "device {i} of {DEVICES} was closed\n{}",
                cluster.log_report(20)
            );
        }
        // One more from a full source: it is served, and one of that
        // source's least recently active connections is closed (they were
        // opened within the same millisecond or so: any of them may go).
        let extra = handshake(source(0), port).await;
        let deadline = tokio::time::Instant::now() + STEP;
        let mut evicted = None;
        while evicted.is_none() && tokio::time::Instant::now() < deadline {
            for (i, device) in devices[..PER_SOURCE].iter_mut().enumerate() {
                if closed_within(device, Duration::from_millis(10)).await {
                    evicted = Some(i);
                    break;
                }
            }
        }
        assert!(evicted.is_some(), "the per-source cap did not hold");
        // Other sources are untouched, and a new source still gets in.
        assert!(!closed_within(&mut devices[PER_SOURCE], Duration::from_millis(50)).await);
        let newcomer = handshake(Ipv4Addr::new(127, 2, 0, 1), port).await;
        drop((extra, newcomer, devices));
    });
}
