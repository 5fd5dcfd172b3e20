//! A list as held in memory: its document, its change-graph index, and how
//! far into the `changes` table it has read. Loading and catching up with rows
//! other processes committed live here.

use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{ActorId, Automerge, Change};
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::graph::ChangeGraph;
use crate::ids::{hash_from_slice, hashes_from_blob};
use crate::list::ShoppingList;
use crate::ListId;

/// In-memory state of one list.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub list: ShoppingList,
    pub graph: ChangeGraph,
    /// Highest `changes.id` reflected in `list` and `graph`.
    pub last_id: i64,
    /// Change rows whose bytes are not yet covered by the snapshot.
    pub uncompacted: usize,
}

/// A change row's metadata.
struct Row {
    id: i64,
    hash: Vec<u8>,
    deps: Vec<u8>,
    actor: Vec<u8>,
    seq: i64,
    bytes: Option<Vec<u8>>,
}

fn corrupt(list: ListId, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        list,
        detail: detail.into(),
    }
}

fn rows_after(conn: &Connection, id: ListId, after: i64) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, hash, deps, actor, seq, bytes FROM changes
         WHERE list_id = ?1 AND id > ?2 ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![id.as_bytes().as_slice(), after], |r| {
            Ok(Row {
                id: r.get(0)?,
                hash: r.get(1)?,
                deps: r.get(2)?,
                actor: r.get(3)?,
                seq: r.get(4)?,
                bytes: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Decode stored change bytes; a panic in the decoder is a damaged row, not a crash.
pub(crate) fn decode_stored(list: ListId, bytes: &[u8]) -> Result<Change, StoreError> {
    match catch_unwind(AssertUnwindSafe(|| Change::try_from(bytes))) {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(corrupt(list, format!("change row: {e}"))),
        Err(_) => Err(corrupt(list, "change row crashed the decoder")),
    }
}

fn apply_rows(list: ListId, loaded: &mut Loaded, rows: Vec<Row>) -> Result<(), StoreError> {
    let mut changes = Vec::new();
    for row in rows {
        let hash = hash_from_slice(&row.hash).ok_or_else(|| corrupt(list, "bad hash"))?;
        let deps = hashes_from_blob(&row.deps).ok_or_else(|| corrupt(list, "bad deps"))?;
        loaded
            .graph
            .add(hash, &deps, &row.actor, row.seq.max(0) as u64)
            .map_err(|e| corrupt(list, format!("change graph: {e}")))?;
        loaded.last_id = row.id;
        if let Some(bytes) = row.bytes {
            changes.push(decode_stored(list, &bytes)?);
            loaded.uncompacted += 1;
        }
    }
    if !changes.is_empty() {
        let l = &mut loaded.list;
        match catch_unwind(AssertUnwindSafe(|| l.apply_changes(changes))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(corrupt(list, format!("applying stored changes: {e}"))),
            Err(_) => return Err(corrupt(list, "applying stored changes panicked")),
        }
    }
    Ok(())
}

/// Whether the list has a row in `lists`.
pub(crate) fn list_exists(conn: &Connection, id: ListId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM lists WHERE list_id = ?1")?
        .query_row([id.as_bytes().as_slice()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Load a list from its snapshot and change rows.
pub(crate) fn load_full(
    conn: &Connection,
    actor: &ActorId,
    id: ListId,
) -> Result<Loaded, StoreError> {
    let snapshot: Option<Option<Vec<u8>>> = conn
        .query_row(
            "SELECT snapshot FROM lists WHERE list_id = ?1",
            [id.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(snapshot) = snapshot else {
        return Err(StoreError::UnknownList(id));
    };
    let doc = match snapshot {
        None => Automerge::new(),
        Some(bytes) => match catch_unwind(AssertUnwindSafe(|| Automerge::load(&bytes))) {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(corrupt(id, format!("snapshot: {e}"))),
            Err(_) => return Err(corrupt(id, "snapshot crashed the loader")),
        },
    }
    .with_actor(actor.clone());
    let mut loaded = Loaded {
        list: ShoppingList::from_doc(doc),
        graph: ChangeGraph::new(),
        last_id: 0,
        uncompacted: 0,
    };
    let rows = rows_after(conn, id, 0)?;
    apply_rows(id, &mut loaded, rows)?;
    if loaded.graph.heads() != loaded.list.heads() {
        return Err(corrupt(id, "snapshot and change rows disagree"));
    }
    Ok(loaded)
}

/// Apply rows other processes committed since we last looked. If some of
/// them were already compacted away (bytes NULL), reload from scratch.
pub(crate) fn catch_up(
    conn: &Connection,
    actor: &ActorId,
    id: ListId,
    loaded: &mut Loaded,
) -> Result<(), StoreError> {
    let rows = rows_after(conn, id, loaded.last_id)?;
    if rows.is_empty() {
        return Ok(());
    }
    if rows.iter().any(|r| r.bytes.is_none()) {
        *loaded = load_full(conn, actor, id)?;
        return Ok(());
    }
    apply_rows(id, loaded, rows)
}
