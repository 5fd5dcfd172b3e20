//! The offline commands: they read and edit the local store only, each edit
//! one SQLite transaction (DESIGN §3), and never touch the network.

use engine::list::EditContext;
use engine::ListId;

use super::{CliError, Ctx};
use crate::output::{LogDoc, LsDoc, LsEntry, NewDoc, ShareDoc, ShowDoc, StatusDoc, StatusEntry};

/// The `show` document of a list.
pub fn show_doc(ctx: &mut Ctx, id: ListId) -> Result<ShowDoc, CliError> {
    let view = ctx.store.view(id)?;
    let pending = ctx.store.pending(id)?;
    Ok(ShowDoc::new(id, view, pending))
}

fn edit_ctx(ctx: &Ctx) -> EditContext {
    EditContext::now(ctx.author.clone())
}

/// `new NAME`.
pub fn new(ctx: &mut Ctx, name: &str) -> Result<(), CliError> {
    let e = edit_ctx(ctx);
    let id = ctx.store.create_list(name, &e)?;
    let name = ctx.store.view(id)?.name;
    ctx.emit(&NewDoc {
        id,
        url: id.url(),
        name,
    })
}

/// `ls`.
pub fn ls(ctx: &mut Ctx) -> Result<(), CliError> {
    let mut out = Vec::new();
    for id in ctx.store.list_ids()? {
        let view = ctx.store.view(id)?;
        out.push(LsEntry {
            id,
            url: id.url(),
            items: view.items.len(),
            done: view.items.iter().filter(|i| i.done).count(),
            name: view.name,
            pending: ctx.store.pending(id)?,
        });
    }
    ctx.emit(&LsDoc(out))
}

/// `show LIST`.
pub fn show(ctx: &mut Ctx, list: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// `add LIST ITEM [-n QTY]`.
pub fn add(ctx: &mut Ctx, list: &str, item: &str, qty: i64) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let e = edit_ctx(ctx);
    ctx.store.edit(id, |l| l.add_item(item, qty, &e))?;
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// `buy LIST ITEM [-n QTY]` (default: all still needed).
pub fn buy(ctx: &mut Ctx, list: &str, item: &str, qty: Option<i64>) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let e = edit_ctx(ctx);
    ctx.store.edit(id, |l| l.buy_item(item, qty, &e))?;
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// `rm LIST ITEM`.
pub fn rm(ctx: &mut Ctx, list: &str, item: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let e = edit_ctx(ctx);
    ctx.store.edit(id, |l| l.remove_item(item, &e))?;
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// `rename LIST NAME`.
pub fn rename(ctx: &mut Ctx, list: &str, name: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let e = edit_ctx(ctx);
    ctx.store.edit(id, |l| l.rename(name, &e))?;
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// `share LIST`.
pub fn share(ctx: &mut Ctx, list: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    ctx.emit(&ShareDoc { id, url: id.url() })
}

/// `status [LIST]`.
pub fn status(ctx: &mut Ctx, list: Option<&str>) -> Result<(), CliError> {
    let ids = match list {
        Some(l) => vec![ctx.resolve(l)?],
        None => ctx.store.list_ids()?,
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(StatusEntry {
            id,
            name: ctx.store.view(id)?.name,
            pending: ctx.store.pending(id)?,
        });
    }
    ctx.emit(&StatusDoc(out))
}

/// `log LIST`.
pub fn log(ctx: &mut Ctx, list: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let history = ctx.store.history(id)?;
    ctx.emit(&LogDoc(history.into_iter().map(Into::into).collect()))
}
