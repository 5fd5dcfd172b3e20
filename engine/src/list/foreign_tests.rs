//! Documents written by other clients (PROTOCOL.md "Document"): the reader
//! is liberal in what it accepts, and a shape it cannot read is never a
//! silently empty list — `view` shows what it can and says what it skipped.
//!
//! The first tests build a list the way JS Automerge 2 writes one (strings
//! are Text objects, times in seconds, `live` above 2^53 from older
//! writers), the others feed it shapes no writer should produce.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};

use super::view::time_ms;
use super::*;

/// A string the way JS Automerge 2 writes it by default: a Text object.
fn put_text(doc: &mut AutoCommit, obj: &automerge::ObjId, key: &str, value: &str) {
    let text = doc.put_object(obj, key, ObjType::Text).unwrap();
    doc.splice_text(&text, 0, 0, value).unwrap();
}

/// A list as a JS Automerge client writes it from the documentation:
/// Text strings, `added_at` and the change time in seconds.
fn js_style_list() -> ShoppingList {
    let mut doc = AutoCommit::new().with_actor(ActorId::random());
    put_text(&mut doc, &ROOT, "name", "Groceries");
    let items = doc.put_object(ROOT, "items", ObjType::Map).unwrap();
    let milk = doc
        .put_object(&items, "5f0c2d7e9a1b4c3d8e6f7a8b9c0d1e2f", ObjType::Map)
        .unwrap();
    put_text(&mut doc, &milk, "name", "Milk");
    put_text(&mut doc, &milk, "norm", "milk");
    put_text(&mut doc, &milk, "added_by", "js");
    doc.put(&milk, "added_at", 1_700_000_000i64).unwrap();
    let needs = doc.put_object(&milk, "needs", ObjType::Map).unwrap();
    doc.put(&needs, "a1", 2i64).unwrap();
    doc.put(&milk, "live", 7i64).unwrap();
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(r#"{"by":"js","op":"add","item":"Milk","n":2}"#)
            .with_time(1_700_000_000),
    );
    ShoppingList::from_doc(doc.document().clone())
}

#[test]
fn a_js_automerge_list_with_text_strings_is_read_in_full() {
    let view = js_style_list().view();
    assert_eq!(view.name, "Groceries");
    assert_eq!(view.items.len(), 1, "{view:?}");
    let milk = &view.items[0];
    assert_eq!((milk.name.as_str(), milk.needed), ("Milk", 2));
    assert_eq!(milk.added_by, "js");
    // Seconds are read as seconds, not as a date in 1970.
    assert_eq!(milk.added_at, 1_700_000_000_000);
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
}

#[test]
fn change_times_in_seconds_are_not_shown_as_1970() {
    let history = js_style_list().history();
    assert_eq!(history[0].time_ms, 1_700_000_000_000);
    assert_eq!(history[0].op, "add");
    assert_eq!(time_ms(1_700_000_000_123), 1_700_000_000_123);
    assert_eq!(time_ms(0), 0);
}

#[test]
fn items_as_a_list_are_shown_with_a_warning() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "L").unwrap();
    let items = doc.put_object(ROOT, "items", ObjType::List).unwrap();
    let eggs = doc.insert_object(&items, 0, ObjType::Map).unwrap();
    doc.put(&eggs, "name", "Eggs").unwrap();
    doc.put(&eggs, "live", 1i64).unwrap();
    doc.put(&eggs, "needed", ScalarValue::counter(6)).unwrap();
    doc.commit();
    let view = ShoppingList::from_doc(doc.document().clone()).view();
    assert_eq!(view.items.len(), 1, "{view:?}");
    assert_eq!(
        (view.items[0].key.as_str(), view.items[0].needed),
        ("eggs", 6)
    );
    assert!(
        view.warnings
            .iter()
            .any(|w| w.contains("`items` is a list")),
        "{:?}",
        view.warnings
    );
}

#[test]
fn numbers_as_strings_and_floats_are_read_and_reported() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "L").unwrap();
    let items = doc.put_object(ROOT, "items", ObjType::Map).unwrap();
    let tea = doc.put_object(&items, "k1", ObjType::Map).unwrap();
    doc.put(&tea, "name", "Tea").unwrap();
    doc.put(&tea, "live", 1i64).unwrap();
    doc.put(&tea, "needed", "3").unwrap();
    let buys = doc.put_object(&tea, "buys", ObjType::Map).unwrap();
    doc.put(&buys, "b", 1.0f64).unwrap();
    doc.put(&buys, "junk", "lots").unwrap();
    doc.commit();
    let view = ShoppingList::from_doc(doc.document().clone()).view();
    assert_eq!(view.items.len(), 1, "{view:?}");
    assert_eq!((view.items[0].needed, view.items[0].acquired), (3, 1));
    let w = view.warnings.join("\n");
    assert!(w.contains("`needed` is a string"), "{w}");
    assert!(w.contains("\"lots\""), "{w}");
}

