//! The worker process: a replica store and one supervised link per proxy
//! (DESIGN §6 "Worker").
//!
//! - [`store_thread`]: the SQLite replica on its own thread, group commit.
//! - [`link`]: a DEALER per proxy endpoint with hello, heartbeats and
//!   rebuild-on-silence.
//! - [`memory`]: what a change that crashes Automerge may cost (trim, or
//!   restart the process in place).
//! - [`repair`]: damaged lists found (quick_check, scrub, use), dropped and
//!   rebuilt from the other replicas.
//! - [`read_cache`]: up-to-date reads answered by the link, without the
//!   store thread.

pub mod cluster_jobs;
pub mod digests;
pub mod link;
pub mod memory;
pub mod read_cache;
pub mod relay;
pub mod repair;
pub mod store_thread;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use engine::store::StoreOptions;
use engine::WorkerId;
use tracing::info;

use self::link::{run_link, LinkConfig};

/// The `worker` subcommand's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's id (stable across restarts: it names its ring slots).
    pub id: WorkerId,
    /// Backend endpoints of every proxy to serve.
    pub proxies: Vec<String>,
    /// Where `replica.db` lives.
    pub data_dir: PathBuf,
    /// Lists kept decoded in memory.
    pub cache_lists: usize,
    /// Heartbeat interval until a proxy's `welcome` says otherwise.
    pub heartbeat: Duration,
    /// The cluster secret (PROTOCOL §7.1); `None` only for open loopback
    /// clusters.
    pub secret: Option<crate::secret::ClusterSecret>,
    /// Group commit applies same-list requests in one call
    /// ([`StoreOptions::merge_same_list`]; `--worker-merge-same-list`).
    pub merge_same_list: bool,
}

/// Run the worker until the process is stopped.
pub async fn run(cfg: WorkerConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let path = cfg.data_dir.join("replica.db");
    let opts = StoreOptions {
        synchronous_full: true,
        cache_lists: cfg.cache_lists.max(1),
        sole_writer: true,
        compact_in_background: true,
        merge_same_list: cfg.merge_same_list,
        ..StoreOptions::default()
    };
    let store = store_thread::spawn(&path, opts)
        .with_context(|| format!("cannot open {}", path.display()))?;
    info!(worker = %cfg.id, db = %path.display(), proxies = ?cfg.proxies, "worker started");
    let mut links = Vec::new();
    let relay = relay::channel();
    for (index, endpoint) in cfg.proxies.iter().enumerate() {
        let link = LinkConfig {
            index,
            worker: cfg.id.clone(),
            endpoint: endpoint.clone(),
            heartbeat: cfg.heartbeat,
            connect_timeout: Duration::from_secs(1),
            secret: cfg.secret.clone(),
        };
        links.push(tokio::spawn(run_link(link, store.clone(), relay.clone())));
    }
    for l in links {
        l.await.context("a proxy link stopped")?;
    }
    Ok(())
}
