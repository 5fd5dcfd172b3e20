//! W4 scale (DESIGN §9): `--w4-lists` lists spread over the workers, loaded
//! through many concurrent syncs; sample syncs at the start and at the end;
//! worker RSS and disk bytes per list per replica at the end.
//!
//! - Loading: each list is one creation change built with the engine
//!   ([`ShoppingList::create`], no local store per list: that would dominate
//!   the run), sent through [`SyncClient::sync`] as a write, with
//!   `--w4-concurrency` syncs in flight over [`LOAD_CONNECTIONS`]
//!   connections.
//! - Samples (the load paused): a device (its local commits without fsync,
//!   so the cloud's latency is what varies) makes `--w4-samples` writes
//!   (create a list, `sync_list`) and opens `--w4-samples` random loaded
//!   lists by URL (`sync_list` of a list it lacks: a read that the replicas
//!   serve from SQLite, beyond their in-memory cache). Once after the first
//!   [`start_point`] lists, once after all of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use engine::list::{EditContext, ShoppingList};
use engine::signing::DeviceKey;
use engine::{ChangeHash, ListId};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use shoplist_cli::sync_client::SyncClient;

use super::Env;
use crate::cluster::{dir_bytes, rss_bytes, Cluster};
use crate::device::{client_config, on_thread, setup_store_options, Device};
use crate::progress::{note, Progress};
use crate::stats::{rate, round3, Summary};

/// Client connections the load is spread over.
const LOAD_CONNECTIONS: usize = 4;
/// Keep every n-th loaded list as a candidate for read samples.
const KEEP_EVERY: usize = 16;
/// Seed of the sample choice (printed in the output).
const SEED: u64 = 0x5eed_0004;

/// Lists loaded before the start samples.
fn start_point(lists: usize) -> usize {
    lists.min(1000)
}

/// One list's creation change: (list, its head, its bytes).
fn creation(i: usize, key: &DeviceKey) -> anyhow::Result<(ListId, ChangeHash, Bytes)> {
    let ctx = EditContext::now("w4");
    let list = ShoppingList::create(key.actor(), &format!("w4 list {i}"), &ctx)?;
    let change = list
        .last_local_change()
        .context("creation made no change")?;
    let id = ListId::new_random();
    Ok((id, change.hash(), Bytes::from(key.frame(id, &change))))
}

/// Load lists `[from, to)` with `concurrency` syncs in flight.
pub(crate) async fn load(
    clients: &[SyncClient],
    from: usize,
    to: usize,
    concurrency: usize,
    kept: &Arc<Mutex<Vec<ListId>>>,
    bar: &Progress,
    deadline: Instant,
) -> anyhow::Result<usize> {
    let next = Arc::new(AtomicUsize::new(from));
    let errors = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..concurrency.max(1) {
        let client = clients[t % clients.len()].clone();
        let (next, errors, kept, bar) = (next.clone(), errors.clone(), kept.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let key = DeviceKey::generate();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return anyhow::Ok(());
                }
                if Instant::now() >= deadline {
                    bail!("W4 loading ran out of time at list {i}");
                }
                let (list, head, bytes) = creation(i, &key)?;
                match client.sync(list, &[head], &[bytes]).await {
                    Ok(r) if r.acked > 0 && r.missing.is_empty() => {
                        if i % KEEP_EVERY == 0 {
                            if let Ok(mut k) = kept.lock() {
                                k.push(list);
                            }
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                bar.inc(1);
            }
        }));
    }
    for t in tasks {
        t.await.context("a W4 loader panicked")??;
    }
    Ok(errors.load(Ordering::Relaxed))
}

