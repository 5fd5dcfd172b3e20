//! The `ingest_bytes` target: untrusted bytes through the one ingest gate,
//! [`ingest_in_memory`], against a list that already has history (DESIGN
//! §5). Whatever the bytes, the gate either accepts changes that leave a
//! document which saves, loads back with the same heads and reads, or
//! rejects them and leaves list and change graph exactly as they were.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, AutomergeError, ObjId, ObjType, ScalarValue, ROOT};

use super::split_parts;
use crate::graph::ChangeGraph;
use crate::ingest::prescan::MAGIC_BYTES;
use crate::ingest::{bad_shapes, ingest_in_memory, IngestLimits};
use crate::list::{EditContext, ShoppingList};
use crate::protocol::{decode, Limits};

/// Actor of most of the base list's history (and of its document).
pub const BASE_ACTOR: [u8; 16] = [0xba; 16];
/// Actor of the base list's concurrent branch.
pub const OTHER_ACTOR: [u8; 16] = [0xbb; 16];
/// Timestamp of the base list's first change (unix ms).
const T0: i64 = 1_700_000_000_000;

/// The list every `ingest_bytes` input is ingested into (a clone of it):
/// built once per process, deterministically, so saved inputs whose changes
/// extend it replay the same way. Six changes by two actors, two heads:
/// "Groceries" with Milk (2, 1 bought), Eggs (12 + 1) and Bread (1), in
/// the layout of [`crate::list`].
pub fn base_list() -> &'static (ShoppingList, ChangeGraph) {
    static BASE: OnceLock<(ShoppingList, ChangeGraph)> = OnceLock::new();
    BASE.get_or_init(|| match build_base() {
        Ok(base) => base,
        Err(e) => panic!("building the fixed base list failed: {e}"),
    })
}

