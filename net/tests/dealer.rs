//! The socket half of the transport crate against real zeromq ROUTERs on
//! 127.0.0.1 port 0: bounded connects, failover, and a rebuilt socket
//! reaching a fresh peer after the old one went silent (the zeromq 0.7 gap
//! the crate exists for, DESIGN §5).

use std::time::{Duration, Instant};

use shoplist_net::{
    connect_dealer, connect_with_backoff, Backoff, BackoffPolicy, NetError, SupervisedDealer,
};
use zeromq::{RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

/// A ROUTER that echoes every message back to its sender when `echo`, or
/// swallows it when not. Returns its endpoint.
async fn router(echo: bool) -> String {
    let mut router = RouterSocket::new();
    let endpoint = router
        .bind("tcp://127.0.0.1:0")
        .await
        .expect("bind a test router")
        .to_string();
    tokio::spawn(async move {
        while let Ok(msg) = router.recv().await {
            if echo && router.send(msg).await.is_err() {
                return;
            }
        }
    });
    endpoint
}

/// An endpoint nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("tcp://127.0.0.1:{port}")
}

fn text(msg: &ZmqMessage) -> Vec<u8> {
    msg.get(0).map(|f| f.to_vec()).unwrap_or_default()
}

#[tokio::test]
async fn a_connect_to_a_closed_port_fails_within_its_bound() {
    let t = Instant::now();
    let Err(err) = connect_dealer(&closed_port(), Duration::from_millis(200)).await else {
        panic!("connected to a closed port");
    };
    assert!(
        matches!(
            err,
            NetError::Connect { .. } | NetError::ConnectTimeout { .. }
        ),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn connect_with_backoff_gives_up_after_its_round() {
    let policy = BackoffPolicy {
        first: Duration::from_millis(20),
        ceiling: Duration::from_millis(80),
        max_attempts: 3,
        max_total: Duration::from_secs(1),
    };
    let mut backoff = Backoff::with_seed(policy, 1);
    let t = Instant::now();
    let Err(err) =
        connect_with_backoff(&closed_port(), Duration::from_millis(100), &mut backoff).await
    else {
        panic!("connected to a closed port");
    };
    // 4 connects of at most ~200 ms each plus 3 delays below 80 ms.
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    match err {
        NetError::GaveUp { attempts, .. } => assert_eq!(attempts, 4),
        other => panic!("expected GaveUp, got {other}"),
    }
}

#[tokio::test]
async fn connect_with_backoff_returns_a_working_socket() {
    let ep = router(true).await;
    let policy = BackoffPolicy {
        first: Duration::from_millis(20),
        ceiling: Duration::from_millis(80),
        max_attempts: 3,
        max_total: Duration::from_secs(1),
    };
    let mut socket =
        connect_with_backoff(&ep, Duration::from_millis(500), &mut Backoff::new(policy))
            .await
            .expect("the router listens");
    socket.send(ZmqMessage::from("ping")).await.expect("send");
    let back = tokio::time::timeout(Duration::from_secs(5), socket.recv())
        .await
        .expect("echo in time")
        .expect("recv");
    assert_eq!(text(&back), b"ping");
}

#[tokio::test]
async fn a_supervised_dealer_connects_once_and_round_trips() {
    let ep = router(true).await;
    let mut d = SupervisedDealer::new(vec![ep.clone()], Duration::from_millis(500));
    assert!(!d.is_connected());
    assert!(
        d.connect().await.expect("connect"),
        "first connect is fresh"
    );
    assert!(
        !d.connect().await.expect("connect"),
        "second reuses the socket"
    );
    assert_eq!(d.endpoint(), ep);
    for word in ["a", "b"] {
        d.send(ZmqMessage::from(word)).await.expect("send");
        let back = tokio::time::timeout(Duration::from_secs(5), d.recv())
            .await
            .expect("echo in time")
            .expect("recv");
        assert_eq!(text(&back), word.as_bytes());
    }
}

#[tokio::test]
async fn a_dead_first_endpoint_fails_over_to_the_next() {
    let live = router(true).await;
    let mut d = SupervisedDealer::new(
        vec![closed_port(), live.clone()],
        Duration::from_millis(200),
    );
    assert!(d.connect().await.is_err());
    assert_eq!(d.endpoint(), live, "a failed connect moves on");
    assert!(d.connect().await.expect("second endpoint"));
}

#[tokio::test]
async fn sending_without_a_socket_is_an_error_and_recv_waits() {
    let mut d = SupervisedDealer::new(vec![closed_port()], Duration::from_millis(200));
    let err = d.send(ZmqMessage::from("x")).await.expect_err("no socket");
    assert!(matches!(err, NetError::NotConnected { .. }), "{err}");
    // With no socket, recv never resolves: it yields to the other branches
    // of a select!.
    tokio::select! {
        biased;
        _ = d.recv() => panic!("recv resolved without a socket"),
        _ = std::future::ready(()) => {}
    }
    let mut none = SupervisedDealer::new(vec![], Duration::from_millis(200));
    assert!(matches!(none.connect().await, Err(NetError::NoEndpoint)));
}

/// The failure zeromq 0.7 leaves to us: a peer that stops answering is never
/// reached again on the same socket. After the caller's silence limit the
/// socket is rebuilt, on the next endpoint, and the new peer answers.
#[tokio::test]
async fn a_silent_peer_is_left_for_a_fresh_socket_on_the_next_endpoint() {
    let silent = router(false).await;
    let live = router(true).await;
    let mut d = SupervisedDealer::new(
        vec![silent.clone(), live.clone()],
        Duration::from_millis(500),
    );
    assert!(d.connect().await.expect("connect"));
    d.send(ZmqMessage::from("hello?")).await.expect("send");
    let waited = tokio::time::timeout(Duration::from_millis(300), d.recv()).await;
    assert!(waited.is_err(), "the silent router answered");
    assert_eq!(d.rebuild().as_deref(), Some(silent.as_str()));
    assert!(!d.is_connected());
    assert_eq!(d.rebuild(), None, "nothing left to drop");
    // Two rebuilds moved twice: silent → live → silent. Move on to live.
    d.rebuild();
    assert_eq!(d.endpoint(), live);
    assert!(d.connect().await.expect("connect to the live router"));
    d.send(ZmqMessage::from("hello")).await.expect("send");
    let back = tokio::time::timeout(Duration::from_secs(5), d.recv())
        .await
        .expect("echo in time")
        .expect("recv");
    assert_eq!(text(&back), b"hello");
}
