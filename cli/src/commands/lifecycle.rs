//! A list's life on this device: `undo`, `delete`, `archive`, `unarchive`.
//! All offline. Deleting only forgets the list here: the cloud and every
//! other device keep it, and `join URL` brings it back. That is also what
//! "leaving" a shared list means: a list URL is a capability, and there is
//! no membership to give up; whoever keeps the URL can come back.

use engine::ListId;

use super::local::{edit_ctx, emit_list};
use super::{CliError, Ctx};
use crate::output::{LifecycleDoc, UndoDoc};

/// `undo [LIST]`: revert this device's last edit on LIST (default: the list
/// it edited last) with a new compensating change.
pub fn undo(ctx: &mut Ctx, list: Option<&str>) -> Result<(), CliError> {
    let id = match list {
        Some(l) => ctx.resolve(l)?,
        None => ctx.store.last_edited_list()?.ok_or_else(|| {
            CliError::Usage("nothing to undo: this device has not edited any list".into())
        })?,
    };
    let e = edit_ctx(ctx);
    let undone = ctx.store.edit(id, |l| l.undo_last(&e))?;
    let name = ctx.store.view(id)?.name;
    if ctx.json {
        return ctx.emit(&UndoDoc {
            id,
            name,
            undone: undone.what,
            hash: undone.hash,
        });
    }
    ctx.note(&format!("{name}: undid \"{}\"", undone.what));
    emit_list(ctx, id)
}

/// `delete LIST [--force]`.
pub fn delete(ctx: &mut Ctx, list: &str, force: bool) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    let name = ctx.store.view(id)?.name;
    let pending = ctx.store.pending(id)?;
    if pending > 0 && !force {
        return Err(CliError::Usage(format!(
            "{name:?} has {pending} edit(s) the cloud does not have yet; `shoplist sync` first, or `delete --force` to lose them"
        )));
    }
    ctx.store.delete_list(id)?;
    ctx.note(&format!(
        "deleted {name:?} from this device; the cloud and others keep it: `shoplist join {}` brings it back",
        id.url()
    ));
    ctx.emit(&LifecycleDoc::new(id, name, "deleted"))
}

/// `archive LIST` / `unarchive LIST`.
pub fn archive(ctx: &mut Ctx, list: &str, archived: bool) -> Result<(), CliError> {
    let id: ListId = ctx.resolve(list)?;
    ctx.store.set_archived(id, archived)?;
    let name = ctx.store.view(id)?.name;
    let state = if archived { "archived" } else { "unarchived" };
    if archived {
        ctx.note(&format!(
            "{name:?} is hidden from `shoplist ls` (it keeps syncing); `shoplist unarchive` shows it again"
        ));
    }
    ctx.emit(&LifecycleDoc::new(id, name, state))
}
