//! The driver against a fake proxy: a sync does not hold the shared store
//! while it waits for the cloud, and an edit made through the shared store
//! and poked is pushed by the session; a write carried by a `notify` is
//! applied without a sync.

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

/// Run `w`, its events to `events`, until `stopped` fires, beside `test`.
async fn run_beside(
    w: Watcher,
    events: mpsc::UnboundedSender<WatchEvent>,
    stopped: oneshot::Receiver<()>,
    test: impl Future<Output = ()>,
) {
    tokio::join!(
        w.run(
            move |ev| {
                let _ = events.send(ev);
            },
            async {
                let _ = stopped.await;
            }
        ),
        test
    );
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
    run_beside(w, events_tx, stopped, test).await;
}

#[tokio::test]
async fn a_write_carried_by_a_notify_is_applied_without_a_sync() {
    // PROTOCOL §6.2. The fake cloud answers no sync with changes: the
    // other device's item can only arrive with the notify.
    let (_dir, store, list) = store_with_list();
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = Store::open(other_dir.path().join("other.db")).unwrap();
    let ours = store.lock().changes_for(list, &[]).unwrap().0;
    other.ingest(list, &ours).unwrap();
    let before = other.heads(list).unwrap();
    other
        .edit(list, |l| l.add_item("tea", 1, &EditContext::now("other")))
        .unwrap();
    let (frames, heads) = other.changes_for(list, &before).unwrap();
    let notify = Message::with_changes(
        Header::Notify {
            id: 0,
            list,
            heads: heads.clone(),
        },
        frames.into_iter().map(bytes::Bytes::from).collect(),
    );
    let (asked_tx, mut asked) = mpsc::unbounded_channel();
    let ep = fake_proxy(move |req: &Message| match &req.header {
        Header::Subscribe {
            id, lists, changes, ..
        } => {
            let _ = asked_tx.send(*changes);
            vec![
                Message::new(Header::Subscribed {
                    id: *id,
                    lists: lists.clone(),
                    moved: false,
                }),
                notify.clone(),
            ]
        }
        Header::Ping { id } => vec![Message::new(Header::Pong { id: *id })],
        // Too few replicas, at once (a sync that never came back would
        // only delay the notify behind its timeout).
        Header::Sync { id, .. } => vec![Message::unavailable(*id, 1, 2)],
        _ => Vec::new(),
    })
    .await;
    let w = watcher(ep, store.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let test = async {
        let wish = tokio::time::timeout(WAIT, asked.recv()).await.unwrap();
        assert_eq!(wish, Some(Some(true)), "the watcher asks for changes");
        let received = loop {
            match tokio::time::timeout(WAIT, events.recv()).await.unwrap() {
                Some(WatchEvent::Received {
                    received, heads: h, ..
                }) => break (received, h),
                Some(_) => {}
                None => panic!("the watcher stopped"),
            }
        };
        assert_eq!(received, (1, heads.clone()));
        let mut s = store.lock();
        let items: Vec<String> = s
            .view(list)
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(items, vec!["tea".to_string()]);
        // The cloud holds what the notify named, our creation included.
        assert_eq!(s.pending(list).unwrap(), 0);
        drop(s);
        let _ = stop.send(());
    };
    run_beside(w, events_tx, stopped, test).await;
}

#[test]
fn a_burst_of_notifies_is_merged_per_list() {
    let (a, b) = (ListId::new_random(), ListId::new_random());
    let h = |n: u8| ChangeHash([n; 32]);
    let frame = |n: u8| bytes::Bytes::from(vec![n; 3]);
    let notify = |list, heads: Vec<ChangeHash>, changes: Vec<bytes::Bytes>| ClientEvent::Notify {
        list,
        heads,
        changes,
    };
    let (news, merged) = merge_notifies([
        notify(a, vec![h(2)], vec![frame(1)]),
        ClientEvent::Disconnected {
            endpoint: "e".into(),
            reason: "r".into(),
        },
        notify(b, vec![h(9)], vec![]),
        notify(a, vec![h(3), h(2)], vec![frame(2), frame(3)]),
    ]);
    assert_eq!(news, vec![Event::Disconnected]);
    assert_eq!(
        merged.get(&a),
        Some(&(vec![h(2), h(3)], vec![frame(1), frame(2), frame(3)]))
    );
    assert_eq!(merged.get(&b), Some(&(vec![h(9)], vec![])));
    assert_eq!(merged.len(), 2);
}
