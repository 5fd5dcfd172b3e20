//! Guarded loader for a compacted document from the network (issue 11
//! deliverable 4, DESIGN §4 "Fresh open", §5). This is the one allowed way
//! to `load` network bytes:
//!
//! 1. [`prescan_document`]: size, magic, checksum, document chunk type only
//!    (no compression), and every length, count and run bounded before
//!    automerge sees a byte — the mechanism that contains allocation bombs
//!    for changes ([`crate::ingest::prescan`]) applied to documents;
//! 2. the heads the document claims must equal the heads the replicas
//!    advertised (cheap early refusal);
//! 3. `Automerge::load` under `catch_unwind`;
//! 4. the loaded document's heads must equal the advertised heads (a
//!    tampered snapshot with valid structure fails here);
//! 5. signatures per actor, not per change: for every actor of the
//!    document one signed change frame signature over one of its changes
//!    (its latest, by the chain rule of [`crate::signing`]) must verify.
//!
//! On any failure the caller falls back to the change-by-change path and
//! stores nothing. Sans-IO: no SQLite, no sockets.

#[cfg(test)]
mod tests;

use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{Automerge, ChangeHash};

use crate::ingest::prescan::{prescan_document, DocLimits, PrescanError};
use crate::signing;
use crate::ListId;

/// A signature travelling beside a snapshot: one per actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorSignature {
    /// The change the signature covers (an actor's latest in the snapshot).
    pub hash: ChangeHash,
    /// Ed25519 signature over [`signing::signed_bytes`].
    pub signature: [u8; signing::SIGNATURE_LEN],
}

/// Why a snapshot was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The structural prescan refused the bytes.
    #[error("snapshot refused by prescan: {0}")]
    Malformed(#[from] PrescanError),
    /// The heads claimed (or loaded) are not the advertised heads.
    #[error("snapshot heads differ from the advertised heads")]
    WrongHeads,
    /// automerge refused the document.
    #[error("snapshot did not load: {0}")]
    Undecodable(String),
    /// automerge panicked on the document.
    #[error("automerge panicked loading the snapshot")]
    Panicked,
    /// An actor of the document has no valid signature.
    #[error("actor {actor} has no valid signature")]
    Unsigned {
        /// Hex of the actor id.
        actor: String,
    },
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort();
    h.dedup();
    h
}

/// Load an untrusted snapshot; see the module docs for the checks.
/// `signatures` is `None` for unsigned (protocol v1) lists, where every
/// check except the signatures applies.
///
/// # Errors
/// A [`LoadError`] naming the first check that failed.
pub fn load_untrusted(
    list: ListId,
    bytes: &[u8],
    advertised_heads: &[ChangeHash],
    signatures: Option<&[ActorSignature]>,
    limits: &DocLimits,
) -> Result<Automerge, LoadError> {
    let info = prescan_document(bytes, limits)?;
    let claimed: Vec<ChangeHash> = info.heads.iter().map(|h| ChangeHash(*h)).collect();
    let advertised = sorted(advertised_heads);
    if claimed != advertised {
        return Err(LoadError::WrongHeads);
    }
    let doc = match catch_unwind(AssertUnwindSafe(|| Automerge::load(bytes))) {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => return Err(LoadError::Undecodable(e.to_string())),
        Err(_) => return Err(LoadError::Panicked),
    };
    if sorted(&doc.get_heads()) != advertised {
        return Err(LoadError::WrongHeads);
    }
    if let Some(sigs) = signatures {
        verify_actors(list, &doc, &info.actors, sigs)?;
    }
    Ok(doc)
}

/// Per actor, not per change: each actor of the document needs one
/// signature, by its own key, over a change of the document that it
/// authored.
fn verify_actors(
    list: ListId,
    doc: &Automerge,
    actors: &[Vec<u8>],
    sigs: &[ActorSignature],
) -> Result<(), LoadError> {
    for actor in actors {
        let ok = sigs.iter().any(|s| {
            doc.get_change_meta_by_hash(&s.hash)
                .is_some_and(|c| c.actor.to_bytes() == actor.as_slice())
                && signing::verify(list, &s.hash, actor, &s.signature)
        });
        if !ok {
            return Err(LoadError::Unsigned {
                actor: actor.iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
    }
    Ok(())
}
