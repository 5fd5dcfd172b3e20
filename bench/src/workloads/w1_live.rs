//! W1 the way peers measure it (issue 11): one shared list, `--w1-writers`
//! writer devices + 1 observer. Each writer makes `--w1-edits` edits as fast
//! as it can (each adds an item carrying its send time) and never waits for
//! the network: its live session (the real `sync --watch` machinery,
//! [`Watcher`] driving [`shoplist_cli::live::LiveSession`], poked through a
//! [`LiveHandle`] after every edit) pushes whatever is pending in batches in
//! the background, one sync in flight at a time. The observer runs a live
//! session too, subscribed; latency is from the edit to the observer's store.
//!
//! Each device is two threads: the editing (or observing) one, and its
//! watcher's, sharing the device's one store connection ([`SharedStore`],
//! as the TUI does), so each edit is applied once on the device.
//! The observer's watcher, on each `received` event (emitted right after a
//! sync applied its reply, with the store released), reads on its own
//! thread the changes it just applied and stamps their items with that
//! instant: the moment they reached the observer's store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use engine::store::StoreOptions;
use engine::ListId;
use serde_json::{json, Value};
use shoplist_cli::live::{LiveHandle, SharedStore};
use shoplist_cli::sync_client::SyncClient;
use shoplist_cli::watch::{WatchEvent, WatchOptions, Watcher};
use tokio::sync::{mpsc, oneshot, Barrier};

use super::{meet, shared_list, Env};
use crate::device::{client_config, on_thread, Device};
use crate::observe::{added_items, marker, parse_marker};
use crate::stats::{rate, Summary};

/// A running watcher on a device's database.
struct Live {
    stop: oneshot::Sender<()>,
    done: std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>,
}

/// What the observer's watcher found in its store right after it applied
/// a sync's changes: the marker items, stamped with that instant.
type Stamped = (Instant, Vec<String>);

/// Start a watcher of `list` on `store` on its own thread; its events go to
/// `events` (stamped when they happen), pokes come through `pokes`. With
/// `stamps`, every `received` event is followed, on the watcher's own
/// thread and before it does anything else, by a read of the changes it
/// just applied (on the same, shared connection: nobody else holds it
/// then); their items go to `stamps` with the event's instant: the moment
/// they reached the store.
#[allow(clippy::too_many_arguments)]
fn start_live(
    name: &str,
    store: SharedStore,
    endpoint: String,
    list: ListId,
    handle: LiveHandle,
    pokes: mpsc::UnboundedReceiver<ListId>,
    events: mpsc::UnboundedSender<(Instant, WatchEvent)>,
    stamps: Option<mpsc::UnboundedSender<Stamped>>,
) -> Live {
    let (stop, stop_rx) = oneshot::channel::<()>();
    let done = on_thread(name, move || async move {
        let mut read_heads = store.lock().heads(list)?;
        let reader = store.clone();
        let (client, client_events) = SyncClient::start(client_config(&endpoint));
        let opts = WatchOptions {
            report_names: false,
            ..WatchOptions::default()
        };
        let watcher = Watcher::new(store, client, client_events, Some(vec![list]), opts)
            .with_pokes(handle, pokes);
        watcher
            .run(
                move |ev| {
                    let at = Instant::now();
                    if let (Some(tx), WatchEvent::Received { heads, .. }) = (stamps.as_ref(), &ev) {
                        // Only the run's end reads the observer's store from
                        // elsewhere; a miss here leaves the changes to the
                        // next event (stamped later, never earlier).
                        let read = reader
                            .try_lock()
                            .and_then(|mut r| r.changes_for(list, &read_heads).ok());
                        if let Some((changes, _)) = read {
                            read_heads = heads.clone();
                            let _ = tx.send((at, added_items(&changes)));
                        }
                    }
                    let _ = events.send((at, ev));
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await;
        Ok(())
    });
    Live {
        stop,
        done: Box::pin(done),
    }
}

impl Live {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.done.await
    }
}

/// What one writer did.
struct WriterResult {
    first_send: Option<Instant>,
    edit_time: Duration,
    errors: usize,
}

/// Wait (on the watcher's events) until `store` has nothing pending for
/// `list`, or `deadline`.
async fn until_pushed(
    store: &SharedStore,
    list: ListId,
    events: &mut mpsc::UnboundedReceiver<(Instant, WatchEvent)>,
    deadline: Instant,
    errors: &mut usize,
) -> anyhow::Result<()> {
    while store.lock().pending(list)? > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some((_, WatchEvent::Error { .. } | WatchEvent::StoreError { .. }))) => *errors += 1,
            Ok(Some(_)) => {}
            Ok(None) => bail!("the watcher stopped"),
            Err(_) => bail!("edits still pending at the deadline"),
        }
    }
    Ok(())
}

