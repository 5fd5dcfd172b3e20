//! The interactive mode's key handling, driven without a terminal, and
//! issue 12's TUI defects 1, 2, 3 and 8, one test each.

use engine::list::EditContext;
use engine::store::Store;
use tempfile::TempDir;

use super::*;

fn typed(app: &mut App, store: &mut Store, keys: &str) {
    for c in keys.chars() {
        let k = match c {
            '\n' => Key::Enter,
            '\t' => Key::Tab,
            '\x1b' => Key::Esc,
            c => Key::Char(c),
        };
        assert_eq!(app.on_key(k, store), Flow::Continue, "key {c:?}");
        app.reload(store).unwrap();
    }
}

fn setup() -> (TempDir, Store, App) {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    let mut app = App::new("ann".into());
    let mut s = store;
    app.reload(&mut s).unwrap();
    (dir, s, app)
}

fn counts(app: &App, name: &str) -> Option<(i64, i64)> {
    app.items()
        .iter()
        .find(|i| i.name == name)
        .map(|i| (i.acquired, i.needed))
}

#[test]
fn create_add_buy_remove_rename_through_keys() {
    let (_dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "nGroceries\n");
    assert_eq!(app.lists.len(), 1);
    assert_eq!(app.lists[0].name, "Groceries");
    typed(&mut app, &mut store, "aoat milk x3\n");
    typed(&mut app, &mut store, "abread\n");
    let names: Vec<&str> = app.items().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["bread", "oat milk"]);
    // Items pane, second item: buy 2 of 3, then one more needed.
    typed(&mut app, &mut store, "\tjB2\n+");
    assert_eq!(counts(&app, "oat milk"), Some((2, 4)));
    assert!(
        app.message.contains("one more oat milk (4"),
        "{}",
        app.message
    );
    typed(&mut app, &mut store, "b");
    assert!(
        app.message.starts_with("bought 2 × oat milk"),
        "{}",
        app.message
    );
    // Bought, it sank below bread; the cursor went on to the item still
    // needed.
    assert_eq!(app.selected_item().unwrap().name, "bread");
    typed(&mut app, &mut store, "xy");
    assert_eq!(app.items().len(), 1);
    assert!(app.message.contains("removed bread"), "{}", app.message);
    app.on_key(Key::Char('r'), &mut store);
    for _ in 0.."Groceries".len() {
        app.on_key(Key::Backspace, &mut store);
    }
    typed(&mut app, &mut store, "Food\n");
    assert_eq!(app.lists[0].name, "Food");
    assert_eq!(app.on_key(Key::Char('q'), &mut store), Flow::Quit);
}

/// Defect 1: the selection follows the item, not the row number, when
/// another device's edit inserts a row above it.
#[test]
fn selection_follows_the_item_when_others_add_above_it() {
    let (dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "nL\n");
    for i in 1..=9 {
        typed(&mut app, &mut store, &format!("aitem{i}\n"));
    }
    typed(&mut app, &mut store, "\tjjjjjjj");
    assert_eq!(app.selected_item().unwrap().name, "item8");
    // Another device's edit lands in the store (as the watcher would apply it).
    let mut other = Store::open(dir.path().join("db")).unwrap();
    let id = app.selected_list().unwrap();
    other
        .edit(id, |l| l.add_item("aab", 1, &EditContext::now("bob")))
        .unwrap();
    app.reload(&mut store).unwrap();
    assert_eq!(app.selected_item().unwrap().name, "item8");
    typed(&mut app, &mut store, "b");
    assert_eq!(counts(&app, "item8"), Some((1, 1)));
    assert_eq!(counts(&app, "item7"), Some((0, 1)));
    // When the selected item disappears, the cursor stays in place.
    other
        .edit(id, |l| l.remove_item("item8", &EditContext::now("bob")))
        .unwrap();
    app.reload(&mut store).unwrap();
    assert!(app.selected_item().is_some());
}

/// Defect 2: item keys do nothing while the lists pane has the focus.
#[test]
fn item_keys_need_the_items_pane() {
    let (_dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "nL\namilk x2\n");
    assert_eq!(app.focus, Focus::Lists);
    typed(&mut app, &mut store, "b+x");
    assert_eq!(counts(&app, "milk"), Some((0, 2)));
    assert!(app.prompt.is_none());
    assert!(app.message.contains("Tab to the items"), "{}", app.message);
}

/// Defect 3: removal asks first and says what it did; `u` undoes; buying
/// more than needed asks; `U` un-buys.
#[test]
fn mistakes_can_be_undone() {
    let (_dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "nL\nacups\nanapkins x2\n\tj");
    typed(&mut app, &mut store, "x");
    assert_eq!(
        app.prompt.as_ref().map(|p| p.0.label()),
        Some("Remove napkins from the list? y/n".to_string())
    );
    typed(&mut app, &mut store, "n");
    assert_eq!(counts(&app, "napkins"), Some((0, 2)));
    typed(&mut app, &mut store, "xy");
    assert_eq!(counts(&app, "napkins"), None);
    assert_eq!(app.message, "removed napkins · u undoes");
    assert_eq!(app.selected_item().unwrap().name, "cups");
    typed(&mut app, &mut store, "u");
    assert_eq!(counts(&app, "napkins"), Some((0, 2)));
    assert!(app.message.contains("undid"), "{}", app.message);
    assert_eq!(
        app.selected_item().unwrap().name,
        "napkins",
        "the cursor is on it again"
    );
    // Over-buying asks; "n" leaves it; "y" records it.
    typed(&mut app, &mut store, "B10\n");
    assert!(
        app.prompt
            .as_ref()
            .map(|p| p.0.label())
            .unwrap_or_default()
            .contains("8 more than needed"),
        "{:?}",
        app.prompt
    );
    typed(&mut app, &mut store, "n");
    assert_eq!(counts(&app, "napkins"), Some((0, 2)));
    typed(&mut app, &mut store, "B10\ny");
    assert_eq!(counts(&app, "napkins"), Some((10, 2)));
    // Done, napkins sank; the cursor went on to cups. Back down to napkins.
    assert_eq!(app.selected_item().unwrap().name, "cups");
    typed(&mut app, &mut store, "jU8\n");
    assert_eq!(counts(&app, "napkins"), Some((2, 2)));
    typed(&mut app, &mut store, "u");
    assert_eq!(counts(&app, "napkins"), Some((10, 2)));
}

