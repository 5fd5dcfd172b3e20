//! The `--json` shapes are a contract (DESIGN §7): field names checked here.

use engine::list::{ItemView, ListView};
use engine::ListId;
use serde_json::{json, Value};

use super::*;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn view() -> ListView {
    ListView {
        name: "Groceries".into(),
        other_names: vec!["Food".into()],
        items: vec![ItemView {
            name: "Milk".into(),
            key: "milk".into(),
            needed: 2,
            acquired: 2,
            done: true,
            added_by: "ann".into(),
            added_at: 5,
            category: None,
            note: None,
            bought_by: vec!["bob".into()],
        }],
        warnings: vec![],
    }
}

#[test]
fn show_has_the_contract_fields() {
    let id = ListId::new_random();
    let v = serde_json::to_value(ShowDoc::new(id, view(), 1)).unwrap();
    assert_eq!(
        keys(&v),
        [
            "id",
            "items",
            "name",
            "other_names",
            "pending",
            "url",
            "warnings"
        ]
    );
    assert_eq!(v["warnings"], json!([]));
    assert_eq!(v["id"], json!(id.to_string()));
    assert_eq!(v["url"], json!(id.url()));
    assert_eq!(
        v["items"][0],
        json!({"name": "Milk", "needed": 2, "acquired": 2, "done": true, "added_by": "ann", "added_at_ms": 5,
               "category": null, "note": null, "bought_by": ["bob"]})
    );
}

#[test]
fn list_documents_are_arrays_with_the_contract_fields() {
    let id = ListId::new_random();
    let ls = serde_json::to_value(LsDoc(vec![LsEntry {
        id,
        url: id.url(),
        name: "n".into(),
        items: 3,
        done: 1,
        pending: 0,
        archived: false,
    }]))
    .unwrap();
    assert_eq!(
        keys(&ls[0]),
        ["archived", "done", "id", "items", "name", "pending", "url"]
    );
    let st = serde_json::to_value(StatusDoc(vec![StatusEntry {
        id,
        name: "n".into(),
        pending: 2,
        last_synced_ms: None,
        last_synced: None,
        cloud: "unreachable".into(),
        cloud_ahead: None,
    }]))
    .unwrap();
    assert_eq!(
        keys(&st[0]),
        [
            "cloud",
            "cloud_ahead",
            "id",
            "last_synced",
            "last_synced_ms",
            "name",
            "pending"
        ]
    );
    let sy = serde_json::to_value(SyncDoc(vec![SyncEntry {
        id,
        name: "n".into(),
        sent: 1,
        received: 2,
        pending: 0,
    }]))
    .unwrap();
    assert_eq!(keys(&sy[0]), ["id", "name", "pending", "received", "sent"]);
    let new = serde_json::to_value(NewDoc {
        id,
        url: id.url(),
        name: "n".into(),
    })
    .unwrap();
    assert_eq!(keys(&new), ["id", "name", "url"]);
    let share = serde_json::to_value(ShareDoc { id, url: id.url() }).unwrap();
    assert_eq!(keys(&share), ["id", "url"]);
}

#[test]
fn log_entries_carry_hash_author_signer_time_and_what() {
    let e = LogEntry::new(
        engine::list::HistoryEntry {
            hash: "ab".into(),
            by: "ann".into(),
            actor: "01ab23cd45ef".into(),
            seq: 3,
            time_ms: 0,
            what: "add 1 × Milk".into(),
            op: "add".into(),
            item: Some("Milk".into()),
        },
        true,
    );
    let v = serde_json::to_value(LogDoc(vec![e.clone()])).unwrap();
    assert_eq!(
        keys(&v[0]),
        [
            "actor",
            "by",
            "hash",
            "seq",
            "signed_by",
            "time",
            "time_ms",
            "what"
        ]
    );
    assert_eq!(v[0]["signed_by"], "01ab23cd45ef");
    assert_eq!(
        LogDoc(vec![e]).human(),
        "1970-01-01 00:00:00 UTC  ann  [device 01ab23cd]  add 1 × Milk"
    );
}

#[test]
fn human_show_marks_done_items_and_other_names() {
    let text = ShowDoc::new(ListId::new_random(), view(), 0).human();
    assert!(text.contains("[x] Milk  2/2 bought by bob"), "{text}");
    assert!(text.contains("also named: Food"), "{text}");
}

/// Issue 12 deliverable 4 and defect 13: the shopping view. Needed items
/// first, grouped by category in natural order; bought items sink; an
/// emoji does not shift columns; one long name does not widen every row.
#[test]
fn human_show_is_the_shopping_view() {
    let item = |name: &str, needed, acquired, cat: Option<&str>| ItemView {
        name: name.into(),
        key: engine::list::normalize(name),
        needed,
        acquired,
        done: acquired >= needed,
        added_by: "ann".into(),
        added_at: 1,
        category: cat.map(String::from),
        note: None,
        bought_by: if acquired > 0 {
            vec!["bob".into()]
        } else {
            vec![]
        },
    };
    let mut v = view();
    v.items = vec![
        item("item10", 1, 0, None),
        item("item2", 1, 0, None),
        item("🥛 Milk", 2, 0, Some("dairy")),
        item("Eggs", 6, 6, Some("dairy")),
        item("Cheese", 1, 0, Some("dairy")),
        item("Apples", 3, 0, Some("fruit")),
        item(&"very long name ".repeat(4), 1, 0, None),
    ];
    let text = ShowDoc::new(
        ListId::parse("0d5c1f42-6a3e-4b9e-9a51-7f2f0c1d9e33").unwrap(),
        v,
        0,
    )
    .human();
    insta::assert_snapshot!(text);
}

#[test]
fn show_carries_the_readers_warnings() {
    let mut v = view();
    v.items.clear();
    v.warnings = vec!["`items` is a string, not a map: no items to show".into()];
    let doc = ShowDoc::new(ListId::new_random(), v, 0);
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(
        json["warnings"][0],
        json!("`items` is a string, not a map: no items to show")
    );
    assert!(doc
        .human()
        .contains("(no items that could be read; see the warnings)"));
}