/// Run W1 (live).
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let writers = env.args.w1_writers.max(1);
    let edits = env.args.w1_edits;
    let total = writers * edits;
    let endpoint = env.endpoint.clone();
    let epoch = env.epoch;
    let deadline = Instant::now() + Duration::from_secs(60 + (total / 50) as u64);

    let list = shared_list(&endpoint, "W1 live shared list").await?;

    // The observer: a joined device plus its watcher.
    let ep = endpoint.clone();
    let obs_dev = on_thread("w1l-observer-join", move || async move {
        let mut dev = Device::open("observer", &ep, StoreOptions::default())?;
        dev.sync(list).await?;
        Ok(dev)
    });
    let obs_dev = obs_dev.await?.into_live();
    let (obs_tx, mut obs_rx) = mpsc::unbounded_channel();
    let (stamp_tx, mut stamp_rx) = mpsc::unbounded_channel::<Stamped>();
    let (h, p) = LiveHandle::channel();
    let obs_live = start_live(
        "w1l-observer-watch",
        obs_dev.store.clone(),
        endpoint.clone(),
        list,
        h,
        p,
        obs_tx,
        Some(stamp_tx),
    );
    // Wait for the observer's watcher to be online and subscribed.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, obs_rx.recv()).await {
            Ok(Some((_, WatchEvent::Online))) => break,
            Ok(Some(_)) => {}
            _ => bail!("the observer's watcher did not come online"),
        }
    }

    // Writers: each on its own thread, with its watcher on another.
    // Writers and this task meet at `start` once every watcher is online.
    let start = Arc::new(Barrier::new(writers + 1));
    let mut handles = Vec::new();
    for w in 0..writers {
        let ep = endpoint.clone();
        let start = start.clone();
        handles.push(on_thread(&format!("w1l-writer-{w}"), move || async move {
            let mut dev = Device::open(&format!("writer-{w}"), &ep, StoreOptions::default())?;
            dev.sync(list).await?;
            let dev = dev.into_live();
            let (tx, mut rx) = mpsc::unbounded_channel();
            let (handle, pokes) = LiveHandle::channel();
            let live = start_live(
                &format!("w1l-writer-{w}-watch"),
                dev.store.clone(),
                ep,
                list,
                handle.clone(),
                pokes,
                tx,
                None,
            );
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, rx.recv()).await {
                    Ok(Some((_, WatchEvent::Online))) => break,
                    Ok(Some(_)) => {}
                    _ => bail!("writer {w}'s watcher did not come online"),
                }
            }
            meet(&start, deadline).await?;
            let mut r = WriterResult {
                first_send: None,
                edit_time: Duration::ZERO,
                errors: 0,
            };
            let t = Instant::now();
            for i in 0..edits {
                if Instant::now() >= deadline {
                    bail!("writer {w} ran out of time after {i} edits");
                }
                let sent = Instant::now();
                r.first_send.get_or_insert(sent);
                dev.add_item(list, &marker(&format!("w{w}"), i, epoch, sent))?;
                handle.edited(list);
            }
            r.edit_time = t.elapsed();
            until_pushed(&dev.store, list, &mut rx, deadline, &mut r.errors).await?;
            Ok((r, dev, live, rx))
        }));
    }
    meet(&start, deadline).await?;

    // Observe until every marker item is in the observer's store, stamped
    // by the observer's watcher when it applied them.
    let mut seen: HashSet<String> = HashSet::new();
    let mut latencies = Vec::with_capacity(total);
    let mut last_at = None;
    let mut received_events = 0usize;
    let mut obs_errors = 0usize;
    while seen.len() < total {
        let left = deadline.saturating_duration_since(Instant::now());
        let (at, names) = match tokio::time::timeout(left, stamp_rx.recv()).await {
            Ok(Some(x)) => x,
            _ => bail!(
                "observer saw {} of {total} items by the deadline",
                seen.len()
            ),
        };
        while let Ok((_, ev)) = obs_rx.try_recv() {
            if !matches!(ev, WatchEvent::Received { .. } | WatchEvent::Pushed { .. }) {
                tracing::warn!(?ev, "W1 observer's live sync");
            }
            obs_errors +=
                matches!(ev, WatchEvent::Error { .. } | WatchEvent::StoreError { .. }) as usize;
        }
        received_events += 1;
        for name in names {
            if let Some(t) = parse_marker(&name) {
                if name.starts_with('w') && seen.insert(name) {
                    let sent = epoch + Duration::from_micros(t);
                    latencies.push(at.saturating_duration_since(sent));
                    last_at = Some(at);
                }
            }
        }
    }

    let mut results = Vec::new();
    let mut devices = Vec::new();
    for h in handles {
        let (r, dev, live, rx) = h.await?;
        results.push(r);
        devices.push((dev, live, rx));
    }
    // Convergence: every device's watcher pulls the others' edits on notify.
    let mut converged = false;
    for _ in 0..200 {
        let observer_heads = obs_dev.store.lock().heads(list)?;
        let mut all = true;
        for (dev, _, _) in devices.iter() {
            all &= dev.store.lock().heads(list)? == observer_heads;
        }
        if all {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (_, live, _) in devices {
        live.stop().await?;
    }
    obs_live.stop().await?;
    let observer_items = obs_dev.store.lock().view(list)?.items.len();

    let first = results.iter().filter_map(|r| r.first_send).min();
    let elapsed = match (first, last_at) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    };
    let edit_times: Vec<Duration> = results.iter().map(|r| r.edit_time).collect();
    let prop = Summary::of(&latencies);
    let edits_per_s = rate(total, elapsed);
    Ok(json!({
        "writers": writers,
        "edits_per_writer": edits,
        "edits": total,
        "observed": latencies.len(),
        "observer_items": observer_items,
        "elapsed_s": elapsed.as_secs_f64(),
        "edits_per_s": edits_per_s,
        "propagation_p50_ms": prop.p50,
        "propagation_p99_ms": prop.p99,
        "propagation_max_ms": prop.max,
        "writer_local_edit_s_max": edit_times.iter().max().map(|d| d.as_secs_f64()),
        "observer_applies": received_events,
        "errors": results.iter().map(|r| r.errors).sum::<usize>() + obs_errors,
        "converged": converged,
        "target": "edits_per_s >= 3500, propagation_p99_ms <= 50, converged",
        "meets_target": edits_per_s >= 3500.0 && prop.p99 <= 50.0 && converged,
    }))
}
