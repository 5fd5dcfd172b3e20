//! Tests of same-list merging in group commit ([`super::merged`]): one apply
//! call per list, a bad request keeps its own error, and merged outcomes
//! equal unmerged ones on random request mixes.

use automerge::Change;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::ingest::IngestError;
use crate::list::{EditContext, ShoppingList};
use crate::signing::{join_frame, DeviceKey, SIGNATURE_LEN};
use crate::store::{IngestStats, Store, StoreError, StoreOptions};
use crate::ListId;

fn ctx() -> EditContext {
    EditContext::now("t")
}

fn store(dir: &tempfile::TempDir, name: &str, merge: bool) -> Store {
    let opts = StoreOptions {
        merge_same_list: merge,
        sole_writer: true,
        ..StoreOptions::default()
    };
    Store::open_with(dir.path().join(name), opts).unwrap()
}

/// An author of `id` making `n` signed changes (the first creates the list
/// unless `base` is given, whose change it builds on).
fn frames(key: &DeviceKey, id: ListId, base: Option<&Change>, n: usize) -> Vec<(Change, Vec<u8>)> {
    let mut list = match base {
        None => ShoppingList::create(key.actor(), "L", &ctx()).unwrap(),
        Some(c) => {
            let mut l = ShoppingList::empty(key.actor());
            l.apply_changes(vec![c.clone()]).unwrap();
            l.add_item("first", 1, &ctx()).unwrap();
            l
        }
    };
    let mut out = Vec::new();
    let push = |list: &ShoppingList, out: &mut Vec<(Change, Vec<u8>)>| {
        let c = list.last_local_change().unwrap();
        out.push((c.clone(), key.frame(id, &c)));
    };
    push(&list, &mut out);
    for i in 1..n {
        list.add_item(&format!("item {i}"), 1, &ctx()).unwrap();
        push(&list, &mut out);
    }
    out
}

#[test]
fn same_list_requests_take_one_apply_call() {
    let dir = tempfile::tempdir().unwrap();
    let id = ListId::new_random();
    let chain = frames(&DeviceKey::generate(), id, None, 8);
    for merge in [true, false] {
        let mut s = store(&dir, &format!("m{merge}.db"), merge);
        let reqs: Vec<Vec<Vec<u8>>> = chain.iter().map(|(_, f)| vec![f.clone()]).collect();
        let batch: Vec<(ListId, &[Vec<u8>])> = reqs.iter().map(|r| (id, r.as_slice())).collect();
        let out = s.ingest_many(&batch).unwrap();
        assert!(out
            .iter()
            .all(|o| o.as_ref().is_ok_and(|o| o.applied.len() == 1)));
        let stats = s.ingest_stats();
        let want = if merge {
            IngestStats {
                requests: 8,
                apply_calls: 1,
                merged_groups: 1,
                fallbacks: 0,
            }
        } else {
            IngestStats {
                requests: 8,
                apply_calls: 8,
                merged_groups: 0,
                fallbacks: 0,
            }
        };
        assert_eq!(stats, want, "merge={merge}");
        assert_eq!(s.view(id).unwrap().items.len(), 7);
    }
}

