//! Placement cases: homes stay through crashes, stand-ins, pending members,
//! arcs (PROTOCOL §6.1).

use super::*;
use crate::ring::in_range;

fn w(s: &str) -> WorkerId {
    WorkerId::parse(s).unwrap()
}

fn lists(n: usize) -> Vec<ListId> {
    (0..n)
        .map(|i| ListId::parse(&format!("00000000-0000-4000-8000-{i:012x}")).unwrap())
        .collect()
}

fn ready(n: usize) -> MemberSet {
    let mut m = MemberSet::new();
    for i in 1..=n {
        m.raise(&w(&format!("w{i}")), MemberState::Ready);
    }
    m
}

#[test]
fn a_down_home_stays_a_home_and_gets_a_stand_in() {
    let p = Placement::new(&ready(5), 3);
    for l in lists(200) {
        let homes = p.homes(&l);
        assert_eq!(homes.len(), 3);
        let down = homes[1].clone();
        let t = p.targets(&l, |x| *x != down);
        let home_targets: Vec<_> = t.iter().filter(|t| t.role == Role::Home).collect();
        assert_eq!(home_targets.len(), 2);
        let stand_ins: Vec<_> = t.iter().filter(|t| t.role == Role::StandIn).collect();
        assert_eq!(stand_ins.len(), 1, "{t:?}");
        assert_eq!(stand_ins[0].hint_for.as_ref(), Some(&down));
        assert!(!homes.contains(&stand_ins[0].worker));
    }
}

#[test]
fn two_homes_down_get_two_distinct_stand_ins() {
    let p = Placement::new(&ready(5), 3);
    for l in lists(100) {
        let homes = p.homes(&l);
        let t = p.targets(&l, |x| *x == homes[0] || !homes.contains(x));
        let hinted: Vec<_> = t.iter().filter_map(|t| t.hint_for.clone()).collect();
        assert_eq!(hinted.len(), 2);
        assert!(hinted.contains(&homes[1]) && hinted.contains(&homes[2]));
        let mut workers: Vec<_> = t.iter().map(|t| t.worker.clone()).collect();
        workers.sort();
        workers.dedup();
        assert_eq!(workers.len(), 3);
    }
}

#[test]
fn a_joining_member_is_pending_not_home() {
    let mut m = ready(4);
    m.raise(&w("w5"), MemberState::Joining);
    let p = Placement::new(&m, 3);
    let mut pending = 0;
    for l in lists(300) {
        assert!(!p.homes(&l).contains(&w("w5")));
        if p.pending(&l).contains(&w("w5")) {
            pending += 1;
            let t = p.targets(&l, |_| true);
            assert!(t
                .iter()
                .any(|t| t.worker == w("w5") && t.role == Role::Pending));
        }
    }
    assert!(pending > 0);
    // Once ready, it is a home exactly where it was pending.
    let before: Vec<_> = lists(300).iter().map(|l| p.pending(l)).collect();
    m.raise(&w("w5"), MemberState::Ready);
    let after = Placement::new(&m, 3);
    for (l, pend) in lists(300).iter().zip(before) {
        assert_eq!(
            pend.contains(&w("w5")),
            after.homes(l).contains(&w("w5")),
            "{l}"
        );
    }
}

#[test]
fn a_leaving_member_stays_home_until_retired() {
    let mut m = ready(5);
    m.raise(&w("w3"), MemberState::Leaving);
    let p = Placement::new(&m, 3);
    let all = Placement::new(&ready(5), 3);
    for l in lists(200) {
        assert_eq!(p.homes(&l), all.homes(&l));
        assert!(!p.pending(&l).contains(&w("w3")));
    }
    m.raise(&w("w3"), MemberState::Retired);
    let p = Placement::new(&m, 3);
    for l in lists(200) {
        assert!(!p.homes(&l).contains(&w("w3")));
        assert_eq!(p.homes(&l).len(), 3);
    }
}

#[test]
fn arcs_cover_the_ring_with_each_lists_homes() {
    let mut m = ready(4);
    m.raise(&w("w5"), MemberState::Joining);
    let p = Placement::new(&m, 3);
    let arcs = p.arcs();
    assert_eq!(arcs.len(), 5 * crate::ring::VNODES_PER_WORKER as usize);
    for l in lists(500) {
        let pos = position(&l);
        let inside: Vec<_> = arcs.iter().filter(|a| in_range(pos, a.range)).collect();
        assert_eq!(inside.len(), 1, "{l}");
        assert_eq!(inside[0].homes, p.homes(&l));
        let mut fut = p.homes(&l);
        fut.retain(|x| inside[0].future.contains(x));
        for x in p.pending(&l) {
            assert!(inside[0].future.contains(&x));
        }
    }
}
