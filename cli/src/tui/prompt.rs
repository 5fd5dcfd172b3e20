//! The interactive mode's prompts: what each one asks for, and applying
//! the answer (an edit of the store, a new list, or a join to start).
//! A rejected answer keeps the prompt open with the text as typed, and the
//! error beside it; confirmations (`y` / anything else) guard removing an
//! item, deleting a list and buying more than needed.

use engine::list::{normalize, ItemDetails};
use engine::store::Store;
use engine::ListId;

use super::keys::Flow;
use super::state::App;

/// What a prompt's answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    /// A new list's name.
    NewList,
    /// An item to add: `name [xQTY] [#category]`.
    AddItem,
    /// How many of this item were bought.
    BuyQty(String),
    /// How many of this item to take back (un-buy).
    UnbuyQty(String),
    /// The list's new name.
    Rename,
    /// A URL to join.
    Join,
    /// Remove this item? (y/n)
    ConfirmRemove(String),
    /// Delete the selected list from this device? (y/n)
    ConfirmDelete {
        /// Its name.
        name: String,
        /// Its unsynced edits (lost if deleted).
        pending: usize,
    },
    /// Buy more than needed? (y/n)
    ConfirmOverbuy {
        /// The item.
        name: String,
        /// The quantity asked.
        qty: i64,
        /// How many beyond the need.
        beyond: i64,
    },
}

impl PromptKind {
    /// The prompt's label.
    pub fn label(&self) -> String {
        match self {
            PromptKind::NewList => "New list name".into(),
            PromptKind::AddItem => "Add item (x2 for two, #dairy for a category)".into(),
            PromptKind::BuyQty(n) => format!("Bought how many {n} (Enter: all still needed)"),
            PromptKind::UnbuyQty(n) => format!("Un-buy how many {n} (Enter: all bought)"),
            PromptKind::Rename => "Rename list to".into(),
            PromptKind::Join => "Join list URL".into(),
            PromptKind::ConfirmRemove(n) => format!("Remove {n} from the list? y/n"),
            PromptKind::ConfirmDelete { name, pending: 0 } => {
                format!("Delete {name:?} from this device? The cloud and others keep it. y/n")
            }
            PromptKind::ConfirmDelete { name, pending } => format!(
                "Delete {name:?} from this device? Its {pending} unsynced edit(s) are lost. y/n"
            ),
            PromptKind::ConfirmOverbuy { name, qty, beyond } => {
                format!("Buy {qty} × {name}? That is {beyond} more than needed. y/n")
            }
        }
    }

    /// A yes/no question (any key answers).
    pub fn is_confirmation(&self) -> bool {
        matches!(
            self,
            PromptKind::ConfirmRemove(_)
                | PromptKind::ConfirmDelete { .. }
                | PromptKind::ConfirmOverbuy { .. }
        )
    }
}

/// A parsed quick-add line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickAdd {
    /// The item's name.
    pub name: String,
    /// How many (1 unless `xN` / `×N` / `*N` was given).
    pub qty: i64,
    /// `#category`, if given.
    pub category: Option<String>,
}

/// The quantity of a `x2` / `×2` / `*2` word.
fn qty_word(w: &str) -> Option<Result<i64, String>> {
    let rest = w
        .strip_prefix(['x', 'X', '×', '*'])
        .filter(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))?;
    Some(
        rest.parse::<i64>()
            .ok()
            .filter(|n| (1..=engine::list::MAX_QTY).contains(n))
            .ok_or_else(|| {
                format!(
                    "quantity must be a whole number from 1 to {}",
                    engine::list::MAX_QTY
                )
            }),
    )
}