#[test]
fn unreadable_shapes_warn_instead_of_showing_an_empty_list() {
    // `items` is a string, the name a number.
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", 42i64).unwrap();
    doc.put(ROOT, "items", "milk, eggs").unwrap();
    doc.commit();
    let view = ShoppingList::from_doc(doc.document().clone()).view();
    assert!(view.items.is_empty());
    let w = view.warnings.join("\n");
    assert!(w.contains("`items` is a string"), "{w}");
    assert!(w.contains("`name` is an integer"), "{w}");

    // Item entries that are not maps, an item with no name, quantities
    // without `live`.
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "L").unwrap();
    let items = doc.put_object(ROOT, "items", ObjType::Map).unwrap();
    doc.put(&items, "scalar", 5i64).unwrap();
    let anon = doc.put_object(&items, "anon", ObjType::Map).unwrap();
    doc.put(&anon, "live", 1i64).unwrap();
    let dead = doc.put_object(&items, "dead", ObjType::Map).unwrap();
    doc.put(&dead, "name", "Bread").unwrap();
    let needs = doc.put_object(&dead, "needs", ObjType::Map).unwrap();
    doc.put(&needs, "t", 2i64).unwrap();
    doc.commit();
    let view = ShoppingList::from_doc(doc.document().clone()).view();
    let w = view.warnings.join("\n");
    assert!(w.contains("item `scalar`"), "{w}");
    assert!(w.contains("item `anon` has no name"), "{w}");
    assert!(w.contains("item `dead`") && w.contains("`live`"), "{w}");

    // A document with changes but no `items` at all.
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "title", "not a shopping list").unwrap();
    doc.commit();
    let view = ShoppingList::from_doc(doc.document().clone()).view();
    assert!(view.warnings.iter().any(|w| w.contains("no `items`")));
}

#[test]
fn our_own_lists_read_without_warnings() {
    let ctx = EditContext::now("t");
    let mut l = ShoppingList::create(ActorId::random(), "L", &ctx).unwrap();
    l.add_item("Milk", 2, &ctx).unwrap();
    l.buy_item("Milk", Some(1), &ctx).unwrap();
    l.add_item("Eggs", 1, &ctx).unwrap();
    l.remove_item("Eggs", &ctx).unwrap();
    assert!(l.view().warnings.is_empty(), "{:?}", l.view().warnings);
    // An empty document (joined, nothing synced yet) is not an anomaly.
    assert!(ShoppingList::empty(ActorId::random())
        .view()
        .warnings
        .is_empty());
}

#[test]
fn live_tokens_are_safe_integers_in_javascript() {
    const MAX_SAFE: i64 = (1 << 53) - 1;
    for _ in 0..10_000 {
        let t = edit::live_token();
        assert!((1..=MAX_SAFE).contains(&t), "{t}");
    }
}

#[test]
fn warnings_are_bounded() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "L").unwrap();
    let items = doc.put_object(ROOT, "items", ObjType::Map).unwrap();
    for i in 0..500 {
        doc.put(&items, format!("k{i}").as_str(), i as i64).unwrap();
    }
    doc.commit();
    let view = ShoppingList::from_doc(doc.document().clone()).view();
    assert!(view.warnings.len() <= view::MAX_WARNINGS + 1);
    assert!(view.warnings.last().unwrap().contains("more"));
}

#[test]
fn edits_find_items_another_client_named_with_text() {
    let ctx = EditContext::now("t");
    let mut ours = ShoppingList::create(ActorId::random(), "L", &ctx).unwrap();
    ours.add_item("Bread", 1, &ctx).unwrap();
    // The foreign client adds Milk with Text strings and no `norm`.
    let mut theirs = AutoCommit::load(&ours.doc().save()).unwrap();
    theirs.set_actor(ActorId::random());
    let items = match theirs.get(ROOT, "items").unwrap() {
        Some((_, id)) => id,
        None => panic!("no items"),
    };
    let milk = theirs.put_object(&items, "m1", ObjType::Map).unwrap();
    put_text(&mut theirs, &milk, "name", "Milk");
    let needs = theirs.put_object(&milk, "needs", ObjType::Map).unwrap();
    theirs.put(&needs, "t", 2i64).unwrap();
    theirs.put(&milk, "live", 1i64).unwrap();
    theirs.commit();
    let change = theirs.get_last_local_change().unwrap().clone();
    // The index is current before the foreign change arrives.
    ours.buy_item("Bread", None, &ctx).unwrap();
    ours.apply_changes(vec![change]).unwrap();
    assert_eq!(ours.buy_item("milk", Some(1), &ctx).unwrap(), 1);
    let view = ours.view();
    assert_eq!(view.items.len(), 2, "{view:?}");
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
}
