//! Ingestion tests: one per known-bad shape (DESIGN §5), each checking the
//! typed error *and* that the store still loads with nothing lost; plus the
//! store-level convergence property with ingestion as the only merge path.

use automerge::{ActorId, Change, ExpandedChange};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::ingest::bad_shapes;
use crate::ingest::prescan::PrescanError;
use crate::ingest::*;
use crate::list::{EditContext, ShoppingList};
use crate::signing::{join_frame, DeviceKey, SIGNATURE_LEN};
use crate::store::{Store, StoreError, StoreOptions};
use crate::ListId;

/// A frame with no valid signature (for shapes refused before it matters).
fn unsigned(chunk: &[u8]) -> Vec<u8> {
    join_frame(&[0u8; SIGNATURE_LEN], chunk)
}

/// The author of the replica's list: its key, the list, its document.
#[derive(Clone)]
struct Author {
    key: DeviceKey,
    id: ListId,
    list: ShoppingList,
}

impl Author {
    /// The signed frame of the author's latest change.
    fn last_frame(&self) -> Vec<u8> {
        self.key
            .frame(self.id, &self.list.last_local_change().unwrap())
    }
}

fn ctx() -> EditContext {
    EditContext::now("t")
}

/// A replica store holding a list with some history, plus the authoring
/// document (to make further valid changes from).
fn replica_with_history() -> (tempfile::TempDir, Store, ListId, Author) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("r.db")).unwrap();
    let id = ListId::new_random();
    let key = DeviceKey::generate();
    let list = ShoppingList::create(key.actor(), "L", &ctx()).unwrap();
    let mut author = Author { key, id, list };
    let mut sent = vec![author.last_frame()];
    for i in 0..5 {
        author
            .list
            .add_item(&format!("item{i}"), 1, &ctx())
            .unwrap();
        sent.push(author.last_frame());
    }
    let out = store.ingest(id, &sent).unwrap();
    assert_eq!(out.applied.len(), 6);
    (dir, store, id, author)
}

/// The author's next change, as a bare chunk.
fn next_change(author: &mut Author) -> Vec<u8> {
    author.list.add_item("next", 1, &ctx()).unwrap();
    author
        .list
        .last_local_change()
        .unwrap()
        .raw_bytes()
        .to_vec()
}

/// The author's next change, as a signed frame.
fn next_frame(author: &mut Author) -> Vec<u8> {
    author.list.add_item("next", 1, &ctx()).unwrap();
    author.last_frame()
}