/// Parse `Diapers size 4 x2 #baby`: a trailing `xN` is the quantity, a
/// `#word` the category; every other word (numbers too) is the name, so
/// "Diapers size 4" stays one item.
pub fn parse_item_input(input: &str) -> Result<QuickAdd, String> {
    let mut words: Vec<&str> = input.split_whitespace().collect();
    let mut category = None;
    words.retain(|w| match w.strip_prefix('#').filter(|c| !c.is_empty()) {
        Some(c) => {
            category = Some(c.to_string());
            false
        }
        None => true,
    });
    let mut qty = 1;
    if words.len() > 1 {
        if let Some(q) = words.last().and_then(|w| qty_word(w)) {
            qty = q?;
            words.pop();
        }
    }
    if words.is_empty() {
        return Err("type an item name".into());
    }
    Ok(QuickAdd {
        name: words.join(" "),
        qty,
        category,
    })
}

fn parse_qty(input: &str) -> Result<Option<i64>, String> {
    if input.is_empty() {
        return Ok(None);
    }
    input
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=engine::list::MAX_QTY).contains(n))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "{input:?} is not a quantity: type a whole number from 1 to {}",
                engine::list::MAX_QTY
            )
        })
}

impl App {
    /// Apply the answer to a prompt. A rejected answer reopens the prompt
    /// with the same text.
    pub(super) fn submit(&mut self, kind: PromptKind, input: &str, store: &mut Store) -> Flow {
        let ctx = self.ctx();
        let text = input.trim();
        let list = self.selected_list();
        let result: Result<String, String> = match (&kind, list) {
            (PromptKind::NewList, _) => {
                let same = self
                    .lists
                    .iter()
                    .any(|l| normalize(&l.name) == normalize(text));
                store
                    .create_list(text, &ctx)
                    .map(|id| {
                        self.focus_list(id);
                        if same {
                            format!("created {text:?}; note: another list has this name too")
                        } else {
                            format!("created {text:?}")
                        }
                    })
                    .map_err(|e| e.to_string())
            }
            (PromptKind::Join, _) => match ListId::parse(text) {
                Ok(id) => {
                    self.message = format!("joining {}…", id.url());
                    return Flow::Join(id);
                }
                Err(e) => Err(e.to_string()),
            },
            (_, None) => Err("no list selected".into()),
            (PromptKind::AddItem, Some(id)) => parse_item_input(text).and_then(|q| {
                let details = ItemDetails {
                    category: q.category.clone(),
                    note: None,
                };
                store
                    .edit(id, |l| l.add_item_with(&q.name, q.qty, &details, &ctx))
                    .map(|_| format!("added {} × {}", q.qty, q.name))
                    .map_err(|e| e.to_string())
            }),
            (PromptKind::BuyQty(name), Some(_)) => match parse_qty(text) {
                Ok(q) => {
                    self.buy(name, q, store);
                    return Flow::Continue;
                }
                Err(e) => Err(e),
            },
            (PromptKind::UnbuyQty(name), Some(id)) => parse_qty(text).and_then(|q| {
                store
                    .edit(id, |l| l.unbuy_item(name, q, &ctx))
                    .map(|n| format!("{n} × {name} no longer bought · u undoes"))
                    .map_err(|e| e.to_string())
            }),
            (PromptKind::Rename, Some(id)) => store
                .edit(id, |l| l.rename(text, &ctx))
                .map(|_| format!("renamed to {text:?}"))
                .map_err(|e| e.to_string()),
            (PromptKind::ConfirmRemove(name), Some(id)) => store
                .edit(id, |l| l.remove_item(name, &ctx))
                .map(|_| format!("removed {name} · u undoes"))
                .map_err(|e| e.to_string()),
            (PromptKind::ConfirmOverbuy { name, qty, .. }, Some(id)) => {
                let (name, qty) = (name.clone(), *qty);
                self.buy_now(id, &name, Some(qty), store);
                return Flow::Continue;
            }
            (PromptKind::ConfirmDelete { name, .. }, Some(id)) => store
                .delete_list(id)
                .map(|_| format!("deleted {name:?} from this device; J and its URL bring it back"))
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(m) => self.message = m,
            Err(e) => {
                self.message = format!("error: {e}");
                if !kind.is_confirmation() {
                    self.prompt = Some((kind, input.to_string()));
                }
            }
        }
        Flow::Continue
    }
}
