//! A list as held in memory: its document, its change-graph index, and how
//! far into the `changes` table it has read. Loading and catching up with rows
//! other processes committed live here.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{ActorId, Automerge, Change};
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;
use crate::graph::ChangeGraph;
use crate::ids::{hash_from_slice, hashes_from_blob};
use crate::list::ShoppingList;
use crate::ChangeHash;
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
    /// Every change of the snapshot has a row (`lists.graph_rows`); false
    /// for a list opened from a snapshot, whose graph starts from it.
    pub rows_cover_snapshot: bool,
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

/// One change of a loaded document, as its row needs it.
struct Meta {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    actor: Vec<u8>,
    seq: u64,
}

/// The document's changes, dependencies first (Kahn's algorithm: the
/// order automerge lists them in is not promised to be topological).
fn changes_in_order(list: ListId, doc: &Automerge) -> Result<Vec<Meta>, StoreError> {
    let metas: Vec<Meta> = catch_unwind(AssertUnwindSafe(|| {
        doc.get_changes_meta(&[])
            .into_iter()
            .map(|m| Meta {
                hash: m.hash,
                deps: m.deps,
                actor: m.actor.to_bytes().to_vec(),
                seq: m.seq,
            })
            .collect()
    }))
    .map_err(|_| corrupt(list, "listing the snapshot's changes panicked"))?;
    let index: HashMap<ChangeHash, usize> =
        metas.iter().enumerate().map(|(i, m)| (m.hash, i)).collect();
    let mut waiting = vec![0usize; metas.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); metas.len()];
    for (i, m) in metas.iter().enumerate() {
        for d in &m.deps {
            let Some(&j) = index.get(d) else {
                return Err(corrupt(list, "a change of the snapshot lacks a dependency"));
            };
            waiting[i] += 1;
            dependents[j].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..metas.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(metas.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &k in &dependents[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(k);
            }
        }
    }
    if order.len() != metas.len() {
        return Err(corrupt(list, "the snapshot's changes form a cycle"));
    }
    let mut slots: Vec<Option<Meta>> = metas.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect())
}

/// The change graph of a document from its own change metadata, for a
/// list whose snapshot's changes have no rows (`graph_rows = 0`, a fresh
/// open).
pub(crate) fn graph_of_doc(list: ListId, doc: &Automerge) -> Result<ChangeGraph, StoreError> {
    let mut graph = ChangeGraph::new();
    for m in changes_in_order(list, doc)? {
        graph
            .add(m.hash, &m.deps, &m.actor, m.seq)
            .map_err(|e| corrupt(list, format!("change graph: {e}")))?;
    }
    Ok(graph)
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
    let row: Option<(Option<Vec<u8>>, bool)> = conn
        .query_row(
            "SELECT snapshot, graph_rows FROM lists WHERE list_id = ?1",
            [id.as_bytes().as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((snapshot, rows_cover_snapshot)) = row else {
        return Err(StoreError::UnknownList(id));
    };
    let rows_cover_snapshot = rows_cover_snapshot || snapshot.is_none();
    let doc = match snapshot {
        None => Automerge::new(),
        Some(bytes) => match catch_unwind(AssertUnwindSafe(|| Automerge::load(&bytes))) {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(corrupt(id, format!("snapshot: {e}"))),
            Err(_) => return Err(corrupt(id, "snapshot crashed the loader")),
        },
    }
    .with_actor(actor.clone());
    let graph = if rows_cover_snapshot {
        ChangeGraph::new()
    } else {
        graph_of_doc(id, &doc)?
    };
    let mut loaded = Loaded {
        list: ShoppingList::from_doc(doc),
        graph,
        last_id: 0,
        uncompacted: 0,
        rows_cover_snapshot,
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
