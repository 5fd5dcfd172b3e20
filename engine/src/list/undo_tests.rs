//! Undo, un-buy and the shopping details (issue 12, deliverables 2 and 4).

use automerge::ActorId;

use super::super::*;

fn ctx(by: &str) -> EditContext {
    EditContext {
        by: by.into(),
        now_ms: 1_700_000_000_000,
    }
}

fn qty(l: &ShoppingList, name: &str) -> Option<(i64, i64)> {
    l.view()
        .items
        .into_iter()
        .find(|i| i.key == normalize(name))
        .map(|i| (i.acquired, i.needed))
}

fn fork(l: &ShoppingList) -> ShoppingList {
    ShoppingList::from_doc(l.doc().fork().with_actor(ActorId::random()))
}

fn merge(a: &mut ShoppingList, b: &mut ShoppingList) {
    let mut bd = b.doc().clone();
    a.doc_mut().merge(&mut bd).unwrap();
    let mut ad = a.doc().clone();
    b.doc_mut().merge(&mut ad).unwrap();
    assert_eq!(a.view(), b.view());
}

#[test]
fn undo_walks_back_through_this_devices_edits() {
    let c = ctx("ann");
    let mut l = ShoppingList::create(ActorId::random(), "L", &c).unwrap();
    l.add_item("Milk", 2, &c).unwrap();
    l.buy_item("milk", Some(10), &c).unwrap();
    assert_eq!(qty(&l, "milk"), Some((10, 2)));
    let u = l.undo_last(&c).unwrap();
    assert_eq!(u.what, "bought 10 × milk");
    assert_eq!(qty(&l, "milk"), Some((0, 2)));
    l.undo_last(&c).unwrap();
    assert_eq!(qty(&l, "milk"), None, "undoing the add takes it off");
    assert_eq!(l.undo_last(&c), Err(ListError::NothingToUndo));
    // Adding it again afterwards works on the same product.
    l.add_item("milk", 1, &c).unwrap();
    assert_eq!(qty(&l, "milk"), Some((0, 1)));
}

#[test]
fn undo_of_a_removal_brings_the_item_back_with_its_quantities() {
    let c = ctx("ann");
    let mut l = ShoppingList::create(ActorId::random(), "L", &c).unwrap();
    l.add_item("Napkins", 3, &c).unwrap();
    l.buy_item("napkins", Some(1), &c).unwrap();
    l.remove_item("napkins", &c).unwrap();
    assert_eq!(qty(&l, "napkins"), None);
    assert_eq!(l.undo_last(&c).unwrap().what, "removed napkins");
    assert_eq!(qty(&l, "napkins"), Some((1, 3)));
    let names = l.view().items[0].bought_by.clone();
    assert_eq!(names, vec!["ann".to_string()]);
    // Walking further back after an undo of the removal: the buy, the add.
    assert_eq!(l.undo_last(&c).unwrap().what, "bought 1 × napkins");
    assert_eq!(qty(&l, "napkins"), Some((0, 3)));
    assert_eq!(l.undo_last(&c).unwrap().what, "add 3 × Napkins");
    assert_eq!(qty(&l, "napkins"), None);
}

#[test]
fn undo_of_a_rename_restores_the_name() {
    let c = ctx("ann");
    let mut l = ShoppingList::create(ActorId::random(), "Weekly", &c).unwrap();
    l.rename("Party", &c).unwrap();
    l.undo_last(&c).unwrap();
    assert_eq!(l.view().name, "Weekly");
}

/// Undo is a change like any other: it merges with a concurrent edit, and
/// only reverts this device's own edit (Bob's add stays).
#[test]
fn undo_merges_like_any_edit_and_keeps_others_edits() {
    let mut a = ShoppingList::create(ActorId::random(), "L", &ctx("a")).unwrap();
    a.add_item("Eggs", 6, &ctx("a")).unwrap();
    let mut b = fork(&a);
    b.add_item("eggs", 6, &ctx("b")).unwrap();
    a.undo_last(&ctx("a")).unwrap(); // concurrent with Bob's add
    merge(&mut a, &mut b);
    assert_eq!(qty(&a, "eggs"), Some((0, 6)));
    // Bob undoes only his own edit, even after seeing Ann's undo.
    b.undo_last(&ctx("b")).unwrap();
    merge(&mut a, &mut b);
    assert_eq!(qty(&a, "eggs"), None);
}

