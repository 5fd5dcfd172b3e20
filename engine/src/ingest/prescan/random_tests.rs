//! Property tests of [`super::prescan_change`]: changes from random valid
//! edit sequences pass with the exact op count, and arbitrary or mutated
//! bytes never make it panic (seeded; DESIGN §5, §8).

use super::tests::check_valid;
use super::tests::sample_changes;
use super::*;
use crate::ingest::bad_shapes;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ScalarValue, ROOT};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Apply an edit sequence, interpreted deterministically, to three
/// replicas that fork and merge; returns every change of the merged doc.
fn run_edits(edits: &[(u8, u8, u16, String)]) -> Vec<automerge::Change> {
    let mut docs: Vec<AutoCommit> = (0..3u8)
        .map(|i| AutoCommit::new().with_actor(ActorId::from([i + 1; 16])))
        .collect();
    let list = docs[0].put_object(ROOT, "list", ObjType::List).unwrap();
    let text = docs[0].put_object(ROOT, "text", ObjType::Text).unwrap();
    let map = docs[0].put_object(ROOT, "items", ObjType::Map).unwrap();
    docs[0].put(&map, "n", ScalarValue::counter(0)).unwrap();
    docs[0].commit();
    let (first, rest) = docs.split_at_mut(1);
    for d in rest.iter_mut() {
        d.merge(&mut first[0]).unwrap();
    }
    for (kind, who, arg, s) in edits {
        let d = &mut docs[usize::from(*who % 3)];
        let key = format!("k{}", arg % 7);
        match kind % 14 {
            0 => d.put(&map, &key, s.as_str()).map(|_| ()).unwrap(),
            1 => d
                .put(&map, &key, i64::from(*arg) - 30000)
                .map(|_| ())
                .unwrap(),
            2 => d
                .put(&map, &key, u64::from(*arg) << 40)
                .map(|_| ())
                .unwrap(),
            3 => d
                .put(&map, &key, f64::from(*arg) / 3.0)
                .map(|_| ())
                .unwrap(),
            4 => d.put(&map, &key, arg % 2 == 0).map(|_| ()).unwrap(),
            5 => d.put(&map, &key, ScalarValue::Null).map(|_| ()).unwrap(),
            6 => d
                .put(&map, &key, ScalarValue::Bytes(s.as_bytes().to_vec()))
                .map(|_| ())
                .unwrap(),
            7 => d
                .put(&map, &key, ScalarValue::Timestamp(i64::from(*arg)))
                .map(|_| ())
                .unwrap(),
            8 => {
                let _ = d.increment(&map, "n", i64::from(*arg) - 100);
            }
            9 => {
                let inner = d.put_object(&map, &key, ObjType::Map).unwrap();
                d.put(&inner, "x", s.as_str()).unwrap();
            }
            10 => {
                let len = d.length(&list);
                d.insert(&list, usize::from(*arg) % (len + 1), i64::from(*arg))
                    .unwrap();
            }
            11 => {
                let len = d.length(&list);
                if len > 0 {
                    let n = (usize::from(*arg) % 3 + 1).min(len);
                    d.splice(&list, 0, n as isize, std::iter::empty::<ScalarValue>())
                        .unwrap();
                } else {
                    let _ = d.delete(&map, &key);
                }
            }
            12 => {
                let len = d.length(&text);
                let pos = usize::from(*arg) % (len + 1);
                let del = if len > pos {
                    (len - pos).min(2) as isize
                } else {
                    0
                };
                d.splice_text(&text, pos, del, s).unwrap();
            }
            _ => {
                let msg = if arg % 2 == 0 { Some(s.clone()) } else { None };
                let opts = match msg {
                    Some(m) => CommitOptions::default().with_message(m),
                    None => CommitOptions::default(),
                };
                d.commit_with(opts.with_time(i64::from(*arg) * 1000));
                let other = usize::from(*who % 3 + 1) % 3;
                if arg % 3 == 0 {
                    let (a, b) = if other < usize::from(*who % 3) {
                        let (x, y) = docs.split_at_mut(usize::from(*who % 3));
                        (&mut y[0], &mut x[other])
                    } else {
                        let (x, y) = docs.split_at_mut(other);
                        (&mut x[usize::from(*who % 3)], &mut y[0])
                    };
                    a.merge(b).unwrap();
                }
            }
        }
    }
    let (first, rest) = docs.split_at_mut(1);
    for d in rest.iter_mut() {
        d.commit();
        first[0].merge(d).unwrap();
    }
    first[0].commit();
    first[0].get_changes(&[])
}

fn edit_strategy() -> impl Strategy<Value = Vec<(u8, u8, u16, String)>> {
    proptest::collection::vec(
        (any::<u8>(), any::<u8>(), any::<u16>(), "[a-zé🥛]{0,12}"),
        1..60,
    )
}

#[test]
fn random_valid_changes_pass_with_exact_op_count() {
    let seed = [42u8; 32];
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 48,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    runner
        .run(&edit_strategy(), |edits| {
            for c in run_edits(&edits) {
                check_valid(c.raw_bytes());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn many_ops_and_actors_pass() {
    let mut d = AutoCommit::new();
    let list = d.put_object(ROOT, "l", ObjType::List).unwrap();
    for i in 0..5000i64 {
        d.insert(&list, 0, i).unwrap();
    }
    d.commit();
    // 20 actors each put under a key, then one change deleting all:
    // its preds reference every actor (other_actors).
    let mut forks: Vec<AutoCommit> = (0..20).map(|_| d.fork()).collect();
    for (i, f) in forks.iter_mut().enumerate() {
        f.put(ROOT, "x", i as i64).unwrap();
        f.commit();
        d.merge(f).unwrap();
    }
    d.delete(ROOT, "x").unwrap();
    d.splice(&list, 0, 4000, std::iter::empty::<ScalarValue>())
        .unwrap();
    d.commit();
    let last = d.get_last_local_change().unwrap();
    assert!(last.other_actor_ids().len() >= 20);
    for c in d.get_changes(&[]) {
        check_valid(c.raw_bytes());
    }
}

// ---- never panics -----------------------------------------------------

proptest! {
    #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = prescan_change(&bytes, &PrescanLimits::default());
        let mut framed = MAGIC_BYTES.to_vec();
        framed.extend_from_slice(&bytes);
        let _ = prescan_change(&framed, &PrescanLimits::default());
        let _ = prescan_change(&bad_shapes::recompute_header(&bytes), &PrescanLimits::default());
    }

    #[test]
    fn never_panics_on_mutated_changes(
        which in any::<prop::sample::Index>(),
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let changes = sample_changes();
        let raw = which.get(&changes);
        let mut body = bad_shapes::change_body(raw).unwrap().to_vec();
        for (at, byte, how) in muts {
            if body.is_empty() { break; }
            let i = at.index(body.len());
            match how {
                0 => body[i] = byte,
                1 => body.insert(i, byte),
                _ => { body.remove(i); }
            }
        }
        let bad = bad_shapes::recompute_header(&body);
        if let Ok(info) = prescan_change(&bad, &PrescanLimits::default()) {
            // Accepted inputs are bounded: automerge may reject them (or
            // panic, caught) but must agree on the op count if it decodes.
            let decoded = std::panic::catch_unwind(|| automerge::Change::try_from(&bad[..]));
            if let Ok(Ok(c)) = decoded {
                prop_assert_eq!(c.len() as u64, info.ops);
            }
        }
    }
}
