//! The offline commands: they read and edit the local store only, each edit
//! one SQLite transaction (DESIGN §3), and never touch the network.

use engine::list::{normalize, EditContext, ItemDetails};
use engine::ListId;

use super::{CliError, Ctx};
use crate::output::{LogDoc, LogEntry, LsDoc, LsEntry, NewDoc, ShowDoc};
use crate::resolve::{self, describe};

/// The `show` document of a list.
pub fn show_doc(ctx: &mut Ctx, id: ListId) -> Result<ShowDoc, CliError> {
    let view = ctx.store.view(id)?;
    let pending = ctx.store.pending(id)?;
    Ok(ShowDoc::new(id, view, pending))
}

pub(super) fn edit_ctx(ctx: &Ctx) -> EditContext {
    EditContext::now(ctx.author.clone())
}

/// Print the list after an edit (nothing with `--quiet` unless `--json`).
pub(super) fn emit_list(ctx: &mut Ctx, id: ListId) -> Result<(), CliError> {
    if ctx.quiet && !ctx.json {
        return Ok(());
    }
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// `new NAME`: warns when another local list has the same name.
pub fn new(ctx: &mut Ctx, name: &str) -> Result<(), CliError> {
    let same: Vec<String> = ctx
        .entries()?
        .iter()
        .filter(|e| normalize(&e.name) == normalize(name))
        .map(describe)
        .collect();
    let e = edit_ctx(ctx);
    let id = ctx.store.create_list(name, &e)?;
    let name = ctx.store.view(id)?.name;
    if !same.is_empty() {
        ctx.warn(&format!(
            "another list on this device is named {name:?} too ({}); use the id or URL to tell them apart",
            same.join(", ")
        ));
    }
    ctx.emit(&NewDoc {
        id,
        url: id.url(),
        name,
    })
}

/// `ls [--all]`: archived lists only with `--all`.
pub fn ls(ctx: &mut Ctx, all: bool) -> Result<(), CliError> {
    let archived = ctx.store.archived()?;
    let mut out = Vec::new();
    let mut hidden = 0;
    for id in ctx.store.list_ids()? {
        let is_archived = archived.contains(&id);
        if is_archived && !all {
            hidden += 1;
            continue;
        }
        let view = ctx.store.view(id)?;
        out.push(LsEntry {
            id,
            url: id.url(),
            items: view.items.len(),
            done: view.items.iter().filter(|i| i.done).count(),
            name: view.name,
            pending: ctx.store.pending(id)?,
            archived: is_archived,
        });
    }
    if hidden > 0 {
        ctx.note(&format!(
            "{hidden} archived list(s) not shown; `shoplist ls --all` shows them"
        ));
    }
    ctx.emit(&LsDoc(out))
}

/// `show LIST`.
pub fn show(ctx: &mut Ctx, list: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let doc = show_doc(ctx, id)?;
    for w in &doc.warnings {
        ctx.warn(&format!(
            "this list holds something another client wrote unreadably: {w}"
        ));
    }
    ctx.emit(&doc)
}

/// Resolve LIST and the ITEM words of an item command (see
/// [`resolve::resolve_split`]).
fn list_and_item(ctx: &mut Ctx, list: &str, item: &[String]) -> Result<(ListId, String), CliError> {
    let entries = ctx.entries()?;
    let (id, words) = resolve::resolve_split(list, item, &entries)?;
    Ok((id, words.join(" ")))
}

/// `add LIST ITEM [-n QTY] [--cat C] [--note N]`.
pub fn add(
    ctx: &mut Ctx,
    list: &str,
    item: &[String],
    qty: i64,
    details: ItemDetails,
) -> Result<(), CliError> {
    let (id, item) = list_and_item(ctx, list, item)?;
    let e = edit_ctx(ctx);
    ctx.store
        .edit(id, |l| l.add_item_with(&item, qty, &details, &e))?;
    emit_list(ctx, id)
}

/// `buy LIST ITEM [-n QTY]` (default: all still needed). Buying more than
/// needed is recorded as asked, and said.
pub fn buy(ctx: &mut Ctx, list: &str, item: &[String], qty: Option<i64>) -> Result<(), CliError> {
    let (id, item) = list_and_item(ctx, list, item)?;
    let e = edit_ctx(ctx);
    let bought = ctx.store.edit(id, |l| l.buy(&item, qty, &e))?;
    if bought.qty == 0 {
        ctx.note(&format!(
            "nothing of {item} is still needed; nothing recorded"
        ));
    } else if bought.beyond_needed > 0 {
        ctx.note(&format!(
            "bought {} × {item}: {} more than needed (`shoplist unbuy` or `shoplist undo` takes it back)",
            bought.qty, bought.beyond_needed
        ));
    }
    emit_list(ctx, id)
}

/// `unbuy LIST ITEM [-n QTY]` (default: all bought).
pub fn unbuy(ctx: &mut Ctx, list: &str, item: &[String], qty: Option<i64>) -> Result<(), CliError> {
    let (id, item) = list_and_item(ctx, list, item)?;
    let e = edit_ctx(ctx);
    let n = ctx.store.edit(id, |l| l.unbuy_item(&item, qty, &e))?;
    ctx.note(&format!("{n} × {item} no longer bought"));
    emit_list(ctx, id)
}

/// `rm LIST ITEM`.
pub fn rm(ctx: &mut Ctx, list: &str, item: &[String]) -> Result<(), CliError> {
    let (id, item) = list_and_item(ctx, list, item)?;
    let e = edit_ctx(ctx);
    ctx.store.edit(id, |l| l.remove_item(&item, &e))?;
    ctx.note(&format!("removed {item}; `shoplist undo` brings it back"));
    emit_list(ctx, id)
}

/// `rename LIST NAME`.
pub fn rename(ctx: &mut Ctx, list: &str, name: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let e = edit_ctx(ctx);
    ctx.store.edit(id, |l| l.rename(name, &e))?;
    emit_list(ctx, id)
}

/// `log LIST`: item names as the list shows them now, and a removal that a
/// concurrent addition outlived says so (issue 12 defect 11).
pub fn log(ctx: &mut Ctx, list: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let history = ctx.store.history(id)?;
    let view = ctx.store.view(id)?;
    let shown = |typed: &str| {
        view.items
            .iter()
            .find(|i| i.key == normalize(typed))
            .map(|i| i.name.clone())
    };
    let mut out: Vec<LogEntry> = Vec::with_capacity(history.len());
    for (pos, h) in history.iter().enumerate() {
        let mut h = h.clone();
        if let (Some(typed), true) = (
            h.item.clone(),
            matches!(h.op.as_str(), "add" | "buy" | "unbuy" | "rm"),
        ) {
            if let Some(name) = shown(&typed) {
                h.what = h.what.replacen(typed.trim(), &name, 1);
                let added_later = history[pos + 1..].iter().any(|later| {
                    later.op == "add"
                        && later.item.as_deref().map(normalize) == Some(normalize(&typed))
                });
                if h.op == "rm" && !added_later {
                    h.what += &format!(
                        " (what {} had seen; {name} is still on the list: an addition made at the same time kept it)",
                        h.by
                    );
                }
            }
        }
        out.push(LogEntry::new(h, ctx.utc));
    }
    ctx.emit(&LogDoc(out))
}
