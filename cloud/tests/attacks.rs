//! Attacks on the backend port, as measured against the old code (issue
//! "cloud trust"; DESIGN §5 threat model, PROTOCOL §7.1): processes that
//! connect a DEALER to the backend and pretend to be workers. Each test runs
//! a real cluster (processes on loopback, killed by pid at the end) and real
//! attacker sockets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloud::client::Client;
use cloud::secret::{fresh_nonce, ClusterSecret};
use engine::list::EditContext;
use engine::protocol::{ErrorCode, Header, Message};
use engine::store::Store;
use engine::{ListId, WorkerId};
use shoplist_tests::{Cluster, ClusterOptions};
use zeromq::{Socket, SocketRecv, SocketSend};

/// What the fake workers saw.
#[derive(Default)]
struct Seen {
    /// `sync` requests routed to a fake (must stay 0).
    requests: AtomicUsize,
    /// `error unauthorized` answers received.
    refused: AtomicUsize,
    /// `welcome`s received (must stay 0).
    welcomed: AtomicUsize,
}

/// A fake worker: says hello as `id`, answers a challenge with a proof made
/// with `key` (a wrong secret) or with garbage (`None`), forges a `synced`
/// for every request, until `stop` passes.
async fn fake_worker(
    backend: String,
    id: String,
    key: Option<ClusterSecret>,
    seen: Arc<Seen>,
    stop: Instant,
) {
    let Ok(mut socket) = cloud::transport::dealer::connect(&backend, Duration::from_secs(2)).await
    else {
        return;
    };
    let worker = WorkerId::parse(&id).expect("fake id");
    let nonce = fresh_nonce();
    let send = |m: Message| cloud::transport::to_zmq(&m).expect("message");
    let hello = Message::new(Header::Hello {
        id: 1,
        worker: worker.clone(),
        lists_hint: None,
        nonce: Some(nonce),
        members: Vec::new(),
    });
    if socket.send(send(hello)).await.is_err() {
        return;
    }
    while Instant::now() < stop {
        let Ok(Ok(zm)) = tokio::time::timeout(Duration::from_millis(200), socket.recv()).await
        else {
            continue;
        };
        let Ok(msg) = cloud::transport::decode_frames(&zm.into_vec()) else {
            continue;
        };
        let reply = match msg.header {
            Header::Challenge { id, nonce: pn, .. } => {
                let proof = match &key {
                    Some(k) => k.worker_proof(&worker, &pn, Some(&nonce)),
                    None => engine::protocol::Token([0x5a; 32]),
                };
                Message::new(Header::Auth {
                    id,
                    worker: worker.clone(),
                    proof,
                })
            }
            Header::Error {
                code: ErrorCode::Unauthorized,
                ..
            } => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            Header::Welcome { .. } => {
                seen.welcomed.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            Header::Sync { id, list, .. } => {
                seen.requests.fetch_add(1, Ordering::SeqCst);
                // The forged acknowledgement of the measured attack.
                Message::new(Header::Synced {
                    snapshot: None,
                    id,
                    list,
                    heads: vec![],
                    missing: vec![],
                    acked: 1,
                    rejected: vec![],
                    holds: true,
                })
            }
            _ => continue,
        };
        if socket.send(send(reply)).await.is_err() {
            return;
        }
    }
}

/// One new list's changes and heads.
fn new_list(dir: &std::path::Path, i: usize) -> (ListId, Vec<Bytes>, Vec<engine::ChangeHash>) {
    let mut store = Store::open(dir.join(format!("client-{i}.db"))).expect("client store");
    let ctx = EditContext::now("test");
    let list = store
        .create_list(&format!("list {i}"), &ctx)
        .expect("create");
    store
        .edit(list, |l| l.add_item("milk", 1, &ctx))
        .expect("edit");
    let (changes, heads) = store.changes_for(list, &[]).expect("changes");
    (list, changes.into_iter().map(Bytes::from).collect(), heads)
}

fn replicas_holding(cluster: &Cluster, list: ListId) -> usize {
    (0..cluster.worker_count())
        .filter(|i| {
            let db = cluster.worker_data_dir(*i).join("replica.db");
            db.exists()
                && Store::open(&db)
                    .and_then(|s| s.has_list(list))
                    .unwrap_or(false)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_workers_never_join_never_see_a_request_and_never_ack_a_write() {
    // Before: 20 fakes joined, 20/20 writes were acknowledged and 13 were
    // stored on no real replica.
    let cluster = Cluster::start(4, ClusterOptions::default());
    let seen = Arc::new(Seen::default());
    let stop = Instant::now() + Duration::from_secs(30);
    let wrong = ClusterSecret::from_bytes(b"a-guessed-cluster-secret", "test").expect("secret");
    let mut fakes = Vec::new();
    for i in 0..20 {
        let key = (i % 2 == 0).then(|| wrong.clone());
        fakes.push(tokio::spawn(fake_worker(
            cluster.backend(),
            format!("fake-{i}"),
            key,
            seen.clone(),
            stop,
        )));
    }
    // Wait (bounded) until every fake has been refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.refused.load(Ordering::SeqCst) < 20 {
        assert!(
            Instant::now() < deadline,
            "only {} fakes refused",
            seen.refused.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = cluster.status().expect("status");
    let ids: Vec<&str> = status["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert!(ids.iter().all(|id| !id.starts_with("fake")), "{ids:?}");
    assert!(status["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .all(|w| w["authenticated"] == true));

    let mut client = Client::new(cluster.frontend(), Duration::from_secs(5));
    for i in 0..20 {
        let (list, changes, heads) = new_list(cluster.root(), i);
        let reply = client
            .request(|id| Message::sync(id, list, heads, changes))
            .await
            .expect("sync reply");
        let Header::Synced { acked, .. } = reply.header else {
            panic!("write {i}: {reply:?}");
        };
        assert!(acked >= 2, "write {i}: acked {acked}");
        // "Acknowledged" means stored on W real replicas, now.
        let holders = replicas_holding(&cluster, list);
        assert!(
            holders >= 2,
            "write {i} acknowledged but on {holders} real replicas"
        );
    }
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        0,
        "a fake received requests"
    );
    assert_eq!(
        seen.welcomed.load(Ordering::SeqCst),
        0,
        "a fake was welcomed"
    );
    for f in fakes {
        f.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_choose_its_routing_identity_on_the_backend() {
    // A ROUTER gives a chosen identity to the newest connection that claims
    // it; on the backend that would hijack an admitted worker's route.
    let cluster = Cluster::start(3, ClusterOptions::default());
    let claim = |s: &str| {
        let mut opts = zeromq::SocketOptions::default();
        opts.peer_identity(
            zeromq::util::PeerIdentity::try_from(s.as_bytes().to_vec()).expect("identity"),
        );
        zeromq::DealerSocket::with_options(opts)
    };
    let ping = cloud::transport::to_zmq(&Message::new(Header::Ping { id: 9 })).expect("ping");

    // On the frontend an identity is allowed: the ping is answered.
    let mut front = claim("some-client");
    front
        .connect(&cluster.frontend())
        .await
        .expect("connect frontend");
    front.send(ping.clone()).await.expect("send");
    let got = tokio::time::timeout(Duration::from_secs(5), front.recv()).await;
    assert!(matches!(got, Ok(Ok(_))), "frontend must answer: {got:?}");

    // On the backend the guard closes the connection before zeromq sees it.
    let mut back = claim("w0");
    let _ = back.connect(&cluster.backend()).await;
    let _ = back.send(ping).await;
    let got = tokio::time::timeout(Duration::from_secs(2), back.recv()).await;
    assert!(
        !matches!(got, Ok(Ok(_))),
        "the backend answered a chosen identity: {got:?}"
    );

    let log = std::fs::read_to_string(cluster.root().join("logs/proxy.log")).unwrap_or_default();
    assert!(log.contains("routing identity"), "the refusal is logged");
    // And the real workers are all still serving.
    assert_eq!(cluster.alive_workers().expect("status").len(), 3);
}
