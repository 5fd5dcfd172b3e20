//! Engine benchmarks (not timed tests): run with
//! `cargo bench -p shoplist-engine --bench engine_bench`.
//! Prints one JSON line per measurement; the README keeps the latest numbers.
//!
//! - `local_edit`: one `add` through `Store::edit`, including its SQLite
//!   commit (WAL, synchronous=FULL, i.e. fsync), p50/p99 (DESIGN §9 W5).
//! - `open_10k`: opening a list of 10,000 changes from a fresh `Store`
//!   (snapshot + uncompacted rows + change-graph index).
//! - `missing_1_of_20k`: the changes a peer lacks on a 20,000-change list for
//!   a 1-change delta, via the change-graph index (and `Store::changes_for`,
//!   which also reads the bytes), beside Automerge's `get_changes`.
//! - `ingest_10k_signed`: `Store::ingest` of a 10,000-change history from one
//!   device into an empty store (W3's fresh open without the network): one
//!   signature verified (PROTOCOL §2.1); beside it `verify_each_10k`, what
//!   verifying every change's signature would add; `ingest_10k_signed_reversed`,
//!   the same frames sent newest first; `ingest_one_more_10k`, a replica
//!   that holds that history ingesting one more change with its commit (W3's
//!   "one more edit", per replica).
//! - `order_reverse_{10k,100k}`: `ingest::merge::order_against_graph` alone,
//!   on a chain of synthetic (op-less) changes given newest first, the worst
//!   input order; `order_forward_100k` beside it.
//!
//! `-- --only ingest,order` runs only the named sections: `store` (local
//! edit, open, missing), `ingest`, `order`.

use std::time::{Duration, Instant};

use engine::graph::ChangeGraph;
use engine::list::{EditContext, ShoppingList};
use engine::store::{Store, StoreOptions};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn report(name: &str, mut samples: Vec<Duration>, extra: &str) {
    samples.sort();
    println!(
        "{{\"bench\":\"{name}\",\"n\":{},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"max_ms\":{:.4}{extra}}}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
    );
}

fn quick() -> bool {
    std::env::args().any(|a| a == "--quick") || std::env::var("SHOPLIST_BENCH_QUICK").is_ok()
}

/// Whether `section` was selected (`--only a,b`; everything by default).
fn wanted(section: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--only") {
        Some(i) => args
            .get(i + 1)
            .is_some_and(|v| v.split(',').any(|s| s == section)),
        None => true,
    }
}

fn main() {
    let quick = quick();
    let ctx = EditContext::now("bench");
    if wanted("store") {
        store_benches(quick, &ctx);
    }
    if wanted("ingest") {
        ingest_signed(quick, &ctx);
    }
    if wanted("order") {
        order_reverse(quick);
    }
}

