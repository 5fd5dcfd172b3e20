//! AE heal (issue 9, PROTOCOL §7.3–§7.4): how long the cluster takes to
//! bring a home replica back up to date with no client traffic.
//!
//! The first worker (`worker-1`) is frozen (SIGSTOP) until the proxy declares it dead; `--ae-lists`
//! lists are loaded as in W4 (their writes to worker 0 go to stand-ins with
//! hints); worker 0 is thawed (SIGCONT). The clock runs from the moment the
//! proxy sees it alive again until no stand-in holds a hint and two
//! anti-entropy passes have run with the last one finding no range that
//! differs: every home of every list then holds the same heads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine::protocol::{Header, Message, ProxyStats, WorkerStatus};
use serde_json::{json, Value};
use shoplist_cli::sync_client::SyncClient;

use super::w4_scale::load;
use super::Env;
use crate::cluster::Cluster;
use crate::device::client_config;
use crate::progress::{note, Progress};
use crate::stats::{rate, round3};

/// Syncs in flight while loading.
const CONCURRENCY: usize = 64;
/// Longest wait for any one phase.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

async fn status(client: &SyncClient) -> anyhow::Result<(Vec<WorkerStatus>, ProxyStats)> {
    let reply = client
        .request(|id| Message::new(Header::ClusterStatus { id }))
        .await
        .context("cluster_status")?;
    match reply.header {
        Header::ClusterStatusOk { workers, proxy, .. } => Ok((workers, proxy.unwrap_or_default())),
        other => bail!("unexpected reply {}", other.op()),
    }
}

fn signal(pid: u32, sig: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid")?;
    // SAFETY: kill(2) on a child process this benchmark started.
    if unsafe { libc::kill(pid, sig) } != 0 {
        bail!("kill({pid}, {sig}) failed");
    }
    Ok(())
}

async fn wait_for(
    what: &str,
    client: &SyncClient,
    mut done: impl FnMut(&[WorkerStatus], &ProxyStats) -> bool,
) -> anyhow::Result<(Vec<WorkerStatus>, ProxyStats)> {
    let deadline = Instant::now() + PHASE_LIMIT;
    loop {
        let (ws, p) = status(client).await?;
        if done(&ws, &p) {
            return Ok((ws, p));
        }
        if Instant::now() >= deadline {
            bail!("AE: gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Run AE on `cluster`.
pub async fn run(env: &Env, cluster: &mut Cluster) -> anyhow::Result<Value> {
    let lists = env.args.ae_lists;
    let client = SyncClient::start(client_config(&env.endpoint)).0;
    let pid = *cluster.worker_pids().first().context("no worker")?;
    // The first pid is the first worker's, `worker-1` (see `Cluster::start`).
    let frozen = "worker-1";
    let is = |w: &WorkerStatus| w.id.as_str() == frozen;
    signal(pid, libc::SIGSTOP)?;
    let result = async {
        wait_for("worker-1 to be seen dead", &client, |ws, _| {
            ws.iter().any(|w| is(w) && !w.alive)
        })
        .await?;
        let clients: Vec<SyncClient> = (0..4)
            .map(|_| SyncClient::start(client_config(&env.endpoint)).0)
            .collect();
        let bar = Progress::new("AE load", lists as u64);
        let t = Instant::now();
        let deadline = t + PHASE_LIMIT;
        let kept = Arc::new(Mutex::new(Vec::new()));
        let errors = load(&clients, 0, lists, CONCURRENCY, &kept, &bar, deadline).await?;
        let load_time = t.elapsed();
        bar.finish();
        // Stand-ins report their hints with their next heartbeat.
        let (ws, p0) = wait_for("stand-ins to report hints", &client, |ws, _| {
            lists == 0 || ws.iter().map(|w| w.stats.hints).sum::<u64>() > 0
        })
        .await?;
        let hints: u64 = ws.iter().map(|w| w.stats.hints).sum();
        note("AE: thawing worker-1");
        signal(pid, libc::SIGCONT)?;
        let (_, seen) = wait_for("worker-1 to be seen alive", &client, |ws, _| {
            ws.iter().any(|w| is(w) && w.alive)
        })
        .await?;
        let healed = Instant::now();
        let (_, p1) = wait_for("hints delivered and a clean pass", &client, |ws, p| {
            ws.iter().all(|w| w.stats.hints == 0)
                && p.entropy_passes >= seen.entropy_passes + 2
                && p.entropy_last_dirty == 0
        })
        .await?;
        let converged = healed.elapsed();
        Ok(json!({
            "lists": lists,
            "load_lists_per_s": rate(lists, load_time),
            "load_errors": errors,
            "hints_at_heal": hints,
            "converge_s": round3(converged.as_secs_f64()),
            "entropy_transfers": p1.entropy_transfers.saturating_sub(p0.entropy_transfers),
            "entropy_passes": p1.entropy_passes.saturating_sub(seen.entropy_passes),
        }))
    }
    .await;
    // Never leave the worker frozen.
    let _ = signal(pid, libc::SIGCONT);
    result
}
