//! The local SQLite store (DESIGN §3), used by the CLI for the device's lists
//! and by every cloud worker for its replicas.
//!
//! - One database file; WAL mode; every operation is one transaction, so a
//!   `kill -9` at any instant leaves either the old or the new state.
//! - Changes are stored one per row; every [`StoreOptions::compact_after`]
//!   rows a list is compacted: its snapshot is rewritten and the bytes of the
//!   rows it covers are deleted, in the same transaction ([`compaction`]);
//!   with [`StoreOptions::compact_in_background`] the snapshot is built on a
//!   compaction thread and written in its own transaction ([`compactor`]).
//! - Per list, the heads a cloud quorum acknowledged ([`sync_marks`]).
//! - The device's own edits fsync (`synchronous=FULL`); what it receives
//!   from the cloud and its bookkeeping commit without ([`relaxed`]).
//! - The device's Ed25519 signing key and client id live in `meta`; its
//!   Automerge actor id is the key's public half ([`crate::signing`]). Every
//!   change row keeps the signature it was stored with; [`Store::changes_for`]
//!   serves signed change frames.
//! - Several processes may share one file (a CLI command while
//!   `sync --watch` runs): before every read or write a cached list catches
//!   up with rows other processes committed, and writes take SQLite's write
//!   lock (`BEGIN IMMEDIATE`) first, so the device's actor never reuses a
//!   sequence number.
//!
//! Untrusted change bytes enter only through [`Store::ingest`] /
//! [`Store::ingest_many`] (the store side, `store/ingest/`: quarantine,
//! rows, group commit), which run the sans-IO checks of [`crate::ingest`].

mod cluster;
mod compaction;
mod compactor;
mod damage;
mod error;
mod fresh_open;
mod ingest;
mod loaded;
mod local_state;
mod recovery;
mod relaxed;
mod schema;
mod snapshot_serve;
mod sync_marks;

use std::num::NonZeroUsize;
use std::path::Path;

use automerge::ActorId;
use lru::LruCache;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub use compactor::CompactionHook;
pub use error::StoreError;
pub use ingest::IngestStats;
pub(crate) use loaded::{list_exists as loaded_list_exists, load_full, Loaded};
pub use recovery::Rebuilt;
pub use schema::SCHEMA_VERSION;
pub use snapshot_serve::{ServedSnapshot, MAX_SNAPSHOT_ACTORS, MIN_SNAPSHOT_CHANGES};

use crate::graph::ChangeGraph;
use crate::ids::hashes_to_blob;
use crate::ingest::IngestLimits;
use crate::list::{EditContext, HistoryEntry, ListError, ListView, ShoppingList};
use crate::signing::DeviceKey;
use crate::{ChangeHash, ClientId, ListId};

/// Tuning knobs of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Lists kept decoded in memory (least recently used are evicted).
    pub cache_lists: usize,
    /// Compact a list once this many change rows are not in its snapshot.
    pub compact_after: usize,
    /// `PRAGMA synchronous=FULL` (fsync on every commit) instead of NORMAL.
    pub synchronous_full: bool,
    /// Limits applied to incoming change bytes.
    pub ingest: IngestLimits,
    /// This process is the only writer of the file (a cloud worker): cached
    /// lists need no catch-up query before each use.
    pub sole_writer: bool,
    /// Build snapshots on a compaction thread and write them in their own
    /// transaction ([`compactor`]), instead of inline after the commit that
    /// made a list due (cloud workers: other lists are not delayed).
    pub compact_in_background: bool,
    /// Group commit applies same-list requests in one `apply_changes` call
    /// (A/B switch; each request keeps its own outcome either way).
    pub merge_same_list: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_lists: 256,
            compact_after: 1000,
            synchronous_full: true,
            ingest: IngestLimits::default(),
            sole_writer: false,
            compact_in_background: false,
            merge_same_list: true,
        }
    }
}

/// The SQLite store. See the module docs.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) cache: LruCache<ListId, Loaded>,
    pub(crate) actor: ActorId,
    pub(crate) key: DeviceKey,
    client_id: ClientId,
    pub(crate) opts: StoreOptions,
    compactor: Option<compactor::Compactor>,
    compaction_hook: Option<CompactionHook>,
    pub(crate) stats: IngestStats,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("actor", &self.actor)
            .field("cached", &self.cache.len())
            .finish()
    }
}

