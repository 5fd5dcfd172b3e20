//! The driver against a fake proxy: a sync does not hold the shared store
//! while it waits for the cloud, and an edit made through the shared store
//! and poked is pushed by the session.

use std::time::Duration;

use engine::list::EditContext;
use engine::protocol::{Header, Message};
use engine::store::Store;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::sync_client::tests::fake_proxy;
use crate::sync_client::ClientConfig;

/// Generous: these bound a test that passes in milliseconds.
const WAIT: Duration = Duration::from_secs(10);

/// A fake proxy that subscribes whatever is asked, answers pings, and
/// hands every `sync` to `syncs`; it answers a sync (acknowledging it, with
/// the requester's own heads) only when `ack` is set.
async fn cloud(ack: bool, syncs: mpsc::UnboundedSender<Message>) -> String {
    fake_proxy(move |req: &Message| match &req.header {
        Header::Subscribe { id, lists, .. } => vec![Message::new(Header::Subscribed {
            id: *id,
            lists: lists.clone(),
            moved: false,
        })],
        Header::Ping { id } => vec![Message::new(Header::Pong { id: *id })],
        Header::Sync { id, list, have, .. } => {
            let _ = syncs.send(req.clone());
            if !ack {
                return Vec::new();
            }
            vec![Message::new(Header::Synced {
                id: *id,
                list: *list,
                heads: have.clone(),
                missing: Vec::new(),
                acked: 2,
                holds: true,
                rejected: Vec::new(),
                snapshot: None,
            })]
        }
        _ => Vec::new(),
    })
    .await
}

/// A store in a temp dir with one list (one pending change).
fn store_with_list() -> (tempfile::TempDir, SharedStore, ListId) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("shoplist.db")).unwrap();
    let list = store
        .create_list("groceries", &EditContext::now("test"))
        .unwrap();
    (dir, SharedStore::new(store), list)
}

fn watcher(ep: String, store: SharedStore) -> Watcher {
    let (client, events) = SyncClient::start(ClientConfig::new(vec![ep]));
    Watcher::new(store, client, events, None, WatchOptions::default())
}

async fn next_sync(syncs: &mut mpsc::UnboundedReceiver<Message>) -> Message {
    tokio::time::timeout(WAIT, syncs.recv())
        .await
        .expect("no sync reached the fake proxy in time")
        .expect("the fake proxy stopped")
}

#[tokio::test]
async fn a_sync_waiting_for_the_cloud_does_not_hold_the_store() {
    let (_dir, store, list) = store_with_list();
    let (tx, mut syncs) = mpsc::unbounded_channel();
    let w = watcher(cloud(false, tx).await, store.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let test = async {
        // The session syncs the new list; the fake cloud never answers.
        let req = next_sync(&mut syncs).await;
        assert!(matches!(req.header, Header::Sync { list: l, .. } if l == list));
        // The watcher runs on this thread, suspended while this runs: the
        // store is free unless the sync holds it across its wait.
        let mut s = store
            .try_lock()
            .expect("the store is held while the sync waits for the cloud");
        s.edit(list, |l| l.add_item("milk", 1, &EditContext::now("test")))
            .unwrap();
        assert_eq!(s.pending(list).unwrap(), 2);
        drop(s);
        let _ = stop.send(());
    };
    tokio::join!(
        w.run(|_| {}, async {
            let _ = stopped.await;
        }),
        test
    );
}

#[tokio::test]
async fn an_edit_through_the_shared_store_is_pushed_when_poked() {
    let (_dir, store, list) = store_with_list();
    let (tx, mut syncs) = mpsc::unbounded_channel();
    let w = watcher(cloud(true, tx).await, store.clone());
    let live = w.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let test = async {
        // The first sync pushes the list's creation.
        let first = next_sync(&mut syncs).await;
        assert_eq!(first.changes.len(), 1);
        loop {
            let ev = tokio::time::timeout(WAIT, events.recv()).await.unwrap();
            if matches!(ev, Some(WatchEvent::Pushed { sent: 1, .. })) {
                break;
            }
        }
        assert_eq!(store.lock().pending(list).unwrap(), 0);
        // An edit on the same connection, then a poke: pushed at once (the
        // local poll alone would take 200 ms; the test does not wait for it).
        store
            .lock()
            .edit(list, |l| l.add_item("eggs", 12, &EditContext::now("test")))
            .unwrap();
        let expected = store.lock().changes_for(list, &[]).unwrap().0;
        assert!(live.edited(list));
        let second = next_sync(&mut syncs).await;
        assert_eq!(second.changes.len(), 1, "only the new edit is pushed");
        assert_eq!(second.changes[0].as_ref(), expected[1].as_slice());
        loop {
            let ev = tokio::time::timeout(WAIT, events.recv()).await.unwrap();
            if matches!(ev, Some(WatchEvent::Pushed { .. })) {
                break;
            }
        }
        assert_eq!(store.lock().pending(list).unwrap(), 0);
        let _ = stop.send(());
    };
    tokio::join!(
        w.run(
            |ev| {
                let _ = events_tx.send(ev);
            },
            async {
                let _ = stopped.await;
            }
        ),
        test
    );
}
