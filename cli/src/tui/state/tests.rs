//! The interactive mode's key handling, driven without a terminal.

use engine::store::Store;
use tempfile::TempDir;

use super::*;

fn typed(app: &mut App, store: &mut Store, keys: &str) {
    for c in keys.chars() {
        let k = match c {
            '\n' => Key::Enter,
            '\t' => Key::Tab,
            c => Key::Char(c),
        };
        assert_eq!(app.on_key(k, store), Flow::Continue);
        app.reload(store).unwrap();
    }
}

#[test]
fn create_add_buy_remove_rename_through_keys() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path().join("db")).unwrap();
    let mut app = App::new("ann".into());
    app.reload(&mut store).unwrap();
    typed(&mut app, &mut store, "nGroceries\n");
    assert_eq!(app.lists.len(), 1);
    assert_eq!(app.lists[0].name, "Groceries");
    typed(&mut app, &mut store, "aoat milk 3\n");
    typed(&mut app, &mut store, "abread\n");
    let items = &app.current.as_ref().unwrap().items;
    assert_eq!((items[0].name.as_str(), items[0].needed), ("bread", 1));
    assert_eq!((items[1].name.as_str(), items[1].needed), ("oat milk", 3));
    // Items pane, second item: buy 2 of 3, then one more needed.
    typed(&mut app, &mut store, "\tjB2\n+");
    let milk = &app.current.as_ref().unwrap().items[1];
    assert_eq!((milk.acquired, milk.needed), (2, 4));
    typed(&mut app, &mut store, "b");
    assert!(app.current.as_ref().unwrap().items[1].done);
    typed(&mut app, &mut store, "kx");
    assert_eq!(app.current.as_ref().unwrap().items.len(), 1);
    app.on_key(Key::Char('r'), &mut store);
    for _ in 0.."Groceries".len() {
        app.on_key(Key::Backspace, &mut store);
    }
    typed(&mut app, &mut store, "Food\n");
    assert_eq!(app.lists[0].name, "Food");
    assert_eq!(app.on_key(Key::Char('q'), &mut store), Flow::Quit);
}

#[test]
fn bad_input_leaves_a_message_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path().join("db")).unwrap();
    let mut app = App::new("ann".into());
    typed(&mut app, &mut store, "a");
    assert!(app.message.contains("no list"), "{}", app.message);
    typed(&mut app, &mut store, "nL\n\tBxyz\n");
    assert!(
        app.message.contains("error") || app.message.contains("select"),
        "{}",
        app.message
    );
    typed(&mut app, &mut store, "J");
    typed(&mut app, &mut store, "not a url\n");
    assert!(app.message.starts_with("error"), "{}", app.message);
    assert_eq!(store.list_ids().unwrap().len(), 1);
}

#[test]
fn item_input_splits_a_trailing_quantity() {
    assert_eq!(parse_item_input("milk 2"), Ok(("milk".into(), 2)));
    assert_eq!(parse_item_input(" oat  milk "), Ok(("oat milk".into(), 1)));
    assert_eq!(parse_item_input("7"), Ok(("7".into(), 1)));
    assert!(parse_item_input("  ").is_err());
}
