//! Replays every saved fuzz input — `fuzz/corpus/<target>/` and
//! `fuzz/crashers/<target>/` — through the same `engine::fuzzing` function
//! the cargo-fuzz target calls, on stable and without a fuzzer (DESIGN §8,
//! §10). CI runs this with the ordinary test suite, so a crasher once fixed
//! stays fixed even where fuzzing itself is skipped.
//!
//! The test fails if a target's corpus directory is missing or empty, or
//! its crashers directory is missing, so it cannot pass by replaying
//! nothing. It prints how many inputs it replayed.
//!
//! The ignored `write_seed_corpus` (run with `-- --ignored`) rewrites the
//! hand-made seeds (`seed-*` files) of the corpus directories; see
//! `fuzz/README.md`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use automerge::ActorId;
use bytes::Bytes;
use engine::fuzzing::{self, base_list, join_parts, TARGETS};
use engine::ingest::bad_shapes;
use engine::list::{EditContext, ShoppingList};
use engine::protocol::{encode, ErrorCode, Header, Message, Rejected};
use engine::{ListId, WorkerId};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files of a directory (not READMEs or dotfiles), sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && !name.starts_with("README")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_saved_fuzz_input_replays() {
    let root = fuzz_dir();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for target in TARGETS {
        let corpus = root.join("corpus").join(target);
        let crashers = root.join("crashers").join(target);
        assert!(crashers.is_dir(), "missing {}", crashers.display());
        let corpus_files = inputs(&corpus);
        assert!(
            !corpus_files.is_empty(),
            "{} is missing or empty: nothing to replay",
            corpus.display()
        );
        let crasher_files = inputs(&crashers);
        for path in corpus_files.iter().chain(&crasher_files) {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let ran = catch_unwind(AssertUnwindSafe(|| fuzzing::run(target, &data)));
            match ran {
                Ok(true) => {}
                Ok(false) => panic!("unknown target {target}"),
                Err(_) => failures.push(path.display().to_string()),
            }
        }
        summary.push(format!(
            "{target}: {} corpus + {} crashers",
            corpus_files.len(),
            crasher_files.len()
        ));
    }
    println!("replayed fuzz inputs: {}", summary.join(", "));
    assert!(failures.is_empty(), "inputs that failed: {failures:#?}");
}

// ---- seed corpus ---------------------------------------------------------

/// A tool, not a check: rewrites the hand-made seeds of the corpus. Run it
/// with `cargo test -p shoplist-engine --test fuzz_replay -- --ignored
/// write_seed_corpus`. Every seed is replayed before it is written, so a
/// seed that fails is never written.
#[test]
#[ignore = "tool: regenerates fuzz/corpus/*/seed-*"]
fn write_seed_corpus() {
    let root = fuzz_dir().join("corpus");
    let seeds = [
        ("ingest_bytes", ingest_seeds()),
        ("merge_sequence", merge_seeds()),
        ("wire_decode", wire_seeds()),
        ("foreign_view", foreign_seeds()),
        ("load_document", load_seeds()),
    ];
    for (target, seeds) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            assert!(fuzzing::run(target, &data));
            std::fs::write(dir.join(format!("seed-{name}")), &data).unwrap();
        }
    }
}

/// Snapshots for `load_document`: real uncompressed saves of lists of a
/// few sizes, one compressed save (refused), and the base list.
fn load_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let ctx = EditContext::now("seed");
    for n in [0usize, 3, 40] {
        let mut l = ShoppingList::create(ActorId::from([5u8; 16]), "seed", &ctx).unwrap();
        for i in 0..n {
            l.add_item(&format!("item {i}"), 1, &ctx).unwrap();
            if i % 3 == 0 {
                l.buy_item(&format!("item {i}"), None, &ctx).unwrap();
            }
        }
        out.push((format!("items-{n}"), l.doc_mut().save_nocompress()));
        if n == 40 {
            out.push(("compressed-40".into(), l.doc_mut().save()));
        }
    }
    let mut base = base_list().0.clone();
    out.push(("base".into(), base.doc_mut().save_nocompress()));
    out
}

/// Scripts for `foreign_view`: each mutation alone, from fork A and from
/// fork B, on a list of four items, and a few mixes.
fn foreign_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for op in 0..8u8 {
        out.push((format!("mutation-{op}"), vec![0xf3, op, 1, 2, 3, 4, 5]));
        out.push((
            format!("concurrent-{op}"),
            vec![0x73, op, 3, 1, 4, op | 0x80, 3, 1, 4],
        ));
    }
    out.push((
        "mixed".into(),
        (0..64u8).map(|i| i.wrapping_mul(37)).collect(),
    ));
    out.push((
        "deep-junk".into(),
        vec![0x01, 6, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
    ));
    out
}

/// A list forked from the base list under another actor, with `edits` made.
fn fork_of_base(actor: u8) -> ShoppingList {
    let mut fork = base_list().0.clone();
    fork.doc_mut().set_actor(ActorId::from([actor; 16]));
    fork
}

fn raw(c: &automerge::Change) -> Vec<u8> {
    c.raw_bytes().to_vec()
}

