//! Serving a fresh open (issue 11 deliverable 4, PROTOCOL §4.2.1): a
//! replica answers a requester that has nothing of a list with the list as
//! one compacted document, instead of re-deriving and sending its whole
//! history change by change.
//!
//! The document is saved uncompressed (`save_nocompress`, what the
//! receiver's prescan accepts) from the replica's in-memory copy when asked:
//! 1–5 ms, cheaper than listing thousands of changes, and never behind a
//! compaction that has not finished yet (a fresh open right after a big
//! push would otherwise get the history from a replica still compacting).
//! Stored snapshots stay compressed. A snapshot is offered for lists of at
//! least [`MIN_SNAPSHOT_CHANGES`] changes (below that, replaying is as
//! cheap), of at most [`MAX_SNAPSHOT_ACTORS`] actors, and only when every
//! actor's latest change has its stored signature: by the chain rule that
//! one signature covers the actor's earlier changes.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rusqlite::OptionalExtension;

use super::{Store, StoreError};
use crate::load::ActorSignature;
use crate::signing::SIGNATURE_LEN;
use crate::{ChangeHash, ListId};

/// Most actors a served snapshot may have: their signatures travel in the
/// reply's header, which is bounded (PROTOCOL "Limits"); a list with more
/// authors is served change by change.
pub const MAX_SNAPSHOT_ACTORS: usize = 128;

/// Fewest changes a list needs before a fresh open gets a snapshot.
pub const MIN_SNAPSHOT_CHANGES: usize = 256;

/// A snapshot to send, with what the receiver needs to check it.
#[derive(Debug, Clone)]
pub struct ServedSnapshot {
    /// The document chunk, uncompressed.
    pub doc: Vec<u8>,
    /// The document's heads (the list's), sorted.
    pub heads: Vec<ChangeHash>,
    /// One signature per actor of the document, over its latest change.
    pub signatures: Vec<ActorSignature>,
}

impl Store {
    /// The list `id` as one document for a fresh open, or `None` when it is
    /// not offered (see the module docs).
    ///
    /// # Errors
    /// SQLite failures, or a list that cannot be loaded.
    pub fn snapshot_for(&mut self, id: ListId) -> Result<Option<ServedSnapshot>, StoreError> {
        let (l, conn) = self.loaded(id)?;
        if l.graph.len() < MIN_SNAPSHOT_CHANGES || !l.rows_cover_snapshot {
            return Ok(None);
        }
        let tips: Vec<ChangeHash> = l.graph.actor_tips().map(|(_, h)| h).collect();
        if tips.len() > MAX_SNAPSHOT_ACTORS {
            return Ok(None);
        }
        let mut stmt =
            conn.prepare_cached("SELECT sig FROM changes WHERE list_id = ?1 AND hash = ?2")?;
        let mut signatures = Vec::with_capacity(tips.len());
        for hash in tips {
            let sig: Option<Vec<u8>> = stmt
                .query_row(
                    rusqlite::params![id.as_bytes().as_slice(), hash.0.as_slice()],
                    |r| r.get(0),
                )
                .optional()?;
            match sig.and_then(|s| <[u8; SIGNATURE_LEN]>::try_from(s.as_slice()).ok()) {
                Some(signature) => signatures.push(ActorSignature { hash, signature }),
                None => return Ok(None),
            }
        }
        let doc = l.list.doc();
        let Ok(bytes) = catch_unwind(AssertUnwindSafe(|| doc.save_nocompress())) else {
            return Ok(None);
        };
        Ok(Some(ServedSnapshot {
            doc: bytes,
            heads: l.graph.heads(),
            signatures,
        }))
    }
}