fn now_ms() -> i64 {
    EditContext::now("").now_ms
}

/// Make sure `id` is decoded in `cache` and caught up with the database.
pub(crate) fn ensure_loaded<'a>(
    cache: &'a mut LruCache<ListId, Loaded>,
    conn: &Connection,
    actor: &ActorId,
    id: ListId,
    sole_writer: bool,
) -> Result<&'a mut Loaded, StoreError> {
    if cache.contains(&id) {
        if sole_writer {
            return cache.get_mut(&id).ok_or(StoreError::UnknownList(id));
        }
        let caught_up = match cache.get_mut(&id) {
            Some(l) => loaded::catch_up(conn, actor, id, l),
            None => Ok(()),
        };
        if let Err(e) = caught_up {
            cache.pop(&id);
            return Err(e);
        }
    } else {
        let l = loaded::load_full(conn, actor, id)?;
        cache.put(id, l);
    }
    cache.get_mut(&id).ok_or(StoreError::UnknownList(id))
}

/// Insert one change row with its signature; returns its id.
pub(crate) fn insert_change(
    conn: &Connection,
    id: ListId,
    change: &automerge::Change,
    sig: &[u8],
) -> Result<i64, StoreError> {
    insert_change_row(
        conn,
        id,
        &change.hash(),
        change.deps(),
        change.actor_id().to_bytes(),
        change.seq(),
        Some(change.raw_bytes()),
        sig,
    )
}

/// Insert one change row from its parts (`bytes` `None`: covered by the
/// list's snapshot); returns its id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_change_row(
    conn: &Connection,
    id: ListId,
    hash: &ChangeHash,
    deps: &[ChangeHash],
    actor: &[u8],
    seq: u64,
    bytes: Option<&[u8]>,
    sig: &[u8],
) -> Result<i64, StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO changes (list_id, hash, deps, actor, seq, bytes, sig) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        id.as_bytes().as_slice(),
        hash.0.as_slice(),
        hashes_to_blob(deps),
        actor,
        seq as i64,
        bytes,
        sig,
    ])?;
    Ok(conn.last_insert_rowid())
}

