//! The benchmark's own cluster: one proxy and W workers as separate OS
//! processes on 127.0.0.1, like `shoplist-cloud up` (DESIGN §6, §7).
//!
//! The processes are this executable re-run with the hidden `cloud-proxy` /
//! `cloud-worker` roles, which call the very same `cloud::proxy::run` /
//! `cloud::worker::run` as `shoplist-cloud` (so one `cargo build -p
//! shoplist-bench` builds everything the benchmark runs). Each child gets
//! `PR_SET_PDEATHSIG` (SIGKILL), and [`Cluster`]'s `Drop` kills every child
//! by pid and reaps it, also on error and Ctrl-C.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cloud::proxy::ReadyEndpoints;
use engine::protocol::{Header, Message};
use shoplist_cli::sync_client::{ClientConfig, SyncClient};
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
}

/// A running proxy and its workers. See the module docs.
pub struct Cluster {
    dir: Option<TempDir>,
    frontend: String,
    proxy: Child,
    workers: Vec<(String, Child)>,
}

/// Spawn this executable as `args`, stderr to `log`, dying with its parent;
/// the cluster secret is read from `secret` (a file, never the command line).
fn spawn_self(args: &[String], log: &Path, secret: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let log = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .env("NO_COLOR", "1")
        .env(cloud::secret::SECRET_FILE_ENV, secret)
        .env(
            "RUST_LOG",
            std::env::var("SHOPLIST_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        );
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn().context("cannot start a cluster process")
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
        let (_, secret) = cloud::secret::ClusterSecret::load_or_create(&root)?;
        let ready_file = root.join("proxy.ready.json");
        let any = "tcp://127.0.0.1:0".to_string();
        let proxy_args: Vec<String> = vec![
            "cloud-proxy".into(),
            "--frontend".into(),
            any.clone(),
            "--backend".into(),
            any,
            "--ready-file".into(),
            ready_file.display().to_string(),
            "--replicas".into(),
            spec.replicas.to_string(),
            "--write-quorum".into(),
            spec.write_quorum.to_string(),
            "--read-quorum".into(),
            spec.read_quorum.to_string(),
        ];
        let proxy = spawn_self(&proxy_args, &root.join("proxy.log"), &secret)?;
        let mut cluster = Cluster {
            dir: Some(dir),
            frontend: String::new(),
            proxy,
            workers: Vec::new(),
        };
        let ReadyEndpoints { frontend, backend } = cluster.wait_endpoints(&ready_file).await?;
        cluster.frontend = frontend;
        for i in 1..=spec.workers {
            let id = format!("worker-{i}");
            let args: Vec<String> = vec![
                "cloud-worker".into(),
                "--id".into(),
                id.clone(),
                "--proxy".into(),
                backend.clone(),
                "--data-dir".into(),
                root.join(&id).display().to_string(),
                "--cache-lists".into(),
                spec.cache_lists.to_string(),
            ];
            let child = spawn_self(&args, &root.join(format!("{id}.log")), &secret)?;
            cluster.workers.push((id, child));
        }
        cluster.wait_ready(spec.workers).await?;
        Ok(cluster)
    }

    /// The proxy's client endpoint.
    pub fn frontend(&self) -> &str {
        &self.frontend
    }

    /// The temp dir holding logs and worker data.
    pub fn root(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default()
    }

    /// Keep the temp dir after the run; returns its path.
    pub fn keep(&mut self) -> Option<PathBuf> {
        self.dir.take().map(|d| d.keep())
    }

    /// Worker process ids.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(|(_, c)| c.id()).collect()
    }

    /// Worker data directories.
    pub fn worker_dirs(&self) -> Vec<PathBuf> {
        let root = self.root();
        self.workers.iter().map(|(id, _)| root.join(id)).collect()
    }

    /// The proxy's process id.
    pub fn proxy_pid(&self) -> u32 {
        self.proxy.id()
    }

    /// Fail if a cluster process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.proxy.try_wait()? {
            bail!("the proxy exited ({status}); see {}", self.root().display());
        }
        for (id, child) in &mut self.workers {
            if let Some(status) = child.try_wait()? {
                bail!("{id} exited ({status})");
            }
        }
        Ok(())
    }

    /// Polls (bounded) for the proxy's ready file and returns the endpoints
    /// it reports; fails if the proxy exits first.
    async fn wait_endpoints(&mut self, ready_file: &Path) -> anyhow::Result<ReadyEndpoints> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            self.check_alive()?;
            match std::fs::read(ready_file) {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes)
                        .with_context(|| format!("bad ready file {}", ready_file.display()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).context("cannot read the proxy's ready file"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("the proxy reported no endpoints in {READY_TIMEOUT:?}")
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

/// SIGKILL one child by pid and reap it.
fn kill(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // Child::kill sends SIGKILL to this child's pid.
        let _ = child.kill();
    }
    let _ = child.wait();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        kill(&mut self.proxy);
        for (_, child) in &mut self.workers {
            kill(child);
        }
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
