//! W3 long history (DESIGN §9): one device builds a list of `--w3-changes`
//! changes and syncs it; a fresh device opens it (time until it has the
//! whole materialized list); then, with the fresh device subscribed, the
//! author makes `--w3-samples` more edits one at a time and each one's
//! propagation latency to the fresh device is measured (median reported).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use engine::store::StoreOptions;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::Env;
use crate::device::{on_thread, setup_store_options, Device};
use crate::observe::{marker, observe};
use crate::progress::Progress;
use crate::stats::Summary;

/// Distinct items the history's edits cycle through.
const NAMES: usize = 200;

/// Run W3.
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let changes = env.args.w3_changes.max(1);
    let samples = env.args.w3_samples.max(1);
    let epoch = env.epoch;
    let deadline = Instant::now() + Duration::from_secs(120 + changes as u64 / 200);
    let (list_tx, list_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let seen = Arc::new(AtomicUsize::new(0));

    let (ep, seen2) = (env.endpoint.clone(), seen.clone());
    let author = on_thread("w3-author", move || async move {
        let mut dev = Device::open("author", &ep, setup_store_options())?;
        let list = dev.create_list("W3 long history")?;
        let bar = Progress::new("W3 build", changes as u64);
        for i in 1..changes {
            dev.add_item(list, &format!("item {}", i % NAMES))?;
            bar.inc(1);
        }
        bar.finish();
        let t = Instant::now();
        dev.sync(list).await.context("W3 initial push")?;
        let push = t.elapsed();
        let _ = list_tx.send(list);
        ready_rx
            .await
            .map_err(|_| anyhow!("the fresh client stopped"))?;
        for i in 0..samples {
            let before = seen2.load(Ordering::Acquire);
            let sent = Instant::now();
            dev.add_item(list, &marker("w3", i, epoch, sent))?;
            dev.sync(list).await?;
            while seen2.load(Ordering::Acquire) <= before {
                if Instant::now() >= deadline {
                    bail!("edit {i} did not reach the fresh client in time");
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(push)
    });

    let ep = env.endpoint.clone();
    let fresh = on_thread("w3-fresh", move || async move {
        let list = list_rx
            .await
            .map_err(|_| anyhow!("the author stopped before pushing"))?;
        let mut dev = Device::open("fresh", &ep, StoreOptions::default())?;
        let t = Instant::now();
        let report = dev.sync(list).await.context("W3 open")?;
        let items = dev.store.view(list)?.items.len();
        let open = t.elapsed();
        dev.client.subscribe(&[list]).await?;
        let _ = ready_tx.send(());
        let obs = observe(&mut dev, list, samples, epoch, deadline, seen).await?;
        Ok((
            open,
            report.received,
            report.rounds,
            report.from_snapshot,
            items,
            obs,
        ))
    });

    let push = author.await?;
    let (open, received, rounds, from_snapshot, items, obs) = fresh.await?;
    let s = Summary::of(&obs.latencies);
    let open_ms = open.as_secs_f64() * 1e3;
    Ok(json!({
        "changes": changes,
        "initial_push_ms": push.as_secs_f64() * 1e3,
        "open_ms": open_ms,
        "open_received_changes": received,
        "open_rounds": rounds,
        "open_from_snapshot": from_snapshot,
        "open_items": items,
        "samples": obs.latencies.len(),
        "propagation_median_ms": s.p50,
        "propagation_max_ms": s.max,
        "target": "open_ms <= 50, propagation_median_ms <= 4",
        "meets_target": open_ms <= 50.0 && s.p50 <= 4.0,
    }))
}
