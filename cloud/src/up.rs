//! `shoplist-cloud up`: a whole local cluster, one OS process per role
//! (DESIGN §6, §7).
//!
//! Re-executes this binary as `proxy` (`--proxies P` of them, on
//! consecutive frontend ports and consecutive backend ports) and as
//! `worker` (worker *i* has id `worker-i`, data in `DIR/worker-i`, and
//! serves every proxy). The processes are launched by the launcher the
//! tests and the bench share ([`shoplist_launch::ClusterProcesses`]): every
//! proxy reports its endpoints in a ready file before the workers start
//! and before `up` says it is listening. `up` restarts any child that dies
//! (with exponential backoff, reset after a minute of uptime; a proxy comes
//! back on its ports), and on Ctrl-C or SIGTERM stops every child by pid
//! (SIGTERM, then SIGKILL after a grace period) and waits for it. The
//! cluster secret lives in `DIR/cluster.secret` (created on first start,
//! mode 0600); children get that file's path in the environment. On Linux
//! children also get `PR_SET_PDEATHSIG`, so a `kill -9` of the supervisor
//! does not leave them behind.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use shoplist_launch::cluster::nth_endpoint;
use shoplist_launch::{ClusterProcesses, ClusterSpec, Ports};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;
use tracing::{info, warn};

use shoplist_net::{shutdown_signal, Backoff, BackoffPolicy};

use crate::secret::ClusterSecret;

/// Time a child gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// Uptime after which a child's restart backoff starts over.
const HEALTHY: Duration = Duration::from_secs(60);
/// How long a proxy may take to report its endpoints.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Delays between restarts of a child that keeps dying.
const RESTART_BACKOFF: BackoffPolicy = BackoffPolicy {
    first: Duration::from_millis(200),
    ceiling: Duration::from_secs(10),
    max_attempts: 30,
    max_total: Duration::from_secs(300),
};

pub use shoplist_launch::cluster::connectable;

/// The `up` subcommand's settings.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// Root of the cluster's data.
    pub data_dir: PathBuf,
    /// Number of workers.
    pub workers: usize,
    /// Number of proxies.
    pub proxies: usize,
    /// Client endpoint proxy 0 binds; proxy *i* binds its port + *i*.
    pub frontend: String,
    /// Worker endpoint proxy 0 binds (proxy *i*: port + *i*); by default
    /// `127.0.0.1` on the port after the last frontend port.
    pub backend: Option<String>,
    /// The proxies' connection caps.
    pub caps: crate::proxy::caps::Caps,
    /// Each worker's `--worker-merge-same-list`.
    pub worker_merge_same_list: bool,
}

impl UpConfig {
    /// Proxy 0's backend endpoint: the one given, or loopback on the port
    /// right after the proxies' frontend ports (5556 for one proxy on
    /// 5555, 5557 for two; port 0 if the frontend is on port 0, so every
    /// port comes from the kernel and is reported, as tests want).
    pub fn backend(&self) -> anyhow::Result<String> {
        if let Some(backend) = &self.backend {
            return Ok(backend.clone());
        }
        let next = nth_endpoint(&self.frontend, self.proxies.max(1))?;
        let port = next.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
        Ok(format!("tcp://127.0.0.1:{port}"))
    }

    /// Every endpoint the proxies bind: frontends, then backends.
    pub fn binds(&self) -> anyhow::Result<Vec<String>> {
        let backend = self.backend()?;
        let mut binds = Vec::new();
        for base in [&self.frontend, &backend] {
            for i in 0..self.proxies {
                binds.push(nth_endpoint(base, i)?);
            }
        }
        Ok(binds)
    }
}

/// Fail fast when `bind` (`tcp://HOST:PORT`) cannot be bound: a taken port
/// would otherwise make the proxy restart forever while the workers attach
/// to whatever already listens there (issue 12 defect 10).
pub fn check_free(bind: &str) -> anyhow::Result<()> {
    let addr = bind
        .strip_prefix("tcp://")
        .unwrap_or(bind)
        .replace('*', "0.0.0.0");
    match std::net::TcpListener::bind(&addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "{bind} is already in use: is another `shoplist-cloud up` running? Stop it, or choose other ports with --frontend / --backend"
        ),
        Err(e) => anyhow::bail!("cannot listen on {bind}: {e}"),
    }
}

