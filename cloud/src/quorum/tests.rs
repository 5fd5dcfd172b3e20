//! Quorum tracker cases: W/R counting, timeouts, fills, union (DESIGN §4, §6).

use super::*;

fn w(s: &str) -> WorkerId {
    WorkerId::parse(s).unwrap()
}

fn h(b: u8) -> ChangeHash {
    ChangeHash([b; 32])
}

fn three(needed: usize) -> SyncQuorum {
    SyncQuorum::homes(vec![w("a"), w("b"), w("c")], needed)
}

#[test]
fn quorum_completes_at_w() {
    let mut q = three(2);
    assert_eq!(q.verdict(false), Verdict::Pending);
    q.on_synced(&w("a"), vec![h(1)], vec![], true, &[]);
    assert_eq!(q.verdict(false), Verdict::Pending);
    q.on_synced(&w("c"), vec![h(1)], vec![], true, &[]);
    assert_eq!(q.verdict(false), Verdict::Reached { acked: 2 });
    assert!(!q.all_resolved());
    q.on_synced(&w("b"), vec![h(1)], vec![], true, &[]);
    assert!(q.all_resolved());
}

#[test]
fn timeout_reports_answered_count() {
    let mut q = three(2);
    q.on_synced(&w("a"), vec![h(1)], vec![], true, &[]);
    assert_eq!(q.verdict(false), Verdict::Pending);
    assert_eq!(
        q.verdict(true),
        Verdict::Unavailable {
            answered: 1,
            needed: 2
        }
    );
}

#[test]
fn impossible_quorum_fails_before_the_timeout() {
    let mut q = three(2);
    q.on_failed(&w("a"), false, "down".into());
    q.on_failed(&w("b"), false, "down".into());
    assert_eq!(
        q.verdict(false),
        Verdict::Unavailable {
            answered: 0,
            needed: 2
        }
    );
    let mut q = three(2);
    q.on_failed(&w("a"), true, "bad checksum".into());
    q.on_failed(&w("b"), true, "bad checksum".into());
    assert_eq!(
        q.verdict(false),
        Verdict::BadChange {
            message: "bad checksum".into()
        }
    );
}

#[test]
fn union_dedupes_identical_change_frames() {
    let mut q = three(2);
    let x = Bytes::from_static(b"change-x");
    let y = Bytes::from_static(b"change-y");
    q.on_synced(&w("a"), vec![h(1)], vec![], true, &[x.clone(), y.clone()]);
    q.on_synced(&w("b"), vec![h(2)], vec![], true, &[y.clone(), x.clone()]);
    assert_eq!(q.union().changes(), &[x, y]);
    assert_eq!(q.union().heads(), vec![h(1), h(2)]);
}

#[test]
fn missing_replica_is_filled_then_counts() {
    // DESIGN §4: a write counts toward W only once the replica holds it.
    let mut q = three(2);
    q.on_synced(&w("a"), vec![h(2)], vec![], true, &[]);
    q.on_synced(&w("b"), vec![h(0)], vec![h(1)], true, &[]);
    q.on_failed(&w("c"), false, "timeout".into());
    assert_eq!(q.verdict(false), Verdict::Pending);
    assert_eq!(q.fill_source(), Some(w("a")));
    assert_eq!(q.fill_candidates(), vec![(w("b"), vec![h(0)], vec![h(1)])]);
    q.on_fill_started(&w("b"));
    assert!(q.fill_candidates().is_empty());
    q.on_synced(&w("b"), vec![h(2)], vec![], true, &[]);
    assert_eq!(q.verdict(false), Verdict::Reached { acked: 2 });
}

#[test]
fn nobody_can_fill_passes_missing_to_the_client() {
    let mut q = three(2);
    for r in ["a", "b", "c"] {
        q.on_synced(&w(r), vec![], vec![h(9)], true, &[]);
    }
    assert_eq!(q.fill_source(), None);
    assert_eq!(
        q.verdict(false),
        Verdict::Missing {
            acked: 0,
            missing: vec![h(9)]
        }
    );
}

#[test]
fn a_failed_fill_is_not_retried() {
    let mut q = three(2);
    q.on_synced(&w("a"), vec![h(2)], vec![], true, &[]);
    q.on_fill_started(&w("b"));
    q.on_synced(&w("b"), vec![h(0)], vec![h(1)], true, &[]);
    assert!(q.fill_candidates().is_empty());
    q.on_failed(&w("c"), false, "down".into());
    assert_eq!(
        q.verdict(false),
        Verdict::Missing {
            acked: 1,
            missing: vec![h(1)]
        }
    );
}
