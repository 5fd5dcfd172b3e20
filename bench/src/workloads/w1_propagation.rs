//! W1-serial (was W1; DESIGN §9): one shared list, `--w1-writers` writer
//! devices + 1 observer. Each writer makes `--w1-edits` edits (each adds an
//! item carrying its send time) and syncs after each; the observer syncs on
//! `notify`. Reports edits/s until the observer has them all, propagation
//! latency, and whether every device converged to identical heads after a
//! final sync.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use engine::store::StoreOptions;
use engine::ListId;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use super::{meet, shared_list, Env};
use crate::device::{on_thread, Device};
use crate::observe::{marker, observe};
use crate::stats::{rate, Summary};

/// What one writer did.
struct WriterResult {
    first_send: Option<Instant>,
    sync_latencies: Vec<Duration>,
    errors: usize,
    heads: Vec<engine::ChangeHash>,
}

/// Final syncs: two rounds separated by a barrier, so pending edits of any
/// device reach every other. Returns the device's heads.
async fn converge(
    dev: &mut Device,
    list: ListId,
    done: &Barrier,
    deadline: Instant,
) -> anyhow::Result<Vec<engine::ChangeHash>> {
    meet(done, deadline).await?;
    let _ = dev.sync(list).await;
    meet(done, deadline).await?;
    dev.sync(list).await?;
    Ok(dev.store.heads(list)?)
}

/// Run W1.
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let writers = env.args.w1_writers.max(1);
    let edits = env.args.w1_edits;
    let total = writers * edits;
    let endpoint = env.endpoint.clone();
    let epoch = env.epoch;
    // Generous: the whole workload at 50 edits/s would still finish.
    let deadline = Instant::now() + Duration::from_secs(60 + (total / 50) as u64);

    let list = shared_list(&endpoint, "W1 shared list").await?;

    // Writers + observer + this task meet at `start`; devices at `done`.
    let start = Arc::new(Barrier::new(writers + 2));
    let done = Arc::new(Barrier::new(writers + 1));
    let seen = Arc::new(AtomicUsize::new(0));

    let (ep, s, d, seen2) = (endpoint.clone(), start.clone(), done.clone(), seen.clone());
    let observer = on_thread("w1-observer", move || async move {
        let mut dev = Device::open("observer", &ep, StoreOptions::default())?;
        dev.sync(list).await?;
        dev.client.subscribe(&[list]).await?;
        meet(&s, deadline).await?;
        let obs = observe(&mut dev, list, total, epoch, deadline, seen2).await;
        let heads = converge(&mut dev, list, &d, deadline).await?;
        let items = dev.store.view(list)?.items.len();
        Ok((obs?, heads, items))
    });

    let mut handles = Vec::new();
    for w in 0..writers {
        let (ep, s, d) = (endpoint.clone(), start.clone(), done.clone());
        handles.push(on_thread(&format!("w1-writer-{w}"), move || async move {
            let mut dev = Device::open(&format!("writer-{w}"), &ep, StoreOptions::default())?;
            dev.sync(list).await?;
            meet(&s, deadline).await?;
            let mut r = WriterResult {
                first_send: None,
                sync_latencies: Vec::with_capacity(edits),
                errors: 0,
                heads: Vec::new(),
            };
            for i in 0..edits {
                if Instant::now() >= deadline {
                    bail!("writer {w} ran out of time after {i} edits");
                }
                let sent = Instant::now();
                r.first_send.get_or_insert(sent);
                dev.add_item(list, &marker(&format!("w{w}"), i, epoch, sent))?;
                let t = Instant::now();
                match dev.sync(list).await {
                    Ok(_) => r.sync_latencies.push(t.elapsed()),
                    Err(_) => r.errors += 1,
                }
            }
            r.heads = converge(&mut dev, list, &d, deadline).await?;
            Ok(r)
        }));
    }
    meet(&start, deadline).await?;
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await?);
    }
    let (obs, observer_heads, observer_items) = observer.await?;

    let first = results.iter().filter_map(|r| r.first_send).min();
    let elapsed = match (first, obs.last_at) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    };
    let converged = results.iter().all(|r| r.heads == observer_heads);
    let prop = Summary::of(&obs.latencies);
    let syncs: Vec<Duration> = results
        .iter()
        .flat_map(|r| r.sync_latencies.iter().copied())
        .collect();
    let sync = Summary::of(&syncs);
    let edits_per_s = rate(total, elapsed);
    Ok(json!({
        "writers": writers,
        "edits_per_writer": edits,
        "edits": total,
        "observed": obs.latencies.len(),
        "observer_items": observer_items,
        "elapsed_s": elapsed.as_secs_f64(),
        "edits_per_s": edits_per_s,
        "propagation_p50_ms": prop.p50,
        "propagation_p99_ms": prop.p99,
        "propagation_max_ms": prop.max,
        "writer_sync_p50_ms": sync.p50,
        "writer_sync_p99_ms": sync.p99,
        "observer_syncs": obs.syncs,
        "errors": results.iter().map(|r| r.errors).sum::<usize>() + obs.errors,
        "converged": converged,
        // DESIGN §9's W1 target is for the live variant; this serial one
        // is kept beside it for comparison, against the same figures.
        "target": "edits_per_s >= 3500, propagation_p99_ms <= 50, converged",
        "meets_target": edits_per_s >= 3500.0 && prop.p99 <= 50.0 && converged,
    }))
}
