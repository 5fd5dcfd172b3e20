//! A damaged replica heals itself (issue "cloud trust" §4, DESIGN §5): one
//! list's rows are garbled in one worker's `replica.db` while it is down;
//! after a restart the worker finds the damage, drops the list (so its copy
//! never answers), asks the proxy for a rebuild, and within a bound holds
//! every change again, with no client action.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloud::client::Client;
use engine::list::EditContext;
use engine::protocol::{Header, Message};
use engine::store::Store;
use engine::{ChangeHash, ListId};
use shoplist_tests::{Cluster, ClusterOptions};

/// How long a restarted worker may take to rebuild a damaged list.
const HEAL_BOUND: Duration = Duration::from_secs(10);

fn heads_on(db: &Path, list: ListId) -> Option<Vec<ChangeHash>> {
    let mut store = Store::open(db).ok()?;
    if !store.has_list(list).ok()? {
        return None;
    }
    store.heads(list).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_garbled_on_one_replica_is_rebuilt_without_client_action() {
    // Before: the worker restarted without a check, failed every request for
    // the list forever (`malformed`) and never repaired itself.
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let mut client_store = Store::open(cluster.root().join("client.db")).expect("client store");
    let ctx = EditContext::now("test");
    let list = client_store.create_list("groceries", &ctx).expect("create");
    for item in ["milk", "eggs", "bread", "apples", "rice"] {
        client_store
            .edit(list, |l| l.add_item(item, 2, &ctx))
            .expect("edit");
    }
    let (changes, heads) = client_store.changes_for(list, &[]).expect("changes");
    let changes: Vec<Bytes> = changes.into_iter().map(Bytes::from).collect();
    let mut client = Client::new(cluster.frontend(), Duration::from_secs(5));
    let reply = client
        .request(|id| Message::sync(id, list, heads.clone(), changes))
        .await
        .expect("sync");
    assert!(
        matches!(reply.header, Header::Synced { acked, .. } if acked >= 2),
        "{reply:?}"
    );
    // N = 3 of 3 workers: every replica gets it (the third may commit just
    // after the quorum reply).
    let dbs: Vec<_> = (0..3)
        .map(|i| cluster.worker_data_dir(i).join("replica.db"))
        .collect();
    let db = |i: usize| dbs[i].clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (0..3).any(|i| heads_on(&db(i), list).as_ref() != Some(&heads)) {
        assert!(
            Instant::now() < deadline,
            "replicas never all held the list"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Worker 0 goes down; its rows for the list are garbled on disk.
    cluster.kill_worker(0);
    {
        let conn = rusqlite::Connection::open(db(0)).expect("open replica");
        let garbled = conn
            .execute(
                "UPDATE changes SET bytes = randomblob(length(bytes)) WHERE list_id = ?1",
                [list.as_bytes().to_vec()],
            )
            .expect("garble");
        assert_eq!(garbled, 6, "one create + five adds");
    }
    assert!(heads_on(&db(0), list).is_none(), "the damage is real");
    let started = Instant::now();
    cluster.restart_worker(0);

    // No client request from here on: the replica must heal by itself.
    loop {
        if heads_on(&db(0), list).as_ref() == Some(&heads) {
            break;
        }
        assert!(
            started.elapsed() < HEAL_BOUND,
            "worker 0 did not rebuild the list within {HEAL_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("rebuilt {:?} after the restart", started.elapsed());
    // Operators see it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = cluster.status().expect("status");
        let repaired = status["workers"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["id"] == "w0"))
            .and_then(|w| w["lists_repaired"].as_u64())
            .unwrap_or(0);
        if repaired == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed the repair: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(cluster.root().join("logs/w0.log")).unwrap_or_default();
    assert!(log.contains("damaged list"), "the damage is logged");
    assert!(log.contains("rebuilt"), "the rebuild is logged");
}
