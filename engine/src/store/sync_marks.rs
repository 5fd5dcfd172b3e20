//! Sync bookkeeping on top of the store (DESIGN §4): the heads a cloud quorum
//! acknowledged, what is still pending, and the change bytes a peer lacks.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::ids::{hash_from_slice, hashes_from_blob, hashes_to_blob};
use crate::signing::{join_frame, SIGNATURE_LEN};
use crate::{ChangeHash, ListId};

/// Above this many missing changes, one scan of the list's rows beats
/// per-hash lookups.
const SCAN_THRESHOLD: usize = 64;

impl Store {
    /// The heads a cloud quorum last acknowledged for `id` (empty if never).
    pub fn acked_heads(&self, id: ListId) -> Result<Vec<ChangeHash>, StoreError> {
        let blob: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT acked_heads FROM lists WHERE list_id = ?1")?
            .query_row([id.as_bytes().as_slice()], |r| r.get(0))
            .optional()?;
        let blob = blob.ok_or(StoreError::UnknownList(id))?;
        hashes_from_blob(&blob).ok_or_else(|| StoreError::Corrupt {
            list: id,
            detail: "acked heads".into(),
        })
    }

    /// Record that a cloud quorum holds everything up to `heads`.
    ///
    /// Written without an fsync even when the store fsyncs every commit:
    /// the mark is bookkeeping, not data. A power loss can only make it
    /// older, and then the next sync resends changes the cloud already has
    /// (ingestion is idempotent). It still survives a process crash (WAL).
    /// This saves one fsync per sync round trip.
    pub fn set_acked_heads(&mut self, id: ListId, heads: &[ChangeHash]) -> Result<(), StoreError> {
        let n = self.relaxed(|s| {
            let mut stmt = s
                .conn
                .prepare_cached("UPDATE lists SET acked_heads = ?2 WHERE list_id = ?1")?;
            Ok(stmt.execute(params![id.as_bytes().as_slice(), hashes_to_blob(heads)])?)
        })?;
        if n == 0 {
            return Err(StoreError::UnknownList(id));
        }
        Ok(())
    }