fn store_benches(quick: bool, ctx: &EditContext) {
    let dir = tempfile::tempdir().expect("tempdir");

    // W5: local edit with its durable commit, and without the fsync.
    let n = if quick { 200 } else { 5_000 };
    for (name, full) in [
        ("local_edit_durable", true),
        ("local_edit_wal_normal", false),
    ] {
        let opts = StoreOptions {
            synchronous_full: full,
            ..StoreOptions::default()
        };
        let mut store =
            Store::open_with(dir.path().join(format!("{name}.db")), opts).expect("open");
        let id = store.create_list("bench", ctx).expect("create");
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            store
                .edit(id, |l| l.add_item(&format!("item{}", i % 50), 1, ctx))
                .expect("edit");
            samples.push(t.elapsed());
        }
        let sync = if full { "FULL" } else { "NORMAL" };
        report(name, samples, &format!(",\"synchronous\":\"{sync}\""));
    }

    // Build a long history once, in memory, then store it.
    let big = if quick { 2_000 } else { 20_000 };
    let key = engine::signing::DeviceKey::generate();
    let mut author = ShoppingList::create(key.actor(), "long", ctx).expect("create");
    let mut raws = vec![author
        .last_local_change()
        .expect("change")
        .raw_bytes()
        .to_vec()];
    let mut graph = ChangeGraph::new();
    for i in 1..big {
        author
            .add_item(&format!("item{}", i % 200), 1, ctx)
            .expect("add");
        raws.push(
            author
                .last_local_change()
                .expect("change")
                .raw_bytes()
                .to_vec(),
        );
    }
    for r in &raws {
        let c = automerge::Change::try_from(r.as_slice()).expect("decode");
        graph
            .add(c.hash(), c.deps(), c.actor_id().to_bytes(), c.seq())
            .expect("graph");
    }

    // Opening a list of 10,000 changes.
    {
        let tenk = big / 2;
        let path = dir.path().join("open.db");
        let id = engine::ListId::new_random();
        {
            let mut store = Store::open_with(&path, StoreOptions::default()).expect("open");
            let frames: Vec<Vec<u8>> = raws[..tenk]
                .iter()
                .map(|r| key.frame(id, &automerge::Change::try_from(r.as_slice()).expect("c")))
                .collect();
            for chunk in frames.chunks(1_000) {
                store.ingest(id, chunk).expect("ingest");
            }
        }
        let reps = if quick { 3 } else { 10 };
        let mut samples = Vec::new();
        for _ in 0..reps {
            let mut store = Store::open_with(&path, StoreOptions::default()).expect("open");
            let t = Instant::now();
            let v = store.view(id).expect("view");
            samples.push(t.elapsed());
            assert!(!v.items.is_empty());
        }
        report("open_list", samples, &format!(",\"changes\":{tenk}"));
    }

    // Missing changes for a 1-change delta on a 20,000-change list.
    {
        let have = vec![automerge::Change::try_from(raws[big - 2].as_slice())
            .expect("decode")
            .hash()];
        let reps = if quick { 200 } else { 2_000 };
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let m = graph.missing_for(&have);
            samples.push(t.elapsed());
            assert_eq!(m.len(), 1);
        }
        report(
            "missing_for_1_delta_graph",
            samples,
            &format!(",\"changes\":{big}"),
        );

        let path = dir.path().join("serve.db");
        let id = engine::ListId::new_random();
        let mut store = Store::open_with(&path, StoreOptions::default()).expect("open");
        let frames: Vec<Vec<u8>> = raws
            .iter()
            .map(|r| key.frame(id, &automerge::Change::try_from(r.as_slice()).expect("c")))
            .collect();
        for chunk in frames.chunks(1_000) {
            store.ingest(id, chunk).expect("ingest");
        }
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let (out, _) = store.changes_for(id, &have).expect("changes_for");
            samples.push(t.elapsed());
            assert_eq!(out.len(), 1);
        }
        report(
            "changes_for_1_delta_store",
            samples,
            &format!(",\"changes\":{big}"),
        );

        let reps = if quick { 5 } else { 30 };
        let mut samples = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let out = author.doc().get_changes(&have);
            samples.push(t.elapsed());
            assert_eq!(out.len(), 1);
        }
        report(
            "automerge_get_changes_1_delta",
            samples,
            &format!(",\"changes\":{big}"),
        );
    }
}

