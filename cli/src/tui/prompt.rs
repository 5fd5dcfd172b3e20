//! The interactive mode's prompts: what each one asks for, and applying
//! the answer (an edit of the store, a new list, or a join to start).

use engine::store::Store;
use engine::ListId;

use super::state::{App, Flow};

/// What a prompt's answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// A new list's name.
    NewList,
    /// An item to add: `name [QTY]`.
    AddItem,
    /// How many of the selected item were bought.
    BuyQty,
    /// The list's new name.
    Rename,
    /// A URL to join.
    Join,
}

impl PromptKind {
    /// The prompt's label.
    pub fn label(self) -> &'static str {
        match self {
            PromptKind::NewList => "New list name",
            PromptKind::AddItem => "Add item (name, optionally a quantity)",
            PromptKind::BuyQty => "Bought how many",
            PromptKind::Rename => "Rename list to",
            PromptKind::Join => "Join list URL",
        }
    }
}

/// Split `milk 2` into (`milk`, 2); a name without a trailing number is 1.
pub fn parse_item_input(input: &str) -> Result<(String, i64), String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    match words.split_last() {
        None => Err("type an item name".into()),
        Some((last, rest)) if !rest.is_empty() && last.chars().all(|c| c.is_ascii_digit()) => {
            let n: i64 = last.parse().map_err(|_| format!("bad quantity {last:?}"))?;
            Ok((rest.join(" "), n))
        }
        Some(_) => Ok((words.join(" "), 1)),
    }
}

impl App {
    /// Apply the answer to a prompt.
    pub(super) fn submit(&mut self, kind: PromptKind, input: &str, store: &mut Store) -> Flow {
        let ctx = self.ctx();
        let input = input.trim();
        let result: Result<String, String> = match kind {
            PromptKind::NewList => store
                .create_list(input, &ctx)
                .map(|id| {
                    self.focus_list(id);
                    format!("created {input:?}")
                })
                .map_err(|e| e.to_string()),
            PromptKind::Join => match ListId::parse(input) {
                Ok(id) => {
                    self.message = format!("joining {}…", id.url());
                    return Flow::Join(id);
                }
                Err(e) => Err(e.to_string()),
            },
            PromptKind::AddItem => match (self.selected_list(), parse_item_input(input)) {
                (Some(id), Ok((name, qty))) => store
                    .edit(id, |l| l.add_item(&name, qty, &ctx))
                    .map(|_| format!("added {qty} × {name}"))
                    .map_err(|e| e.to_string()),
                (_, Err(e)) => Err(e),
                (None, _) => Err("no list selected".into()),
            },
            PromptKind::BuyQty => {
                let qty = if input.is_empty() {
                    Ok(None)
                } else {
                    input
                        .parse::<i64>()
                        .map(Some)
                        .map_err(|_| format!("quantity must be a whole number, not {input:?}"))
                };
                match (self.selected_list(), self.selected_item().cloned(), qty) {
                    (Some(id), Some(item), Ok(q)) => store
                        .edit(id, |l| l.buy_item(&item.name, q, &ctx))
                        .map(|n| format!("bought {n} × {}", item.name))
                        .map_err(|e| e.to_string()),
                    (_, _, Err(e)) => Err(e),
                    _ => Err("select an item first".into()),
                }
            }
            PromptKind::Rename => match self.selected_list() {
                Some(id) => store
                    .edit(id, |l| l.rename(input, &ctx))
                    .map(|_| format!("renamed to {input:?}"))
                    .map_err(|e| e.to_string()),
                None => Err("no list selected".into()),
            },
        };
        self.message = match result {
            Ok(m) => m,
            Err(e) => format!("error: {e}"),
        };
        Flow::Continue
    }
}
