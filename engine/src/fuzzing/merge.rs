//! The `merge_sequence` target: a script of list edits on three replicas,
//! interleaved with deliveries between them in any order, exchanged only as
//! change bytes through [`ingest_in_memory`] (DESIGN §4, §5, §8). After a
//! full exchange every replica has the same heads and the same folded
//! [`ShoppingList::view`]; without removals each item's `needed` is the sum
//! of every quantity added (DESIGN §2: concurrent adds combine).
//!
//! ## Script
//!
//! The input is read one step at a time (at most [`MAX_STEPS`]); a step is an
//! opcode byte and its argument bytes (0 past the end of the input):
//!
//! | `op % 8` | step | arguments |
//! | --- | --- | --- |
//! | 0, 1 | add | replica, item, quantity 1–5 |
//! | 2 | buy | replica, item, quantity (0: all still needed, else 1–3) |
//! | 3 | remove | replica, item |
//! | 4 | rename | replica, name |
//! | 5, 6 | deliver | from, to, depth (0: exactly what `to` lacks; n: the last n changes of `from`'s history, sent again from further back while `to` reports missing dependencies) |
//! | 7 | sync a pair both ways | replica, replica |
//!
//! Replicas are `byte % 3`; items come from [`ITEMS`] (which includes two
//! spellings of the same product) and names from [`NAMES`].

use std::collections::BTreeMap;

use automerge::{ActorId, Automerge, Change, ReadDoc};

use crate::graph::ChangeGraph;
use crate::ingest::{ingest_in_memory, IngestLimits, IngestOutcome};
use crate::list::{normalize, EditContext, ShoppingList};

/// Most script steps run for one input.
pub const MAX_STEPS: usize = 128;
/// Item names used by the script (" milk " and "Milk" are one product).
pub const ITEMS: [&str; 4] = ["Milk", " milk ", "Eggs", "Oat  Milk"];
/// List names used by the script.
pub const NAMES: [&str; 3] = ["Groceries", "Party", "Weekend"];
const T0: i64 = 1_700_000_000_000;

/// One replica: its document and its change-graph index.
struct Replica {
    list: ShoppingList,
    graph: ChangeGraph,
}

/// The input read as a byte stream, 0 past its end.
struct Script<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Script<'_> {
    fn op(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }

    fn arg(&mut self) -> u8 {
        self.op().unwrap_or(0)
    }

    fn replica(&mut self) -> usize {
        usize::from(self.arg() % 3)
    }

    fn item(&mut self) -> &'static str {
        ITEMS[usize::from(self.arg()) % ITEMS.len()]
    }
}

fn ctx(replica: usize, step: usize) -> EditContext {
    EditContext {
        by: format!("r{replica}"),
        now_ms: T0 + step as i64,
    }
}

/// Index the replica's newest local change, if the last edit made one.
fn record_local(r: &mut Replica) {
    if let Some(c) = r.list.last_local_change() {
        let added = r
            .graph
            .add(c.hash(), c.deps(), c.actor_id().to_bytes(), c.seq());
        assert!(added.is_ok(), "local change not indexable: {added:?}");
    }
    assert_eq!(
        r.list.heads(),
        r.graph.heads(),
        "graph lost track of a local edit"
    );
}

fn ingest(to: &mut Replica, changes: &[Change]) -> IngestOutcome {
    let raws: Vec<&[u8]> = changes.iter().map(Change::raw_bytes).collect();
    match ingest_in_memory(&mut to.list, &mut to.graph, &raws, &IngestLimits::default()) {
        Ok(o) => o,
        Err(e) => panic!("a replica's own changes were rejected: {e}"),
    }
}

/// Deliver from `from` to `to`: exactly what `to` lacks (`depth == 0`), or
/// the last `depth` changes of `from`'s history, doubled while `to` reports
/// missing dependencies.
fn deliver(reps: &mut [Replica; 3], from: usize, to: usize, depth: u8) {
    if from == to {
        return;
    }
    let [a, b] = match reps.get_disjoint_mut([from, to]) {
        Ok(pair) => pair,
        Err(_) => return,
    };
    if depth == 0 {
        let wanted = a.graph.missing_for(&b.list.heads());
        let changes: Vec<Change> = wanted
            .iter()
            .map(|h| match a.list.doc().get_change_by_hash(h) {
                Some(c) => c,
                None => panic!("graph lists a change the document lacks"),
            })
            .collect();
        let out = ingest(b, &changes);
        assert!(
            out.missing.is_empty(),
            "exact delta was not enough: {out:?}"
        );
        // Duplicates are possible: `to` may have changes `from` does not know
        // whose ancestors `from` cannot tell `to` has.
        assert_eq!(out.applied.len() + out.duplicates, changes.len());
        return;
    }
    let history = a.list.doc().get_changes(&[]);
    let mut n = usize::from(depth);
    loop {
        let start = history.len().saturating_sub(n);
        let out = ingest(b, &history[start..]);
        for h in &out.missing {
            assert!(a.graph.contains(h), "receiver asks for a change nobody has");
        }
        if out.missing.is_empty() {
            return;
        }
        assert!(start > 0, "whole history sent, still missing {out:?}");
        n = n.saturating_mul(2);
    }
}

