//! Issue 10's squatting finding against a real cluster, through the real
//! CLI (PROTOCOL §2.1): a list member relabels one of its own changes with
//! another device's actor id and next seq (both visible in `log --json`)
//! and syncs it (here: the same change made directly under the victim's
//! actor id, which is what relabelling and re-sealing amounts to). Before protocol v2 the cloud
//! acknowledged it and the victim's every later `sync` failed (`actor … seq
//! 2, expected 3`). Now it is refused as `forged`, and the victim keeps
//! syncing. Also: a version-1 request is answered `unsupported_version`.

use std::time::Duration;

use bytes::Bytes;
use cloud::client::Client as RawClient;
use engine::list::EditContext;
use engine::protocol::{ErrorCode, Header, Message};
use engine::signing::DeviceKey;
use engine::store::Store;
use engine::ListId;
use serde_json::Value;
use shoplist_tests::{Client, Cluster, ClusterOptions};
use zeromq::{SocketRecv, SocketSend};

/// The victim's actor and its highest seq, read from `log --json` as the
/// attacker would.
fn victim_actor_and_seq(log: &Value, victim_name: &str) -> (String, u64) {
    let entries = log.as_array().cloned().unwrap_or_default();
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["by"].as_str() == Some(victim_name))
        .collect();
    let actor = mine
        .last()
        .and_then(|e| e["signed_by"].as_str())
        .unwrap_or_default()
        .to_string();
    let seq = mine
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .max()
        .unwrap_or(0);
    (actor, seq)
}

fn has_item(doc: &Value, name: &str) -> bool {
    doc["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["name"].as_str() == Some(name)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relabelled_change_is_refused_and_the_victim_keeps_syncing() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let victim = Client::new(&cluster);
    let member = Client::new(&cluster);
    let made = victim.run(&["new", "Groceries"]).expect_json();
    let id = made["id"].as_str().unwrap_or_default().to_string();
    victim.run(&["add", &id, "Milk"]).expect_json();
    let shared = victim.run(&["share", &id]).expect_json();
    member
        .run(&["join", shared["url"].as_str().unwrap_or_default()])
        .expect_json();

    // The attack: the member's own change, relabelled as the victim's next.
    let log = member.run(&["log", &id]).expect_json();
    let victim_name = log[0]["by"].as_str().unwrap_or_default().to_string();
    let (actor_hex, seq) = victim_actor_and_seq(&log, &victim_name);
    assert!(seq >= 2, "{log}");
    let list = ListId::parse(&id).expect("list id");
    let mut doc = {
        let mut store = Store::open(member.data_dir().join("shoplist.db")).expect("member's store");
        store.read(list, |l, _| l.clone()).expect("the list")
    };
    // A change that Automerge would accept as the victim's next one: made
    // on the member's copy under the victim's actor id (all the member
    // needs to know), then signed with the member's own key.
    let attacker = DeviceKey::generate();
    let actor = hex::decode(&actor_hex).expect("hex actor");
    doc.doc_mut().set_actor(engine::signing::actor_id(&actor));
    doc.add_item("Beer", 1, &EditContext::now("mallory"))
        .expect("edit");
    let squat = doc.last_local_change().expect("a change");
    assert_eq!(squat.seq(), seq + 1, "the victim's next seq");
    let frame = Bytes::from(attacker.frame(list, &squat));
    let mut raw = RawClient::new(cluster.frontend(), Duration::from_secs(10));
    let reply = raw
        .request(|rid| Message::sync(rid, list, vec![], vec![frame.clone()]))
        .await
        .expect("a reply");
    match &reply.header {
        Header::Error { code, message, .. } => {
            assert_eq!(*code, ErrorCode::Forged, "{message}")
        }
        other => panic!("the forged change was not refused: {other:?}"),
    }

    // The victim keeps syncing, and its edit reaches the member.
    victim.run(&["add", &id, "Bread"]).expect_json();
    let out = victim.run(&["sync", &id]);
    assert!(out.success(), "victim's sync failed: {}", out.stderr);
    assert_eq!(victim.status(Some(&id))[0].pending, 0);
    member.run(&["sync", &id]).expect_json();
    let shown = member.run(&["show", &id]).expect_json();
    assert!(has_item(&shown, "Bread"), "{shown}");
    assert!(!has_item(&shown, "Beer"), "{shown}");
}

/// PROTOCOL §10: a version-1 request gets `unsupported_version`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_request_is_answered_unsupported_version() {
    let cluster = Cluster::start(1, ClusterOptions::default());
    let mut socket = cloud::transport::dealer::connect(&cluster.frontend(), Duration::from_secs(5))
        .await
        .expect("connect");
    let header = format!(
        r#"{{"v":1,"op":"sync","id":9,"list":"{}","have":[],"n":0}}"#,
        ListId::new_random()
    );
    socket
        .send(zeromq::ZmqMessage::from(header))
        .await
        .expect("send");
    let zm = tokio::time::timeout(Duration::from_secs(10), socket.recv())
        .await
        .expect("a reply in time")
        .expect("a reply");
    let msg = cloud::transport::decode_frames(&zm.into_vec()).expect("decodes");
    match msg.header {
        Header::Error { id, code, .. } => {
            assert_eq!((id, code), (9, ErrorCode::UnsupportedVersion))
        }
        other => panic!("expected unsupported_version, got {other:?}"),
    }
}