fn ingest_seeds() -> Vec<(String, Vec<u8>)> {
    let ctx = EditContext {
        by: "seed".into(),
        now_ms: 1_700_000_100_000,
    };
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut fork = fork_of_base(7);
    fork.add_item("Tea", 3, &ctx).unwrap();
    let add = raw(&fork.last_local_change().unwrap());
    fork.buy_item("Milk", None, &ctx).unwrap();
    let buy = raw(&fork.last_local_change().unwrap());
    fork.remove_item("Eggs", &ctx).unwrap();
    let rm = raw(&fork.last_local_change().unwrap());
    fork.rename("Shopping", &ctx).unwrap();
    let rename = raw(&fork.last_local_change().unwrap());
    out.push(("valid-add".into(), add.clone()));
    out.push((
        "valid-chain".into(),
        join_parts(&[&add, &buy, &rm, &rename]),
    ));
    out.push((
        "valid-out-of-order".into(),
        join_parts(&[&rename, &rm, &buy, &add]),
    ));
    out.push(("missing-dep".into(), buy.clone()));
    let base_changes = base_list().0.doc().get_changes(&[]);
    out.push((
        "duplicate".into(),
        raw(&base_changes[base_changes.len() - 1]),
    ));
    let fresh = ShoppingList::create(ActorId::from([9u8; 16]), "Other list", &ctx).unwrap();
    out.push((
        "unrelated-root".into(),
        raw(&fresh.last_local_change().unwrap()),
    ));
    // Bad shapes (DESIGN §5), each rejected before automerge decodes it.
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bad_shapes::truncated(&add, add.len() / 2)),
        ("bit-flipped", bad_shapes::bit_flipped(&add, 3)),
        ("wrong-checksum", bad_shapes::wrong_checksum(&add)),
        (
            "compressed-type",
            bad_shapes::with_chunk_type(&add, 2).unwrap(),
        ),
        ("junk-byte", bad_shapes::junk_byte_in_column(&add).unwrap()),
        (
            "huge-preds",
            bad_shapes::huge_allocation_claim(&add).unwrap(),
        ),
        ("huge-ops", bad_shapes::huge_op_count_claim(&add).unwrap()),
        ("huge-string", bad_shapes::huge_string_claim(&add).unwrap()),
    ];
    for (name, bad) in shapes {
        out.push((format!("bad-{name}"), bad.clone()));
        out.push((format!("bad-{name}-after-valid"), join_parts(&[&add, &bad])));
    }
    out
}

fn merge_seeds() -> Vec<(String, Vec<u8>)> {
    let scripts: [(&str, &[u8]); 6] = [
        (
            "concurrent-adds",
            &[0, 0, 0, 1, 1, 1, 1, 2, 1, 2, 2, 0, 7, 0, 1],
        ),
        (
            "suffix-deliveries",
            &[
                0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 2, 3, 2, 0, 0, 0, 5, 0, 1, 1, 6, 0, 2, 2,
            ],
        ),
        (
            "remove-vs-buy",
            &[0, 0, 0, 2, 7, 0, 1, 3, 0, 0, 2, 1, 0, 1, 7, 0, 1],
        ),
        (
            "concurrent-renames",
            &[4, 0, 1, 4, 1, 2, 4, 2, 0, 7, 0, 1, 7, 1, 2],
        ),
        (
            "same-product-spellings",
            &[0, 0, 0, 3, 0, 1, 1, 4, 0, 2, 3, 0, 2, 1, 1, 0],
        ),
        (
            "everything",
            &[
                0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 1, 5, 0, 1, 0, 2, 1, 0, 0, 3, 2, 2, 4, 1, 1, 6, 1,
                2, 3, 7, 2, 0, 0, 0, 3, 4, 5, 2, 0, 1, 3, 1, 1,
            ],
        ),
    ];
    scripts
        .iter()
        .map(|(n, s)| ((*n).to_string(), s.to_vec()))
        .collect()
}

fn wire_seeds() -> Vec<(String, Vec<u8>)> {
    let list = ListId::new_random();
    let hash = base_list().0.heads()[0];
    let change = Bytes::from(raw(&base_list().0.doc().get_changes(&[])[0]));
    let worker = WorkerId::parse("w1").unwrap();
    let messages = [
        (
            "sync",
            Message::with_changes(
                Header::Sync {
                    snapshot_ok: false,
                    id: 7,
                    list,
                    have: vec![hash],
                    hint_for: None,
                },
                vec![change.clone()],
            ),
        ),
        (
            "synced",
            Message::with_changes(
                Header::Synced {
                    snapshot: None,
                    id: 7,
                    list,
                    heads: vec![hash],
                    missing: vec![],
                    acked: 2,
                    rejected: vec![Rejected {
                        index: 0,
                        code: ErrorCode::BadChange,
                        message: "malformed".into(),
                    }],
                    holds: true,
                },
                vec![change],
            ),
        ),
        (
            "subscribe",
            Message::new(Header::Subscribe {
                id: 1,
                lists: vec![list],
                session: None,
                changes: None,
            }),
        ),
        ("ping", Message::new(Header::Ping { id: 3 })),
        ("where", Message::new(Header::Where { id: 4, list })),
        (
            "notify",
            Message::new(Header::Notify {
                id: 0,
                list,
                heads: vec![hash],
            }),
        ),
        ("unavailable", Message::unavailable(5, 1, 2)),
        (
            "hello",
            Message::new(Header::Hello {
                id: 6,
                worker,
                lists_hint: Some(10),
                nonce: None,
                members: Vec::new(),
            }),
        ),
    ];
    messages
        .into_iter()
        .map(|(name, msg)| {
            let frames = encode(&msg);
            let parts: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
            (name.to_string(), join_parts(&parts))
        })
        .collect()
}