/// A later write by someone else wins over undoing an earlier one.
#[test]
fn undo_does_not_override_a_later_write() {
    let mut a = ShoppingList::create(ActorId::random(), "Weekly", &ctx("a")).unwrap();
    a.rename("Party", &ctx("a")).unwrap();
    let mut b = fork(&a);
    b.rename("Picnic", &ctx("b")).unwrap();
    merge(&mut a, &mut b);
    a.undo_last(&ctx("a")).unwrap();
    assert_eq!(a.view().name, "Picnic");
    // The undo was recorded, so the next one goes further back.
    assert_eq!(a.undo_last(&ctx("a")), Err(ListError::NothingToUndo));
}

#[test]
fn unbuy_takes_back_what_was_bought_but_never_below_zero() {
    let c = ctx("ann");
    let mut l = ShoppingList::create(ActorId::random(), "L", &c).unwrap();
    l.add_item("Milk", 2, &c).unwrap();
    assert_eq!(
        l.unbuy_item("milk", None, &c),
        Err(ListError::NothingBought("milk".into()))
    );
    let b = l.buy("milk", Some(3), &c).unwrap();
    assert_eq!((b.qty, b.beyond_needed), (3, 1));
    assert_eq!(l.unbuy_item("milk", Some(1), &c), Ok(1));
    assert_eq!(qty(&l, "milk"), Some((2, 2)));
    assert_eq!(l.unbuy_item("milk", Some(99), &c), Ok(2));
    assert_eq!(qty(&l, "milk"), Some((0, 2)));
    assert!(l.view().items[0].bought_by.is_empty());
}

/// Concurrent un-buys add up like buys (they are contributions too).
#[test]
fn concurrent_unbuys_sum() {
    let mut a = ShoppingList::create(ActorId::random(), "L", &ctx("a")).unwrap();
    a.add_item("Milk", 2, &ctx("a")).unwrap();
    a.buy_item("milk", None, &ctx("a")).unwrap();
    let mut b = fork(&a);
    a.unbuy_item("milk", Some(1), &ctx("a")).unwrap();
    b.unbuy_item("milk", Some(1), &ctx("b")).unwrap();
    merge(&mut a, &mut b);
    assert_eq!(qty(&a, "milk"), Some((0, 2)));
}

#[test]
fn category_note_and_buyers_are_on_the_item() {
    let mut a = ShoppingList::create(ActorId::random(), "L", &ctx("ann")).unwrap();
    let details = ItemDetails {
        category: Some("dairy".into()),
        note: Some("lactose-free, 1 L".into()),
    };
    a.add_item_with("Milk", 2, &details, &ctx("ann")).unwrap();
    let mut b = fork(&a);
    a.buy_item("milk", Some(1), &ctx("ann")).unwrap();
    b.buy_item("milk", Some(1), &ctx("bob")).unwrap();
    merge(&mut a, &mut b);
    let milk = a.view().items[0].clone();
    assert_eq!(milk.category.as_deref(), Some("dairy"));
    assert_eq!(milk.note.as_deref(), Some("lactose-free, 1 L"));
    let mut by = milk.bought_by.clone();
    by.sort();
    assert_eq!(by, vec!["ann".to_string(), "bob".to_string()]);
    // An empty detail clears it; `None` leaves it.
    let clear = ItemDetails {
        category: Some(String::new()),
        note: None,
    };
    a.add_item_with("milk", 1, &clear, &ctx("ann")).unwrap();
    let milk = a.view().items[0].clone();
    assert_eq!((milk.category, milk.note.is_some()), (None, true));
}

#[test]
fn accent_and_case_variants_are_one_product() {
    let c = ctx("ann");
    let mut l = ShoppingList::create(ActorId::random(), "L", &c).unwrap();
    l.add_item("Crème fraîche", 1, &c).unwrap();
    l.add_item("creme fraiche", 1, &c).unwrap();
    let v = l.view();
    assert_eq!(v.items.len(), 1, "{v:?}");
    assert_eq!(
        (v.items[0].name.as_str(), v.items[0].needed),
        ("Crème fraîche", 2)
    );
}
