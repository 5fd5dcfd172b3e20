//! The benchmark's own cluster: one proxy and W workers as separate OS
//! processes on 127.0.0.1, like `shoplist-cloud up` (DESIGN §6, §7), and
//! launched by the same launcher (`shoplist_launch::ClusterProcesses`).
//!
//! The processes are this executable re-run with the hidden `cloud-proxy` /
//! `cloud-worker` roles, which call the very same `cloud::proxy::run` /
//! `cloud::worker::run` as `shoplist-cloud` (so one `cargo build -p
//! shoplist-bench` builds everything the benchmark runs). The proxy binds
//! port 0 and reports its endpoints in a ready file. Each child gets
//! `PR_SET_PDEATHSIG` (SIGKILL), and dropping [`Cluster`] kills every child
//! by pid and reaps it, also on error and Ctrl-C.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine::protocol::{Header, Message};
use shoplist_cli::sync_client::{ClientConfig, SyncClient};
use shoplist_launch::{ClusterProcesses, ClusterSpec as LaunchSpec, Ports};
use tempfile::TempDir;

/// How long the cluster may take to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Shape of the cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Worker processes.
    pub workers: usize,
    /// N.
    pub replicas: usize,
    /// W.
    pub write_quorum: usize,
    /// R.
    pub read_quorum: usize,
    /// Each worker's `--cache-lists`.
    pub cache_lists: usize,
    /// Each worker's `--worker-merge-same-list`.
    pub merge_same_list: bool,
    /// The proxy's connection caps.
    pub caps: cloud::proxy::caps::Caps,
    /// Whether the proxy runs its transport guard (`--proxy-unguarded`
    /// turns it off, for experiments).
    pub guarded: bool,
}

/// A running proxy and its workers. See the module docs.
pub struct Cluster {
    dir: Option<TempDir>,
    root: PathBuf,
    frontend: String,
    processes: ClusterProcesses,
}

impl Cluster {
    /// Start the proxy on `127.0.0.1:0`, read the endpoints it reports in
    /// its ready file, start the workers on the reported backend and wait
    /// until the proxy reports every worker alive. No port is picked in
    /// advance, so there is no race to lose and nothing to retry.
    pub async fn start(spec: &ClusterSpec) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("shoplist-bench-")
            .tempdir()
            .context("cannot create the cluster's temp dir")?;
        let root = dir.path().to_path_buf();
        let (_, secret_file) = cloud::secret::ClusterSecret::load_or_create(&root)?;
        let launch = LaunchSpec {
            program: std::env::current_exe().context("cannot find this program's path")?,
            proxy_command: vec!["cloud-proxy".into()],
            worker_command: vec!["cloud-worker".into()],
            root: root.clone(),
            secret_file,
            env: vec![
                ("NO_COLOR".into(), "1".into()),
                (
                    "RUST_LOG".into(),
                    std::env::var("SHOPLIST_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
                ),
            ],
            proxies: 1,
            worker_ids: (1..=spec.workers).map(|i| format!("worker-{i}")).collect(),
            proxy_args: [
                "--replicas".into(),
                spec.replicas.to_string(),
                "--write-quorum".into(),
                spec.write_quorum.to_string(),
                "--read-quorum".into(),
                spec.read_quorum.to_string(),
            ]
            .into_iter()
            .chain(spec.caps.to_args())
            .chain((!spec.guarded).then(|| "--no-guard".to_string()))
            .collect(),
            worker_args: vec![
                "--cache-lists".into(),
                spec.cache_lists.to_string(),
                "--worker-merge-same-list".into(),
                spec.merge_same_list.to_string(),
            ],
            ports: Ports::Any,
            log_files: true,
            parent_death_signal: libc::SIGKILL,
            ready_timeout: READY_TIMEOUT,
            worker_netns: Default::default(),
        };
        let processes = ClusterProcesses::start(launch)?;
        let frontend = processes.frontends().into_iter().next().unwrap_or_default();
        let mut cluster = Cluster {
            dir: Some(dir),
            root,
            frontend,
            processes,
        };
        cluster.wait_ready(spec.workers).await?;
        Ok(cluster)
    }

    /// The proxy's client endpoint.
    pub fn frontend(&self) -> &str {
        &self.frontend
    }

    /// Keep the temp dir after the run; returns its path.
    pub fn keep(&mut self) -> Option<PathBuf> {
        self.dir.take().map(|d| d.keep())
    }

    /// Worker process ids.
    pub fn worker_pids(&self) -> Vec<u32> {
        (0..self.processes.worker_count())
            .filter_map(|i| self.processes.worker_pid(i))
            .collect()
    }

    /// Worker data directories.
    pub fn worker_dirs(&self) -> Vec<PathBuf> {
        self.processes
            .spec()
            .worker_ids
            .iter()
            .map(|id| self.root.join(id))
            .collect()
    }

    /// The proxy's process id.
    pub fn proxy_pid(&self) -> u32 {
        self.processes.proxy_pid(0).unwrap_or(0)
    }

    /// Fail if a cluster process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.processes
            .check_exits()
            .with_context(|| format!("see the logs in {}/logs", self.root.display()))
    }

    async fn wait_ready(&mut self, workers: usize) -> anyhow::Result<()> {
        let (client, _events) = SyncClient::start(ClientConfig::new(vec![self.frontend.clone()]));
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            self.check_alive()?;
            let reply = client
                .request(|id| Message::new(Header::ClusterStatus { id }))
                .await;
            match reply.map(|m| m.header) {
                Ok(Header::ClusterStatusOk { workers: ws, .. }) => {
                    // Live and `ready` members (PROTOCOL §7.2).
                    let alive = ws
                        .iter()
                        .filter(|w| {
                            w.alive
                                && w.state
                                    .is_none_or(|s| s == engine::protocol::MemberState::Ready)
                        })
                        .count();
                    if alive >= workers {
                        return Ok(());
                    }
                    last = format!("{alive} of {workers} workers alive");
                }
                Ok(other) => last = format!("unexpected reply {}", other.op()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the cluster did not become ready in {READY_TIMEOUT:?}: {last}")
    }
}

/// VmRSS of a process in bytes (from /proc/<pid>/status), if readable.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Total size of the regular files under `dir` (recursively), in bytes.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
