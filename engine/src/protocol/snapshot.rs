//! The snapshot part of a `synced` reply (fresh open, PROTOCOL.md §4.2.1):
//! a compacted document split into frames of at most
//! [`Limits::max_change_bytes`](super::Limits) each, described by
//! [`SnapshotMeta`] in the header, followed by the signed change frames
//! after it. Sans-IO: splitting and joining only; the bytes are checked by
//! [`crate::load::load_untrusted`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ids::{hash_from_slice, ChangeHash};
use crate::load::ActorSignature;
use crate::signing::SIGNATURE_LEN;

/// Largest snapshot accepted (all its frames together): 16 MiB.
pub const MAX_SNAPSHOT_BYTES: usize = 16 << 20;

/// Header field `snapshot` of `synced`: the first `frames` frames are one
/// document chunk (concatenated); the rest are signed change frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Number of frames the document occupies (≥ 1).
    pub frames: u32,
    /// Heads of the document (the replica's `snapshot_heads`).
    #[serde(with = "super::message::hex_hashes")]
    pub heads: Vec<ChangeHash>,
    /// One signature per actor of the document, over that actor's latest
    /// change in it, as hex: `hash` and 64-byte `sig`.
    pub signatures: Vec<ActorSig>,
}

/// One actor's signature beside a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorSig {
    /// The change signed (hex).
    pub hash: String,
    /// The Ed25519 signature (hex, 128 characters).
    pub sig: String,
}

/// Why the snapshot frames of a reply cannot be joined.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SnapshotFramesError {
    /// `frames` is 0 or more than the frames present.
    #[error("snapshot claims {claimed} frames, reply has {present}")]
    FrameCount {
        /// Frames claimed.
        claimed: u32,
        /// Frames present.
        present: usize,
    },
    /// The joined document is larger than [`MAX_SNAPSHOT_BYTES`].
    #[error("snapshot of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// A signature entry is not a 32-byte hash and a 64-byte signature in hex.
    #[error("snapshot signature entry {0} is malformed")]
    BadSignature(usize),
}

impl ActorSig {
    /// The wire form of a signature.
    pub fn from_signature(s: &ActorSignature) -> Self {
        ActorSig {
            hash: hex::encode(s.hash.0),
            sig: hex::encode(s.signature),
        }
    }
}

/// The header field and the document's frames for a snapshot reply: the
/// document cut into frames of at most `frame_limit` bytes.
pub fn snapshot_frames(
    doc: &[u8],
    heads: &[ChangeHash],
    signatures: &[ActorSignature],
    frame_limit: usize,
) -> (SnapshotMeta, Vec<Bytes>) {
    let frames = split_snapshot(doc, frame_limit);
    let meta = SnapshotMeta {
        frames: u32::try_from(frames.len()).unwrap_or(u32::MAX),
        heads: heads.to_vec(),
        signatures: signatures.iter().map(ActorSig::from_signature).collect(),
    };
    (meta, frames)
}

/// The signatures of `meta`, decoded.
///
/// # Errors
/// [`SnapshotFramesError::BadSignature`] naming the first malformed entry.
pub fn signatures_of(meta: &SnapshotMeta) -> Result<Vec<ActorSignature>, SnapshotFramesError> {
    meta.signatures
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let hash = hex::decode(&s.hash)
                .ok()
                .and_then(|h| hash_from_slice(&h))
                .ok_or(SnapshotFramesError::BadSignature(i))?;
            let signature = hex::decode(&s.sig)
                .ok()
                .and_then(|b| <[u8; SIGNATURE_LEN]>::try_from(b.as_slice()).ok())
                .ok_or(SnapshotFramesError::BadSignature(i))?;
            Ok(ActorSignature { hash, signature })
        })
        .collect()
}

/// Split a document into frames of at most `frame_limit` bytes (≥ 1 frame).
pub fn split_snapshot(doc: &[u8], frame_limit: usize) -> Vec<Bytes> {
    let step = frame_limit.max(1);
    let mut out: Vec<Bytes> = doc.chunks(step).map(Bytes::copy_from_slice).collect();
    if out.is_empty() {
        out.push(Bytes::new());
    }
    out
}

/// Join the first `meta.frames` frames into the document; returns it and
/// the remaining (change) frames.
///
/// # Errors
/// A bad frame count, or a document over [`MAX_SNAPSHOT_BYTES`].
pub fn join_snapshot<'a>(
    meta: &SnapshotMeta,
    frames: &'a [Bytes],
) -> Result<(Vec<u8>, &'a [Bytes]), SnapshotFramesError> {
    let n = meta.frames as usize;
    if n == 0 || n > frames.len() {
        return Err(SnapshotFramesError::FrameCount {
            claimed: meta.frames,
            present: frames.len(),
        });
    }
    let (doc_frames, rest) = frames.split_at(n);
    let total: usize = doc_frames.iter().map(Bytes::len).sum();
    if total > MAX_SNAPSHOT_BYTES {
        return Err(SnapshotFramesError::TooLarge(total));
    }
    let mut doc = Vec::with_capacity(total);
    for f in doc_frames {
        doc.extend_from_slice(f);
    }
    Ok((doc, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(frames: u32) -> SnapshotMeta {
        SnapshotMeta {
            frames,
            heads: vec![],
            signatures: vec![],
        }
    }

    #[test]
    fn split_then_join_gives_the_document_and_the_changes() {
        let doc: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let mut frames = split_snapshot(&doc, 1000);
        assert_eq!(frames.len(), 3);
        frames.push(Bytes::from_static(b"change"));
        let (joined, rest) = join_snapshot(&meta(3), &frames).unwrap();
        assert_eq!(joined, doc);
        assert_eq!(rest, &[Bytes::from_static(b"change")]);
    }

    #[test]
    fn bad_frame_counts_are_refused() {
        let frames = split_snapshot(b"abc", 2);
        assert!(join_snapshot(&meta(0), &frames).is_err());
        assert!(join_snapshot(&meta(3), &frames).is_err());
    }

    #[test]
    fn an_oversized_snapshot_is_refused() {
        let frames = vec![
            Bytes::from(vec![0u8; MAX_SNAPSHOT_BYTES]),
            Bytes::from_static(b"x"),
        ];
        assert_eq!(
            join_snapshot(&meta(2), &frames),
            Err(SnapshotFramesError::TooLarge(MAX_SNAPSHOT_BYTES + 1))
        );
    }

    #[test]
    fn signatures_round_trip_and_malformed_ones_are_refused() {
        let sig = ActorSignature {
            hash: ChangeHash([7; 32]),
            signature: [9; SIGNATURE_LEN],
        };
        let (mut m, frames) = snapshot_frames(
            b"document",
            &[ChangeHash([7; 32])],
            std::slice::from_ref(&sig),
            3,
        );
        assert_eq!((m.frames, frames.len()), (3, 3));
        assert_eq!(signatures_of(&m).unwrap(), vec![sig]);
        m.signatures[0].sig.pop();
        assert_eq!(signatures_of(&m), Err(SnapshotFramesError::BadSignature(0)));
        m.signatures[0].sig = "zz".repeat(SIGNATURE_LEN);
        assert_eq!(signatures_of(&m), Err(SnapshotFramesError::BadSignature(0)));
    }

    #[test]
    fn meta_round_trips_through_json() {
        let m = SnapshotMeta {
            frames: 2,
            heads: vec![ChangeHash([3; 32])],
            signatures: vec![ActorSig {
                hash: "ab".into(),
                sig: "cd".into(),
            }],
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<SnapshotMeta>(&json).unwrap(), m);
    }
}