    /// The end of a sync round trip in one commit (without an fsync):
    /// [`Self::set_acked_heads`] and [`Self::note_cloud_seen`] together, so
    /// a sync costs one bookkeeping commit, not two.
    pub fn mark_synced(
        &mut self,
        id: ListId,
        heads: &[ChangeHash],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let key = id.as_bytes().as_slice();
        self.relaxed(|s| {
            let tx = s.conn.transaction()?;
            let n = tx
                .prepare_cached("UPDATE lists SET acked_heads = ?2 WHERE list_id = ?1")?
                .execute(params![key, hashes_to_blob(heads)])?;
            if n == 0 {
                return Err(StoreError::UnknownList(id));
            }
            super::local_state::upsert_cloud_seen(&tx, id, at_ms)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// A cloud quorum holds everything up to `heads` as well (a `notify`
    /// whose heads are all here, PROTOCOL §6.2): the acknowledged heads
    /// become the heads of both histories, so changes that came with a push
    /// are not counted as pending (nor sent back). Written like
    /// [`Self::set_acked_heads`], and only when it changes something.
    pub fn note_cloud_holds(&mut self, id: ListId, heads: &[ChangeHash]) -> Result<(), StoreError> {
        let acked = self.acked_heads(id)?;
        let mut both = acked.clone();
        both.extend_from_slice(heads);
        let merged = self.read(id, |_, g| g.heads_of(&both))?;
        let mut before = acked;
        before.sort_unstable();
        if merged != before {
            self.set_acked_heads(id, &merged)?;
        }
        Ok(())
    }

    /// Local changes the cloud has not acknowledged yet.
    pub fn pending(&mut self, id: ListId) -> Result<usize, StoreError> {
        let acked = self.acked_heads(id)?;
        self.read(id, |_, g| g.missing_for(&acked).len())
    }

    /// The signed change frames (`signature ‖ chunk`, PROTOCOL §2.1) of
    /// every change a peer with heads `have` lacks, in topological order,
    /// and our heads. Cost grows with the delta.
    pub fn changes_for(
        &mut self,
        id: ListId,
        have: &[ChangeHash],
    ) -> Result<(Vec<Vec<u8>>, Vec<ChangeHash>), StoreError> {
        let (l, conn) = self.loaded(id)?;
        let missing = l.graph.missing_for(have);
        let heads = l.graph.heads();
        // A fresh open's snapshot changes have no row, so no signature here.
        let rowless = !l.rows_cover_snapshot;
        if missing.is_empty() {
            return Ok((Vec::new(), heads));
        }
        let key = id.as_bytes().as_slice();
        let mut found: HashMap<ChangeHash, Option<Vec<u8>>> = HashMap::with_capacity(missing.len());
        let mut sigs: HashMap<ChangeHash, Vec<u8>> = HashMap::with_capacity(missing.len());
        if missing.len() > SCAN_THRESHOLD {
            let want: HashSet<&ChangeHash> = missing.iter().collect();
            let mut stmt =
                conn.prepare_cached("SELECT hash, bytes, sig FROM changes WHERE list_id = ?1")?;
            let mut rows = stmt.query([key])?;
            while let Some(r) = rows.next()? {
                let h: Vec<u8> = r.get(0)?;
                if let Some(h) = hash_from_slice(&h).filter(|h| want.contains(h)) {
                    found.insert(h, r.get(1)?);
                    sigs.insert(h, r.get(2)?);
                }
            }
        } else {
            let mut stmt = conn.prepare_cached(
                "SELECT bytes, sig FROM changes WHERE list_id = ?1 AND hash = ?2",
            )?;
            for h in &missing {
                let b: Option<(Option<Vec<u8>>, Vec<u8>)> = stmt
                    .query_row(params![key, h.0.as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((bytes, sig)) = b {
                    found.insert(*h, bytes);
                    sigs.insert(*h, sig);
                }
            }
        }
        let signed = |h: &ChangeHash, chunk: &[u8]| -> Result<Vec<u8>, StoreError> {
            match sigs.get(h) {
                Some(sig) if sig.len() == SIGNATURE_LEN => Ok(join_frame(sig, chunk)),
                None if rowless => Err(StoreError::NotSignedHere {
                    list: id,
                    change: crate::ids::hash_to_hex(h),
                }),
                _ => Err(StoreError::Corrupt {
                    list: id,
                    detail: format!(
                        "change {} has no stored signature",
                        crate::ids::hash_to_hex(h)
                    ),
                }),
            }
        };
        if rowless {
            if let Some(h) = missing.iter().find(|h| !found.contains_key(h)) {
                return Err(StoreError::NotSignedHere {
                    list: id,
                    change: crate::ids::hash_to_hex(h),
                });
            }
        }
        for (h, bytes) in &found {
            if let Some(bytes) = bytes {
                if !stored_bytes_match(h, bytes) {
                    return Err(StoreError::Corrupt {
                        list: id,
                        detail: format!(
                            "stored bytes of change {} do not match its hash",
                            crate::ids::hash_to_hex(h)
                        ),
                    });
                }
            }
        }
        if missing
            .iter()
            .all(|h| matches!(found.get(h), Some(Some(_))))
        {
            let mut out = Vec::with_capacity(missing.len());
            for h in &missing {
                if let Some(chunk) = found.remove(h).flatten() {
                    out.push(signed(h, &chunk)?);
                }
            }
            return Ok((out, heads));
        }
        // Some were compacted into the snapshot: let Automerge re-derive them.
        let known: Vec<ChangeHash> = have
            .iter()
            .filter(|h| l.graph.contains(h))
            .copied()
            .collect();
        let mut by_hash: HashMap<ChangeHash, Vec<u8>> = l
            .list
            .doc()
            .get_changes(&known)
            .into_iter()
            .map(|c| (c.hash(), c.raw_bytes().to_vec()))
            .collect();
        let mut out = Vec::with_capacity(missing.len());
        for h in &missing {
            match found.remove(h).flatten().or_else(|| by_hash.remove(h)) {
                Some(b) => out.push(signed(h, &b)?),
                None => {
                    return Err(StoreError::Corrupt {
                        list: id,
                        detail: format!(
                            "change {} is indexed but not stored",
                            crate::ids::hash_to_hex(h)
                        ),
                    })
                }
            }
        }
        Ok((out, heads))
    }
}

/// Whether a stored change chunk still hashes to `hash` (a damaged row is
/// never served). Chunks are stored uncompressed (type 1, PROTOCOL §2),
/// hashed by [`crate::signing::chunk_hash`]; compressed chunks (type 2) are
/// not hashed here (loading them decodes and checks them); anything else is
/// damage.
fn stored_bytes_match(hash: &ChangeHash, bytes: &[u8]) -> bool {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    match bytes.get(8) {
        Some(1) => crate::signing::chunk_hash(bytes).as_ref() == Some(hash),
        Some(2) => bytes.get(..4) == Some(MAGIC.as_slice()),
        _ => false,
    }
}