/// Sample latencies: (writes, reads).
async fn sample(
    env: &Env,
    candidates: Vec<ListId>,
    n: usize,
    seed: u64,
) -> anyhow::Result<(Summary, Summary)> {
    let ep = env.endpoint.clone();
    on_thread("w4-sample", move || async move {
        let mut dev = Device::open("w4-sampler", &ep, setup_store_options())?;
        let mut writes = Vec::with_capacity(n);
        for i in 0..n {
            let list = dev.create_list(&format!("w4 sample {i}"))?;
            let t = Instant::now();
            dev.sync(list).await?;
            writes.push(t.elapsed());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let picks: Vec<ListId> = candidates
            .choose_multiple(&mut rng, n.min(candidates.len()))
            .copied()
            .collect();
        let mut reads = Vec::with_capacity(picks.len());
        for list in picks {
            let t = Instant::now();
            dev.sync(list).await?;
            reads.push(t.elapsed());
        }
        Ok((Summary::of(&writes), Summary::of(&reads)))
    })
    .await
}

fn ratio(end: f64, start: f64) -> f64 {
    if start > 0.0 {
        round3(end / start)
    } else {
        0.0
    }
}

/// Run W4 on `cluster`.
pub async fn run(env: &Env, cluster: &mut Cluster) -> anyhow::Result<Value> {
    let lists = env.args.w4_lists;
    let samples = env.args.w4_samples.max(1);
    let conc = env.args.w4_concurrency;
    // At 200 lists/s the whole load would still finish.
    let deadline = Instant::now() + Duration::from_secs(300 + lists as u64 / 200);
    let clients: Vec<SyncClient> = (0..LOAD_CONNECTIONS)
        .map(|_| SyncClient::start(client_config(&env.endpoint)).0)
        .collect();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let bar = Progress::new("W4 load", lists as u64);

    let first = start_point(lists);
    let mut errors = load(&clients, 0, first, conc, &kept, &bar, deadline).await?;
    let snapshot = kept.lock().map(|k| k.clone()).unwrap_or_default();
    let (sw0, sr0) = sample(env, snapshot, samples, SEED).await?;

    let t = Instant::now();
    errors += load(&clients, first, lists, conc, &kept, &bar, deadline).await?;
    let load_time = t.elapsed();
    bar.finish();
    cluster.check_alive()?;
    note("W4 loaded; sampling at the end");
    let all = kept.lock().map(|k| k.clone()).unwrap_or_default();
    let (sw1, sr1) = sample(env, all, samples, SEED + 1).await?;

    let rss: Vec<u64> = cluster
        .worker_pids()
        .into_iter()
        .filter_map(rss_bytes)
        .collect();
    let disk: u64 = cluster.worker_dirs().iter().map(|d| dir_bytes(d)).sum();
    let total_lists = lists + 2 * samples;
    let per_replica = disk as f64 / (total_lists as f64 * env.args.replicas as f64);
    let mib = |b: u64| round3(b as f64 / (1024.0 * 1024.0));
    let write_ratio = ratio(sw1.p50, sw0.p50);
    let read_ratio = ratio(sr1.p50, sr0.p50);
    Ok(json!({
        "lists": lists,
        "load_concurrency": conc,
        "load_lists_per_s": rate(lists - first, load_time),
        "load_errors": errors,
        "worker_cache_lists": env.args.worker_cache_lists,
        "worker_rss_sum_mib": mib(rss.iter().sum()),
        "worker_rss_max_mib": mib(rss.iter().copied().max().unwrap_or(0)),
        "proxy_rss_mib": mib(rss_bytes(cluster.proxy_pid()).unwrap_or(0)),
        "disk_bytes_total": disk,
        "disk_bytes_per_list_per_replica": per_replica.round(),
        "samples": samples,
        "sample_seed": SEED,
        "start_after_lists": first,
        "write_sync_start_p50_ms": sw0.p50,
        "write_sync_start_p99_ms": sw0.p99,
        "write_sync_end_p50_ms": sw1.p50,
        "write_sync_end_p99_ms": sw1.p99,
        "write_sync_ratio_p50": write_ratio,
        "write_sync_ratio_p99": ratio(sw1.p99, sw0.p99),
        "read_sync_start_p50_ms": sr0.p50,
        "read_sync_start_p99_ms": sr0.p99,
        "read_sync_end_p50_ms": sr1.p50,
        "read_sync_end_p99_ms": sr1.p99,
        "read_sync_ratio_p50": read_ratio,
        "read_sync_ratio_p99": ratio(sr1.p99, sr0.p99),
        "target": "sync latency at the end <= 2 x at the start (p50); worker RSS bounded by its cache",
        "meets_target": write_ratio <= 2.0 && read_ratio <= 2.0 && errors == 0,
    }))
}