#[test]
fn a_bad_request_keeps_its_error_and_spoils_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let id = ListId::new_random();
    let key = DeviceKey::generate();
    let chain = frames(&key, id, None, 4);
    let other = frames(&DeviceKey::generate(), id, Some(&chain[0].0), 2);
    let forger = DeviceKey::generate();
    let forged = forger.frame(id, &other[0].0);
    let reqs: Vec<Vec<Vec<u8>>> = vec![
        vec![chain[0].1.clone(), chain[1].1.clone()],
        vec![forged],
        vec![chain[3].1.clone()], // misses chain[2]
        vec![b"not a change at all, long enough to be a frame 0123456789012345678901234567890123456789".to_vec()],
        vec![chain[2].1.clone(), other[0].1.clone()],
    ];
    let batch: Vec<(ListId, &[Vec<u8>])> = reqs.iter().map(|r| (id, r.as_slice())).collect();
    let mut merged = store(&dir, "merged.db", true);
    let mut plain = store(&dir, "plain.db", false);
    let a = merged.ingest_many(&batch).unwrap();
    let b = plain.ingest_many(&batch).unwrap();
    assert_eq!(a, b);
    assert_eq!(a[0].as_ref().unwrap().applied.len(), 2);
    assert!(
        matches!(a[1], Err(IngestError::Forged { .. })),
        "{:?}",
        a[1]
    );
    assert_eq!(a[2].as_ref().unwrap().missing, vec![chain[2].0.hash()]);
    assert!(a[3].is_err());
    assert_eq!(a[4].as_ref().unwrap().applied.len(), 2);
    assert_eq!(merged.ingest_stats().apply_calls, 1);
    assert_eq!(merged.heads(id).unwrap(), plain.heads(id).unwrap());
    drop(merged);
    let mut reopened = store(&dir, "merged.db", true);
    assert_eq!(reopened.heads(id).unwrap(), plain.heads(id).unwrap());
    assert!(reopened.integrity_ok().unwrap());
}

type Outcomes = Vec<Result<crate::ingest::IngestOutcome, IngestError>>;

/// Ingest `reqs` into a fresh store; the replies and each list's heads.
fn run(
    dir: &tempfile::TempDir,
    name: &str,
    merge: bool,
    reqs: &[(ListId, Vec<Vec<u8>>)],
    ids: &[ListId],
) -> (Outcomes, Vec<String>) {
    let mut s = store(dir, name, merge);
    let batch: Vec<(ListId, &[Vec<u8>])> = reqs.iter().map(|(id, r)| (*id, r.as_slice())).collect();
    let out = s.ingest_many(&batch).unwrap();
    let heads = ids
        .iter()
        .map(|id| format!("{:?}", s.heads(*id).map_err(|e: StoreError| e.to_string())))
        .collect();
    (out, heads)
}

#[test]
fn merged_and_unmerged_outcomes_agree() {
    let seed: u64 = std::env::var("SHOPLIST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0011);
    eprintln!("merged_and_unmerged_outcomes_agree: seed {seed} (set SHOPLIST_SEED to change)");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 24,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let (a, b) = (ListId::new_random(), ListId::new_random());
    let a1 = frames(&DeviceKey::generate(), a, None, 6);
    let a2 = frames(&DeviceKey::generate(), a, Some(&a1[0].0), 4);
    let b1 = frames(&DeviceKey::generate(), b, None, 4);
    let forged = join_frame(&[7u8; SIGNATURE_LEN], a2[3].0.raw_bytes());
    let garbage = vec![0x85u8; 80];
    let mut pool_a: Vec<Vec<u8>> = a1.iter().chain(&a2).map(|(_, f)| f.clone()).collect();
    pool_a.extend([forged, garbage.clone()]);
    let mut pool_b: Vec<Vec<u8>> = b1.iter().map(|(_, f)| f.clone()).collect();
    pool_b.push(garbage);
    let request = (any::<bool>(), proptest::collection::vec(0usize..12, 1..5));
    let strategy = proptest::collection::vec(request, 1..10);
    let case = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |script| {
            let reqs: Vec<(ListId, Vec<Vec<u8>>)> = script
                .iter()
                .map(|(on_b, picks)| {
                    let (id, pool) = if *on_b { (b, &pool_b) } else { (a, &pool_a) };
                    (
                        id,
                        picks.iter().map(|p| pool[p % pool.len()].clone()).collect(),
                    )
                })
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let n = case.get();
            case.set(n + 1);
            let merged = run(&dir, &format!("m{n}.db"), true, &reqs, &[a, b]);
            let plain = run(&dir, &format!("p{n}.db"), false, &reqs, &[a, b]);
            prop_assert_eq!(merged, plain);
            Ok(())
        })
        .unwrap();
}
