//! Tests of the guarded loader: prescan refusals (truncated, huge counts,
//! bad lengths, compressed, wrong heads), a tampered snapshot refused by the
//! heads check, a forged actor signature refused.

use automerge::ChangeHash;

use super::{load_untrusted, ActorSignature, LoadError};
use crate::ingest::prescan::{prescan_document, write_uleb, DocLimits, PrescanError};
use crate::list::{EditContext, ShoppingList};
use crate::signing::DeviceKey;
use crate::ListId;

/// A list of `n` items by one signed device; returns it and the key.
fn list_with(n: usize, key: &DeviceKey) -> ShoppingList {
    let ctx = EditContext::now("test");
    let mut l = ShoppingList::create(key.actor(), "groceries", &ctx).unwrap();
    for i in 0..n {
        l.add_item(&format!("item {i}"), 1, &ctx).unwrap();
    }
    l
}

fn latest_sig(list: ListId, l: &ShoppingList, key: &DeviceKey) -> ActorSignature {
    let c = l.last_local_change().unwrap();
    ActorSignature {
        hash: c.hash(),
        signature: key.sign(list, &c.hash()),
    }
}

/// Re-frame a document body with a correct header (magic, checksum, length).
fn reframe(body: &[u8]) -> Vec<u8> {
    let hash = crate::ingest::prescan::body_hash(0, body);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend_from_slice(&hash[..4]);
    out.push(0);
    write_uleb(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// The body of a document chunk (after magic, checksum, type, length).
fn body(doc: &[u8]) -> Vec<u8> {
    let mut i = 9;
    while doc[i] & 0x80 != 0 {
        i += 1;
    }
    doc[i + 1..].to_vec()
}

#[test]
fn a_real_snapshot_passes_and_loads_with_its_heads() {
    let key = DeviceKey::from_seed(&[7; 32]).unwrap();
    let list = ListId::from_slice(&[1; 16]).unwrap();
    let mut l = list_with(200, &key);
    let bytes = l.doc_mut().save_nocompress();
    let info = prescan_document(&bytes, &DocLimits::default()).unwrap();
    assert_eq!(info.actors.len(), 1);
    let sig = latest_sig(list, &l, &key);
    let doc = load_untrusted(
        list,
        &bytes,
        &l.heads(),
        Some(&[sig]),
        &DocLimits::default(),
    )
    .unwrap();
    assert_eq!(doc.get_heads(), l.heads());
    assert_eq!(ShoppingList::from_doc(doc).view(), l.view());
}

#[test]
fn every_truncation_is_refused_by_the_prescan() {
    let key = DeviceKey::from_seed(&[7; 32]).unwrap();
    let bytes = list_with(20, &key).doc_mut().save_nocompress();
    for cut in 0..bytes.len() {
        assert!(
            prescan_document(&bytes[..cut], &DocLimits::default()).is_err(),
            "cut {cut}"
        );
    }
}

#[test]
fn compressed_documents_are_refused() {
    let key = DeviceKey::from_seed(&[7; 32]).unwrap();
    let mut l = list_with(300, &key);
    let bytes = l.doc_mut().save();
    let err = prescan_document(&bytes, &DocLimits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            PrescanError::DeflatedColumn { .. } | PrescanError::WrongChunkType(2)
        ),
        "{err}"
    );
}

#[test]
fn a_huge_actor_count_is_refused() {
    let mut b = Vec::new();
    write_uleb(&mut b, 1 << 40);
    let err = prescan_document(&reframe(&b), &DocLimits::default()).unwrap_err();
    assert!(matches!(err, PrescanError::TooManyActors { .. }), "{err}");
}

#[test]
fn a_huge_rle_run_is_refused() {
    // No actors, no heads, one change column (actor type) claiming 2^50
    // rows in three bytes, no op columns.
    let mut col = Vec::new();
    crate::ingest::prescan::write_sleb(&mut col, 1 << 50);
    col.push(0);
    let mut b = vec![0, 0, 1, 0x02];
    write_uleb(&mut b, col.len() as u64);
    b.push(0);
    b.extend_from_slice(&col);
    let err = prescan_document(&reframe(&b), &DocLimits::default()).unwrap_err();
    assert!(matches!(err, PrescanError::TooManyOps { .. }), "{err}");
}

#[test]
fn a_column_length_beyond_the_input_is_refused() {
    let b = vec![0, 0, 1, 0x02, 0xff, 0x7f, 0];
    let err = prescan_document(&reframe(&b), &DocLimits::default()).unwrap_err();
    assert!(matches!(err, PrescanError::Truncated { .. }), "{err}");
}

#[test]
fn wrong_advertised_heads_are_refused() {
    let key = DeviceKey::from_seed(&[7; 32]).unwrap();
    let list = ListId::from_slice(&[1; 16]).unwrap();
    let mut l = list_with(5, &key);
    let bytes = l.doc_mut().save_nocompress();
    let err = load_untrusted(
        list,
        &bytes,
        &[ChangeHash([9; 32])],
        None,
        &DocLimits::default(),
    );
    assert_eq!(err.unwrap_err(), LoadError::WrongHeads);
}

#[test]
fn a_tampered_snapshot_with_valid_structure_is_refused_by_the_heads_check() {
    let key = DeviceKey::from_seed(&[7; 32]).unwrap();
    let list = ListId::from_slice(&[1; 16]).unwrap();
    let honest = list_with(5, &key);
    // Same device key, different content: a structurally valid document
    // whose header claims the honest heads.
    let mut other = list_with(6, &key);
    let other_bytes = other.doc_mut().save_nocompress();
    let mut b = body(&other_bytes);
    let other_heads = other.heads();
    let honest_heads = honest.heads();
    assert_eq!(other_heads.len(), 1);
    let pos = b.windows(32).position(|w| w == other_heads[0].0).unwrap();
    b[pos..pos + 32].copy_from_slice(&honest_heads[0].0);
    let forged = reframe(&b);
    prescan_document(&forged, &DocLimits::default()).unwrap();
    let err = load_untrusted(list, &forged, &honest_heads, None, &DocLimits::default());
    assert!(
        matches!(err, Err(LoadError::WrongHeads | LoadError::Undecodable(_))),
        "{err:?}"
    );
}

#[test]
fn a_forged_actor_signature_is_refused() {
    let key = DeviceKey::from_seed(&[7; 32]).unwrap();
    let mallory = DeviceKey::from_seed(&[8; 32]).unwrap();
    let list = ListId::from_slice(&[1; 16]).unwrap();
    let mut l = list_with(5, &key);
    let bytes = l.doc_mut().save_nocompress();
    let honest = latest_sig(list, &l, &key);
    let forged = ActorSignature {
        hash: honest.hash,
        signature: mallory.sign(list, &honest.hash),
    };
    let err = load_untrusted(
        list,
        &bytes,
        &l.heads(),
        Some(&[forged]),
        &DocLimits::default(),
    );
    assert!(matches!(err, Err(LoadError::Unsigned { .. })), "{err:?}");
    let other_list = ListId::from_slice(&[2; 16]).unwrap();
    let replayed = latest_sig(other_list, &l, &key);
    let err = load_untrusted(
        list,
        &bytes,
        &l.heads(),
        Some(&[replayed]),
        &DocLimits::default(),
    );
    assert!(matches!(err, Err(LoadError::Unsigned { .. })), "{err:?}");
    assert!(load_untrusted(
        list,
        &bytes,
        &l.heads(),
        Some(&[honest]),
        &DocLimits::default()
    )
    .is_ok());
}
