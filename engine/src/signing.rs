//! Device keys and change signatures (protocol v2, PROTOCOL.md §2.1).
//!
//! Every device holds an Ed25519 key pair ([`DeviceKey`]). Its Automerge
//! actor id **is** the 32-byte public key, so a receiver needs no key
//! directory: the key that must have signed a change is named inside the
//! change. Every change travels as a *signed change frame*,
//! `signature (64 bytes) ‖ change chunk`, where the signature is over
//! [`signed_bytes`]: a domain tag, the list id and the change hash. Binding
//! the list id stops a change being replayed into another list, where its
//! actor and seq would squat a seq its author has not used there yet.
//!
//! Verification is per actor, not per change: see [`crate::ingest`] for the
//! chain rule that lets one signature cover an actor's history.

use automerge::{ActorId, ChangeHash};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::ListId;

/// Bytes of an Ed25519 signature, the prefix of every change frame.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of a signing actor id (an Ed25519 public key).
pub const ACTOR_LEN: usize = 32;
/// The domain tag that starts every signed message.
pub const DOMAIN: &[u8] = b"shoplist change v2\0";
/// Length of [`signed_bytes`]: tag, list id, change hash.
pub const SIGNED_LEN: usize = DOMAIN.len() + 16 + 32;

/// A device's Ed25519 key pair. `Debug` shows only the public half.
#[derive(Clone)]
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey(actor {})", self.actor().to_hex_string())
    }
}

impl DeviceKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        DeviceKey(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// A key from its 32-byte secret seed (as stored); `None` if the length
    /// is wrong.
    pub fn from_seed(seed: &[u8]) -> Option<Self> {
        let seed: [u8; 32] = seed.try_into().ok()?;
        Some(DeviceKey(SigningKey::from_bytes(&seed)))
    }

    /// The 32-byte secret seed, for the device's store only.
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    pub(crate) fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The device's Automerge actor id: the public key's 32 bytes.
    pub fn actor(&self) -> ActorId {
        ActorId::from(self.0.verifying_key().to_bytes().to_vec())
    }

    /// Sign a change of `list` by its hash.
    pub fn sign(&self, list: ListId, hash: &ChangeHash) -> [u8; SIGNATURE_LEN] {
        self.0.sign(&signed_bytes(list, hash)).to_bytes()
    }

    /// Sign a change chunk and return the signed change frame.
    pub fn frame(&self, list: ListId, change: &automerge::Change) -> Vec<u8> {
        join_frame(&self.sign(list, &change.hash()), change.raw_bytes())
    }
}

/// An Automerge actor id from its bytes (e.g. a public key read from `log`).
pub fn actor_id(bytes: &[u8]) -> ActorId {
    ActorId::from(bytes.to_vec())
}

/// The exact bytes a change signature covers:
/// `"shoplist change v2" 0x00 ‖ list id (16 raw bytes) ‖ change hash (32 bytes)`.
pub fn signed_bytes(list: ListId, hash: &ChangeHash) -> [u8; SIGNED_LEN] {
    let mut out = [0u8; SIGNED_LEN];
    out[..DOMAIN.len()].copy_from_slice(DOMAIN);
    out[DOMAIN.len()..DOMAIN.len() + 16].copy_from_slice(list.as_bytes());
    out[DOMAIN.len() + 16..].copy_from_slice(&hash.0);
    out
}

/// Whether `sig` is `actor`'s signature over the change `hash` of `list`.
/// An actor id that is not a valid Ed25519 public key verifies nothing.
pub fn verify(list: ListId, hash: &ChangeHash, actor: &[u8], sig: &[u8]) -> bool {
    let Ok(actor) = <[u8; ACTOR_LEN]>::try_from(actor) else {
        return false;
    };
    let Ok(sig) = <[u8; SIGNATURE_LEN]>::try_from(sig) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&actor) else {
        return false;
    };
    key.verify_strict(&signed_bytes(list, hash), &Signature::from_bytes(&sig))
        .is_ok()
}

/// Split a signed change frame into its signature and change chunk; `None`
/// if it is shorter than a signature.
pub fn split_frame(frame: &[u8]) -> Option<([u8; SIGNATURE_LEN], &[u8])> {
    if frame.len() < SIGNATURE_LEN {
        return None;
    }
    let (sig, chunk) = frame.split_at(SIGNATURE_LEN);
    Some((sig.try_into().ok()?, chunk))
}

/// The hash of an uncompressed change chunk (type 1): SHA-256 over
/// everything after the magic bytes and checksum, as Automerge computes it.
/// `None` for anything else (compressed chunks are hashed only once
/// decoded). Cheap: no decoding; a chunk that does not decode still gets a
/// hash, which no valid change has.
pub fn chunk_hash(chunk: &[u8]) -> Option<ChangeHash> {
    use sha2::{Digest, Sha256};
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    if chunk.get(..4) != Some(MAGIC.as_slice()) || chunk.get(8) != Some(&1) {
        return None;
    }
    Some(ChangeHash(Sha256::digest(&chunk[8..]).into()))
}

/// [`chunk_hash`] of a signed change frame's chunk.
pub fn frame_hash(frame: &[u8]) -> Option<ChangeHash> {
    split_frame(frame).and_then(|(_, chunk)| chunk_hash(chunk))
}

/// A signed change frame: `sig ‖ chunk`.
pub fn join_frame(sig: &[u8], chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sig.len() + chunk.len());
    out.extend_from_slice(sig);
    out.extend_from_slice(chunk);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_frame_hashes_to_its_change() {
        let key = DeviceKey::from_seed(&[3; 32]).unwrap();
        let ctx = crate::list::EditContext::now("t");
        let mut l = crate::list::ShoppingList::create(key.actor(), "L", &ctx).unwrap();
        l.add_item("milk", 1, &ctx).unwrap();
        let change = l.last_local_change().unwrap();
        let frame = key.frame(crate::ListId::new_random(), &change);
        assert_eq!(frame_hash(&frame), Some(change.hash()));
        let mut other = frame.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        assert_ne!(frame_hash(&other), Some(change.hash()));
        assert_eq!(frame_hash(b"short"), None);
    }

    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_list_hash_and_key() {
        let key = DeviceKey::generate();
        let other = DeviceKey::generate();
        let list = ListId::new_random();
        let hash = ChangeHash([7; 32]);
        let sig = key.sign(list, &hash);
        let actor = key.actor().to_bytes().to_vec();
        assert_eq!(actor.len(), ACTOR_LEN);
        assert!(verify(list, &hash, &actor, &sig));
        assert!(!verify(ListId::new_random(), &hash, &actor, &sig));
        assert!(!verify(list, &ChangeHash([8; 32]), &actor, &sig));
        assert!(!verify(list, &hash, other.actor().to_bytes(), &sig));
        assert!(!verify(list, &hash, &actor[..16], &sig));
        assert!(!verify(list, &hash, &actor, &[0u8; SIGNATURE_LEN]));
        let back = DeviceKey::from_seed(&key.seed()).unwrap();
        assert_eq!(back.actor(), key.actor());
        assert!(!format!("{key:?}").contains(&hex::encode(key.seed())));
    }

    #[test]
    fn frames_split_back_into_signature_and_chunk() {
        let frame = join_frame(&[1u8; SIGNATURE_LEN], b"chunk");
        let (sig, chunk) = split_frame(&frame).unwrap();
        assert_eq!(sig, [1u8; SIGNATURE_LEN]);
        assert_eq!(chunk, b"chunk");
        assert!(split_frame(&[0u8; 63]).is_none());
    }
}