fn commit(
    doc: &mut Automerge,
    step: i64,
    message: &str,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> Result<(), AutomergeError> {
    let mut tx = doc.transaction();
    f(&mut tx)?;
    tx.commit_with(
        CommitOptions::default()
            .with_message(message.to_string())
            .with_time(T0 + step),
    );
    Ok(())
}

/// A new item object under `items`, as `ShoppingList::add_item` writes it
/// (with fixed keys and live tokens instead of random ones).
fn put_item(
    tx: &mut Transaction<'_>,
    items: &ObjId,
    n: u8,
    name: &str,
    qty: i64,
) -> Result<ObjId, AutomergeError> {
    let obj = tx.put_object(items, format!("{n:032x}"), ObjType::Map)?;
    tx.put(&obj, "name", name)?;
    tx.put(&obj, "norm", crate::list::normalize(name))?;
    tx.put(&obj, "needed", ScalarValue::counter(qty))?;
    tx.put(&obj, "acquired", ScalarValue::counter(0))?;
    tx.put(&obj, "added_by", "fuzz")?;
    tx.put(&obj, "added_at", T0)?;
    tx.put(&obj, "live", i64::from(n))?;
    Ok(obj)
}

fn build_base() -> Result<(ShoppingList, ChangeGraph), String> {
    let e = |e: AutomergeError| e.to_string();
    let mut a = Automerge::new().with_actor(ActorId::from(BASE_ACTOR));
    let mut items = ROOT;
    commit(
        &mut a,
        0,
        r#"{"by":"fuzz","op":"create","item":"Groceries"}"#,
        |tx| {
            tx.put(ROOT, "name", "Groceries")?;
            items = tx.put_object(ROOT, "items", ObjType::Map)?;
            Ok(())
        },
    )
    .map_err(e)?;
    let mut milk = ROOT;
    commit(
        &mut a,
        1,
        r#"{"by":"fuzz","op":"add","item":"Milk","n":2}"#,
        |tx| {
            milk = put_item(tx, &items, 1, "Milk", 2)?;
            Ok(())
        },
    )
    .map_err(e)?;
    let mut eggs = ROOT;
    commit(
        &mut a,
        2,
        r#"{"by":"fuzz","op":"add","item":"Eggs","n":12}"#,
        |tx| {
            eggs = put_item(tx, &items, 2, "Eggs", 12)?;
            Ok(())
        },
    )
    .map_err(e)?;
    let mut b = a.clone().with_actor(ActorId::from(OTHER_ACTOR));
    commit(
        &mut b,
        3,
        r#"{"by":"other","op":"buy","item":"Milk","n":1}"#,
        |tx| {
            tx.increment(&milk, "acquired", 1)?;
            tx.put(&milk, "live", 11)
        },
    )
    .map_err(e)?;
    commit(
        &mut a,
        4,
        r#"{"by":"fuzz","op":"add","item":"Eggs","n":1}"#,
        |tx| {
            tx.increment(&eggs, "needed", 1)?;
            tx.put(&eggs, "live", 12)
        },
    )
    .map_err(e)?;
    commit(
        &mut b,
        5,
        r#"{"by":"other","op":"add","item":"Bread","n":1}"#,
        |tx| put_item(tx, &items, 3, "Bread", 1).map(|_| ()),
    )
    .map_err(e)?;
    a.merge(&mut b).map_err(e)?;
    let mut graph = ChangeGraph::new();
    for c in a.get_changes(&[]) {
        graph
            .add(c.hash(), c.deps(), c.actor_id().to_bytes(), c.seq())
            .map_err(|e| e.to_string())?;
    }
    Ok((ShoppingList::from_doc(a), graph))
}

/// The `ingest_bytes` target. `data` is ingested as one change, then split
/// into 1–4 changes with [`split_parts`], then those parts again with their
/// chunk headers recomputed by [`fix_header`]; every run is checked (see
/// the module docs). The whole input and the parts also go through
/// [`decode`] as frames, which must not panic.
pub fn ingest_bytes(data: &[u8]) {
    let base = base_list();
    let limits = IngestLimits::default();
    check_ingest(base, &[data], &limits);
    let parts = split_parts(data, 4);
    check_ingest(base, &parts, &limits);
    let fixed: Vec<Vec<u8>> = parts.iter().map(|p| fix_header(p)).collect();
    if fixed.iter().zip(&parts).any(|(f, p)| f != p) {
        let fixed: Vec<&[u8]> = fixed.iter().map(Vec::as_slice).collect();
        check_ingest(base, &fixed, &limits);
    }
    let _ = decode(&[data], &Limits::default());
    let _ = decode(&parts, &Limits::default());
}

/// `part` with a correct chunk header: a part that starts with the magic
/// bytes keeps its chunk type and body (everything after its length field)
/// and gets the length and checksum recomputed; any other part becomes the
/// body of a change chunk. A mutated change would almost never pass the
/// SHA-256 checksum; this lets the fuzzer reach the column checks, the
/// decoder and apply.
pub fn fix_header(part: &[u8]) -> Vec<u8> {
    let header = part
        .strip_prefix(MAGIC_BYTES.as_slice())
        .and_then(|rest| rest.get(4..))
        .and_then(|rest| rest.split_first())
        .and_then(|(&chunk_type, rest)| {
            // Skip the uLEB128 length: bytes with the high bit set, then one
            // without (at most 10 in all).
            let len = rest.iter().take(10).position(|b| b & 0x80 == 0)?;
            Some((chunk_type, rest.get(len + 1..)?))
        });
    match header {
        Some((chunk_type, body)) => bad_shapes::with_header(chunk_type, body),
        None => bad_shapes::recompute_header(part),
    }
}

fn check_ingest(base: &(ShoppingList, ChangeGraph), raws: &[&[u8]], limits: &IngestLimits) {
    let (base_list, base_graph) = base;
    let mut list = base_list.clone();
    let mut graph = base_graph.clone();
    match ingest_in_memory(&mut list, &mut graph, raws, limits) {
        Err(e) => {
            assert_eq!(
                list.heads(),
                base_list.heads(),
                "rejected ({e}) but list changed"
            );
            assert_eq!(
                graph.heads(),
                base_graph.heads(),
                "rejected ({e}) but graph changed"
            );
            assert_eq!(
                graph.len(),
                base_graph.len(),
                "rejected ({e}) but graph grew"
            );
        }
        Ok(outcome) => {
            let heads = list.heads();
            assert_eq!(heads, graph.heads(), "document and change graph disagree");
            assert_eq!(graph.len(), base_graph.len() + outcome.applied.len());
            for h in &outcome.applied {
                assert!(graph.contains(h), "applied change missing from the graph");
            }
            let view = list.view();
            let _ = list.history();
            let saved = catch_unwind(AssertUnwindSafe(|| list.doc().save()))
                .unwrap_or_else(|_| panic!("save panicked after accepting {outcome:?}"));
            let loaded = match catch_unwind(|| Automerge::load(&saved)) {
                Ok(Ok(doc)) => ShoppingList::from_doc(doc),
                Ok(Err(e)) => panic!("accepted changes break save → load: {e}"),
                Err(_) => panic!("accepted changes make load panic"),
            };
            assert_eq!(loaded.heads(), heads, "heads differ after save → load");
            assert_eq!(loaded.view(), view, "view differs after save → load");
            // The CLI edits a list after pulling changes into it.
            let ctx = EditContext {
                by: "fuzz".into(),
                now_ms: T0 + 100,
            };
            let _ = list.add_item("Milk", 1, &ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_list_has_history_and_two_heads() {
        let (list, graph) = base_list();
        assert_eq!(graph.len(), 6);
        assert_eq!(list.heads().len(), 2);
        assert_eq!(list.heads(), graph.heads());
        let view = list.view();
        let got: Vec<(&str, i64, i64)> = view
            .items
            .iter()
            .map(|i| (i.name.as_str(), i.needed, i.acquired))
            .collect();
        assert_eq!(got, vec![("Bread", 1, 0), ("Eggs", 13, 0), ("Milk", 2, 1)]);
    }

    #[test]
    fn fix_header_repairs_checksum_and_length() {
        let (list, _) = base_list();
        let raw = list.doc().get_changes(&[])[0].raw_bytes().to_vec();
        assert_eq!(fix_header(&raw), raw);
        assert_eq!(fix_header(&bad_shapes::wrong_checksum(&raw)), raw);
        let body = bad_shapes::change_body(&raw).unwrap();
        assert_eq!(fix_header(body), raw);
        let mut longer = raw.clone();
        longer.push(0);
        assert_eq!(
            fix_header(&longer),
            bad_shapes::recompute_header(&[body, &[0]].concat())
        );
    }

    /// The first `ingest_bytes` crasher: a change whose op names a
    /// predecessor at another key. automerge applies it but the document
    /// fails save → load; the gate must reject it, in a small batch (change
    /// by change) and in a large one (one pass).
    #[test]
    fn unrepresentable_change_is_rejected_in_small_and_large_batches() {
        let crasher = include_bytes!(
            "../../../fuzz/crashers/ingest_bytes/pred-at-another-key-breaks-save-load"
        );
        let bad: Vec<Vec<u8>> = split_parts(crasher, 4).iter().map(|p| p.to_vec()).collect();
        assert_eq!(bad.len(), 2);
        let mut fork = base_list().0.clone();
        fork.doc_mut().set_actor(ActorId::from([8u8; 16]));
        let ctx = EditContext::now("t");
        let mut good = Vec::new();
        for i in 0..20 {
            fork.add_item(&format!("item {i}"), 1, &ctx).unwrap();
            good.push(fork.last_local_change().unwrap().raw_bytes().to_vec());
        }
        let limits = IngestLimits::default();
        for batch in [bad.clone(), [good.clone(), bad].concat()] {
            let (mut l, mut g) = base_list().clone();
            let r = ingest_in_memory(&mut l, &mut g, &batch, &limits);
            assert!(
                matches!(&r, Err(crate::ingest::IngestError::Apply(m)) if m.contains("not representable")),
                "{r:?}"
            );
            assert_eq!(l.heads(), base_list().0.heads());
        }
        let (mut l, mut g) = base_list().clone();
        let out = ingest_in_memory(&mut l, &mut g, &good, &limits).unwrap();
        assert_eq!(out.applied.len(), 20, "a large honest batch passes");
    }

    #[test]
    fn a_change_extending_the_base_is_accepted() {
        let (list, _) = base_list();
        let mut fork = list.clone();
        fork.doc_mut().set_actor(ActorId::from([7u8; 16]));
        let ctx = EditContext::now("t");
        fork.add_item("Tea", 3, &ctx).unwrap();
        let raw = fork.last_local_change().unwrap().raw_bytes().to_vec();
        ingest_bytes(&raw);
        let mut l = list.clone();
        let mut g = base_list().1.clone();
        let out = ingest_in_memory(&mut l, &mut g, &[&raw], &IngestLimits::default()).unwrap();
        assert_eq!(out.applied.len(), 1);
    }
}
