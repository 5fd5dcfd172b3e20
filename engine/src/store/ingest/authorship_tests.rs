//! Authorship tests (PROTOCOL §2.1): forged changes are refused, one
//! signature per actor covers its history through the chain rule, and the
//! chain rule cannot be bypassed. Each test builds the attack first.

use automerge::Change;

use crate::ingest::bad_shapes;
use crate::ingest::*;
use crate::list::{EditContext, ShoppingList};
use crate::signing::{join_frame, DeviceKey, SIGNATURE_LEN};
use crate::store::{Store, StoreError};
use crate::ListId;

fn ctx() -> EditContext {
    EditContext::now("t")
}

/// A device editing one list: its key and its copy of the document.
#[derive(Clone)]
struct Device {
    key: DeviceKey,
    list: ShoppingList,
}

impl Device {
    fn new() -> Self {
        let key = DeviceKey::generate();
        let list = ShoppingList::create(key.actor(), "L", &ctx()).unwrap();
        Device { key, list }
    }

    /// A second device that has everything `from` has.
    fn joining(from: &Device) -> Self {
        let key = DeviceKey::generate();
        let mut list = from.list.clone();
        list.doc_mut().set_actor(key.actor());
        Device { key, list }
    }

    fn edit(&mut self, item: &str) -> Change {
        self.list.add_item(item, 1, &ctx()).unwrap();
        self.list.last_local_change().unwrap()
    }

    fn frame(&self, id: ListId, c: &Change) -> Vec<u8> {
        self.key.frame(id, c)
    }
}

fn junk_sig(c: &[u8]) -> Vec<u8> {
    join_frame(&[7u8; SIGNATURE_LEN], c)
}

fn first_change(d: &Device) -> Change {
    d.list.doc().get_changes(&[]).into_iter().next().unwrap()
}

/// A replica holding the victim's list (creation + 2 edits), and both devices.
fn replica() -> (tempfile::TempDir, Store, ListId, Device) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("r.db")).unwrap();
    let id = ListId::new_random();
    let mut victim = Device::new();
    let mut frames = vec![victim.frame(id, &first_change(&victim))];
    for item in ["milk", "eggs"] {
        let c = victim.edit(item);
        frames.push(victim.frame(id, &c));
    }
    store.ingest(id, &frames).unwrap();
    (dir, store, id, victim)
}

