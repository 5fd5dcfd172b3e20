//! Snapshot tests of the screens that matter, rendered on ratatui's
//! `TestBackend` (issue 12 deliverable 1): the shopping view with
//! categories, notes and who bought what; the cursor staying on its item
//! when another device adds one above it; the removal confirmation; the
//! un-named-no-more `B` prompt; bought items hidden.

use engine::list::{EditContext, ItemDetails};
use engine::store::Store;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tempfile::TempDir;

use super::draw::draw;
use super::keys::Key;
use super::state::App;

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(100, 18)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    t.backend().to_string()
}

fn keys(app: &mut App, store: &mut Store, keys: &str) {
    for c in keys.chars() {
        let k = match c {
            '\n' => Key::Enter,
            '\t' => Key::Tab,
            c => Key::Char(c),
        };
        app.on_key(k, store);
        app.reload(store).unwrap();
    }
}

/// A family list: categories, a note, two buyers.
fn family_list() -> (TempDir, Store, App) {
    let dir = TempDir::new().unwrap();
    let mut store = Store::open(dir.path().join("db")).unwrap();
    let ann = EditContext {
        by: "ann".into(),
        now_ms: 1_700_000_000_000,
    };
    let bob = EditContext {
        by: "bob".into(),
        now_ms: 1_700_000_000_000,
    };
    let id = store.create_list("Weekly groceries", &ann).unwrap();
    let cat = |c: &str, n: Option<&str>| ItemDetails {
        category: Some(c.into()),
        note: n.map(String::from),
    };
    store
        .edit(id, |l| {
            l.add_item_with("Milk", 2, &cat("dairy", Some("lactose-free, 1 L")), &ann)
        })
        .unwrap();
    store
        .edit(id, |l| {
            l.add_item_with("🧀 Cheese", 1, &cat("dairy", None), &ann)
        })
        .unwrap();
    store
        .edit(id, |l| {
            l.add_item_with("Apples", 6, &cat("fruit", None), &bob)
        })
        .unwrap();
    for name in ["item10", "item2", "Diapers size 4"] {
        store.edit(id, |l| l.add_item(name, 1, &ann)).unwrap();
    }
    store
        .edit(id, |l| {
            l.add_item_with("Bread", 1, &cat("bakery", None), &bob)
        })
        .unwrap();
    store.edit(id, |l| l.buy_item("bread", None, &bob)).unwrap();
    let mut app = App::new("ann".into());
    app.color = false;
    app.net = super::state::Net::Online;
    app.reload(&mut store).unwrap();
    (dir, store, app)
}

#[test]
fn shopping_view_screen() {
    let (_dir, mut store, mut app) = family_list();
    keys(&mut app, &mut store, "\tj");
    insta::assert_snapshot!(screen(&app));
}

/// Defect 1 on screen: the cursor stays on "Milk" when another device adds
/// "Butter" above it.
#[test]
fn cursor_stays_on_its_item_screen() {
    let (dir, mut store, mut app) = family_list();
    keys(&mut app, &mut store, "\t");
    assert_eq!(app.selected_item().unwrap().name, "Milk");
    let mut other = Store::open(dir.path().join("db")).unwrap();
    let id = app.selected_list().unwrap();
    let details = ItemDetails {
        category: Some("dairy".into()),
        note: None,
    };
    other
        .edit(id, |l| {
            l.add_item_with("Butter", 1, &details, &EditContext::now("bob"))
        })
        .unwrap();
    app.reload(&mut store).unwrap();
    assert_eq!(app.selected_item().unwrap().name, "Milk");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn remove_confirmation_screen() {
    let (_dir, mut store, mut app) = family_list();
    keys(&mut app, &mut store, "\tx");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn buy_prompt_names_the_item_screen() {
    let (_dir, mut store, mut app) = family_list();
    keys(&mut app, &mut store, "\tjjB");
    insta::assert_snapshot!(screen(&app));
}

#[test]
fn bought_items_hidden_screen() {
    let (_dir, mut store, mut app) = family_list();
    keys(&mut app, &mut store, "\tH");
    insta::assert_snapshot!(screen(&app));
}

/// The last item bought with bought items hidden: the pane says so
/// instead of looking empty.
#[test]
fn everything_bought_screen() {
    let (_dir, mut store, mut app) = family_list();
    keys(&mut app, &mut store, "\tH");
    for _ in 0..app.items().len() {
        keys(&mut app, &mut store, "b");
    }
    assert!(app.items().is_empty());
    insta::assert_snapshot!(screen(&app));
}
