//! Anti-entropy pass cases, driven by hand (PROTOCOL §7.4).

use super::*;

fn w(s: &str) -> WorkerId {
    WorkerId::parse(s).unwrap()
}

fn h(b: u8) -> ChangeHash {
    ChangeHash([b; 32])
}

/// One arc covering the whole ring: homes a, b, c; future homes a, b, d.
fn one_arc() -> Vec<Arc> {
    vec![Arc {
        range: [7, 7],
        homes: vec![w("a"), w("b"), w("c")],
        future: vec![w("a"), w("b"), w("d")],
    }]
}

fn start(live: &[&str]) -> (EntropyPass, Vec<DigestAsk>) {
    let live: Vec<WorkerId> = live.iter().map(|s| w(s)).collect();
    let (mut pass, asks) = EntropyPass::start(one_arc(), 2, |x| live.contains(x));
    for (i, ask) in asks.iter().enumerate() {
        pass.sent_digest(i as u64 + 1, ask);
    }
    (pass, asks)
}

fn answer(pass: &mut EntropyPass, asks: &[DigestAsk], digest: impl Fn(&WorkerId) -> u64) {
    for (i, ask) in asks.iter().enumerate() {
        pass.on_digests(i as u64 + 1, Some(&[digest(&ask.worker)]));
    }
}

#[test]
fn equal_digests_settle_the_arc_and_need_nothing() {
    let (mut pass, asks) = start(&["a", "b", "c", "d"]);
    assert_eq!(asks.len(), 4, "every live participant is asked");
    answer(&mut pass, &asks, |_| 42);
    assert!(pass.finished());
    assert!(pass.all_settled(|a| a.future.contains(&w("d"))));
    assert_eq!(pass.report().dirty, 0);
}

#[test]
fn a_future_home_that_lacks_lists_is_drilled_and_filled() {
    let (mut pass, asks) = start(&["a", "b", "c", "d"]);
    answer(&mut pass, &asks, |x| if x == &w("d") { 0 } else { 42 });
    assert!(!pass.all_settled(|_| true));
    let drills = pass.next_drills();
    assert_eq!(drills.len(), 4);
    let list = ListId::new_random();
    for (i, ask) in drills.iter().enumerate() {
        let id = 100 + i as u64;
        pass.sent_heads(id, ask);
        let lists = if ask.worker == w("d") {
            vec![]
        } else {
            vec![ListHeads {
                list,
                heads: vec![h(1)],
            }]
        };
        // The whole ring is one arc, so every list is in range.
        assert!(pass.on_heads(id, Some((&lists, None))).is_none());
    }
    let transfers = pass.take_transfers(10);
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!(transfers[0].0, list);
    assert_eq!(transfers[0].1.target, w("d"));
    assert!(pass.finished());
}

#[test]
fn a_future_home_that_does_not_answer_keeps_the_arc_unsettled() {
    let (mut pass, asks) = start(&["a", "b", "c", "d"]);
    for (i, ask) in asks.iter().enumerate() {
        if ask.worker != w("d") {
            pass.on_digests(i as u64 + 1, Some(&[42]));
        }
    }
    assert!(!pass.digests_done());
    pass.abandon_digests();
    assert!(!pass.all_settled(|_| true));
    // A dead future home blocks too: it would become a home without lists.
    let (mut pass, asks) = start(&["a", "b", "c"]);
    answer(&mut pass, &asks, |_| 42);
    assert!(!pass.all_settled(|_| true));
    // Homes alone settle an arc whose future homes are all among them.
    assert!(pass.all_settled(|a| a.future.is_empty()));
}

#[test]
fn fewer_than_r_homes_answering_do_not_settle() {
    let (mut pass, asks) = start(&["a", "d"]);
    answer(&mut pass, &asks, |_| 42);
    assert!(!pass.all_settled(|_| true), "only one home answered; R = 2");
}
