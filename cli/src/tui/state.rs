//! The interactive mode's state and key handling, without a terminal: keys
//! come in as [`Key`], edits go to the [`Store`], and [`App`] holds what
//! [`super::draw`] shows. Tested with an in-memory key sequence.

use engine::list::EditContext;
use engine::store::Store;
use engine::ListId;

use crate::output::{ItemDoc, ShowDoc};

pub use super::prompt::{parse_item_input, PromptKind};

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

/// Which pane has the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The lists pane.
    Lists,
    /// The items pane.
    Items,
}

/// Connection state shown in the title bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    /// Not yet known.
    Connecting,
    /// Syncing live.
    Online,
    /// The cloud is unreachable; editing works locally.
    Offline,
}

/// A list in the lists pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// Id.
    pub id: ListId,
    /// Name.
    pub name: String,
    /// Items / done items.
    pub items: usize,
    /// Done items.
    pub done: usize,
    /// Unsynced edits.
    pub pending: usize,
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

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    /// Author recorded in edits.
    pub author: String,
    /// Lists, oldest first.
    pub lists: Vec<ListRow>,
    /// Selected list index.
    pub list_sel: usize,
    /// The selected list.
    pub current: Option<ShowDoc>,
    /// Selected item index.
    pub item_sel: usize,
    /// Focused pane.
    pub focus: Focus,
    /// Open prompt and its input.
    pub prompt: Option<(PromptKind, String)>,
    /// Connection state.
    pub net: Net,
    /// Last message for the user.
    pub message: String,
    /// Whether the help overlay is shown.
    pub help: bool,
    /// A list to select at the next reload (just created or joined).
    select_next: Option<ListId>,
}

impl App {
    /// A fresh state; call [`App::reload`] before drawing.
    pub fn new(author: String) -> Self {
        App {
            author,
            lists: Vec::new(),
            list_sel: 0,
            current: None,
            item_sel: 0,
            focus: Focus::Lists,
            prompt: None,
            net: Net::Connecting,
            message: "Press ? for help".into(),
            help: false,
            select_next: None,
        }
    }

    /// The selected list's id.
    pub fn selected_list(&self) -> Option<ListId> {
        self.lists.get(self.list_sel).map(|l| l.id)
    }

    /// The selected item.
    pub fn selected_item(&self) -> Option<&ItemDoc> {
        self.current
            .as_ref()
            .and_then(|c| c.items.get(self.item_sel))
    }

    /// Re-read everything from the store (cheap: lists are cached and
    /// caught up with other processes' commits).
    pub fn reload(&mut self, store: &mut Store) -> Result<(), String> {
        let ids = store.list_ids().map_err(|e| e.to_string())?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let v = store.view(id).map_err(|e| e.to_string())?;
            rows.push(ListRow {
                id,
                items: v.items.len(),
                done: v.items.iter().filter(|i| i.done).count(),
                name: v.name,
                pending: store.pending(id).unwrap_or(0),
            });
        }
        let keep = self.select_next.take().or(self.selected_list());
        self.lists = rows;
        if let Some(pos) = keep.and_then(|k| self.lists.iter().position(|l| l.id == k)) {
            self.list_sel = pos;
        }
        self.list_sel = self.list_sel.min(self.lists.len().saturating_sub(1));
        self.current = match self.selected_list() {
            Some(id) => {
                let view = store.view(id).map_err(|e| e.to_string())?;
                Some(ShowDoc::new(id, view, store.pending(id).unwrap_or(0)))
            }
            None => None,
        };
        let n = self.current.as_ref().map_or(0, |c| c.items.len());
        self.item_sel = self.item_sel.min(n.saturating_sub(1));
        Ok(())
    }

    /// Select `id` at the next reload.
    pub fn focus_list(&mut self, id: ListId) {
        self.select_next = Some(id);
        self.focus = Focus::Lists;
    }

    pub(super) fn ctx(&self) -> EditContext {
        EditContext::now(self.author.clone())
    }

    fn move_sel(&mut self, down: bool) {
        let (sel, len) = match self.focus {
            Focus::Lists => (&mut self.list_sel, self.lists.len()),
            Focus::Items => (
                &mut self.item_sel,
                self.current.as_ref().map_or(0, |c| c.items.len()),
            ),
        };
        if down {
            if *sel + 1 < len {
                *sel += 1;
            }
        } else {
            *sel = sel.saturating_sub(1);
        }
        if self.focus == Focus::Lists {
            self.item_sel = 0;
        }
    }

    /// Handle one key; edits go to `store`. The caller reloads afterwards.
    pub fn on_key(&mut self, key: Key, store: &mut Store) -> Flow {
        if key == Key::Interrupt {
            return Flow::Quit;
        }
        if let Some((kind, mut input)) = self.prompt.take() {
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

    fn on_command_key(&mut self, key: Key, store: &mut Store) -> Flow {
        let need_list = |app: &mut App| {
            if app.selected_list().is_none() {
                app.message = "no list yet: press n to create one, J to join one".into();
                false
            } else {
                true
            }
        };
        match key {
            Key::Char('q') | Key::Esc => return Flow::Quit,
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
            Key::Char('n') => self.prompt = Some((PromptKind::NewList, String::new())),
            Key::Char('J') => self.prompt = Some((PromptKind::Join, String::new())),
            Key::Char('a') if need_list(self) => {
                self.prompt = Some((PromptKind::AddItem, String::new()))
            }
            Key::Char('r') if need_list(self) => {
                let name = self
                    .current
                    .as_ref()
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                self.prompt = Some((PromptKind::Rename, name));
            }
            Key::Char('s') if need_list(self) => {
                if let Some(c) = &self.current {
                    self.message = format!("share: {}", c.url);
                }
            }
            Key::Char('+') => {
                self.item_edit(store, |name, l, ctx| l.add_item(name, 1, ctx).map(|_| ()))
            }
            Key::Char('b') => self.item_edit(store, |name, l, ctx| {
                l.buy_item(name, None, ctx).map(|_| ())
            }),
            Key::Char('B') if self.selected_item().is_some() => {
                self.prompt = Some((PromptKind::BuyQty, String::new()))
            }
            Key::Char('x') | Key::Delete => {
                self.item_edit(store, |name, l, ctx| l.remove_item(name, ctx))
            }
            _ => {}
        }
        Flow::Continue
    }

    fn item_edit(
        &mut self,
        store: &mut Store,
        f: impl FnOnce(
            &str,
            &mut engine::list::ShoppingList,
            &EditContext,
        ) -> Result<(), engine::list::ListError>,
    ) {
        let (Some(id), Some(item)) = (self.selected_list(), self.selected_item().cloned()) else {
            self.message = "select an item first (Tab switches to the items)".into();
            return;
        };
        let ctx = self.ctx();
        self.message = match store.edit(id, |l| f(&item.name, l, &ctx)) {
            Ok(()) => format!("{} updated", item.name),
            Err(e) => format!("error: {e}"),
        };
    }
}

#[cfg(test)]
mod tests;