/// W3's open in-process: one device's 10,000 signed changes into an empty
/// store, and the cost a signature check per change would add.
fn ingest_signed(quick: bool, ctx: &EditContext) {
    let big = if quick { 1_000 } else { 10_000 };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut author = Store::open(dir.path().join("author.db")).expect("open");
    let id = author.create_list("bench", ctx).expect("create");
    for i in 1..big {
        author
            .edit(id, |l| l.add_item(&format!("item {}", i % 200), 1, ctx))
            .expect("edit");
    }
    let (frames, _) = author.changes_for(id, &[]).expect("frames");
    let reps = if quick { 1 } else { 5 };
    let mut samples = Vec::with_capacity(reps);
    for r in 0..reps {
        let mut fresh = Store::open(dir.path().join(format!("fresh{r}.db"))).expect("open");
        let t = Instant::now();
        let out = fresh.ingest(id, &frames).expect("ingest");
        samples.push(t.elapsed());
        assert_eq!(out.applied.len(), big);
    }
    report("ingest_10k_signed", samples, &format!(",\"changes\":{big}"));
    let reversed: Vec<Vec<u8>> = frames.iter().rev().cloned().collect();
    let mut samples = Vec::with_capacity(reps);
    for r in 0..reps {
        let mut fresh = Store::open(dir.path().join(format!("rev{r}.db"))).expect("open");
        let t = Instant::now();
        let out = fresh.ingest(id, &reversed).expect("ingest");
        samples.push(t.elapsed());
        assert_eq!(out.applied.len(), big);
    }
    report(
        "ingest_10k_signed_reversed",
        samples,
        &format!(",\"changes\":{big}"),
    );
    let actor = author.actor().to_bytes().to_vec();
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        for f in &frames {
            let (sig, chunk) = engine::signing::split_frame(f).expect("frame");
            // The change hash: SHA-256 of the chunk after magic and checksum.
            use sha2::Digest;
            let digest: [u8; 32] = sha2::Sha256::digest(&chunk[8..]).into();
            let hash = engine::ChangeHash(digest);
            assert!(engine::signing::verify(id, &hash, &actor, &sig));
        }
        samples.push(t.elapsed());
    }
    report("verify_each_10k", samples, &format!(",\"changes\":{big}"));

    // A replica that holds the whole history ingests one more change (W3's
    // "one more edit", on each of the 3 replicas), with its commit.
    let mut replica = Store::open(dir.path().join("replica.db")).expect("open");
    replica.ingest(id, &frames).expect("ingest");
    let mut heads = author.heads(id).expect("heads");
    let reps = if quick { 20 } else { 200 };
    let mut samples = Vec::with_capacity(reps);
    for i in 0..reps {
        author
            .edit(id, |l| l.add_item(&format!("more {i}"), 1, ctx))
            .expect("edit");
        let (one, _) = author.changes_for(id, &heads).expect("frames");
        heads = author.heads(id).expect("heads");
        let t = Instant::now();
        let out = replica.ingest(id, &one).expect("ingest");
        samples.push(t.elapsed());
        assert_eq!(out.applied.len(), 1);
    }
    report(
        "ingest_one_more_10k",
        samples,
        &format!(",\"changes\":{big}"),
    );
}

/// A chain of `n` op-less changes by one actor (seq 1..=n, each depending
/// on the previous one), built without a document.
fn synthetic_chain(n: usize) -> Vec<automerge::Change> {
    let actor = automerge::ActorId::from(vec![7u8; 32]);
    let mut out: Vec<automerge::Change> = Vec::with_capacity(n);
    for seq in 1..=n as u64 {
        let deps = out.last().map(|c| vec![c.hash()]).unwrap_or_default();
        out.push(automerge::Change::from(automerge::ExpandedChange {
            operations: Vec::new(),
            actor_id: actor.clone(),
            hash: None,
            seq,
            start_op: std::num::NonZeroU64::MIN,
            time: 0,
            message: None,
            deps,
            extra_bytes: Vec::new(),
            author: None,
        }));
    }
    out
}

/// Ordering alone, newest first (the worst case for a pass-per-level
/// ordering) and oldest first. At most 5 samples and ~60 s per size.
fn order_reverse(quick: bool) {
    use engine::ingest::merge::order_against_graph;
    use engine::ingest::Decoded;
    let sizes: &[(usize, &str)] = if quick {
        &[(1_000, "1k")]
    } else {
        &[(10_000, "10k"), (100_000, "100k")]
    };
    for &(n, label) in sizes {
        let chain = synthetic_chain(n);
        for (dir, newest_first) in [("reverse", true), ("forward", false)] {
            if !newest_first && n != 100_000 && !quick {
                continue;
            }
            let mut samples = Vec::new();
            let budget = Instant::now();
            while samples.len() < 5 && budget.elapsed() < Duration::from_secs(60) {
                let mut ordered: Vec<&automerge::Change> = chain.iter().collect();
                if newest_first {
                    ordered.reverse();
                }
                let decoded: Vec<Decoded> = ordered
                    .into_iter()
                    .enumerate()
                    .map(|(index, c)| Decoded {
                        index,
                        change: c.clone(),
                        sig: [0; engine::signing::SIGNATURE_LEN],
                    })
                    .collect();
                let mut graph = ChangeGraph::new();
                let t = Instant::now();
                let (accepted, outcome) = order_against_graph(&mut graph, decoded).expect("order");
                samples.push(t.elapsed());
                assert_eq!(accepted.len(), n);
                assert!(outcome.missing.is_empty());
            }
            report(
                &format!("order_{dir}_{label}"),
                samples,
                &format!(",\"changes\":{n}"),
            );
        }
    }
}
