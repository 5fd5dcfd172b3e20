//! The client against a fake proxy (a ROUTER on 127.0.0.1:0): replies are
//! matched by id, pushes reach the event channel, unreachable endpoints fail
//! within the budget, and a dead first endpoint fails over to the next.

use std::time::Duration;

use bytes::Bytes;
use engine::protocol::{decode, encode, ErrorCode, Header, Limits, Message};
use engine::ListId;
use zeromq::{RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

use super::*;

/// A fake proxy answering with `answer(request)`; returns its endpoint.
/// (Also used by the live-sync driver's tests.)
pub(crate) async fn fake_proxy(
    mut answer: impl FnMut(&Message) -> Vec<Message> + Send + 'static,
) -> String {
    let mut router = RouterSocket::new();
    let ep = router.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
    tokio::spawn(async move {
        while let Ok(m) = router.recv().await {
            let mut frames = m.into_vec();
            let identity = frames.remove(0);
            let Ok(req) = decode(&frames, &Limits::default()) else {
                continue;
            };
            for reply in answer(&req) {
                let mut out = vec![identity.clone()];
                out.extend(encode(&reply));
                if router
                    .send(ZmqMessage::try_from(out).unwrap())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    ep
}

fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("tcp://127.0.0.1:{port}")
}

fn quick(endpoints: Vec<String>) -> ClientConfig {
    let mut c = ClientConfig::new(endpoints).with_budget(Duration::from_millis(1500));
    c.request_timeout = Duration::from_millis(400);
    c.connect_timeout = Duration::from_millis(200);
    c
}

fn pong_and_notify(req: &Message) -> Vec<Message> {
    let list = ListId::parse("0d5c1f42-6a3e-4b9e-9a51-7f2f0c1d9e33").unwrap();
    vec![
        Message::new(Header::Notify {
            id: 0,
            list,
            heads: vec![],
        }),
        Message::new(Header::Pong { id: req.id() }),
    ]
}

#[tokio::test]
async fn replies_are_matched_by_id_and_pushes_reach_the_event_channel() {
    let ep = fake_proxy(pong_and_notify).await;
    let (client, mut events) = SyncClient::start(quick(vec![ep.clone()]));
    client.ping().await.unwrap();
    client.ping().await.unwrap();
    let mut notifies = 0;
    let mut connected = 0;
    while let Ok(ev) = events.try_recv() {
        match ev {
            ClientEvent::Notify { .. } => notifies += 1,
            ClientEvent::Connected { endpoint, .. } => {
                assert_eq!(endpoint, ep);
                connected += 1
            }
            ClientEvent::Disconnected { .. } => panic!("unexpected disconnect"),
        }
    }
    assert_eq!((notifies, connected), (2, 1));
}

#[tokio::test]
async fn an_unreachable_cloud_fails_within_the_budget() {
    let (client, _events) = SyncClient::start(quick(vec![closed_port()]));
    let t = std::time::Instant::now();
    let err = client.ping().await.unwrap_err();
    assert!(err.is_offline(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_dead_endpoint_fails_over_to_the_next() {
    let ep = fake_proxy(pong_and_notify).await;
    let (client, _events) = SyncClient::start(quick(vec![closed_port(), ep]));
    client.ping().await.unwrap();
}

#[tokio::test]
async fn unavailable_is_offline_and_bad_change_is_refused() {
    fn unavailable(req: &Message) -> Vec<Message> {
        vec![Message::unavailable(req.id(), 1, 2)]
    }
    fn bad(req: &Message) -> Vec<Message> {
        vec![Message::error(req.id(), ErrorCode::BadChange, "junk")]
    }
    let (client, _e) = SyncClient::start(quick(vec![fake_proxy(unavailable).await]));
    let list = ListId::new_random();
    let err = client.sync(list, &[], &[]).await.unwrap_err();
    assert!(matches!(err, ClientError::Unavailable(_)), "{err}");
    let (client, _e) = SyncClient::start(quick(vec![fake_proxy(bad).await]));
    let err = client
        .sync(list, &[], &[Bytes::from_static(b"x")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Refused {
                code: ErrorCode::BadChange,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_offline());
}

#[tokio::test]
async fn a_silent_proxy_times_out_and_the_socket_is_rebuilt() {
    fn silent(_: &Message) -> Vec<Message> {
        vec![]
    }
    let ep = fake_proxy(silent).await;
    let (client, mut events) = SyncClient::start(quick(vec![ep]));
    assert!(client.ping().await.unwrap_err().is_offline());
    let mut connects = 0;
    let mut drops = 0;
    while let Ok(ev) = events.try_recv() {
        match ev {
            ClientEvent::Connected { .. } => connects += 1,
            ClientEvent::Disconnected { .. } => drops += 1,
            ClientEvent::Notify { .. } => {}
        }
    }
    assert!(
        connects >= 2 && drops >= 1,
        "connects {connects}, drops {drops}"
    );
}

/// The fake proxy echoes the session it was given back as a list set:
/// one list when the `subscribe` named a session, none otherwise.
fn echo_session(req: &Message) -> Vec<Message> {
    match &req.header {
        Header::Subscribe { id, session, .. } => {
            let lists = session
                .as_ref()
                .map(|s| {
                    vec![ListId::parse(&format!(
                        "{}-0000-4000-8000-000000000000",
                        &s.as_str()[..8]
                    ))
                    .unwrap()]
                })
                .unwrap_or_default();
            vec![Message::new(Header::Subscribed {
                id: *id,
                lists,
                moved: false,
            })]
        }
        _ => Vec::new(),
    }
}

/// PROTOCOL §6.1: every `subscribe` of one client names the same session,
/// so its subscriptions follow it to a new connection.
#[tokio::test]
async fn every_subscribe_names_the_clients_one_session() {
    let ep = fake_proxy(echo_session).await;
    let (client, _events) = SyncClient::start(quick(vec![ep]));
    let first = client.subscribe(&[]).await.unwrap();
    let again = client.subscribe(&[ListId::new_random()]).await.unwrap();
    assert_eq!(first.len(), 1, "the subscribe named a session");
    assert_eq!(first, again, "the same session both times");
    let (other, _events) = SyncClient::start(quick(vec![fake_proxy(echo_session).await]));
    assert_ne!(
        other.subscribe(&[]).await.unwrap(),
        first,
        "one session per client"
    );
}

/// The first `Disconnected` reason the client reported.
fn first_drop(events: &mut mpsc::UnboundedReceiver<ClientEvent>) -> Option<String> {
    while let Ok(ev) = events.try_recv() {
        if let ClientEvent::Disconnected { reason, .. } = ev {
            return Some(reason);
        }
    }
    None
}

/// Issue 9 §5: a SIGKILLed proxy answers nothing, not even pings; the
/// client leaves it after the liveness limit (here 300 ms), long before
/// the request's own deadline (5 s), and the next endpoint answers.
#[tokio::test]
async fn a_silent_proxy_is_left_for_the_next_after_the_liveness_limit() {
    fn silent(_: &Message) -> Vec<Message> {
        vec![]
    }
    let dead = fake_proxy(silent).await;
    let alive = fake_proxy(pong_and_notify).await;
    let mut config = quick(vec![dead, alive]).with_budget(Duration::from_secs(6));
    config.request_timeout = Duration::from_secs(5);
    config.liveness = Duration::from_millis(300);
    let (client, mut events) = SyncClient::start(config);
    client.ping().await.unwrap();
    let reason = first_drop(&mut events).expect("the silent proxy was dropped");
    assert!(reason.contains("no sign of life"), "{reason}");
}

/// Issue 9 §6: a proxy that answers pings is alive however slow its
/// quorum: the client waits for the request's deadline, it does not fail
/// over on silence.
#[tokio::test]
async fn a_slow_but_live_proxy_is_not_mistaken_for_a_dead_one() {
    fn pong_only(req: &Message) -> Vec<Message> {
        match req.header {
            Header::Ping { id } => vec![Message::new(Header::Pong { id })],
            _ => vec![],
        }
    }
    let mut config = quick(vec![fake_proxy(pong_only).await]).with_budget(Duration::from_secs(1));
    config.request_timeout = Duration::from_millis(900);
    config.liveness = Duration::from_millis(150);
    let (client, mut events) = SyncClient::start(config);
    let err = client
        .sync(ListId::new_random(), &[], &[])
        .await
        .unwrap_err();
    assert!(err.is_offline(), "{err}");
    let reason = first_drop(&mut events).expect("the socket was rebuilt at the deadline");
    assert!(reason.contains("timed out"), "{reason}");
}

/// Issue 9 §6: `unavailable` is retried only while the proxy would still
/// have its whole deadline; then the caller gets the verdict itself.
#[tokio::test]
async fn unavailable_is_retried_only_while_a_whole_deadline_fits() {
    fn unavailable(req: &Message) -> Vec<Message> {
        vec![Message::unavailable(req.id(), 1, 2)]
    }
    let mut config =
        quick(vec![fake_proxy(unavailable).await]).with_budget(Duration::from_millis(1500));
    config.request_timeout = Duration::from_millis(400);
    let (client, _e) = SyncClient::start(config);
    let err = client
        .sync(ListId::new_random(), &[], &[])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the cloud did not reach its quorum: 1 of 2 replicas answered"
    );
}
