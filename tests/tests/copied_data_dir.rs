//! Issue 10 deliverable 2 against a real cluster, through the real CLI
//! (PROTOCOL §5.2): a data dir copied (a backup restore, a new laptop), an
//! edit on each copy, both synced. The copies share a signing key, so the
//! second push clashes with the first (`actor_clash`); that device rotates
//! to a new key, rebuilds the list from what the cloud acknowledged plus the
//! cloud's changes, and replays its edits. Both edits arrive everywhere.

use serde_json::Value;
use shoplist_tests::{Client, Cluster, ClusterOptions};

fn items(doc: &Value) -> Vec<(String, i64, i64)> {
    let mut out: Vec<(String, i64, i64)> = doc["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        i["name"].as_str().unwrap_or_default().to_lowercase(),
                        i["needed"].as_i64().unwrap_or(-1),
                        i["acquired"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read data dir") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

fn signers(log: &Value) -> Vec<String> {
    let mut s: Vec<String> = log
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e["signed_by"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    s.sort();
    s.dedup();
    s
}

#[test]
fn a_copied_data_dir_converges_with_no_edit_lost() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let laptop = Client::new(&cluster);
    let made = laptop.run(&["new", "Groceries"]).expect_json();
    let id = made["id"].as_str().unwrap_or_default().to_string();
    laptop.run(&["add", &id, "Milk", "-n", "2"]).expect_json();
    laptop.run(&["sync", &id]).expect_json();
    let restored = Client::new(&cluster);
    copy_dir(laptop.data_dir(), restored.data_dir());

    laptop.run(&["add", &id, "Eggs", "-n", "6"]).expect_json();
    restored.run(&["add", &id, "Bread"]).expect_json();
    restored.run(&["buy", &id, "Milk", "-n", "1"]).expect_json();
    let out = laptop.run(&["sync", &id]);
    assert!(out.success(), "first copy's sync: {}", out.stderr);
    let out = restored.run(&["sync", &id]);
    assert!(out.success(), "second copy's sync: {}", out.stderr);
    assert_eq!(restored.status(Some(&id))[0].pending, 0);
    laptop.run(&["sync", &id]).expect_json();

    let want = vec![
        ("bread".to_string(), 1, 0),
        ("eggs".to_string(), 6, 0),
        ("milk".to_string(), 2, 1),
    ];
    let phone = Client::new(&cluster);
    let joined = phone.run(&["join", &id]).expect_json();
    assert_eq!(items(&joined), want, "{joined}");
    assert_eq!(items(&laptop.run(&["show", &id]).expect_json()), want);
    assert_eq!(items(&restored.run(&["show", &id]).expect_json()), want);
    // The restored copy now signs with a key of its own.
    let log = phone.run(&["log", &id]).expect_json();
    assert_eq!(signers(&log).len(), 2, "{log}");
}
