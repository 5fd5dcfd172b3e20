//! The `foreign_view` target: a list this project wrote, then edited by a
//! "foreign client" that writes structured junk where the document schema
//! (PROTOCOL.md "Document") expects something else — items as a list, a
//! counter as a string, a Text name, nested maps and lists anywhere — in one
//! or two concurrent changes. [`ShoppingList::view`] must:
//!
//! 1. never panic, and keep its warnings bounded;
//! 2. be unchanged, without warnings, when the foreign client only wrote
//!    what the schema allows readers to accept (keys it does not know,
//!    strings as Text);
//! 3. never lose an item silently: every item of the original list is
//!    still shown with its quantities, or the view carries a warning.
//!
//! ## Script
//!
//! Bytes are read one at a time (0 past the end). Byte 0 picks how many
//! items the original list has (1–4) and which were bought; then up to
//! [`MAX_MUTATIONS`] mutations, each an opcode and its arguments, are
//! written by fork A, or by fork B (`op & 0x80`), which edits concurrently.
//!
//! | `op % 8` | mutation |
//! | --- | --- |
//! | 0 | root `name` → junk (any value) |
//! | 1 | root `items` → junk that is not a map |
//! | 2 | an item → junk that is not a map |
//! | 3 | an item's field → junk (a quantity: never a value readers take as a number; `name`, `norm`: never a string) |
//! | 4 | delete an item's `name`, `norm` or `live` |
//! | 5 | a junk entry in an item's `needs` or `buys` (not an integer) |
//! | 6 | an unknown key with junk, at the root or in an item (neutral) |
//! | 7 | an item's `name` / `norm` rewritten as Text with the same content (neutral) |

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, ROOT};

use crate::list::{EditContext, ShoppingList, MAX_WARNINGS};

/// Most mutations read from one input.
pub const MAX_MUTATIONS: usize = 24;
/// Deepest junk nesting.
const MAX_DEPTH: u8 = 3;
/// The original list's products.
const PRODUCTS: [&str; 4] = ["Apple", "Bread", "Cheese", "Dates"];
/// Fields of an item object the mutations aim at.
const FIELDS: [&str; 12] = [
    "name", "norm", "needs", "buys", "buyers", "live", "needed", "acquired", "added_at",
    "added_by", "category", "note",
];

/// The input as a byte stream, 0 past its end.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }

    fn arg(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn pick<'t>(&mut self, from: &[&'t str]) -> &'t str {
        from[usize::from(self.arg()) % from.len()]
    }
}

/// What kind of junk a slot may take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Anything.
    Any,
    /// Anything but a map (an item or `items` replaced by a map is a valid
    /// state: a removal, an emptied list).
    NotMap,
    /// A quantity: nothing a reader takes as a number without a warning,
    /// and no map (an empty contributions map is a valid zero).
    NotNumber,
    /// A name: no string or Text (another string is a valid rename of the
    /// product, not junk).
    NotString,
}

/// A junk scalar; junk strings start with `j` so they never name a product.
fn junk_scalar(b: &mut Bytes<'_>) -> ScalarValue {
    let x = b.arg();
    match b.arg() % 10 {
        0 => ScalarValue::Str(format!("j{x}").into()),
        1 => ScalarValue::Str(format!("{x}").into()),
        2 => ScalarValue::Int(i64::from(x) - 128),
        3 => ScalarValue::Uint(u64::MAX - u64::from(x)),
        4 => ScalarValue::F64(match x % 4 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => 1e300,
            _ => f64::from(x) + 0.5,
        }),
        5 => ScalarValue::counter(i64::from(x)),
        6 => ScalarValue::Timestamp(i64::from(x) << 40),
        7 => ScalarValue::Boolean(x.is_multiple_of(2)),
        8 => ScalarValue::Null,
        _ => ScalarValue::Bytes(vec![x; usize::from(x % 5)]),
    }
}

