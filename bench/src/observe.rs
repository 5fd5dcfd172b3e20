//! The observing device of W1-serial and W3: subscribed to one list, it applies the
//! changes a `notify` carries and syncs as soon as a `notify` leaves heads it
//! lacks (what `sync --watch` does), and timestamps every item it receives.
//!
//! Writers name each item `<prefix>-<n>-t<µs since the run's epoch>` at the
//! moment they make the edit (before the local commit). The observer runs
//! the same rounds as [`shoplist_cli::sync::sync_list`] (the public sans-IO
//! [`ListSync`] planner over [`SyncClient::sync`]) and, before handing each
//! reply to the planner, reads the item names from the changes' messages:
//! cheap (no materialized view of a growing list per notify). An item's
//! propagation latency is the instant its sync finished minus its send time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use engine::ListId;
use shoplist_cli::sync::{apply_pushed, ListSync, Next};
use shoplist_cli::sync_client::ClientEvent;

use crate::device::Device;

/// Longest wait for a `notify` before syncing anyway (a lost push).
const IDLE_SYNC: Duration = Duration::from_millis(250);

/// The name of an item sent at `sent` (relative to `epoch`).
pub fn marker(prefix: &str, n: usize, epoch: Instant, sent: Instant) -> String {
    let micros = sent.saturating_duration_since(epoch).as_micros();
    format!("{prefix}-{n}-t{micros}")
}

/// The send time in a marker item name, as µs since the epoch.
pub fn parse_marker(name: &str) -> Option<u64> {
    name.rsplit_once("-t")?.1.parse().ok()
}

/// The item names that `add` changes among `changes` (signed change frames,
/// PROTOCOL §2.1) carry (via the change message the engine writes:
/// `{"by","op","item","n"}`).
pub fn added_items<B: AsRef<[u8]>>(changes: &[B]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| engine::signing::split_frame(c.as_ref()))
        .filter_map(|(_, chunk)| automerge::Change::from_bytes(chunk.to_vec()).ok())
        .filter_map(|c| {
            let msg: serde_json::Value = serde_json::from_str(c.message()?).ok()?;
            (msg.get("op")?.as_str()? == "add")
                .then(|| msg.get("item")?.as_str().map(String::from))
                .flatten()
        })
        .collect()
}

/// What an observer saw.
#[derive(Debug, Default)]
pub struct Observation {
    /// Propagation latency of every marker item received.
    pub latencies: Vec<Duration>,
    /// When the last expected item arrived.
    pub last_at: Option<Instant>,
    /// Syncs the observer ran.
    pub syncs: usize,
    /// Syncs that failed (retried on the next notify).
    pub errors: usize,
}

/// Sync `list` once like `sync_list`, recording marker items received.
async fn sync_and_record(
    dev: &mut Device,
    list: ListId,
    epoch: Instant,
    seen: &mut HashSet<String>,
    obs: &mut Observation,
) -> anyhow::Result<()> {
    let mut plan = ListSync::new(list);
    let mut req = plan.start(&mut dev.store)?;
    let mut names = Vec::new();
    loop {
        let reply = req.send(&dev.client, list).await?;
        names.extend(added_items(&reply.changes));
        match plan.on_reply(&mut dev.store, reply)? {
            Next::Send(r) => req = r,
            Next::Done(_) => break,
        }
    }
    record(names, Instant::now(), epoch, seen, obs);
    Ok(())
}

/// Stamp the marker items among `names` first seen now.
fn record(
    names: Vec<String>,
    now: Instant,
    epoch: Instant,
    seen: &mut HashSet<String>,
    obs: &mut Observation,
) {
    for name in names {
        if let Some(t) = parse_marker(&name) {
            if seen.insert(name) {
                let sent = epoch + Duration::from_micros(t);
                obs.latencies.push(now.saturating_duration_since(sent));
                obs.last_at = Some(now);
            }
        }
    }
}

/// Apply the changes a `notify` carried (PROTOCOL §6.2) as `sync --watch`
/// does, stamping the marker items that it stored. Whether the notify's
/// heads are all known afterwards.
fn apply_push(
    dev: &mut Device,
    list: ListId,
    heads: &[engine::ChangeHash],
    changes: &[Bytes],
    epoch: Instant,
    seen: &mut HashSet<String>,
    obs: &mut Observation,
) -> bool {
    match apply_pushed(&mut dev.store, list, heads, changes) {
        Ok(pushed) => {
            let now = Instant::now();
            let stored: Vec<&Bytes> = changes
                .iter()
                .filter(|f| {
                    engine::signing::frame_hash(f).is_some_and(|h| pushed.applied.contains(&h))
                })
                .collect();
            record(added_items(&stored), now, epoch, seen, obs);
            pushed.known
        }
        Err(_) => {
            obs.errors += 1;
            false
        }
    }
}

/// Whether every head in `heads` is already in the local store.
fn all_known(dev: &mut Device, list: ListId, heads: &[engine::ChangeHash]) -> bool {
    dev.store
        .read(list, |_, g| heads.iter().all(|h| g.contains(h)))
        .unwrap_or(false)
}

/// Watch `list` (already joined and subscribed by `dev`) until `expect`
/// marker items have arrived or `deadline` passes. `progress` counts items
/// seen, for writers that wait for delivery.
pub async fn observe(
    dev: &mut Device,
    list: ListId,
    expect: usize,
    epoch: Instant,
    deadline: Instant,
    progress: Arc<AtomicUsize>,
) -> anyhow::Result<Observation> {
    let mut obs = Observation::default();
    let mut seen = HashSet::new();
    while seen.len() < expect {
        let now = Instant::now();
        if now >= deadline {
            bail!(
                "observer saw {} of {expect} items before its deadline",
                seen.len()
            );
        }
        let wait = IDLE_SYNC.min(deadline - now);
        let mut due = false;
        match tokio::time::timeout(wait, dev.events.recv()).await {
            Ok(Some(ev)) => {
                let mut batch = vec![ev];
                while let Ok(more) = dev.events.try_recv() {
                    batch.push(more);
                }
                for ev in batch {
                    match ev {
                        ClientEvent::Notify {
                            list: l,
                            heads,
                            changes,
                        } if l == list => {
                            let known = !changes.is_empty()
                                && apply_push(
                                    dev, list, &heads, &changes, epoch, &mut seen, &mut obs,
                                );
                            due |= !known && !all_known(dev, list, &heads);
                        }
                        ClientEvent::Connected { .. } => {
                            // A new connection has no subscriptions.
                            let _ = dev.client.subscribe(&[list]).await;
                            due = true;
                        }
                        _ => {}
                    }
                }
            }
            Ok(None) => bail!("the observer's connection task stopped"),
            Err(_) => due = true,
        }
        if due {
            obs.syncs += 1;
            if sync_and_record(dev, list, epoch, &mut seen, &mut obs)
                .await
                .is_err()
            {
                obs.errors += 1;
            }
        }
        // Items arrive through a sync or with a notify (PROTOCOL §6.2).
        progress.store(seen.len(), Ordering::Release);
    }
    Ok(obs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let epoch = Instant::now();
        let m = marker("w3-x", 7, epoch, epoch + Duration::from_micros(1234));
        assert_eq!(m, "w3-x-7-t1234");
        assert_eq!(parse_marker(&m), Some(1234));
        assert_eq!(parse_marker("milk"), None);
    }
}
