//! Compaction (issue 11 §5): a worker's request latency while a big list
//! compacts, in-process. A store opened as a worker opens it (sole writer,
//! `synchronous=FULL`) is driven like the worker's store thread: a producer
//! thread queues, at a steady rate, one change for a big list (compacting
//! every `--compaction-every` changes) and one for a small list; the store
//! takes everything queued, ingests it in one `ingest_many`, and a small
//! request's latency is from its queueing to the end of that call. Run with
//! compaction inline (as before issue 11) and on the compaction thread
//! (`StoreOptions::compact_in_background`, what workers use).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine::list::EditContext;
use engine::store::{Store, StoreOptions};
use engine::ListId;
use serde_json::{json, Value};

use super::Env;
use crate::device::on_thread;
use crate::stats::Summary;

/// Small lists the small requests cycle through.
const SMALL_LISTS: usize = 8;
/// Time between two producer ticks (one big and one small request each).
const TICK: Duration = Duration::from_millis(2);
/// Most requests in one group commit (the worker's `MAX_BATCH`).
const MAX_BATCH: usize = 256;

/// The signed frames a replica would receive.
struct Frames {
    big: ListId,
    big_history: Vec<Vec<u8>>,
    small: Vec<(ListId, Vec<Vec<u8>>)>,
    big_edits: Vec<Vec<u8>>,
    small_edits: Vec<(ListId, Vec<u8>)>,
}

/// The frames of one edit of `id` in `src`.
fn edit_frame(src: &mut Store, id: ListId, name: &str) -> anyhow::Result<Vec<u8>> {
    let before = src.heads(id)?;
    let ctx = EditContext::now("compaction");
    src.edit(id, |l| l.add_item(name, 1, &ctx))?;
    let (mut frames, _) = src.changes_for(id, &before)?;
    match (frames.pop(), frames.is_empty()) {
        (Some(f), true) => Ok(f),
        _ => bail!("one edit should make one frame"),
    }
}

fn make_frames(dir: &std::path::Path, items: usize, requests: usize) -> anyhow::Result<Frames> {
    let mut src = Store::open_with(
        dir.join("source.db"),
        StoreOptions {
            synchronous_full: false,
            compact_after: usize::MAX,
            ..StoreOptions::default()
        },
    )?;
    let ctx = EditContext::now("compaction");
    let big = src.create_list("big", &ctx)?;
    for i in 0..items {
        src.edit(big, |l| l.add_item(&format!("item {i}"), 1, &ctx))?;
    }
    let (big_history, _) = src.changes_for(big, &[])?;
    let mut small = Vec::new();
    for i in 0..SMALL_LISTS {
        let id = src.create_list(&format!("small {i}"), &ctx)?;
        let (frames, _) = src.changes_for(id, &[])?;
        small.push((id, frames));
    }
    let mut big_edits = Vec::with_capacity(requests);
    let mut small_edits = Vec::with_capacity(requests);
    for i in 0..requests {
        big_edits.push(edit_frame(
            &mut src,
            big,
            &format!("item {}", i % items.max(1)),
        )?);
        let id = small[i % SMALL_LISTS].0;
        small_edits.push((id, edit_frame(&mut src, id, &format!("s {}", i % 50))?));
    }
    Ok(Frames {
        big,
        big_history,
        small,
        big_edits,
        small_edits,
    })
}

/// One queued request: the list, its frame, when it was queued, and whether
/// it is a small one (measured).
type Req = (ListId, Vec<u8>, Instant, bool);

