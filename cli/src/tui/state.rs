//! The interactive mode's state, without a terminal: [`App`] holds what
//! [`super::draw`] shows, re-read from the [`Store`] by [`App::reload`].
//! Keys are handled in [`super::keys`], prompts in [`super::prompt`].
//!
//! The selection follows the *item*, not the row number: the selected
//! product's key (its normalized name) is remembered, and after every reload
//! (a local edit, another device's edit arriving) the cursor is put back on
//! that product wherever it moved. If it is gone, the cursor stays at the
//! same place in the list.

use std::collections::HashSet;

use engine::list::EditContext;
use engine::store::Store;
use engine::ListId;

use crate::output::{ItemDoc, ShowDoc};

pub use super::keys::{Flow, Key};
pub use super::prompt::{parse_item_input, PromptKind, QuickAdd};

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
    /// Items.
    pub items: usize,
    /// Done items.
    pub done: usize,
    /// Unsynced edits.
    pub pending: usize,
    /// Archived (shown last, dimmed).
    pub archived: bool,
}

/// One row of the items pane: a section heading or an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRow {
    /// A category heading (or "✓ bought").
    Heading(String),
    /// An item.
    Item(ItemDoc),
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    /// Author recorded in edits.
    pub author: String,
    /// Lists: active ones oldest first, then archived ones.
    pub lists: Vec<ListRow>,
    /// Selected list index.
    pub list_sel: usize,
    /// The selected list.
    pub current: Option<ShowDoc>,
    /// The items pane, in shopping order.
    pub rows: Vec<ItemRow>,
    /// Selected item: index among the item rows (headings skipped).
    pub item_sel: usize,
    /// The selected item's key, followed across reloads.
    item_key: Option<String>,
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
    /// Whether bought items are hidden.
    pub hide_bought: bool,
    /// Whether the screen may use colours (off with `NO_COLOR`).
    pub color: bool,
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
            rows: Vec::new(),
            item_sel: 0,
            item_key: None,
            focus: Focus::Lists,
            prompt: None,
            net: Net::Connecting,
            message: "Press ? for help".into(),
            help: false,
            hide_bought: false,
            color: true,
            select_next: None,
        }
    }

    /// The selected list's id.
    pub fn selected_list(&self) -> Option<ListId> {
        self.lists.get(self.list_sel).map(|l| l.id)
    }

    /// The item rows, in display order.
    pub fn items(&self) -> Vec<&ItemDoc> {
        self.rows
            .iter()
            .filter_map(|r| match r {
                ItemRow::Item(i) => Some(i),
                ItemRow::Heading(_) => None,
            })
            .collect()
    }

    /// The selected item.
    pub fn selected_item(&self) -> Option<&ItemDoc> {
        self.items().get(self.item_sel).copied()
    }

    /// Select item `idx` (clamped) and remember which product it is.
    pub(super) fn select_item(&mut self, idx: usize) {
        let (sel, key) = {
            let items = self.items();
            let sel = idx.min(items.len().saturating_sub(1));
            (
                sel,
                items.get(sel).map(|i| engine::list::normalize(&i.name)),
            )
        };
        self.item_sel = sel;
        self.item_key = key;
    }

    /// Follow item `name` from the next reload on.
    pub(super) fn follow(&mut self, name: &str) {
        self.item_key = Some(engine::list::normalize(name));
    }

    /// Re-read everything from the store (cheap: lists are cached and
    /// caught up with other processes' commits).
    pub fn reload(&mut self, store: &mut Store) -> Result<(), String> {
        let ids = store.list_ids().map_err(|e| e.to_string())?;
        let archived: HashSet<ListId> = store.archived().map_err(|e| e.to_string())?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let v = store.view(id).map_err(|e| e.to_string())?;
            rows.push(ListRow {
                id,
                items: v.items.len(),
                done: v.items.iter().filter(|i| i.done).count(),
                name: v.name,
                pending: store.pending(id).unwrap_or(0),
                archived: archived.contains(&id),
            });
        }
        rows.sort_by_key(|r| r.archived);
        let keep = self.select_next.take().or(self.selected_list());
        let list_changed = keep != self.selected_list();
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
        self.rows = self.build_rows();
        if list_changed {
            self.item_key = None;
            self.item_sel = 0;
        }
        let by_key = self.item_key.as_ref().and_then(|k| {
            self.items()
                .iter()
                .position(|i| engine::list::normalize(&i.name) == *k)
        });
        self.select_item(by_key.unwrap_or(self.item_sel));
        Ok(())
    }

    /// The items pane rows: the shopping view's sections, headed when
    /// there is more than one, bought items hidden if asked.
    fn build_rows(&self) -> Vec<ItemRow> {
        let Some(doc) = &self.current else {
            return Vec::new();
        };
        let sections: Vec<_> = doc
            .sections()
            .into_iter()
            .filter(|(h, _)| {
                !(self.hide_bought && h.as_deref() == Some(crate::output::BOUGHT_SECTION))
            })
            .collect();
        let headed = sections.len() > 1 || sections.iter().any(|(h, _)| h.is_some());
        let mut out = Vec::new();
        for (heading, items) in sections {
            if headed {
                out.push(ItemRow::Heading(
                    heading.unwrap_or_else(|| "(no category)".into()),
                ));
            }
            out.extend(items.into_iter().cloned().map(ItemRow::Item));
        }
        out
    }

    /// Select `id` at the next reload.
    pub fn focus_list(&mut self, id: ListId) {
        self.select_next = Some(id);
        self.focus = Focus::Lists;
    }

    pub(super) fn ctx(&self) -> EditContext {
        EditContext::now(self.author.clone())
    }

    pub(super) fn move_sel(&mut self, down: bool) {
        match self.focus {
            Focus::Lists => {
                let len = self.lists.len();
                if down && self.list_sel + 1 < len {
                    self.list_sel += 1;
                } else if !down {
                    self.list_sel = self.list_sel.saturating_sub(1);
                }
                self.item_key = None;
                self.item_sel = 0;
            }
            Focus::Items => {
                let next = if down {
                    self.item_sel + 1
                } else {
                    self.item_sel.saturating_sub(1)
                };
                self.select_item(next);
            }
        }
    }
}

#[cfg(test)]
mod tests;
