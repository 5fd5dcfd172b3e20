//! Key handling of the interactive mode. Item keys (`b` `B` `U` `+` `x`)
//! act only when the items pane has the focus, on the item under the
//! cursor; destructive or surprising actions ask first (`x`, `D`, buying
//! more than needed), and `u` undoes this device's last edit on the list.
//! Esc only ever cancels; `q` (or Ctrl-C) quits.

use engine::store::Store;
use engine::ListId;

use super::prompt::PromptKind;
use super::state::{App, Focus, Net};

/// A key press, reduced to what the interactive mode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Backspace.
    Backspace,
    /// Up arrow.
    Up,
    /// Down arrow.
    Down,
    /// Left arrow.
    Left,
    /// Right arrow.
    Right,
    /// Tab.
    Tab,
    /// Delete.
    Delete,
    /// Ctrl-C.
    Interrupt,
}

/// What the main loop should do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Leave the interactive mode.
    Quit,
    /// Join this list in the background.
    Join(ListId),
}

impl App {
    /// Handle one key; edits go to `store`. The caller reloads afterwards.
    pub fn on_key(&mut self, key: Key, store: &mut Store) -> Flow {
        if key == Key::Interrupt {
            return Flow::Quit;
        }
        if let Some((kind, mut input)) = self.prompt.take() {
            if kind.is_confirmation() {
                return match key {
                    Key::Char('y') | Key::Char('Y') | Key::Enter => self.submit(kind, "y", store),
                    _ => {
                        self.message = "cancelled".into();
                        Flow::Continue
                    }
                };
            }
            match key {
                Key::Enter => return self.submit(kind, &input, store),
                Key::Esc => self.message = "cancelled".into(),
                Key::Backspace => {
                    input.pop();
                    self.prompt = Some((kind, input));
                }
                Key::Char(c) => {
                    input.push(c);
                    self.prompt = Some((kind, input));
                }
                _ => self.prompt = Some((kind, input)),
            }
            return Flow::Continue;
        }
        if self.help {
            self.help = false;
            return Flow::Continue;
        }
        self.on_command_key(key, store)
    }

    fn need_list(&mut self) -> bool {
        if self.selected_list().is_none() {
            self.message = "no list yet: press n to create one, J to join one".into();
            false
        } else {
            true
        }
    }

    /// The selected item's name, if the items pane has the focus.
    fn item_in_focus(&mut self) -> Option<String> {
        if self.focus != Focus::Items {
            self.message =
                "Tab to the items pane first (item keys act on the selected item)".into();
            return None;
        }
        match self.selected_item() {
            Some(i) => Some(i.name.clone()),
            None => {
                self.message = "no item here: press a to add one".into();
                None
            }
        }
    }

    fn ask(&mut self, kind: PromptKind) {
        self.prompt = Some((kind, String::new()));
    }

    fn on_command_key(&mut self, key: Key, store: &mut Store) -> Flow {
        match key {
            Key::Char('q') => return Flow::Quit,
            Key::Esc => self.message = "press q to quit".into(),
            Key::Char('?') => self.help = true,
            Key::Up | Key::Char('k') => self.move_sel(false),
            Key::Down | Key::Char('j') => self.move_sel(true),
            Key::Tab | Key::Left | Key::Right | Key::Char('h') | Key::Char('l') => {
                self.focus = match self.focus {
                    Focus::Lists => Focus::Items,
                    Focus::Items => Focus::Lists,
                }
            }
            Key::Enter if self.focus == Focus::Lists => self.focus = Focus::Items,
            Key::Char('n') => self.ask(PromptKind::NewList),
            Key::Char('J') => self.ask(PromptKind::Join),
            Key::Char('a') if self.need_list() => self.ask(PromptKind::AddItem),
            Key::Char('r') if self.need_list() => {
                let name = self
                    .current
                    .as_ref()
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                self.prompt = Some((PromptKind::Rename, name));
            }
            Key::Char('s') if self.need_list() => {
                if let Some(c) = &self.current {
                    self.message = if c.pending > 0 && self.net != Net::Online {
                        format!(
                            "share: {} (works for others once this device is online and has synced the list)",
                            c.url
                        )
                    } else {
                        format!("share: {}", c.url)
                    };
                }
            }
            Key::Char('u') if self.need_list() => self.undo(store),
            Key::Char('H') => {
                self.hide_bought = !self.hide_bought;
                self.message = if self.hide_bought {
                    "bought items hidden (H shows them)".into()
                } else {
                    "bought items shown".into()
                };
            }
            Key::Char('A') if self.need_list() => self.toggle_archive(store),
            Key::Char('D') if self.need_list() => {
                if let Some(l) = self.lists.get(self.list_sel) {
                    self.ask(PromptKind::ConfirmDelete {
                        name: l.name.clone(),
                        pending: l.pending,
                    });
                }
            }
            Key::Char('+') => {
                if let Some(name) = self.item_in_focus() {
                    self.plus_one(&name, store);
                }
            }
            Key::Char('b') => {
                if let Some(name) = self.item_in_focus() {
                    self.buy(&name, None, store);
                }
            }
            Key::Char('B') => {
                if let Some(name) = self.item_in_focus() {
                    self.ask(PromptKind::BuyQty(name));
                }
            }
            Key::Char('U') => {
                if let Some(name) = self.item_in_focus() {
                    self.ask(PromptKind::UnbuyQty(name));
                }
            }
            Key::Char('x') | Key::Delete => {
                if let Some(name) = self.item_in_focus() {
                    self.ask(PromptKind::ConfirmRemove(name));
                }
            }
            _ => {}
        }
        Flow::Continue
    }