/// Latencies of the small requests against a store with `background` set.
fn run_mode(
    path: &std::path::Path,
    frames: &Frames,
    every: usize,
    background: bool,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut store = Store::open_with(
        path,
        StoreOptions {
            synchronous_full: true,
            sole_writer: true,
            cache_lists: 1000,
            compact_after: every,
            compact_in_background: background,
            ..StoreOptions::default()
        },
    )?;
    store.ingest(frames.big, &frames.big_history)?;
    for (id, f) in &frames.small {
        store.ingest(*id, f)?;
    }
    store.finish_compactions(true)?;
    let (tx, rx) = mpsc::channel::<Req>();
    let reqs: Vec<(Req, Req)> = frames
        .big_edits
        .iter()
        .zip(&frames.small_edits)
        .map(|(b, (id, s))| {
            let now = Instant::now();
            (
                (frames.big, b.clone(), now, false),
                (*id, s.clone(), now, true),
            )
        })
        .collect();
    let total = reqs.len() * 2;
    let producer = std::thread::spawn(move || {
        let start = Instant::now();
        for (i, (b, s)) in reqs.into_iter().enumerate() {
            let at = start + TICK * i as u32;
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let now = Instant::now();
            if tx.send((b.0, b.1, now, false)).is_err() || tx.send((s.0, s.1, now, true)).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + TICK * total as u32 + Duration::from_secs(120);
    let mut lat = Vec::new();
    let mut seen = 0;
    let mut batches = 0;
    while seen < total {
        let left = deadline.saturating_duration_since(Instant::now());
        let first = rx
            .recv_timeout(left)
            .context("the producer stalled or the run passed its deadline")?;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let groups: Vec<(ListId, [&[u8]; 1])> =
            batch.iter().map(|r| (r.0, [r.1.as_slice()])).collect();
        let reqs: Vec<(ListId, &[&[u8]])> = groups.iter().map(|(id, f)| (*id, &f[..])).collect();
        for (r, out) in batch.iter().zip(store.ingest_many(&reqs)?) {
            out.with_context(|| format!("request for {} rejected", r.0))?;
        }
        let done = Instant::now();
        lat.extend(batch.iter().filter(|r| r.3).map(|r| done - r.2));
        seen += batch.len();
        batches += 1;
    }
    if producer.join().is_err() {
        bail!("the producer panicked");
    }
    store.finish_compactions(true)?;
    Ok((lat, batches))
}

/// Run the compaction workload.
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let items = env.args.compaction_items;
    let requests = env.args.compaction_requests;
    let every = env.args.compaction_every.max(1);
    on_thread("compaction", move || async move {
        let dir = tempfile::Builder::new()
            .prefix("shoplist-bench-compaction-")
            .tempdir()
            .context("cannot create a temp dir")?;
        let frames = make_frames(dir.path(), items, requests)?;
        let (inline, inline_batches) =
            run_mode(&dir.path().join("inline.db"), &frames, every, false)?;
        let (bg, bg_batches) = run_mode(&dir.path().join("background.db"), &frames, every, true)?;
        // What the store thread still does (clone) against what moved (save).
        let (clone_ms, save_ms) = {
            let mut s = Store::open_with(
                dir.path().join("background.db"),
                StoreOptions {
                    sole_writer: true,
                    ..StoreOptions::default()
                },
            )?;
            s.read(frames.big, |l, _| {
                let t = Instant::now();
                let copy = l.doc().clone();
                let clone = t.elapsed();
                let t = Instant::now();
                std::hint::black_box(copy.save());
                let save = t.elapsed();
                let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
                (ms(clone), ms(save))
            })?
        };
        let i = Summary::of(&inline);
        let b = Summary::of(&bg);
        Ok(json!({
            "big_list_items": items,
            "requests": requests,
            "compact_every": every,
            "compactions": requests / every,
            "inline_p50_ms": i.p50,
            "inline_p99_ms": i.p99,
            "inline_max_ms": i.max,
            "inline_batches": inline_batches,
            "background_p50_ms": b.p50,
            "background_p99_ms": b.p99,
            "background_max_ms": b.max,
            "background_batches": bg_batches,
            "big_clone_ms": clone_ms,
            "big_save_ms": save_ms,
        }))
    })
    .await
}
