//! A list another client wrote (PROTOCOL.md §12.4), through the real
//! binary: a Text name is shown as the name, and what cannot be read is a
//! `warning:` line on stderr and an entry of `warnings` in `--json`, never a
//! silently emptier list.

use std::process::Command;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ReadDoc, ROOT};
use engine::signing::{split_frame, DeviceKey};
use engine::store::Store;
use engine::ListId;
use serde_json::Value;
use tempfile::TempDir;

fn shoplist(dir: &TempDir, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shoplist"))
        .env_remove("SHOPLIST_CLOUD")
        .env("SHOPLIST_USER", "ann")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--cloud", "tcp://127.0.0.1:9"])
        .args(args)
        .output()
        .expect("run shoplist");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A change by a JS-Automerge-like client (its own device key, protocol
/// v2): the list renamed as Text, and a junk value where an item map
/// belongs. Returned as a signed frame.
fn foreign_change(store: &mut Store, list: ListId) -> Vec<u8> {
    let (frames, _) = store.changes_for(list, &[]).expect("changes");
    let chunks: Vec<u8> = frames
        .iter()
        .flat_map(|f| split_frame(f).expect("a signed frame").1.to_vec())
        .collect();
    let mut doc = AutoCommit::load(&chunks).expect("our own changes load");
    let key = DeviceKey::generate();
    doc.set_actor(key.actor());
    let name = doc.put_object(ROOT, "name", ObjType::Text).expect("text");
    doc.splice_text(&name, 0, 0, "Family shopping")
        .expect("splice");
    let items = match doc.get(ROOT, "items").expect("get") {
        Some((_, id)) => id,
        None => panic!("no items map"),
    };
    doc.put(&items, "bad", 5i64).expect("put");
    doc.commit();
    let change = doc.get_last_local_change().expect("a change");
    key.frame(list, &change)
}

#[test]
fn a_foreign_list_is_shown_with_its_text_name_and_warnings() {
    let dir = TempDir::new().expect("tempdir");
    let (code, out, err) = shoplist(&dir, &["--json", "new", "Groceries"]);
    assert_eq!(code, 0, "{err}");
    let made: Value = serde_json::from_str(out.trim()).expect("json");
    let id = made["id"].as_str().expect("id").to_string();
    assert_eq!(shoplist(&dir, &["add", &id, "Milk"]).0, 0);
    {
        let mut store = Store::open(dir.path().join("shoplist.db")).expect("store");
        let list = ListId::parse(&id).expect("list id");
        let raw = foreign_change(&mut store, list);
        store
            .ingest(list, &[raw])
            .expect("ingest the foreign change");
    }

    let (code, out, err) = shoplist(&dir, &["--json", "show", &id]);
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(shown["name"], "Family shopping", "{shown}");
    assert_eq!(shown["items"][0]["name"], "Milk", "{shown}");
    let warnings = shown["warnings"].as_array().expect("warnings array");
    assert_eq!(warnings.len(), 1, "{shown}");
    assert!(
        warnings[0].as_str().unwrap_or("").contains("item `bad`"),
        "{shown}"
    );
    assert!(
        err.contains("warning:") && err.contains("item `bad`"),
        "{err}"
    );

    // The human form says the same on stderr and still lists Milk.
    let (code, out, err) = shoplist(&dir, &["show", &id]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Family shopping") && out.contains("Milk"),
        "{out}"
    );
    assert!(err.contains("warning:"), "{err}");
}