    fn plus_one(&mut self, name: &str, store: &mut Store) {
        let Some(id) = self.selected_list() else {
            return;
        };
        let ctx = self.ctx();
        self.message = match store.edit(id, |l| l.add_item(name, 1, &ctx)) {
            Ok(()) => {
                let now = store
                    .view(id)
                    .ok()
                    .and_then(|v| {
                        v.items
                            .into_iter()
                            .find(|i| i.key == engine::list::normalize(name))
                    })
                    .map(|i| i.needed)
                    .unwrap_or(0);
                format!("need one more {name} ({now} in all)")
            }
            Err(e) => format!("error: {e}"),
        };
    }

    /// Buy `qty` (all still needed when `None`) of `name`; more than needed
    /// asks first.
    pub(super) fn buy(&mut self, name: &str, qty: Option<i64>, store: &mut Store) {
        let Some(id) = self.selected_list() else {
            return;
        };
        let still = self
            .items()
            .iter()
            .find(|i| i.name == name)
            .map(|i| (i.needed - i.acquired).max(0))
            .unwrap_or(0);
        if let Some(q) = qty.filter(|q| *q > still) {
            self.prompt = Some((
                PromptKind::ConfirmOverbuy {
                    name: name.to_string(),
                    qty: q,
                    beyond: q - still,
                },
                String::new(),
            ));
            return;
        }
        self.buy_now(id, name, qty, store);
    }

    /// The still-needed item a shopper goes on with after `name` is done:
    /// the next one below it, else the one above.
    fn next_needed(&self, name: &str) -> Option<String> {
        let items = self.items();
        let pos = items.iter().position(|i| i.name == name)?;
        let needed = |i: &&&crate::output::ItemDoc| !i.done && i.name != name;
        items[pos + 1..]
            .iter()
            .find(needed)
            .or_else(|| items[..pos].iter().rev().find(needed))
            .map(|i| i.name.clone())
    }

    pub(super) fn buy_now(&mut self, id: ListId, name: &str, qty: Option<i64>, store: &mut Store) {
        let ctx = self.ctx();
        let still = self
            .items()
            .iter()
            .find(|i| i.name == name)
            .map(|i| (i.needed - i.acquired).max(0))
            .unwrap_or(0);
        let next = self.next_needed(name);
        let result = store.edit(id, |l| l.buy(name, qty, &ctx));
        let completes = matches!(&result, Ok(b) if b.qty > 0 && b.qty >= still);
        if let (true, Some(next)) = (completes, &next) {
            // Done: it sinks to the bought section; the cursor goes on to
            // the next item still needed instead of following it.
            self.follow(next);
        }
        self.message = match result {
            Ok(b) if completes && next.is_none() => format!(
                "bought {} × {name}: everything on the list is bought · u undoes",
                b.qty
            ),
            Ok(b) if b.qty == 0 => format!("{name}: nothing still needed"),
            Ok(b) if b.beyond_needed > 0 => format!(
                "bought {} × {name} ({} more than needed) · u undoes",
                b.qty, b.beyond_needed
            ),
            Ok(b) => format!("bought {} × {name} · u undoes", b.qty),
            Err(e) => format!("error: {e}"),
        };
    }

    fn undo(&mut self, store: &mut Store) {
        let Some(id) = self.selected_list() else {
            return;
        };
        let ctx = self.ctx();
        let before: Vec<String> = self.items().iter().map(|i| i.name.clone()).collect();
        self.message = match store.edit(id, |l| l.undo_last(&ctx)) {
            Ok(u) => {
                // An item the undo brought back (a removal undone) gets the cursor.
                let back = store.view(id).ok().and_then(|v| {
                    v.items
                        .into_iter()
                        .find(|i| !before.contains(&i.name))
                        .map(|i| i.name)
                });
                if let Some(name) = back {
                    self.follow(&name);
                }
                format!("undid \"{}\"", u.what)
            }
            Err(e) => format!("{e}"),
        };
    }

    fn toggle_archive(&mut self, store: &mut Store) {
        let Some(row) = self.lists.get(self.list_sel).cloned() else {
            return;
        };
        self.message = match store.set_archived(row.id, !row.archived) {
            Ok(()) if row.archived => format!("{} unarchived", row.name),
            Ok(()) => format!(
                "{} archived: hidden from `shoplist ls`, still syncing (A again unarchives)",
                row.name
            ),
            Err(e) => format!("error: {e}"),
        };
    }
}