/// On a shopping trip, `b` moves the cursor on to the next item still
/// needed (the bought one sinks out of the way).
#[test]
fn buying_moves_on_to_the_next_needed_item() {
    let (_dir, mut store, mut app) = setup();
    typed(
        &mut app,
        &mut store,
        "nL
aa
ab
ac
	",
    );
    assert_eq!(app.selected_item().unwrap().name, "a");
    typed(&mut app, &mut store, "b");
    assert_eq!(app.selected_item().unwrap().name, "b");
    typed(&mut app, &mut store, "jb");
    assert_eq!(app.selected_item().unwrap().name, "b");
    typed(&mut app, &mut store, "b");
    assert!(app.items().iter().all(|i| i.done));
    assert!(
        app.message.contains("everything on the list is bought"),
        "{}",
        app.message
    );
}

/// Defect 8: quick-add keeps numbers in names; Esc never quits; a bad
/// quantity keeps the prompt and its text; the B prompt names the item.
#[test]
fn input_is_handled_like_a_person_expects() {
    let (_dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "nL\naDiapers size 4\n");
    assert_eq!(counts(&app, "Diapers size 4"), Some((0, 1)));
    typed(&mut app, &mut store, "\x1b");
    typed(&mut app, &mut store, "a\x1b\x1b");
    assert!(app.prompt.is_none());
    typed(&mut app, &mut store, "\tBtwo\n");
    let (kind, text) = app.prompt.clone().unwrap();
    assert_eq!(kind, PromptKind::BuyQty("Diapers size 4".into()));
    assert!(kind.label().contains("Diapers size 4"), "{}", kind.label());
    assert_eq!(text, "two");
    assert!(app.message.starts_with("error"), "{}", app.message);
    assert_eq!(app.on_key(Key::Esc, &mut store), Flow::Continue);
    assert_eq!(app.on_key(Key::Esc, &mut store), Flow::Continue);
}

#[test]
fn bad_input_leaves_a_message_and_changes_nothing() {
    let (_dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "a");
    assert!(app.message.contains("no list"), "{}", app.message);
    typed(&mut app, &mut store, "nL\n\tBxyz\n");
    assert!(
        app.message.contains("error") || app.message.contains("item"),
        "{}",
        app.message
    );
    typed(&mut app, &mut store, "\x1bJ");
    typed(&mut app, &mut store, "not a url\n");
    assert!(app.message.starts_with("error"), "{}", app.message);
    assert_eq!(store.list_ids().unwrap().len(), 1);
}

#[test]
fn item_input_takes_an_explicit_quantity_and_category() {
    let q = |s: &str| parse_item_input(s).map(|q| (q.name, q.qty, q.category));
    assert_eq!(q("milk x2"), Ok(("milk".into(), 2, None)));
    assert_eq!(
        q("milk ×3 #dairy"),
        Ok(("milk".into(), 3, Some("dairy".into())))
    );
    assert_eq!(q(" oat  milk "), Ok(("oat milk".into(), 1, None)));
    assert_eq!(q("Diapers size 4"), Ok(("Diapers size 4".into(), 1, None)));
    assert_eq!(q("7"), Ok(("7".into(), 1, None)));
    assert_eq!(q("x2"), Ok(("x2".into(), 1, None)));
    assert!(parse_item_input("  ").is_err());
    assert!(parse_item_input("milk x0").is_err());
}

/// Defect 6 in the TUI: offline, the share URL comes with when it works.
#[test]
fn sharing_offline_says_when_the_url_works() {
    let (_dir, mut store, mut app) = setup();
    app.net = Net::Offline;
    typed(
        &mut app, &mut store, "nL
s",
    );
    assert!(
        app.message.contains("once this device is online"),
        "{}",
        app.message
    );
    app.net = Net::Online;
    typed(&mut app, &mut store, "s");
    assert!(
        app.message.starts_with("share: shoplist://list/"),
        "{}",
        app.message
    );
    assert!(!app.message.contains("once"), "{}", app.message);
}

/// Deliverable 3 in the TUI: delete asks first; archive toggles.
#[test]
fn lists_are_deleted_after_confirmation_and_archived() {
    let (_dir, mut store, mut app) = setup();
    typed(&mut app, &mut store, "nA\nnB\n");
    typed(&mut app, &mut store, "A");
    assert!(app.lists.iter().any(|l| l.name == "B" && l.archived));
    typed(&mut app, &mut store, "D");
    assert!(app
        .prompt
        .as_ref()
        .unwrap()
        .0
        .label()
        .contains("Delete \"B\""));
    typed(&mut app, &mut store, "y");
    assert_eq!(app.lists.len(), 1);
    assert_eq!(store.list_ids().unwrap().len(), 1);
}