/// Feed `bad`, expect a rejection matching `check`, then prove the store is
/// intact: it reopens, passes integrity_check, has the same list, and still
/// accepts the good change.
fn assert_rejected_and_intact(
    make_bad: impl Fn(&mut Author) -> Vec<u8>,
    check: impl Fn(&IngestError) -> bool,
) {
    let (dir, mut store, id, mut author) = replica_with_history();
    let bad = make_bad(&mut author.clone());
    let before = store.view(id).unwrap();
    let heads = store.heads(id).unwrap();
    match store.ingest(id, &[bad]) {
        Err(StoreError::Ingest(e)) => assert!(check(&e), "unexpected error: {e:?}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(store.heads(id).unwrap(), heads);
    drop(store);
    let mut store = Store::open(dir.path().join("r.db")).unwrap();
    assert!(store.integrity_ok().unwrap());
    assert_eq!(store.view(id).unwrap(), before);
    let good = next_frame(&mut author);
    assert_eq!(store.ingest(id, &[good]).unwrap().applied.len(), 1);
}

#[test]
fn truncated_change_is_rejected() {
    for frac in [0usize, 1, 2, 5, 9] {
        let make = move |a: &mut Author| {
            let good = next_change(a);
            let keep = (good.len() * frac / 10).min(good.len() - 1);
            unsigned(&bad_shapes::truncated(&good, keep))
        };
        assert_rejected_and_intact(make, |e| matches!(e, IngestError::Malformed { .. }));
    }
}

#[test]
fn bit_flipped_change_is_rejected() {
    for seed in 0..20u64 {
        let make = move |a: &mut Author| unsigned(&bad_shapes::bit_flipped(&next_change(a), seed));
        assert_rejected_and_intact(make, |e| {
            matches!(
                e,
                IngestError::Malformed { .. } | IngestError::Undecodable { .. }
            )
        });
    }
}

#[test]
fn wrong_checksum_is_rejected() {
    let make = |a: &mut Author| unsigned(&bad_shapes::wrong_checksum(&next_change(a)));
    assert_rejected_and_intact(make, |e| {
        matches!(
            e,
            IngestError::Malformed {
                source: PrescanError::BadChecksum,
                ..
            }
        )
    });
}

/// A junk byte inside a column, with length and checksum recomputed: Automerge
/// accepts it, but it would break save→load. Caught by decode→re-encode.
#[test]
fn junk_byte_inside_a_column_is_rejected() {
    let make =
        |a: &mut Author| unsigned(&bad_shapes::junk_byte_in_column(&next_change(a)).unwrap());
    assert_rejected_and_intact(make, |e| {
        matches!(
            e,
            IngestError::NotCanonical { .. }
                | IngestError::Malformed { .. }
                | IngestError::Undecodable { .. }
        )
    });
}

/// A tiny change claiming a huge allocation never reaches Automerge.
#[test]
fn tiny_change_claiming_huge_allocation_is_rejected_before_decoding() {
    type Shape = fn(&[u8]) -> Result<Vec<u8>, PrescanError>;
    let shapes: [Shape; 3] = [
        bad_shapes::huge_allocation_claim,
        bad_shapes::huge_op_count_claim,
        bad_shapes::huge_string_claim,
    ];
    for shape in shapes {
        let make = move |a: &mut Author| {
            let bad = shape(&next_change(a)).unwrap();
            assert!(bad.len() < 4096);
            unsigned(&bad)
        };
        assert_rejected_and_intact(make, |e| matches!(e, IngestError::Malformed { .. }));
    }
}

#[test]
fn oversized_change_is_rejected_before_decoding() {
    assert_rejected_and_intact(
        |_| vec![0x85u8; 2 * 1024 * 1024],
        |e| {
            matches!(
                e,
                IngestError::Malformed {
                    source: PrescanError::TooLarge { .. },
                    ..
                }
            )
        },
    );
}

/// A change whose dependency we lack is not applied and not queued: the
/// missing hash is reported so the sender can send from further back.
#[test]
fn missing_dependency_is_reported_not_queued() {
    let (_d, mut store, id, mut author) = replica_with_history();
    let first = next_frame(&mut author);
    let second = next_frame(&mut author);
    let first_hash = Change::try_from(&first[SIGNATURE_LEN..]).unwrap().hash();
    let heads = store.heads(id).unwrap();
    let out = store.ingest(id, std::slice::from_ref(&second)).unwrap();
    assert!(out.applied.is_empty());
    assert_eq!(out.missing, vec![first_hash]);
    assert_eq!(store.heads(id).unwrap(), heads);
    // Sending both (in any order) applies both.
    let out = store.ingest(id, &[second, first]).unwrap();
    assert_eq!(out.applied.len(), 2);
}

/// An unknown actor whose first change claims seq 3 (dependencies present):
/// a sequence gap is rejected; a reused seq too.
#[test]
fn unknown_actor_with_seq_gap_is_rejected() {
    let make = |a: &mut Author| {
        let good = next_change(a);
        let mut expanded: ExpandedChange = Change::try_from(good.as_slice()).unwrap().decode();
        expanded.actor_id = ActorId::random();
        expanded.seq = 3;
        expanded.hash = None;
        // Depend on what the replica has (the author's state before `good`).
        expanded.deps = Change::try_from(good.as_slice()).unwrap().deps().to_vec();
        unsigned(Change::from(expanded).raw_bytes())
    };
    assert_rejected_and_intact(make, |e| {
        matches!(
            e,
            IngestError::SeqDiscontinuity {
                expected: 1,
                got: 3,
                ..
            }
        )
    });
}

/// A copied data dir: two devices share a key and both sign their own
/// change with the same actor and seq. The second is an `actor_clash`
/// (PROTOCOL §5.2), although its signature is valid.
#[test]
fn reused_seq_from_a_forked_actor_is_an_actor_clash() {
    let (_d, mut store, id, author) = replica_with_history();
    let mut fork_a = author.clone();
    let mut fork_b = author.clone();
    let a = next_frame(&mut fork_a);
    fork_b.list.add_item("different", 1, &ctx()).unwrap();
    let b = fork_b.last_frame();
    store.ingest(id, &[a]).unwrap();
    match store.ingest(id, &[b]) {
        Err(StoreError::Ingest(e @ IngestError::ActorClash { seq: 7, .. })) => {
            assert_eq!(e.error_code(), crate::protocol::ErrorCode::ActorClash)
        }
        other => panic!("expected an actor clash, got {other:?}"),
    }
}

#[test]
fn duplicates_are_idempotent() {
    let (_d, mut store, id, mut author) = replica_with_history();
    let c = next_frame(&mut author);
    assert_eq!(
        store
            .ingest(id, std::slice::from_ref(&c))
            .unwrap()
            .applied
            .len(),
        1
    );
    let again = store.ingest(id, &[c.clone(), c]).unwrap();
    assert_eq!((again.applied.len(), again.duplicates), (0, 2));
}

#[test]
fn a_bad_change_rejects_the_whole_request() {
    let (_d, mut store, id, mut author) = replica_with_history();
    let good = next_frame(&mut author);
    let heads = store.heads(id).unwrap();
    let bad = unsigned(&bad_shapes::wrong_checksum(&good[SIGNATURE_LEN..]));
    assert!(store.ingest(id, &[good, bad]).is_err());
    assert_eq!(store.heads(id).unwrap(), heads);
}

#[test]
fn group_commit_rejects_one_request_and_keeps_the_others() {
    let (_d, mut store, id, mut author) = replica_with_history();
    let good = next_frame(&mut author);
    let bad = unsigned(&bad_shapes::wrong_checksum(&next_change(
        &mut author.clone(),
    )));
    let reqs: Vec<(ListId, &[Vec<u8>])> = vec![
        (id, std::slice::from_ref(&bad)),
        (id, std::slice::from_ref(&good)),
    ];
    let results = store.ingest_many(&reqs).unwrap();
    assert!(results[0].is_err());
    assert_eq!(results[1].as_ref().unwrap().applied.len(), 1);
}

// ---------- store-level convergence property (DESIGN §8) ----------

/// Random edits on 3 replica stores, exchanged through `ingest` only, in
/// random batches and orders with duplicates; missing dependencies are
/// answered by re-sending from further back (as the proxy does). All stores
/// converge to identical heads and lists; counters equal the increments.
#[test]
fn stores_converge_through_ingestion() {
    let seed: u64 = std::env::var("SHOPLIST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0002);
    eprintln!("stores_converge_through_ingestion: seed {seed} (set SHOPLIST_SEED to change)");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 12,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let script = proptest::collection::vec(
        (
            0usize..3,
            0u8..4,
            1i64..4,
            proptest::collection::vec((0usize..3, 0usize..3), 0..3),
        ),
        5..30,
    );
    runner
        .run(&script, |script| {
            let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
            let opts = StoreOptions {
                compact_after: 7,
                ..StoreOptions::default()
            };
            let mut stores: Vec<Store> = dirs
                .iter()
                .map(|d| Store::open_with(d.path().join("s.db"), opts.clone()).unwrap())
                .collect();
            let id = stores[0].create_list("L", &ctx()).unwrap();
            let (init, _) = stores[0].changes_for(id, &[]).unwrap();
            for s in stores.iter_mut().skip(1) {
                s.ingest(id, &init).unwrap();
            }
            let mut total = std::collections::BTreeMap::<u8, i64>::new();
            for (who, item, n, exchanges) in script {
                stores[who]
                    .edit(id, |l| l.add_item(&format!("p{item}"), n, &ctx()))
                    .unwrap();
                *total.entry(item).or_default() += n;
                for (from, to) in exchanges {
                    if from == to {
                        continue;
                    }
                    // Send only the newest change the receiver lacks (a "delay"), then
                    // repair from its heads like the proxy does.
                    let to_heads = stores[to].heads(id).unwrap();
                    let (delta, _) = stores[from].changes_for(id, &to_heads).unwrap();
                    if let Some(last) = delta.last() {
                        let out = stores[to].ingest(id, std::slice::from_ref(last)).unwrap();
                        if !out.missing.is_empty() {
                            stores[to].ingest(id, &delta).unwrap();
                        }
                    }
                }
            }
            for to in 0..3 {
                for from in 0..3 {
                    let h = stores[to].heads(id).unwrap();
                    let (delta, _) = stores[from].changes_for(id, &h).unwrap();
                    let mut dup = delta.clone();
                    dup.reverse();
                    dup.extend(delta);
                    stores[to].ingest(id, &dup).unwrap();
                }
            }
            let v0 = stores[0].view(id).unwrap();
            for s in stores.iter_mut() {
                prop_assert_eq!(s.heads(id).unwrap(), stores_heads(&mut stores_first(&dirs)));
                prop_assert_eq!(&s.view(id).unwrap(), &v0);
            }
            for (item, n) in total {
                let it = v0
                    .items
                    .iter()
                    .find(|i| i.key == format!("p{item}"))
                    .unwrap();
                prop_assert_eq!(it.needed, n);
            }
            Ok(())
        })
        .unwrap();

    fn stores_first(dirs: &[tempfile::TempDir]) -> Store {
        Store::open(dirs[0].path().join("s.db")).unwrap()
    }
    fn stores_heads(s: &mut Store) -> Vec<crate::ChangeHash> {
        let id = s.list_ids().unwrap()[0];
        s.heads(id).unwrap()
    }
}