/// Whether readers take `s` as a number without a word (PROTOCOL.md
/// "Document": int, uint, counter, timestamp, an integral float).
fn silently_numeric(s: &ScalarValue) -> bool {
    match s {
        ScalarValue::Int(_)
        | ScalarValue::Uint(_)
        | ScalarValue::Counter(_)
        | ScalarValue::Timestamp(_) => true,
        ScalarValue::F64(f) => f.is_finite() && f.fract() == 0.0,
        _ => false,
    }
}

/// Write junk at `key` of map `obj`.
fn put_junk(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    slot: Slot,
    b: &mut Bytes<'_>,
    depth: u8,
) {
    let kind = b.arg() % 4;
    let kind = match (slot, kind) {
        (Slot::NotMap | Slot::NotNumber | Slot::NotString, 1) => 2,
        (Slot::NotString, 3) => 2,
        (_, _) if depth >= MAX_DEPTH => 0,
        (_, k) => k,
    };
    let _ = match kind {
        1 => doc
            .put_object(obj, key, ObjType::Map)
            .map(|m| fill(doc, &m, b, depth + 1)),
        2 => doc
            .put_object(obj, key, ObjType::List)
            .map(|l| fill(doc, &l, b, depth + 1)),
        3 => doc.put_object(obj, key, ObjType::Text).map(|t| {
            let _ = doc.splice_text(&t, 0, 0, &format!("j{}", b.arg()));
        }),
        _ => {
            let mut s = junk_scalar(b);
            if slot == Slot::NotNumber && silently_numeric(&s) {
                s = ScalarValue::Str(format!("j{}", b.arg()).into());
            }
            if slot == Slot::NotString && matches!(s, ScalarValue::Str(_)) {
                s = ScalarValue::Boolean(true);
            }
            doc.put(obj, key, s)
        }
    };
}

/// Fill a fresh map or list with 1–3 junk children.
fn fill(doc: &mut AutoCommit, obj: &ObjId, b: &mut Bytes<'_>, depth: u8) {
    let is_list = matches!(doc.object_type(obj), Ok(ObjType::List));
    for i in 0..=b.arg() % 3 {
        if is_list {
            let s = junk_scalar(b);
            let _ = doc.insert(obj, usize::from(i), s);
        } else {
            put_junk(doc, obj, &format!("j{i}"), Slot::Any, b, depth);
        }
    }
}

/// The item objects of a document written by this project: (key, object).
fn items_of(doc: &AutoCommit) -> Vec<(String, ObjId)> {
    let Ok(Some((_, items))) = doc.get(ROOT, "items") else {
        return Vec::new();
    };
    doc.map_range(&items, ..)
        .map(|e| (e.key.to_string(), e.id()))
        .collect()
}

