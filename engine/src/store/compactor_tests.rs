//! Background compaction tests (issue 11 §5): the snapshot loads to the same
//! heads, edits made while a save is in progress keep their bytes, a crash
//! before the write leaves a consistent store, and the store keeps serving
//! while a compaction is held on the compaction thread (a gate, not a sleep).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::super::{Store, StoreOptions};
use crate::list::EditContext;
use crate::ListId;

/// How long a held compaction waits for the test before giving up.
const HOLD: Duration = Duration::from_secs(30);

fn ctx() -> EditContext {
    EditContext::now("tester")
}

fn opts() -> StoreOptions {
    StoreOptions {
        compact_after: 10,
        synchronous_full: false,
        compact_in_background: true,
        ..StoreOptions::default()
    }
}

fn open(dir: &tempfile::TempDir, opts: StoreOptions) -> Store {
    Store::open_with(dir.path().join("s.db"), opts).unwrap()
}

/// Holds every background save until released.
struct Gate {
    started: Receiver<ListId>,
    go: Sender<()>,
    released: Arc<AtomicBool>,
}

impl Gate {
    fn install(s: &mut Store) -> Gate {
        let (started_tx, started) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let released = Arc::new(AtomicBool::new(false));
        let flag = released.clone();
        s.set_compaction_hook(Arc::new(move |id| {
            let _ = started_tx.send(id);
            if let Ok(rx) = go_rx.lock() {
                if rx.recv_timeout(HOLD).is_ok() {
                    flag.store(true, Ordering::SeqCst);
                }
            }
        }));
        Gate {
            started,
            go,
            released,
        }
    }

    /// Wait until a save is held.
    fn wait_started(&self) -> ListId {
        self.started
            .recv_timeout(HOLD)
            .expect("no compaction started")
    }

    fn release(&self) {
        let _ = self.go.send(());
    }
}

fn with_bytes(s: &Store, id: ListId) -> Vec<(i64, bool)> {
    let mut stmt = s
        .conn
        .prepare("SELECT id, bytes IS NOT NULL FROM changes WHERE list_id = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([id.as_bytes().as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_background_snapshot_loads_to_the_same_heads() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, opts());
    let id = s.create_list("L", &ctx()).unwrap();
    for i in 0..25 {
        s.edit(id, |l| l.add_item(&format!("item{i}"), 1, &ctx()))
            .unwrap();
    }
    s.finish_compactions(true).unwrap();
    assert_eq!(s.compactions_in_flight(), 0);
    let rows = with_bytes(&s, id);
    let kept = rows.iter().filter(|r| r.1).count();
    // How many rows a snapshot covers depends on how far the edits got
    // while the compaction thread saved (one job per list at a time).
    assert!(
        kept < rows.len(),
        "compaction should have deleted bytes, {kept} of {} left",
        rows.len()
    );
    let view = s.view(id).unwrap();
    let heads = s.heads(id).unwrap();
    drop(s);
    let mut s = open(&dir, opts());
    assert_eq!(s.heads(id).unwrap(), heads);
    assert_eq!(s.view(id).unwrap(), view);
    assert!(s.integrity_ok().unwrap());
}

#[test]
fn edits_between_the_copy_and_the_write_keep_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, opts());
    let gate = Gate::install(&mut s);
    let id = s.create_list("L", &ctx()).unwrap();
    for i in 0..9 {
        s.edit(id, |l| l.add_item(&format!("item{i}"), 1, &ctx()))
            .unwrap();
    }
    assert_eq!(gate.wait_started(), id);
    let copied_through = with_bytes(&s, id).last().unwrap().0;
    for i in 0..5 {
        s.edit(id, |l| l.add_item(&format!("late{i}"), 1, &ctx()))
            .unwrap();
    }
    gate.release();
    s.finish_compactions(true).unwrap();
    assert!(gate.released.load(Ordering::SeqCst));
    for (row, has) in with_bytes(&s, id) {
        assert_eq!(
            has,
            row > copied_through,
            "row {row}, copy at {copied_through}"
        );
    }
    let view = s.view(id).unwrap();
    assert_eq!(view.items.len(), 14);
    drop(s);
    let mut s = open(&dir, opts());
    assert_eq!(s.view(id).unwrap(), view);
}

#[test]
fn a_crash_before_the_write_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, opts());
    let gate = Gate::install(&mut s);
    let id = s.create_list("L", &ctx()).unwrap();
    for i in 0..12 {
        s.edit(id, |l| l.add_item(&format!("item{i}"), 1, &ctx()))
            .unwrap();
    }
    gate.wait_started();
    let view = s.view(id).unwrap();
    let heads = s.heads(id).unwrap();
    drop(s); // the crash: the snapshot was never written
    gate.release();
    let mut s = open(&dir, opts());
    assert!(with_bytes(&s, id).iter().all(|r| r.1), "nothing compacted");
    assert_eq!(s.heads(id).unwrap(), heads);
    assert_eq!(s.view(id).unwrap(), view);
    assert!(s.integrity_ok().unwrap());
}

/// Store-thread work goes on while a big list's save is held in progress:
/// the gate is released only after the other list's edits and reads ran. If
/// the store waited for the save, the hold would time out instead.
#[test]
fn the_store_serves_other_lists_while_a_compaction_is_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, opts());
    let gate = Gate::install(&mut s);
    let big = s.create_list("big", &ctx()).unwrap();
    let small = s.create_list("small", &ctx()).unwrap();
    for i in 0..9 {
        s.edit(big, |l| l.add_item(&format!("item{i}"), 1, &ctx()))
            .unwrap();
    }
    assert_eq!(gate.wait_started(), big);
    for i in 0..20 {
        s.edit(small, |l| l.add_item(&format!("s{i}"), 1, &ctx()))
            .unwrap();
        s.edit(big, |l| l.add_item(&format!("b{i}"), 1, &ctx()))
            .unwrap();
    }
    assert_eq!(s.view(small).unwrap().items.len(), 20);
    assert!(s.compactions_in_flight() >= 1);
    gate.release();
    // The small list became due too: release its save as well.
    while s.compactions_in_flight() > 0 {
        gate.release();
        s.finish_compactions(true).unwrap();
    }
    assert!(gate.released.load(Ordering::SeqCst), "the hold timed out");
    assert_eq!(s.view(big).unwrap().items.len(), 29);
}
