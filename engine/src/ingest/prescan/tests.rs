//! Unit tests of [`super::prescan_change`]: valid changes pass with the
//! counts automerge decodes, and every bad shape of
//! [`crate::ingest::bad_shapes`] is rejected with its error (DESIGN §5).
//! The helpers here are shared with the other test modules.

use super::*;
use crate::ingest::bad_shapes;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ScalarValue, ROOT};

pub(super) fn limits() -> PrescanLimits {
    PrescanLimits::default()
}

/// A doc with a few edits; returns the raw bytes of every change.
pub(super) fn sample_changes() -> Vec<Vec<u8>> {
    let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
    a.put(ROOT, "name", "groceries").unwrap();
    a.commit_with(CommitOptions::default().with_message("create"));
    let items = a.put_object(ROOT, "items", ObjType::Map).unwrap();
    let milk = a.put_object(&items, "milk", ObjType::Map).unwrap();
    a.put(&milk, "needed", ScalarValue::counter(2)).unwrap();
    a.commit();
    let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
    b.increment(&milk, "needed", 3).unwrap();
    b.put(&milk, "note", "2%").unwrap();
    b.commit();
    a.put(&milk, "done", true).unwrap();
    a.commit();
    a.merge(&mut b).unwrap();
    let list = a.put_object(ROOT, "order", ObjType::List).unwrap();
    for i in 0..5 {
        a.insert(&list, i, i as i64).unwrap();
    }
    a.delete(&list, 2).unwrap();
    a.delete(&items, "milk").unwrap();
    a.commit();
    a.get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

pub(super) fn one_put_change() -> Vec<u8> {
    let mut d = AutoCommit::new().with_actor(ActorId::from([7u8; 16]));
    d.put(ROOT, "k", "v").unwrap();
    d.commit();
    d.get_last_local_change().unwrap().raw_bytes().to_vec()
}

pub(super) fn check_valid(raw: &[u8]) {
    let info = prescan_change(raw, &limits()).unwrap_or_else(|e| panic!("{e}: {raw:02x?}"));
    let c = automerge::Change::try_from(raw).unwrap();
    assert_eq!(info.ops, c.len() as u64);
    assert_eq!(info.seq, c.seq());
    assert_eq!(info.start_op, c.start_op().get());
    assert_eq!(info.deps, c.deps().len());
    assert_eq!(info.actor, c.actor_id().to_bytes());
    assert_eq!(info.other_actors.len(), c.other_actor_ids().len());
    assert_eq!(info.time, c.timestamp());
    assert_eq!(info.hash, c.hash().0);
    assert_eq!(info.message_len, c.message().map_or(0, |m| m.len()));
}

#[test]
fn valid_changes_pass() {
    let changes = sample_changes();
    assert!(changes.len() >= 5);
    for c in &changes {
        check_valid(c);
    }
}

#[test]
fn empty_change_passes() {
    let mut d = AutoCommit::new();
    d.put(ROOT, "a", 1).unwrap();
    d.commit();
    d.empty_change(CommitOptions::default().with_message("nothing"));
    let raw = d.get_last_local_change().unwrap().raw_bytes().to_vec();
    let info = prescan_change(&raw, &limits()).unwrap();
    assert_eq!(info.ops, 0);
    assert_eq!(info.deps, 1);
}

#[test]
fn truncated_is_rejected() {
    let raw = one_put_change();
    for keep in 0..raw.len() {
        let bad = bad_shapes::truncated(&raw, keep);
        assert!(
            matches!(
                prescan_change(&bad, &limits()),
                Err(PrescanError::Truncated { .. })
            ),
            "keep {keep}"
        );
    }
}

#[test]
fn bit_flipped_is_rejected() {
    for raw in sample_changes() {
        for seed in 0..64 {
            let bad = bad_shapes::bit_flipped(&raw, seed);
            assert_eq!(
                prescan_change(&bad, &limits()),
                Err(PrescanError::BadChecksum)
            );
        }
    }
}

#[test]
fn wrong_checksum_is_rejected() {
    let raw = one_put_change();
    let bad = bad_shapes::wrong_checksum(&raw);
    assert_eq!(
        prescan_change(&bad, &limits()),
        Err(PrescanError::BadChecksum)
    );
    // automerge itself does not verify the checksum.
    assert!(automerge::Change::try_from(&bad[..]).is_ok());
}

#[test]
fn other_chunk_types_are_rejected() {
    let raw = one_put_change();
    for ty in [0u8, 2, 3, 9] {
        let bad = bad_shapes::with_chunk_type(&raw, ty).unwrap();
        assert_eq!(
            prescan_change(&bad, &limits()),
            Err(PrescanError::WrongChunkType(ty))
        );
    }
    let mut bad = raw.clone();
    bad[0] = 0;
    assert_eq!(prescan_change(&bad, &limits()), Err(PrescanError::BadMagic));
}

#[test]
fn recompute_header_round_trips() {
    for raw in sample_changes() {
        let body = bad_shapes::change_body(&raw).unwrap();
        assert_eq!(bad_shapes::recompute_header(body), raw);
        let same = bad_shapes::rewrite_columns(&raw, |_| {}).unwrap();
        assert_eq!(same, raw);
    }
}

#[test]
fn junk_byte_in_column_is_rejected_but_automerge_accepts_it() {
    let raw = one_put_change();
    let bad = bad_shapes::junk_byte_in_column(&raw).unwrap();
    assert!(matches!(
        prescan_change(&bad, &limits()),
        Err(PrescanError::RowCountMismatch {
            column: "insert",
            expected: 1,
            actual: 2
        })
    ));
    // Bounded junk: safe to show automerge accepts it in-process.
    let c = automerge::Change::try_from(&bad[..]).unwrap();
    assert_eq!(c.len(), 1);
    // ... and that it breaks save → load.
    let mut doc = automerge::Automerge::new();
    doc.apply_changes([c.clone()]).unwrap();
    let saved = doc.save();
    let loaded = std::panic::catch_unwind(|| automerge::Automerge::load(&saved));
    match &loaded {
        Ok(Ok(d)) => eprintln!("junk: load ok, heads {:?} vs {:?}", d.get_heads(), c.hash()),
        Ok(Err(e)) => eprintln!("junk: load error: {e}"),
        Err(_) => eprintln!("junk: load panicked"),
    }
    let survived = matches!(&loaded, Ok(Ok(d)) if d.get_heads() == vec![c.hash()]);
    assert!(!survived, "junk change unexpectedly survived save→load");
}

#[test]
fn huge_claims_are_rejected() {
    let raw = one_put_change();
    let bad = bad_shapes::huge_allocation_claim(&raw).unwrap();
    assert!(bad.len() < 200, "{}", bad.len());
    assert!(matches!(
        prescan_change(&bad, &limits()),
        Err(PrescanError::TooManyPreds { .. })
    ));
    let unlimited = prescan_change(&bad, &PrescanLimits::unlimited());
    assert_eq!(
        unlimited.map(|i| i.preds),
        Ok(bad_shapes::HUGE_PRED_CLAIM),
        "the shape is otherwise well formed"
    );
    let bad = bad_shapes::huge_op_count_claim(&raw).unwrap();
    assert!(matches!(
        prescan_change(&bad, &limits()),
        Err(PrescanError::TooManyOps { .. })
    ));
    // Well formed otherwise: without limits only the 32-bit op counter
    // (start_op + ops) stops it.
    assert_eq!(
        prescan_change(&bad, &PrescanLimits::unlimited()),
        Err(PrescanError::BadHeaderField { what: "start_op" })
    );
    let bad = bad_shapes::huge_string_claim(&raw).unwrap();
    assert_eq!(
        prescan_change(&bad, &limits()),
        Err(PrescanError::Truncated { what: "key string" })
    );
}

#[test]
fn structural_problems_are_rejected() {
    let raw = one_put_change();
    let mut trailing = raw.clone();
    trailing.push(0);
    assert!(matches!(
        prescan_change(&trailing, &limits()),
        Err(PrescanError::LengthMismatch { .. })
    ));
    let deflated = bad_shapes::rewrite_columns(&raw, |cols| {
        cols[0].0 |= column::DEFLATE_BIT;
    })
    .unwrap();
    assert!(matches!(
        prescan_change(&deflated, &limits()),
        Err(PrescanError::DeflatedColumn { .. })
    ));
    let unknown = bad_shapes::rewrite_columns(&raw, |cols| {
        cols.push((0x200, vec![1]));
    })
    .unwrap();
    assert_eq!(
        prescan_change(&unknown, &limits()),
        Err(PrescanError::UnknownColumn { spec: 0x200 })
    );
    let reordered = bad_shapes::rewrite_columns(&raw, |cols| cols.reverse()).unwrap();
    assert!(matches!(
        prescan_change(&reordered, &limits()),
        Err(PrescanError::ColumnOrder { .. })
    ));
    let extra_raw = bad_shapes::rewrite_columns(&raw, |cols| {
        for (s, d) in cols.iter_mut() {
            if *s == column::VAL_RAW {
                d.push(b'x');
            }
        }
    })
    .unwrap();
    assert!(matches!(
        prescan_change(&extra_raw, &limits()),
        Err(PrescanError::ValueLengthMismatch { .. })
    ));
    let bad_actor = bad_shapes::rewrite_columns(&raw, |cols| {
        cols.insert(0, (column::OBJ_ACTOR, vec![0x7f, 5]));
        cols.insert(1, (column::OBJ_CTR, vec![0x7f, 1]));
    })
    .unwrap();
    assert!(matches!(
        prescan_change(&bad_actor, &limits()),
        Err(PrescanError::ActorIndexOutOfRange { index: 5, .. })
    ));
    let small = PrescanLimits {
        max_change_bytes: 10,
        ..limits()
    };
    assert!(matches!(
        prescan_change(&raw, &small),
        Err(PrescanError::TooLarge { .. })
    ));
    let few_ops = PrescanLimits {
        max_ops_per_byte: 0,
        ..limits()
    };
    assert!(matches!(
        prescan_change(&raw, &few_ops),
        Err(PrescanError::TooManyOps {
            claimed: 1,
            limit: 0
        })
    ));
}

#[test]
fn limits_on_header_fields() {
    let mut d = AutoCommit::new();
    d.put(ROOT, "a", 1).unwrap();
    d.commit();
    let mut e = d.fork();
    e.put(ROOT, "b", 1).unwrap();
    e.commit();
    d.put(ROOT, "c", 1).unwrap();
    d.commit();
    d.merge(&mut e).unwrap();
    d.put(ROOT, "d", 1).unwrap();
    d.commit_with(CommitOptions::default().with_message("hello world"));
    let raw = d.get_last_local_change().unwrap().raw_bytes().to_vec();
    assert_eq!(prescan_change(&raw, &limits()).unwrap().deps, 2);
    let l = PrescanLimits {
        max_deps: 1,
        ..limits()
    };
    assert!(matches!(
        prescan_change(&raw, &l),
        Err(PrescanError::TooManyDeps { claimed: 2, .. })
    ));
    let l = PrescanLimits {
        max_message: 5,
        ..limits()
    };
    assert!(matches!(
        prescan_change(&raw, &l),
        Err(PrescanError::MessageTooLong { len: 11, .. })
    ));
    let l = PrescanLimits {
        max_actor_len: 8,
        ..limits()
    };
    assert!(matches!(
        prescan_change(&raw, &l),
        Err(PrescanError::BadActor { len: 16, .. })
    ));
    // Swap the two dependency hashes: unsorted.
    let body = bad_shapes::change_body(&raw).unwrap().to_vec();
    let mut swapped = body.clone();
    swapped[1..33].copy_from_slice(&body[33..65]);
    swapped[33..65].copy_from_slice(&body[1..33]);
    assert_eq!(
        prescan_change(&bad_shapes::recompute_header(&swapped), &limits()),
        Err(PrescanError::DepsNotSorted)
    );
}