/// One mutation; `false` if it is not neutral (see the module docs).
fn mutate(doc: &mut AutoCommit, op: u8, b: &mut Bytes<'_>) -> bool {
    let items = items_of(doc);
    let item = match items.len() {
        0 => None,
        n => Some(items[usize::from(b.arg()) % n].clone()),
    };
    match (op % 8, item) {
        (0, _) => put_junk(doc, &ROOT, "name", Slot::Any, b, 0),
        (1, _) => put_junk(doc, &ROOT, "items", Slot::NotMap, b, 0),
        (2, Some((key, _))) => {
            if let Ok(Some((_, items))) = doc.get(ROOT, "items") {
                put_junk(doc, &items, &key, Slot::NotMap, b, 0);
            }
        }
        (3, Some((_, obj))) => {
            let field = b.pick(&FIELDS);
            let slot = match field {
                "needs" | "buys" | "needed" | "acquired" => Slot::NotNumber,
                "name" | "norm" => Slot::NotString,
                _ => Slot::Any,
            };
            put_junk(doc, &obj, field, slot, b, 0);
        }
        (4, Some((_, obj))) => {
            let _ = doc.delete(&obj, b.pick(&["name", "norm", "live"]));
        }
        (5, Some((_, obj))) => {
            let field = b.pick(&["needs", "buys"]);
            if let Ok(Some((automerge::Value::Object(ObjType::Map), map))) = doc.get(&obj, field) {
                put_junk(doc, &map, &format!("j{}", b.arg()), Slot::NotNumber, b, 0);
            }
        }
        (6, item) => {
            let obj = match (b.arg() % 2, item) {
                (0, Some((_, obj))) => obj,
                _ => ROOT,
            };
            put_junk(doc, &obj, &format!("x-{}", b.arg()), Slot::Any, b, 0);
            return true;
        }
        (7, Some((_, obj))) => {
            let field = b.pick(&["name", "norm"]);
            let current = match doc.get(&obj, field) {
                Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Str(s) => Some(s.to_string()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(text) = current {
                if let Ok(t) = doc.put_object(&obj, field, ObjType::Text) {
                    let _ = doc.splice_text(&t, 0, 0, &text);
                }
            }
            return true;
        }
        _ => return true,
    }
    false
}

/// The target body (see the module docs).
pub fn foreign_view(data: &[u8]) {
    let mut b = Bytes { data, pos: 0 };
    let shape = b.arg();
    let ctx = EditContext {
        by: "us".into(),
        now_ms: 1_700_000_000_000,
    };
    let Ok(mut list) = ShoppingList::create(ActorId::from([1u8; 16]), "Groceries", &ctx) else {
        return;
    };
    for (i, product) in PRODUCTS.iter().enumerate().take(usize::from(shape % 4) + 1) {
        let qty = i64::from(shape >> 2 & 3) + 1;
        if list.add_item(product, qty, &ctx).is_err() {
            return;
        }
        if shape & (16 << i) != 0 && list.buy_item(product, Some(1), &ctx).is_err() {
            return;
        }
    }
    let base = list.view();
    assert!(base.warnings.is_empty(), "our own list warns: {base:?}");

    let Ok(mut a) = AutoCommit::load(&list.doc().save()) else {
        return;
    };
    let fork_b = a.fork().with_actor(ActorId::from([3u8; 16]));
    let mut forks = [a.with_actor(ActorId::from([2u8; 16])), fork_b];
    let mut neutral = true;
    for _ in 0..MAX_MUTATIONS {
        let Some(op) = b.next() else { break };
        let fork = &mut forks[usize::from(op >> 7)];
        neutral &= mutate(fork, op, &mut b);
    }
    let mut changes = Vec::new();
    for fork in &mut forks {
        fork.commit();
        changes.extend(fork.get_last_local_change());
    }
    if list.apply_changes(changes).is_err() {
        return;
    }

    let view = list.view();
    assert!(
        view.warnings.len() <= MAX_WARNINGS + 1,
        "unbounded warnings: {}",
        view.warnings.len()
    );
    if neutral {
        assert_eq!(view, base, "a neutral edit changed the view");
        return;
    }
    if view.warnings.is_empty() {
        for item in &base.items {
            let shown = view.items.iter().find(|i| i.key == item.key);
            assert!(
                shown.is_some_and(|i| (i.needed, i.acquired) == (item.needed, item.acquired)),
                "item {:?} changed or vanished without a warning: {view:?}",
                item.key
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    use super::*;

    /// The fuzz target's properties on random scripts, in the ordinary test
    /// suite (seeded; `SHOPLIST_SEED` changes the seed).
    #[test]
    fn foreign_shapes_never_empty_a_list_silently() {
        let seed: u64 = std::env::var("SHOPLIST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_f0e1);
        eprintln!("foreign_shapes_never_empty_a_list_silently: seed {seed} (SHOPLIST_SEED)");
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 512,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        );
        runner
            .run(&vec(any::<u8>(), 0..96), |data| {
                foreign_view(&data);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn each_mutation_is_reached() {
        // One script per opcode, on a list of four items: every arm runs.
        for op in 0..16u8 {
            foreign_view(&[0xf3, op, 1, 2, 3, 4, 5, 6, 7, op | 0x80, 9, 8, 7, 6]);
        }
    }
}