/// A cluster needs at least as many workers as replicas per list, and a
/// proxy; no two proxies may share a port.
pub fn check_shape(cfg: &UpConfig, replicas: usize) -> anyhow::Result<()> {
    if cfg.workers < replicas {
        anyhow::bail!(
            "--workers {} is too few: every list is kept on {replicas} workers, so `up` needs at least {replicas}",
            cfg.workers
        );
    }
    if cfg.proxies == 0 {
        anyhow::bail!("--proxies 0: a cluster needs at least one proxy");
    }
    let binds = cfg.binds()?;
    let port = |b: &String| {
        b.rsplit_once(':')
            .map(|(_, p)| p.to_string())
            .filter(|p| p != "0")
    };
    for (i, a) in binds.iter().enumerate().filter(|(_, a)| port(a).is_some()) {
        if let Some(b) = binds[i + 1..].iter().find(|b| port(b) == port(a)) {
            anyhow::bail!(
                "{a} and {b} share a port: with --proxies {} the frontends take {} consecutive ports and the backends as many; choose --backend outside that range",
                cfg.proxies,
                cfg.proxies
            );
        }
    }
    Ok(())
}

/// Run the cluster until Ctrl-C or SIGTERM.
pub async fn run(cfg: UpConfig) -> anyhow::Result<()> {
    check_shape(&cfg, crate::proxy::ProxyConfig::default().replicas)?;
    for bind in cfg.binds()? {
        check_free(&bind)?;
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    // Every process of the cluster proves this secret (PROTOCOL §7.1); the
    // children get the file's path, never the secret itself.
    let (_, secret_file) = ClusterSecret::load_or_create(&cfg.data_dir)?;
    let spec = ClusterSpec {
        program: std::env::current_exe().context("cannot find this program's path")?,
        proxy_command: vec!["proxy".into()],
        worker_command: vec!["worker".into()],
        root: cfg.data_dir.clone(),
        secret_file,
        env: Vec::new(),
        proxies: cfg.proxies,
        worker_ids: (1..=cfg.workers).map(|i| format!("worker-{i}")).collect(),
        proxy_args: cfg.caps.to_args(),
        worker_args: vec![
            "--worker-merge-same-list".into(),
            cfg.worker_merge_same_list.to_string(),
        ],
        ports: Ports::From {
            frontend: cfg.frontend.clone(),
            backend: cfg.backend()?,
        },
        log_files: false,
        parent_death_signal: libc::SIGTERM,
        ready_timeout: READY_TIMEOUT,
        worker_netns: Default::default(),
    };
    // Watch child exits before there are children, so none goes unseen.
    let sigchld = signal(SignalKind::child()).context("cannot watch child exits")?;
    let mut cluster = ClusterProcesses::start(spec).context("cannot start the cluster")?;
    println!(
        "shoplist-cloud: listening on {} ({} + {} workers, data in {}); clients take --cloud {}",
        cluster.frontends().join(" and "),
        if cfg.proxies == 1 {
            "proxy".to_string()
        } else {
            format!("{} proxies", cfg.proxies)
        },
        cfg.workers,
        cfg.data_dir.display(),
        cluster.frontends().join(","),
    );
    supervise(&mut cluster, sigchld).await;
    info!("stopping the cluster");
    let killed = tokio::task::block_in_place(|| cluster.terminate_all(GRACE));
    for name in killed {
        warn!(%name, "did not stop in time; killed");
    }
    Ok(())
}

/// One child's restart bookkeeping.
struct Restarts {
    backoff: Backoff,
    started: Instant,
    due: Option<Instant>,
}

/// Restart every child that dies until Ctrl-C or SIGTERM. Deaths are
/// noticed on SIGCHLD (every child is checked, since signals coalesce).
async fn supervise(cluster: &mut ClusterProcesses, mut sigchld: Signal) {
    let now = Instant::now();
    let count = cluster.services().count();
    let mut restarts: Vec<Restarts> = (0..count)
        .map(|_| Restarts {
            backoff: Backoff::new(RESTART_BACKOFF),
            started: now,
            due: None,
        })
        .collect();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let next_due = restarts.iter().filter_map(|r| r.due).min();
        tokio::select! {
            _ = &mut stop => return,
            _ = sigchld.recv() => {
                for (service, r) in cluster.services_mut().zip(&mut restarts) {
                    if let Some(status) = service.exited() {
                        if r.started.elapsed() > HEALTHY {
                            r.backoff.reset();
                        }
                        let delay = restart_delay(service.name(), &mut r.backoff);
                        warn!(name = %service.name(), %status, ?delay, "exited; restarting");
                        r.due = Some(Instant::now() + delay);
                    }
                }
            }
            _ = sleep_until(next_due) => {
                let now = Instant::now();
                for (k, r) in restarts.iter_mut().enumerate() {
                    if r.due.is_some_and(|due| due <= now) {
                        r.due = None;
                        r.started = now;
                        respawn(cluster, k, r);
                    }
                }
            }
        }
    }
}

