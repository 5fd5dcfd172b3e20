//! Issue 12 against a real cluster, through the real CLI: the status that
//! tells the truth (defect 7), sharing an unsynced list (defect 6), the
//! observed-remove row end to end with its `log` line (defects 11, 14), and
//! a deleted list coming back with `join` (deliverable 3).

use serde_json::Value;
use shoplist_tests::{Client, Cluster, ClusterOptions};

fn item(doc: &Value, name: &str) -> Option<(i64, i64)> {
    doc["items"].as_array()?.iter().find_map(|i| {
        (i["name"].as_str()?.to_lowercase() == name).then(|| {
            (
                i["acquired"].as_i64().unwrap_or(-1),
                i["needed"].as_i64().unwrap_or(-1),
            )
        })
    })
}

#[test]
fn a_family_shares_removes_and_rejoins_with_a_truthful_status() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let alice = Client::new(&cluster);
    let bob = Client::new(&cluster);

    // Defect 6: `share` of a never-synced list pushes it first: the URL works.
    let made = alice.run(&["new", "Groceries"]).expect_json();
    let id = made["id"].as_str().unwrap_or_default().to_string();
    alice.run(&["add", &id, "Milk", "-n", "2"]).expect_json();
    let shared = alice.run(&["share", &id]).expect_json();
    assert_eq!(alice.status(Some(&id))[0].pending, 0, "share synced it");
    let joined = bob.run(&["join", shared["url"].as_str().unwrap_or_default()]);
    assert_eq!(item(&joined.expect_json(), "milk"), Some((0, 2)));

    // Defect 7: Bob edits and syncs; Alice's status says the cloud has news.
    bob.run(&["add", &id, "Eggs"]).expect_json();
    bob.run(&["sync"]).expect_json();
    let st = alice.run(&["status", &id]).expect_json();
    assert_eq!(st[0]["pending"], 0, "{st}");
    assert_eq!(st[0]["cloud"], "reachable", "{st}");
    assert_eq!(st[0]["cloud_ahead"], 1, "{st}");
    assert!(st[0]["last_synced_ms"].as_i64().unwrap_or(0) > 0, "{st}");
    alice.run(&["sync"]).expect_json();
    let st = alice.run(&["status", &id]).expect_json();
    assert_eq!(st[0]["cloud_ahead"], 0, "{st}");

    // Defect 14 end to end: Alice removes Milk (needed 2) while Bob adds 1.
    alice.run(&["rm", &id, "milk"]).expect_json();
    bob.run(&["add", &id, "milk"]).expect_json();
    alice.run(&["sync"]).expect_json();
    bob.run(&["sync"]).expect_json();
    let doc = alice.run(&["sync"]).expect_json();
    assert!(doc.is_array());
    let shown = alice.run(&["show", &id]).expect_json();
    assert_eq!(item(&shown, "milk"), Some((0, 1)), "{shown}");
    // Defect 11: the log says the removal did not take Milk off the list.
    let log = alice.run(&["log", &id]).expect_json();
    let last_rm = log
        .as_array()
        .and_then(|l| {
            l.iter()
                .rev()
                .find(|e| e["what"].as_str().unwrap_or("").starts_with("removed"))
        })
        .cloned()
        .unwrap_or_default();
    let what = last_rm["what"].as_str().unwrap_or_default();
    assert!(
        what.contains("still on the list")
            || log
                .as_array()
                .map(|l| l.last() != Some(&last_rm))
                .unwrap_or(false),
        "{log}"
    );

    // Deliverable 3: delete on this device; the cloud keeps it; join is back.
    let out = alice.run(&["delete", &id]);
    assert!(out.success(), "{}", out.stderr);
    assert!(alice.ls().is_empty());
    let back = alice.run(&["join", &id]).expect_json();
    assert_eq!(item(&back, "milk"), Some((0, 1)), "{back}");
    assert_eq!(item(&back, "eggs"), Some((0, 1)), "{back}");
}