fn rejection(r: Result<IngestOutcome, StoreError>) -> IngestError {
    match r {
        Err(StoreError::Ingest(e)) => e,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Issue 10's squatting finding: a member relabels its own change with the
/// victim's actor and next seq, re-seals it, and syncs it. It must be
/// refused as `forged`, and the victim's own next change still goes in.
#[test]
fn a_relabelled_change_is_forged_and_the_victim_keeps_syncing() {
    let (_d, mut store, id, mut victim) = replica();
    let mut member = Device::joining(&victim);
    let own = member.edit("beer");
    let actor = victim.key.actor().to_bytes().to_vec();
    let squat = bad_shapes::relabeled(own.raw_bytes(), &actor, 4, None).unwrap();
    let heads = store.heads(id).unwrap();
    for sig_by_member in [true, false] {
        let frame = if sig_by_member {
            let c = Change::try_from(squat.as_slice()).unwrap();
            member.frame(id, &c)
        } else {
            junk_sig(&squat)
        };
        let e = rejection(store.ingest(id, &[frame]));
        assert!(matches!(e, IngestError::Forged { seq: 4, .. }), "{e:?}");
        assert_eq!(e.error_code(), crate::protocol::ErrorCode::Forged);
        assert_eq!(store.heads(id).unwrap(), heads);
    }
    let next = victim.edit("bread");
    let out = store.ingest(id, &[victim.frame(id, &next)]).unwrap();
    assert_eq!(out.applied, vec![next.hash()]);
}

/// One verified signature covers the actor's earlier changes of the same
/// request (through the hash chain): only the latest one needs a valid
/// signature. A bad signature on the latest refuses the whole request.
#[test]
fn one_signature_per_actor_covers_its_history() {
    let (_d, mut store, id, mut victim) = replica();
    let changes: Vec<Change> = (0..5).map(|i| victim.edit(&format!("i{i}"))).collect();
    let mut frames: Vec<Vec<u8>> = changes.iter().map(|c| junk_sig(c.raw_bytes())).collect();
    let e = rejection(store.ingest(id, &frames));
    assert!(matches!(e, IngestError::Forged { seq: 8, .. }), "{e:?}");
    *frames.last_mut().unwrap() = victim.frame(id, changes.last().unwrap());
    assert_eq!(store.ingest(id, &frames).unwrap().applied.len(), 5);
}

/// A forged change slipped in below a genuine signed one: the genuine
/// change builds on the victim's real previous change, which the replica
/// lacks, so it waits (missing) and the forged one is the actor's latest
/// accepted change: its signature is checked and refused.
#[test]
fn a_forged_change_cannot_hide_under_a_genuine_signature() {
    let (_d, mut store, id, mut victim) = replica();
    let real = victim.edit("real");
    let after = victim.edit("after");
    let actor = victim.key.actor().to_bytes().to_vec();
    // Same actor and seq as `real`, other content: a squat of seq 4.
    let mut member = Device::joining(&victim);
    let own = member.edit("squat");
    let forged = bad_shapes::relabeled(
        own.raw_bytes(),
        &actor,
        real.seq(),
        Some(real.deps().to_vec()),
    )
    .unwrap();
    let frames = vec![junk_sig(&forged), victim.frame(id, &after)];
    let e = rejection(store.ingest(id, &frames));
    assert!(matches!(e, IngestError::Forged { seq: 4, .. }), "{e:?}");
}

/// The chain rule cannot be bypassed: a validly signed change with seq > 1
/// that does not list its actor's previous change among its dependencies is
/// refused (otherwise its signature would not cover that previous change).
#[test]
fn a_change_that_skips_its_actors_previous_change_is_refused() {
    let (_d, mut store, id, mut victim) = replica();
    let prev = victim.edit("prev");
    store.ingest(id, &[victim.frame(id, &prev)]).unwrap();
    let next = victim.edit("next");
    let actor = victim.key.actor().to_bytes().to_vec();
    // Same actor and seq, but built on prev's own deps instead of prev.
    let skipping = bad_shapes::relabeled(
        next.raw_bytes(),
        &actor,
        next.seq(),
        Some(prev.deps().to_vec()),
    )
    .unwrap();
    let skipping = Change::try_from(skipping.as_slice()).unwrap();
    let e = rejection(store.ingest(id, &[victim.frame(id, &skipping)]));
    assert!(
        matches!(e, IngestError::BrokenChain { seq: 5, .. }),
        "{e:?}"
    );
    assert_eq!(
        store
            .ingest(id, &[victim.frame(id, &next)])
            .unwrap()
            .applied
            .len(),
        1
    );
}

/// A signature binds the list: a genuine signed change replayed into
/// another list (where it would squat the author's first seq) is forged.
#[test]
fn a_signed_change_replayed_into_another_list_is_forged() {
    let (_d, mut store, id, victim) = replica();
    let frame = victim.frame(id, &first_change(&victim));
    let other = ListId::new_random();
    let e = rejection(store.ingest(other, &[frame]));
    assert!(matches!(e, IngestError::Forged { seq: 1, .. }), "{e:?}");
}

/// Honest concurrency: after merging another device's change on top of
/// its own, a device's next change still lists its own previous change
/// directly (Automerge adds it to the heads), so the chain rule holds.
#[test]
fn the_chain_rule_holds_after_merging_others_changes() {
    let (_d, mut store, id, mut victim) = replica();
    let mut other = Device::joining(&victim);
    let theirs = other.edit("theirs");
    victim.list.apply_changes(vec![theirs.clone()]).unwrap();
    let before = victim.list.doc().get_last_local_change().unwrap().hash();
    let mine = victim.edit("mine");
    assert!(mine.deps().contains(&theirs.hash()) && mine.deps().contains(&before));
    let frames = vec![other.frame(id, &theirs), victim.frame(id, &mine)];
    assert_eq!(store.ingest(id, &frames).unwrap().applied.len(), 2);
}

/// Frames shorter than a signature are refused before anything is decoded.
#[test]
fn a_frame_without_a_signature_is_refused() {
    let (_d, mut store, id, _) = replica();
    let e = rejection(store.ingest(id, &[vec![0x85u8; 10]]));
    assert!(matches!(e, IngestError::Unsigned { len: 10, .. }), "{e:?}");
}
