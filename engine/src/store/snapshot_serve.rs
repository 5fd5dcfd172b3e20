//! Serving a fresh open (issue 11 deliverable 4, PROTOCOL §4.2.1): a
//! replica answers a requester that has nothing of a list with the list's
//! stored snapshot plus the signed changes after it, instead of re-deriving
//! the whole history change by change (`get_changes` on a compacted list).
//!
//! Compaction keeps snapshots uncompressed (`save_nocompress`), so the
//! stored bytes are sent as they are. A snapshot is offered only when it
//! passes the same structural prescan the receiver runs (one written
//! compressed by an older version is not: the next compaction rewrites it),
//! when its heads are the stored `snapshot_heads`, and when every actor of
//! it has a stored signature over its latest change in it (the chain rule
//! makes that one signature cover the actor's earlier changes). Otherwise
//! the caller answers change by change, as before.

use std::collections::HashMap;

use rusqlite::OptionalExtension;

use super::{Store, StoreError};
use crate::ids::{hash_from_slice, hashes_from_blob};
use crate::ingest::prescan::{prescan_document, DocLimits};
use crate::load::ActorSignature;
use crate::signing::SIGNATURE_LEN;
use crate::{ChangeHash, ListId};

/// Most actors a served snapshot may have: their signatures travel in the
/// reply's header, which is bounded (PROTOCOL "Limits"); a list with more
/// authors is served change by change.
pub const MAX_SNAPSHOT_ACTORS: usize = 128;

/// A list's `snapshot` and `snapshot_heads` columns.
type StoredSnapshot = (Option<Vec<u8>>, Option<Vec<u8>>);

/// A snapshot to send, with what the receiver needs to check it.
#[derive(Debug, Clone)]
pub struct ServedSnapshot {
    /// The document chunk (uncompressed), as stored.
    pub doc: Vec<u8>,
    /// The document's heads (`snapshot_heads`), sorted.
    pub heads: Vec<ChangeHash>,
    /// One signature per actor of the document, over its latest change in it.
    pub signatures: Vec<ActorSignature>,
    /// Signed change frames after the snapshot, dependencies first.
    pub after: Vec<Vec<u8>>,
    /// The list's heads (the snapshot's plus what came after).
    pub list_heads: Vec<ChangeHash>,
}

impl Store {
    /// The snapshot of `id` to serve a fresh open, or `None` when the list
    /// has no snapshot that can be offered (see the module docs).
    ///
    /// # Errors
    /// SQLite failures, or damaged rows after the snapshot.
    pub fn snapshot_for(&mut self, id: ListId) -> Result<Option<ServedSnapshot>, StoreError> {
        let key = id.as_bytes().as_slice();
        let row: Option<StoredSnapshot> = self
            .conn
            .prepare_cached("SELECT snapshot, snapshot_heads FROM lists WHERE list_id = ?1")?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((Some(doc), Some(heads_blob))) = row else {
            return Ok(None);
        };
        let Some(mut heads) = hashes_from_blob(&heads_blob) else {
            return Ok(None);
        };
        heads.sort();
        let Ok(info) = prescan_document(&doc, &DocLimits::default()) else {
            return Ok(None);
        };
        let mut claimed: Vec<ChangeHash> = info.heads.iter().map(|h| ChangeHash(*h)).collect();
        claimed.sort();
        if claimed != heads || info.actors.len() > MAX_SNAPSHOT_ACTORS {
            return Ok(None);
        }
        let latest = self.latest_compacted_per_actor(id)?;
        let mut signatures = Vec::with_capacity(info.actors.len());
        for actor in &info.actors {
            match latest.get(actor) {
                Some(s) => signatures.push(s.clone()),
                None => return Ok(None),
            }
        }
        let (after, list_heads) = self.changes_for(id, &heads)?;
        Ok(Some(ServedSnapshot {
            doc,
            heads,
            signatures,
            after,
            list_heads,
        }))
    }

    /// Per actor, the signature of its latest change the snapshot covers
    /// (rows whose bytes compaction deleted). Actors whose stored signature
    /// is not a whole one are left out.
    fn latest_compacted_per_actor(
        &self,
        id: ListId,
    ) -> Result<HashMap<Vec<u8>, ActorSignature>, StoreError> {
        // SQLite: with MAX(), the bare columns come from the row holding it.
        let mut stmt = self.conn.prepare_cached(
            "SELECT actor, hash, sig, MAX(seq) FROM changes
             WHERE list_id = ?1 AND bytes IS NULL GROUP BY actor",
        )?;
        let mut rows = stmt.query([id.as_bytes().as_slice()])?;
        let mut out = HashMap::new();
        while let Some(r) = rows.next()? {
            let actor: Vec<u8> = r.get(0)?;
            let hash: Vec<u8> = r.get(1)?;
            let sig: Vec<u8> = r.get(2)?;
            let (Some(hash), Ok(signature)) = (
                hash_from_slice(&hash),
                <[u8; SIGNATURE_LEN]>::try_from(sig.as_slice()),
            ) else {
                continue;
            };
            out.insert(actor, ActorSignature { hash, signature });
        }
        Ok(out)
    }
}
