//! A `sync` carrying a change whose dependency the cloud lacks (PROTOCOL §5,
//! §8): the reply is `synced` with the lacking hashes in `missing`, nothing
//! of the refused part stored, and the replicas' real heads of the list —
//! never `heads: []` for a list the cloud holds.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use cloud::client::Client;
use engine::list::EditContext;
use engine::protocol::{Header, Message};
use engine::store::Store;
use engine::{ChangeHash, ListId};
use shoplist_tests::{Cluster, ClusterOptions};

/// A list with three changes (create, add milk, add eggs): id, the raw
/// changes in order and the hash of each.
fn three_changes(dir: &Path) -> (ListId, Vec<Bytes>, Vec<ChangeHash>) {
    let mut store = Store::open(dir.join("client.db")).expect("client store");
    let ctx = EditContext::now("test");
    let list = store.create_list("groceries", &ctx).expect("create");
    let mut hashes = vec![store.heads(list).expect("heads")[0]];
    for item in ["milk", "eggs"] {
        store
            .edit(list, |l| l.add_item(item, 1, &ctx))
            .expect("edit");
        hashes.push(store.heads(list).expect("heads")[0]);
    }
    let (changes, _) = store.changes_for(list, &[]).expect("changes");
    (list, changes.into_iter().map(Bytes::from).collect(), hashes)
}

async fn sync(
    client: &mut Client,
    list: ListId,
    have: Vec<ChangeHash>,
    changes: Vec<Bytes>,
) -> Message {
    client
        .request(|id| Message::sync(id, list, have, changes))
        .await
        .expect("sync reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_with_a_missing_dependency_is_answered_missing_with_the_real_heads() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let (list, changes, h) = three_changes(dir.path());
    let mut client = Client::new(cluster.frontend(), Duration::from_secs(10));

    // The cloud gets the creation only.
    let first = sync(&mut client, list, vec![h[0]], vec![changes[0].clone()]).await;
    assert!(
        matches!(&first.header, Header::Synced { heads, missing, .. } if *heads == vec![h[0]] && missing.is_empty()),
        "{first:?}"
    );

    // Then the third change alone: its dependency (the second) is missing.
    let reply = sync(&mut client, list, vec![h[2]], vec![changes[2].clone()]).await;
    eprintln!(
        "reply to a change with a missing dependency: {:?}",
        reply.header
    );
    match &reply.header {
        Header::Synced { heads, missing, .. } => {
            assert_eq!(missing, &vec![h[1]], "the lacking dependency is named");
            assert_eq!(heads, &vec![h[0]], "the cloud's real heads of the list");
        }
        other => panic!("expected synced with missing, got {other:?}"),
    }

    // Sending from further back (PROTOCOL §5) completes it.
    let reply = sync(&mut client, list, vec![h[2]], changes[1..].to_vec()).await;
    assert!(
        matches!(&reply.header, Header::Synced { heads, missing, .. } if *heads == vec![h[2]] && missing.is_empty()),
        "{reply:?}"
    );
}