/// Starts child `k` (proxies first, then workers) again; on failure, plans
/// another try.
fn respawn(cluster: &mut ClusterProcesses, k: usize, r: &mut Restarts) {
    let proxies = cluster.proxy_count();
    let result = if k < proxies {
        cluster.respawn_proxy(k)
    } else {
        cluster.restart_worker(k - proxies)
    };
    let name = cluster.services().nth(k).map(|s| s.name().to_string());
    let name = name.unwrap_or_default();
    match result {
        Ok(()) => info!(%name, "restarted"),
        Err(e) => {
            let delay = restart_delay(&name, &mut r.backoff);
            warn!(%name, ?delay, "cannot restart: {e}");
            r.due = Some(Instant::now() + delay);
        }
    }
}

/// Sleeps until `due`, or forever without one.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// The wait before the next restart. A child that used up a round of
/// restarts keeps being restarted (the cluster runs until stopped), with a
/// warning and a new round.
fn restart_delay(name: &str, backoff: &mut Backoff) -> Duration {
    if let Some(d) = backoff.next_delay() {
        return d;
    }
    warn!(%name, restarts = backoff.attempts(), "keeps dying; still restarting");
    backoff.reset();
    backoff.next_delay().unwrap_or(RESTART_BACKOFF.ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(proxies: usize, backend: Option<&str>) -> UpConfig {
        UpConfig {
            data_dir: "/tmp/x".into(),
            workers: 5,
            proxies,
            frontend: "tcp://127.0.0.1:5555".into(),
            backend: backend.map(String::from),
            caps: Default::default(),
            worker_merge_same_list: true,
        }
    }

    /// Issue 12 defect 10: a taken port fails at once, naming the likely
    /// cause; fewer workers than replicas are refused.
    #[test]
    fn busy_ports_and_too_few_workers_are_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ep = format!("tcp://{}", taken.local_addr().unwrap());
        let err = check_free(&ep).unwrap_err().to_string();
        assert!(err.contains("another `shoplist-cloud up`"), "{err}");
        drop(taken);
        assert!(check_free(&ep).is_ok());
        let mut few = cfg(1, None);
        few.workers = 1;
        let err = check_shape(&few, 3).unwrap_err().to_string();
        assert!(err.contains("at least 3"), "{err}");
        assert!(check_shape(&cfg(1, None), 3).is_ok());
        assert!(check_shape(&cfg(0, None), 3).is_err());
    }

    /// Issue 9 §5: two proxies take consecutive frontend ports and
    /// consecutive backend ports; the default backend follows the
    /// frontends, and a backend inside the frontend range is refused.
    #[test]
    fn proxies_take_consecutive_ports_that_never_collide() {
        assert_eq!(cfg(1, None).backend().unwrap(), "tcp://127.0.0.1:5556");
        assert_eq!(
            cfg(2, None).binds().unwrap(),
            [
                "tcp://127.0.0.1:5555",
                "tcp://127.0.0.1:5556",
                "tcp://127.0.0.1:5557",
                "tcp://127.0.0.1:5558"
            ]
        );
        assert!(check_shape(&cfg(2, None), 3).is_ok());
        let err = check_shape(&cfg(2, Some("tcp://127.0.0.1:5556")), 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("share a port"), "{err}");
    }

    #[test]
    fn wildcard_binds_become_loopback() {
        assert_eq!(connectable("tcp://0.0.0.0:5556"), "tcp://127.0.0.1:5556");
        assert_eq!(connectable("tcp://*:5556"), "tcp://127.0.0.1:5556");
        assert_eq!(connectable("tcp://10.0.0.2:5556"), "tcp://10.0.0.2:5556");
    }
}
