//! The fuzzers' inputs as a protocol-v2 client would send them: changes
//! built on the fixed base list (whose actors are fixed 16-byte ids, not
//! keys) moved to actors that are Ed25519 public keys with fixed seeds, and
//! signed. Used by integration tests that must get a fuzz-found change past
//! signature verification to the deeper layers (e.g. a change that crashes
//! Automerge on apply must still be quarantined by a worker).
//!
//! Any other 16-byte actor that owns a change (a mutated input) gets a key
//! seeded by its own bytes. The move is byte-level, so that a malformed change stays malformed in the
//! same way: every `0x10 ‖ actor` (length byte and 16-byte id, in the header
//! and in the other-actors list) becomes `0x20 ‖ public key`, dependency
//! hashes are rewritten to the moved changes' hashes (and sorted), and the
//! chunk header (length, checksum) is recomputed.

use std::collections::HashMap;

use super::ingest::{base_list, BASE_ACTOR, OTHER_ACTOR};
use crate::ingest::bad_shapes::{change_body, recompute_header};
use crate::ingest::prescan::body_hash;
use crate::signing::{join_frame, DeviceKey};
use crate::{ChangeHash, ListId};

/// The key that stands in for `BASE_ACTOR`.
pub fn base_key() -> DeviceKey {
    DeviceKey::from_seed(&[0xb1; 32]).unwrap_or_else(DeviceKey::generate)
}

/// The key that stands in for `OTHER_ACTOR`.
pub fn other_key() -> DeviceKey {
    DeviceKey::from_seed(&[0xb2; 32]).unwrap_or_else(DeviceKey::generate)
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len() + 64);
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// The base list's history followed by `extra` (changes built on it), moved
/// to key actors and signed for `list` as signed change frames. `None` if a
/// change is not a change chunk with a one-byte dependency count.
pub fn signed_base_and(list: ListId, extra: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    let (base, _) = base_list();
    let history: Vec<Vec<u8>> = base
        .doc()
        .get_changes(&[])
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let mut keys = vec![
        (BASE_ACTOR.to_vec(), base_key()),
        (OTHER_ACTOR.to_vec(), other_key()),
    ];
    let mut moved: HashMap<ChangeHash, ChangeHash> = HashMap::new();
    let mut out = Vec::new();
    for chunk in history
        .iter()
        .map(Vec::as_slice)
        .chain(extra.iter().copied())
    {
        let body = change_body(chunk).ok()?;
        let old_hash = ChangeHash(body_hash(1, body));
        // Dependencies: a one-byte count, then 32-byte hashes.
        let n = usize::from(*body.first()?);
        if n >= 0x80 {
            return None;
        }
        let deps_end = 1 + 32 * n;
        let mut deps: Vec<[u8; 32]> = body
            .get(1..deps_end)?
            .chunks(32)
            .map(|d| {
                let h = ChangeHash(d.try_into().unwrap_or([0; 32]));
                moved.get(&h).copied().unwrap_or(h).0
            })
            .collect();
        deps.sort_unstable();
        if body.get(deps_end) != Some(&0x10) {
            return None;
        }
        let own = body.get(deps_end + 1..deps_end + 17)?;
        if !keys.iter().any(|(a, _)| a.as_slice() == own) {
            // Another 16-byte actor (a mutated input): a key seeded by it.
            let key = DeviceKey::from_seed(&[own, own].concat())?;
            keys.push((own.to_vec(), key));
        }
        let key = keys
            .iter()
            .find(|(a, _)| a.as_slice() == own)
            .map(|(_, k)| k)?;
        let mut rest = body.get(deps_end..)?.to_vec();
        for (actor, k) in &keys {
            let mut from = vec![0x10];
            from.extend_from_slice(actor);
            let mut to = vec![0x20];
            to.extend_from_slice(k.actor().to_bytes());
            rest = replace_all(&rest, &from, &to);
        }
        let mut new_body = vec![body[0]];
        for d in &deps {
            new_body.extend_from_slice(d);
        }
        new_body.extend_from_slice(&rest);
        let new_hash = ChangeHash(body_hash(1, &new_body));
        moved.insert(old_hash, new_hash);
        out.push(join_frame(
            &key.sign(list, &new_hash),
            &recompute_header(&new_body),
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ChangeGraph;
    use crate::ingest::{ingest_frames_in_memory, Authorship, IngestLimits};
    use crate::list::ShoppingList;

    /// The moved base list passes the whole v2 gate (signatures, chain
    /// rule, canonical encoding) and reads the same as the original.
    #[test]
    fn the_moved_base_list_passes_the_signed_gate() {
        let list_id = ListId::new_random();
        let frames = signed_base_and(list_id, &[]).expect("moved");
        let mut list = ShoppingList::from_doc(automerge::Automerge::new());
        let mut graph = ChangeGraph::new();
        let out = ingest_frames_in_memory(
            &mut list,
            &mut graph,
            &frames,
            &IngestLimits::default(),
            Authorship::Signed(list_id),
        )
        .expect("accepted");
        assert_eq!(out.applied.len(), 6);
        assert_eq!(list.view().items, base_list().0.view().items);
    }
}
