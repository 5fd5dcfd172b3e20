//! `shoplist-cloud up`: a whole local cluster, one OS process per role
//! (DESIGN §6, §7).
//!
//! Re-executes this binary as `proxy` and as `worker` (worker *i* has id
//! `worker-i` and data in `DIR/worker-i`), restarts any child that dies (with
//! exponential backoff, reset after a minute of uptime), and on Ctrl-C or
//! SIGTERM stops every child by pid (SIGTERM, then SIGKILL after a grace
//! period) and waits for it. The cluster secret lives in `DIR/cluster.secret`
//! (created on first start, mode 0600); children read it from that file. On Linux children also get `PR_SET_PDEATHSIG`,
//! so a `kill -9` of the supervisor does not leave them behind.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tracing::{info, warn};

use shoplist_net::{shutdown_signal, Backoff, BackoffPolicy};

use crate::secret::ClusterSecret;

/// Time a child gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// Uptime after which a child's restart backoff starts over.
const HEALTHY: Duration = Duration::from_secs(60);
/// Delays between restarts of a child that keeps dying.
const RESTART_BACKOFF: BackoffPolicy = BackoffPolicy {
    first: Duration::from_millis(200),
    ceiling: Duration::from_secs(10),
    max_attempts: 30,
    max_total: Duration::from_secs(300),
};

/// The `up` subcommand's settings.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// Root of the cluster's data.
    pub data_dir: PathBuf,
    /// Number of workers.
    pub workers: usize,
    /// Client endpoint the proxy binds.
    pub frontend: String,
    /// Worker endpoint the proxy binds.
    pub backend: String,
}

/// The endpoint a local process connects to for a bind endpoint
/// (`0.0.0.0`/`*` become `127.0.0.1`).
pub fn connectable(bind: &str) -> String {
    bind.replace("://0.0.0.0:", "://127.0.0.1:")
        .replace("://*:", "://127.0.0.1:")
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

/// A cluster needs at least as many workers as replicas per list.
pub fn check_workers(workers: usize, replicas: usize) -> anyhow::Result<()> {
    if workers < replicas {
        anyhow::bail!(
            "--workers {workers} is too few: every list is kept on {replicas} workers, so `up` needs at least {replicas}"
        );
    }
    Ok(())
}

/// Run the cluster until Ctrl-C or SIGTERM.
pub async fn run(cfg: UpConfig) -> anyhow::Result<()> {
    check_workers(cfg.workers, crate::proxy::ProxyConfig::default().replicas)?;
    check_free(&cfg.frontend)?;
    check_free(&cfg.backend)?;
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    // Every process of the cluster proves this secret (PROTOCOL §7.1); the
    // children get the file's path, never the secret itself.
    let (_, secret_file) = ClusterSecret::load_or_create(&cfg.data_dir)?;
    let secret_file = secret_file.to_string_lossy().into_owned();
    let mut specs: Vec<(String, Vec<String>)> = vec![(
        "proxy".into(),
        vec![
            "proxy".into(),
            "--frontend".into(),
            cfg.frontend.clone(),
            "--backend".into(),
            cfg.backend.clone(),
            "--secret-file".into(),
            secret_file.clone(),
        ],
    )];
    for i in 1..=cfg.workers {
        let dir = cfg.data_dir.join(format!("worker-{i}"));
        specs.push((
            format!("worker-{i}"),
            vec![
                "worker".into(),
                "--id".into(),
                format!("worker-{i}"),
                "--proxy".into(),
                connectable(&cfg.backend),
                "--data-dir".into(),
                dir.to_string_lossy().into_owned(),
                "--secret-file".into(),
                secret_file.clone(),
            ],
        ));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for (name, args) in specs {
        tasks.push(tokio::spawn(supervise(
            exe.clone(),
            name,
            args,
            stop_rx.clone(),
        )));
    }
    println!(
        "shoplist-cloud: listening on {} (proxy + {} workers, data in {})",
        connectable(&cfg.frontend),
        cfg.workers,
        cfg.data_dir.display()
    );
    shutdown_signal().await;
    info!("stopping the cluster");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

fn spawn_child(exe: &PathBuf, args: &[String]) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn()
}

/// Keep one child running until `stop` turns true; then stop it by pid.
async fn supervise(exe: PathBuf, name: String, args: Vec<String>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(RESTART_BACKOFF);
    loop {
        if *stop.borrow() {
            return;
        }
        let started = tokio::time::Instant::now();
        let mut child = match spawn_child(&exe, &args) {
            Ok(c) => c,
            Err(e) => {
                warn!(%name, "cannot start: {e}");
                if sleep_or_stop(restart_delay(&name, &mut backoff), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let pid = child.id();
        info!(%name, pid, "started");
        tokio::select! {
            status = child.wait() => {
                warn!(%name, pid, "exited ({status:?}); restarting");
                if started.elapsed() > HEALTHY {
                    backoff.reset();
                }
                if sleep_or_stop(restart_delay(&name, &mut backoff), &mut stop).await {
                    return;
                }
            }
            _ = stop.changed() => {
                terminate(&name, &mut child, pid).await;
                return;
            }
        }
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

/// Sleep, or return true early if asked to stop.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// SIGTERM by pid, wait, SIGKILL after the grace period.
async fn terminate(name: &str, child: &mut Child, pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: plain syscall on the pid of our own, not yet reaped, child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(_) => info!(%name, "stopped"),
        Err(_) => {
            warn!(%name, "did not stop in time; killing");
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = check_workers(1, 3).unwrap_err().to_string();
        assert!(err.contains("at least 3"), "{err}");
        assert!(check_workers(3, 3).is_ok());
    }

    #[test]
    fn wildcard_binds_become_loopback() {
        assert_eq!(connectable("tcp://0.0.0.0:5556"), "tcp://127.0.0.1:5556");
        assert_eq!(connectable("tcp://*:5556"), "tcp://127.0.0.1:5556");
        assert_eq!(connectable("tcp://10.0.0.2:5556"), "tcp://10.0.0.2:5556");
    }
}