impl Store {
    /// Open (or create) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Open (or create) the store at `path`.
    pub fn open_with(path: impl AsRef<Path>, opts: StoreOptions) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        schema::migrate(&conn, opts.synchronous_full)?;
        let (key, client_id) = identity(&conn)?;
        let cap = NonZeroUsize::new(opts.cache_lists.max(1)).unwrap_or(NonZeroUsize::MIN);
        Ok(Store {
            conn,
            cache: LruCache::new(cap),
            actor: key.actor(),
            key,
            client_id,
            opts,
            compactor: None,
            compaction_hook: None,
            stats: IngestStats::default(),
        })
    }

    /// This device's Automerge actor id (its public signing key).
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// This device's client id.
    pub fn client_id(&self) -> ClientId {
        self.client_id
    }

    /// Lists currently decoded in memory.
    pub fn cached_lists(&self) -> usize {
        self.cache.len()
    }

    /// Create a list locally (one transaction).
    pub fn create_list(&mut self, name: &str, ctx: &EditContext) -> Result<ListId, StoreError> {
        let id = ListId::new_random();
        let list = ShoppingList::create(self.actor.clone(), name, ctx)?;
        let change = list
            .last_local_change()
            .ok_or_else(|| ListError::Automerge("creation made no change".into()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO lists (list_id, created_at) VALUES (?1, ?2)",
            params![id.as_bytes().as_slice(), now_ms()],
        )?;
        let row = insert_change(&tx, id, &change, &self.key.sign(id, &change.hash()))?;
        tx.commit()?;
        let mut graph = ChangeGraph::new();
        graph
            .add(
                change.hash(),
                change.deps(),
                change.actor_id().to_bytes(),
                change.seq(),
            )
            .map_err(|e| ListError::Automerge(e.to_string()))?;
        self.cache.put(
            id,
            Loaded {
                list,
                graph,
                last_id: row,
                uncompacted: 1,
                rows_cover_snapshot: true,
            },
        );
        Ok(id)
    }

    /// All lists in this store, oldest first.
    pub fn list_ids(&self) -> Result<Vec<ListId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT list_id FROM lists ORDER BY created_at, list_id")?;
        let ids = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids
            .into_iter()
            .filter_map(|b| uuid::Uuid::from_slice(&b).ok())
            .filter_map(|u| ListId::parse(&u.to_string()).ok())
            .collect())
    }

    /// Whether the list is in this store.
    pub fn has_list(&self, id: ListId) -> Result<bool, StoreError> {
        loaded::list_exists(&self.conn, id)
    }

    /// Run `f` on the list, caught up with the database.
    pub fn read<T>(
        &mut self,
        id: ListId,
        f: impl FnOnce(&ShoppingList, &ChangeGraph) -> T,
    ) -> Result<T, StoreError> {
        let (l, _) = self.loaded(id)?;
        Ok(f(&l.list, &l.graph))
    }

    /// The list caught up with the database, and the connection beside it
    /// (outside a transaction of this store's own).
    pub(crate) fn loaded(&mut self, id: ListId) -> Result<(&mut Loaded, &Connection), StoreError> {
        let l = ensure_loaded(
            &mut self.cache,
            &self.conn,
            &self.actor,
            id,
            self.opts.sole_writer,
        )?;
        Ok((l, &self.conn))
    }

    /// The materialized list.
    pub fn view(&mut self, id: ListId) -> Result<ListView, StoreError> {
        self.read(id, |l, _| l.view())
    }

    /// The list's history.
    pub fn history(&mut self, id: ListId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read(id, |l, _| l.history())
    }

    /// The list's heads.
    pub fn heads(&mut self, id: ListId) -> Result<Vec<ChangeHash>, StoreError> {
        self.read(id, |_, g| g.heads())
    }

    /// Edit a list: `f` makes one edit (one change); the change is stored in
    /// the same transaction. If `f` fails nothing is stored.
    pub fn edit<T>(
        &mut self,
        id: ListId,
        f: impl FnOnce(&mut ShoppingList) -> Result<T, ListError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let result = (|| {
            let l = ensure_loaded(&mut self.cache, &tx, &self.actor, id, self.opts.sole_writer)?;
            let before = l.graph.max_seq(self.actor.to_bytes());
            let out = f(&mut l.list)?;
            if let Some(change) = l.list.last_local_change().filter(|c| c.seq() > before) {
                if change.seq() != before + 1 {
                    return Err(StoreError::List(ListError::Automerge(
                        "an edit must make exactly one change".into(),
                    )));
                }
                let row = insert_change(&tx, id, &change, &self.key.sign(id, &change.hash()))?;
                l.graph
                    .add(
                        change.hash(),
                        change.deps(),
                        change.actor_id().to_bytes(),
                        change.seq(),
                    )
                    .map_err(|e| ListError::Automerge(e.to_string()))?;
                l.last_id = row;
                l.uncompacted += 1;
            }
            Ok(out)
        })();
        let result = result.and_then(|out| tx.commit().map(|_| out).map_err(StoreError::from));
        match result {
            Ok(out) => {
                self.maybe_compact(id)?;
                Ok(out)
            }
            Err(e) => {
                // The in-memory document may be ahead of the database.
                self.cache.pop(&id);
                Err(e)
            }
        }
    }

    /// Forget the decoded copy of a list (it is reloaded on next use).
    pub fn evict(&mut self, id: ListId) {
        self.cache.pop(&id);
    }

    /// Number of quarantined inputs.
    pub fn quarantined(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` == "ok".
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }
}

/// The meta key of the device's signing key (its 32-byte secret seed).
pub(crate) const KEY_META: &str = "signing_key";

fn identity(conn: &Connection) -> Result<(DeviceKey, ClientId), StoreError> {
    let get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()?)
    };
    let key = match get(KEY_META)?.and_then(|b| DeviceKey::from_seed(&b)) {
        Some(k) => k,
        None => {
            let k = DeviceKey::generate();
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                params![KEY_META, k.seed().as_slice()],
            )?;
            // Another process may have won the race: read back what is stored.
            get(KEY_META)?
                .and_then(|b| DeviceKey::from_seed(&b))
                .unwrap_or(k)
        }
    };
    let client = match get("client_id")?.and_then(|b| uuid::Uuid::from_slice(&b).ok()) {
        Some(u) => ClientId(u),
        None => {
            let c = ClientId::new_random();
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('client_id', ?1)",
                [c.0.as_bytes().as_slice()],
            )?;
            get("client_id")?
                .and_then(|b| uuid::Uuid::from_slice(&b).ok())
                .map(ClientId)
                .unwrap_or(c)
        }
    };
    Ok((key, client))
}

#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