fn start() -> [Replica; 3] {
    let actor = |i: u8| ActorId::from([i + 1; 16]);
    let list = match ShoppingList::create(actor(0), NAMES[0], &ctx(0, 0)) {
        Ok(l) => l,
        Err(e) => panic!("creating the fixed list failed: {e}"),
    };
    let mut first = Replica {
        list,
        graph: ChangeGraph::new(),
    };
    record_local(&mut first);
    let empty = |i| Replica {
        list: ShoppingList::empty(actor(i)),
        graph: ChangeGraph::new(),
    };
    let mut reps = [first, empty(1), empty(2)];
    deliver(&mut reps, 0, 1, 0);
    deliver(&mut reps, 0, 2, 0);
    reps
}

/// The `merge_sequence` target (see the module docs for the script).
pub fn merge_sequence(data: &[u8]) {
    let mut s = Script { data, pos: 0 };
    let mut reps = start();
    let mut added: BTreeMap<String, i64> = BTreeMap::new();
    let mut removed = false;
    for step in 1..=MAX_STEPS {
        let Some(op) = s.op() else { break };
        match op % 8 {
            0 | 1 => {
                let (r, item, qty) = (s.replica(), s.item(), i64::from(s.arg() % 5) + 1);
                if reps[r].list.add_item(item, qty, &ctx(r, step)).is_ok() {
                    *added.entry(normalize(item)).or_default() += qty;
                }
                record_local(&mut reps[r]);
            }
            2 => {
                let (r, item, q) = (s.replica(), s.item(), s.arg() % 4);
                let qty = (q > 0).then(|| i64::from(q));
                let _ = reps[r].list.buy_item(item, qty, &ctx(r, step));
                record_local(&mut reps[r]);
            }
            3 => {
                let (r, item) = (s.replica(), s.item());
                removed |= reps[r].list.remove_item(item, &ctx(r, step)).is_ok();
                record_local(&mut reps[r]);
            }
            4 => {
                let (r, name) = (s.replica(), NAMES[usize::from(s.arg()) % NAMES.len()]);
                let _ = reps[r].list.rename(name, &ctx(r, step));
                record_local(&mut reps[r]);
            }
            5 | 6 => {
                let (from, to, depth) = (s.replica(), s.replica(), s.arg());
                deliver(&mut reps, from, to, depth);
            }
            _ => {
                let (x, y) = (s.replica(), s.replica());
                deliver(&mut reps, x, y, 0);
                deliver(&mut reps, y, x, 0);
            }
        }
    }
    for _ in 0..2 {
        for from in 0..3 {
            for to in 0..3 {
                deliver(&mut reps, from, to, 0);
            }
        }
    }
    check_converged(&reps, &added, removed);
}

fn check_converged(reps: &[Replica; 3], added: &BTreeMap<String, i64>, removed: bool) {
    let heads = reps[0].list.heads();
    let view = reps[0].list.view();
    for (i, r) in reps.iter().enumerate() {
        assert_eq!(r.list.heads(), heads, "replica {i}: heads differ");
        assert_eq!(r.graph.heads(), heads, "replica {i}: graph heads differ");
        assert_eq!(
            r.graph.len(),
            reps[0].graph.len(),
            "replica {i}: graph size"
        );
        assert_eq!(r.list.view(), view, "replica {i}: views differ");
    }
    assert_eq!(reps[0].list.history().len(), reps[0].graph.len());
    if !removed {
        for (norm, sum) in added {
            let needed = view.items.iter().find(|i| &i.key == norm).map(|i| i.needed);
            assert_eq!(needed, Some(*sum), "{norm}: needed is not the sum of adds");
        }
        assert_eq!(view.items.len(), added.len(), "items appeared from nowhere");
    }
    match Automerge::load(&reps[0].list.doc().save()) {
        Ok(d) => assert_eq!(d.get_heads(), heads, "heads differ after save → load"),
        Err(e) => panic!("converged document does not load: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_adds_sum_after_suffix_deliveries() {
        // r0 adds 2 Milk, r1 adds 3 " milk ", r2 adds 1 Eggs; r0 → r1 sends
        // only its last change; then r0 and r1 sync both ways.
        merge_sequence(&[0, 0, 0, 1, 1, 1, 1, 2, 1, 2, 2, 0, 5, 0, 1, 1, 7, 0, 1]);
    }

    #[test]
    fn removal_and_rename_converge() {
        merge_sequence(&[
            0, 0, 0, 4, 7, 0, 1, 3, 1, 0, 4, 2, 1, 2, 2, 0, 0, 6, 2, 0, 3,
        ]);
    }
}
