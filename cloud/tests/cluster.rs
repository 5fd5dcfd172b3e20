//! End-to-end: a proxy and workers as real processes on loopback
//! (DESIGN §6), started by the shared harness (`shoplist_tests::Cluster`),
//! which kills every process by pid at the end, also when a test panics, and
//! waits for conditions with bounded deadlines, never with a bare sleep.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use cloud::client::Client;
use engine::list::EditContext;
use engine::protocol::{Header, Message};
use engine::store::Store;
use engine::{ListId, WorkerId};
use shoplist_tests::{Cluster, ClusterOptions};

const BIN: &str = env!("CARGO_BIN_EXE_shoplist-cloud");

/// A port nothing listens on once this returns (bound and released): for
/// tests that want a refused connection, never for starting a server.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A cluster with short heartbeats, so membership changes show quickly.
fn cluster(workers: usize) -> Cluster {
    let opts = ClusterOptions {
        proxy_args: ["--heartbeat-ms", "200", "--worker-timeout-ms", "1000"]
            .map(String::from)
            .to_vec(),
        ..ClusterOptions::default()
    };
    Cluster::start(workers, opts)
}

/// A list made with the engine: its id, raw changes and heads.
fn make_list(dir: &Path) -> (ListId, Vec<Bytes>, Vec<engine::ChangeHash>) {
    let mut store = Store::open(dir.join("client.db")).expect("client store");
    let ctx = EditContext::now("test");
    let list = store.create_list("groceries", &ctx).expect("create");
    store
        .edit(list, |l| l.add_item("milk", 2, &ctx))
        .expect("edit");
    let (changes, heads) = store.changes_for(list, &[]).expect("changes");
    (list, changes.into_iter().map(Bytes::from).collect(), heads)
}

async fn sync(
    client: &mut Client,
    list: ListId,
    have: Vec<engine::ChangeHash>,
    changes: Vec<Bytes>,
) -> Message {
    client
        .request(|id| Message::sync(id, list, have, changes))
        .await
        .expect("sync reply")
}

fn replica_has(dir: &Path, list: ListId) -> bool {
    let db = dir.join("replica.db");
    db.exists()
        && Store::open(&db)
            .and_then(|s| s.has_list(list))
            .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_reaches_quorum_on_exactly_the_preferred_replicas() {
    // DESIGN §6: N=3 replicas per list on the ring, reply at W=2.
    let cluster = cluster(4);
    let (list, changes, heads) = make_list(cluster.root());
    let mut client = Client::new(cluster.frontend(), Duration::from_secs(5));

    let reply = sync(&mut client, list, heads.clone(), changes.clone()).await;
    match &reply.header {
        Header::Synced {
            acked,
            missing,
            heads: got,
            ..
        } => {
            assert!(*acked >= 2, "{reply:?}");
            assert!(missing.is_empty());
            assert_eq!(got, &heads);
        }
        other => panic!("expected synced, got {other:?}"),
    }

    // A reader with nothing gets every change back.
    let read = sync(&mut client, list, vec![], vec![]).await;
    assert_eq!(read.changes.len(), changes.len(), "{:?}", read.header);

    let reply = client
        .request(|id| Message::new(Header::Where { id, list }))
        .await
        .expect("where");
    let Header::WhereOk { replicas, .. } = reply.header else {
        panic!("expected where_ok");
    };
    let mut distinct: Vec<&WorkerId> = replicas.iter().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{replicas:?}");

    // All three replicas end up with the list (the third may commit after
    // the quorum reply); the fourth worker never sees it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let holders: Vec<String> = (0..4)
            .filter(|i| replica_has(&cluster.worker_data_dir(*i), list))
            .map(shoplist_tests::cluster::worker_id)
            .collect();
        let mut expected: Vec<String> = replicas.iter().map(|w| w.to_string()).collect();
        expected.sort();
        if holders == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "holders {holders:?}, replicas {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_survive_a_proxy_restart_on_the_same_ports() {
    // zeromq 0.7 DEALERs do not reconnect: workers must rebuild and re-hello.
    let mut cluster = cluster(3);
    cluster.kill_proxy();
    cluster.restart_proxy(); // waits until all 3 workers are live again
    let (list, changes, heads) = make_list(cluster.root());
    let mut client = Client::new(cluster.frontend(), Duration::from_secs(5));
    let reply = sync(&mut client, list, heads, changes).await;
    assert!(
        matches!(reply.header, Header::Synced { acked, .. } if acked >= 2),
        "{reply:?}"
    );
}

#[test]
fn status_exits_2_when_the_proxy_is_unreachable() {
    let endpoint = format!("tcp://127.0.0.1:{}", closed_port());
    let out = Command::new(BIN)
        .args(["status", "--proxy", &endpoint, "--json"])
        .output()
        .expect("run status");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_non_loopback_backend_without_a_secret_is_refused() {
    // Before: `proxy` bound the backend on 0.0.0.0 by default, open to all.
    let out = Command::new(BIN)
        .args([
            "proxy",
            "--frontend",
            "tcp://127.0.0.1:0",
            "--backend",
            "tcp://0.0.0.0:0",
        ])
        .env_remove("SHOPLIST_CLUSTER_SECRET")
        .env_remove("SHOPLIST_CLUSTER_SECRET_FILE")
        .output()
        .expect("run proxy");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("without a cluster secret"),
        "a clear error: {stderr}"
    );
}

#[test]
fn the_proxy_backend_defaults_to_loopback() {
    let out = Command::new(BIN)
        .args(["proxy", "--help"])
        .output()
        .expect("run proxy --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("tcp://127.0.0.1:5556"), "{help}");
}
