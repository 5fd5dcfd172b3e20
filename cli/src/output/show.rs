//! The `show` document (also the result of every edit) and its human form:
//! the shopping view. Items still needed come first, grouped by category
//! (categories and names in natural order, uncategorized items last); what
//! is bought sinks to the bottom with who bought it. Columns are measured
//! in display width, and one long name does not widen every row.

use engine::list::{ItemView, ListView};
use engine::ListId;
use serde::Serialize;

use super::text::{natural, pad, width};
use super::Render;

/// Names wider than this do not widen the name column of other rows.
pub const NAME_COLUMN_MAX: usize = 28;

/// One item of [`ShowDoc`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemDoc {
    /// Display name.
    pub name: String,
    /// How many are wanted.
    pub needed: i64,
    /// How many were bought.
    pub acquired: i64,
    /// `acquired >= needed`.
    pub done: bool,
    /// Who added it first.
    pub added_by: String,
    /// When it was first added (unix ms).
    pub added_at_ms: i64,
    /// Category, or null.
    pub category: Option<String>,
    /// Note, or null.
    pub note: Option<String>,
    /// Who bought it (net buys above zero), in order of their first buy.
    pub bought_by: Vec<String>,
}

impl From<ItemView> for ItemDoc {
    fn from(i: ItemView) -> Self {
        ItemDoc {
            name: i.name,
            needed: i.needed,
            acquired: i.acquired,
            done: i.done,
            added_by: i.added_by,
            added_at_ms: i.added_at,
            category: i.category,
            note: i.note,
            bought_by: i.bought_by,
        }
    }
}

/// `show` (and the result of `add`, `buy`, `rm`, `rename`, `join`, `undo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShowDoc {
    /// UUID.
    pub id: ListId,
    /// Share URL.
    pub url: String,
    /// Name (the deterministic winner of concurrent renames).
    pub name: String,
    /// Names written concurrently with the winner, kept visible.
    pub other_names: Vec<String>,
    /// Items sorted by normalized name, in natural order.
    pub items: Vec<ItemDoc>,
    /// Local changes not yet acknowledged by the cloud.
    pub pending: usize,
    /// What the reader could not read in the document (written by another
    /// client, PROTOCOL.md "Document"); empty for lists this tool writes.
    pub warnings: Vec<String>,
}

impl ShowDoc {
    /// From a materialized list.
    pub fn new(id: ListId, view: ListView, pending: usize) -> Self {
        let mut items: Vec<ItemDoc> = view.items.into_iter().map(ItemDoc::from).collect();
        items.sort_by(|a, b| natural(&a.name, &b.name));
        ShowDoc {
            id,
            url: id.url(),
            name: view.name,
            other_names: view.other_names,
            items,
            pending,
            warnings: view.warnings,
        }
    }

    /// The items in shopping order, in sections: (heading, items). Needed
    /// items by category (natural order, uncategorized last), then bought.
    pub fn sections(&self) -> Vec<(Option<String>, Vec<&ItemDoc>)> {
        let mut cats: Vec<Option<String>> = Vec::new();
        for i in self.items.iter().filter(|i| !i.done) {
            if !cats.contains(&i.category) {
                cats.push(i.category.clone());
            }
        }
        cats.sort_by(|a, b| match (a, b) {
            (Some(a), Some(b)) => natural(a, b),
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let mut out: Vec<(Option<String>, Vec<&ItemDoc>)> = cats
            .into_iter()
            .map(|c| {
                let items = self
                    .items
                    .iter()
                    .filter(|i| !i.done && i.category == c)
                    .collect();
                (c, items)
            })
            .collect();
        let done: Vec<&ItemDoc> = self.items.iter().filter(|i| i.done).collect();
        if !done.is_empty() {
            out.push((Some(BOUGHT_SECTION.to_string()), done));
        }
        out
    }
}

/// Heading of the section of bought items.
pub const BOUGHT_SECTION: &str = "✓ bought";

fn line(i: &ItemDoc, cols: usize) -> String {
    let mark = if i.done { "[x]" } else { "[ ]" };
    let mut s = format!(
        "{mark} {}  {}/{} bought",
        pad(&i.name, cols),
        i.acquired,
        i.needed
    );
    if !i.bought_by.is_empty() {
        s += &format!(" by {}", i.bought_by.join(", "));
    }
    if let Some(n) = &i.note {
        s += &format!("  ({n})");
    }
    s
}

impl Render for ShowDoc {
    fn human(&self) -> String {
        let mut out = format!("{}  {}", self.name, self.url);
        if !self.other_names.is_empty() {
            out += &format!("\n  (also named: {})", self.other_names.join(", "));
        }
        if self.items.is_empty() && self.warnings.is_empty() {
            out += "\n  (no items)";
        } else if self.items.is_empty() {
            out += "\n  (no items that could be read; see the warnings)";
        }
        let cols = self
            .items
            .iter()
            .map(|i| width(&i.name))
            .filter(|w| *w <= NAME_COLUMN_MAX)
            .max()
            .unwrap_or(0);
        let sections = self.sections();
        let headed = sections.len() > 1 || sections.iter().any(|(c, _)| c.is_some());
        for (heading, items) in sections {
            let indent = if headed {
                out += &format!("\n  {}", heading.as_deref().unwrap_or("(no category)"));
                "    "
            } else {
                "  "
            };
            for i in items {
                out += &format!("\n{indent}{}", line(i, cols));
            }
        }
        if self.pending > 0 {
            out += &format!("\n  {} edit(s) not yet synced", self.pending);
        }
        out
    }
}
