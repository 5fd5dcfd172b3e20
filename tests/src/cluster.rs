//! A real cloud on loopback: `shoplist-cloud proxy` processes (one by
//! default) and N `shoplist-cloud worker` processes (DESIGN §6, §7), each a
//! separate OS process with its output in a log file, so tests can `kill -9`
//! (or SIGSTOP) any of them. The processes are launched by the one launcher
//! `up` and the bench share ([`shoplist_launch::ClusterProcesses`]): proxies
//! bind port 0 and report their ports in a ready file, so no port is picked
//! in advance and nothing is retried.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use shoplist_launch::cluster::WorkerNetns;
use shoplist_launch::{ClusterProcesses, ClusterSpec, Ports};

use crate::netns::Netns;
use tempfile::TempDir;

use crate::bins::{binary, CLOUD_BIN};
use crate::process::{run_with_timeout, wait_until, CommandOutput};

/// Knobs for [`Cluster::start`]. `Default` gives the proxy's own defaults.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// How many proxies (each worker serves all of them); 1 by default.
    pub proxies: usize,
    /// `--replicas` (N), if not the proxy's default.
    pub replicas: Option<usize>,
    /// `--write-quorum` (W), if not the proxy's default.
    pub write_quorum: Option<usize>,
    /// `--read-quorum` (R), if not the proxy's default.
    pub read_quorum: Option<usize>,
    /// More arguments for `shoplist-cloud proxy`.
    pub proxy_args: Vec<String>,
    /// More arguments for every `shoplist-cloud worker`.
    pub worker_args: Vec<String>,
    /// Environment for every process (`RUST_LOG` defaults to `info`,
    /// `NO_COLOR` is set).
    pub env: Vec<(String, String)>,
    /// How long to wait for the cluster (or a restarted process) to be ready.
    pub ready_timeout: Duration,
    /// How long one `status` / `where` command may take.
    pub command_timeout: Duration,
    /// Workers (by index) run in network namespaces of their own, so
    /// [`Cluster::cut_link`] can cut them off (needs root; see
    /// [`crate::netns`] and [`Cluster::netns_available`]).
    pub netns_workers: Vec<usize>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            proxies: 1,
            replicas: None,
            write_quorum: None,
            read_quorum: None,
            proxy_args: Vec::new(),
            worker_args: Vec::new(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(5),
            netns_workers: Vec::new(),
        }
    }
}

/// Running proxies and their workers. Dropping it SIGKILLs and reaps every
/// process; if the test is panicking, the temp dir (logs, worker data) is
/// kept and its location and the log tails are printed.
#[derive(Debug)]
pub struct Cluster {
    /// `None` once kept (see Drop).
    dir: Option<TempDir>,
    root: PathBuf,
    processes: ClusterProcesses,
    opts: ClusterOptions,
    /// Workers SIGSTOPped and not yet continued (not expected alive).
    stopped: Vec<bool>,
    /// Workers whose link is cut (not expected alive).
    cut: Vec<bool>,
    /// The namespaces of `opts.netns_workers`, by worker index (deleted
    /// after the processes are killed).
    netns: BTreeMap<usize, Netns>,
}

/// A fresh random cluster secret in `root/cluster.secret` (hex, mode 0600).
fn write_secret(root: &Path) -> PathBuf {
    use rand::RngCore;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let text: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let path = root.join("cluster.secret");
    if let Err(e) = std::fs::write(&path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            panic!("cannot restrict {}: {e}", path.display());
        }
    }
    path
}

/// The port of a `tcp://IP:PORT` endpoint.
fn endpoint_port(endpoint: &str) -> u16 {
    shoplist_launch::ready::endpoint_port(endpoint)
        .unwrap_or_else(|| panic!("no port in {endpoint}"))
}

impl Cluster {
    /// Starts the proxies on `127.0.0.1:0` (both ports), waits for the
    /// endpoints each reports in its ready file, then starts `workers`
    /// workers (ids `w0`, `w1`, ...) connected to every proxy's backend and
    /// waits until `status` (through every proxy) shows every worker alive.
    pub fn start(workers: usize, opts: ClusterOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("shoplist-cluster-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create cluster temp dir: {e}"));
        let root = dir.path().to_path_buf();
        let secret_file = write_secret(&root);
        let mut proxy_args = Vec::new();
        for (flag, value) in [
            ("--replicas", opts.replicas),
            ("--write-quorum", opts.write_quorum),
            ("--read-quorum", opts.read_quorum),
        ] {
            if let Some(value) = value {
                proxy_args.extend([flag.to_string(), value.to_string()]);
            }
        }
        proxy_args.extend(opts.proxy_args.iter().cloned());
        let mut env = vec![
            (
                "RUST_LOG".to_string(),
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ),
            // Plain log files, without terminal colour codes.
            ("NO_COLOR".to_string(), "1".to_string()),
        ];
        env.extend(opts.env.iter().cloned());
        let mut netns = BTreeMap::new();
        let mut worker_netns = BTreeMap::new();
        for &i in &opts.netns_workers {
            let tag = u8::try_from(i).unwrap_or_else(|_| panic!("worker {i}: too many"));
            let ns = Netns::create(tag).unwrap_or_else(|e| panic!("namespace for w{i}: {e}"));
            worker_netns.insert(
                worker_id(i),
                WorkerNetns {
                    netns: ns.name().to_string(),
                    proxy_host: ns.host_ip().to_string(),
                },
            );
            netns.insert(i, ns);
        }
        let ports = if netns.is_empty() {
            Ports::Any
        } else {
            Ports::AnyBackendOnAllInterfaces
        };
        let spec = ClusterSpec {
            program: binary(CLOUD_BIN),
            proxy_command: vec!["proxy".into()],
            worker_command: vec!["worker".into()],
            root: root.clone(),
            // Every process proves the cluster secret (PROTOCOL §7.1).
            secret_file,
            env,
            proxies: opts.proxies.max(1),
            worker_ids: (0..workers).map(worker_id).collect(),
            proxy_args,
            worker_args: opts.worker_args.clone(),
            ports,
            log_files: true,
            parent_death_signal: libc::SIGKILL,
            ready_timeout: opts.ready_timeout,
            worker_netns,
        };
        let processes = ClusterProcesses::start(spec)
            .unwrap_or_else(|e| panic!("cannot start the cluster in {}: {e}", root.display()));
        let mut cluster = Self {
            dir: Some(dir),
            root,
            processes,
            opts,
            stopped: vec![false; workers],
            cut: vec![false; workers],
            netns,
        };
        cluster.wait_ready();
        cluster
    }

    /// How many proxies the cluster runs.
    pub fn proxy_count(&self) -> usize {
        self.processes.proxy_count()
    }

    /// Proxy `i`'s client endpoint, `tcp://127.0.0.1:PORT`.
    pub fn frontend_of(&self, i: usize) -> String {
        match self.processes.endpoints(i) {
            Some(e) => e.frontend,
            None => panic!("no proxy {i}"),
        }
    }

    /// Every proxy's client endpoint, in order: what `--cloud a,b` takes.
    pub fn frontends(&self) -> Vec<String> {
        self.processes.frontends()
    }

    /// The (first) proxy's client endpoint, `tcp://127.0.0.1:PORT`.
    pub fn frontend(&self) -> String {
        self.frontend_of(0)
    }

    /// The (first) proxy's client port (for raw TCP tests).
    pub fn frontend_port(&self) -> u16 {
        endpoint_port(&self.frontend())
    }

    /// The (first) proxy's worker port (for raw TCP tests).
    pub fn backend_port(&self) -> u16 {
        endpoint_port(&self.backend())
    }

    /// The (first) proxy's worker endpoint, `tcp://127.0.0.1:PORT`.
    pub fn backend(&self) -> String {
        match self.processes.endpoints(0) {
            Some(e) => e.backend,
            None => panic!("no proxy"),
        }
    }

    /// The temp dir holding logs (`logs/`) and worker data (`w0/`, ...).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cluster secret's file (its workers prove it).
    pub fn secret_file(&self) -> PathBuf {
        self.root.join("cluster.secret")
    }

    /// How many workers the cluster was started with.
    pub fn worker_count(&self) -> usize {
        self.processes.worker_count()
    }

    /// Worker `i`'s `--data-dir`.
    pub fn worker_data_dir(&self, i: usize) -> PathBuf {
        self.root.join(worker_id(i))
    }

    /// Worker `i`'s SQLite database: the one `*.db` file in its data dir.
    pub fn worker_db(&self, i: usize) -> PathBuf {
        let dir = self.worker_data_dir(i);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let dbs: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "db"))
            .collect();
        match dbs.as_slice() {
            [db] => db.clone(),
            _ => panic!("expected one *.db in {}, found {dbs:?}", dir.display()),
        }
    }

    /// The (first) proxy's pid, while it runs.
    pub fn proxy_pid(&self) -> Option<u32> {
        self.processes.proxy_pid(0)
    }

    /// Worker `i`'s pid, while it runs.
    pub fn worker_pid(&self, i: usize) -> Option<u32> {
        self.processes.worker_pid(i)
    }

    /// SIGKILLs worker `i` (and reaps it).
    pub fn kill_worker(&mut self, i: usize) {
        self.stopped[i] = false;
        self.processes.worker(i).kill();
    }

    /// SIGSTOPs worker `i`: it stays connected but answers nothing (a hung
    /// or overloaded replica) until [`Cluster::cont_worker`].
    pub fn stop_worker(&mut self, i: usize) {
        self.stopped[i] = true;
        self.processes.worker(i).stop();
    }

    /// SIGCONTs worker `i` after [`Cluster::stop_worker`].
    pub fn cont_worker(&mut self, i: usize) {
        self.stopped[i] = false;
        self.processes.worker(i).cont();
    }

    /// Starts worker `i` again (same id, data dir and log) and waits until
    /// `status` shows it alive.
    pub fn restart_worker(&mut self, i: usize) {
        self.stopped[i] = false;
        if let Err(e) = self.processes.restart_worker(i) {
            panic!("cannot restart {}: {e}", worker_id(i));
        }
        self.wait_ready();
    }

    /// Whether this machine lets a test create network namespaces (root);
    /// the reason when not.
    pub fn netns_available() -> Result<(), String> {
        Netns::create(59).map(drop)
    }

    /// Cuts worker `i`'s link to every proxy (its namespace's veth goes
    /// down): it runs, but nothing reaches it or comes from it.
    pub fn cut_link(&mut self, i: usize) {
        match self.netns.get(&i).map(Netns::cut) {
            Some(Ok(())) => self.cut[i] = true,
            Some(Err(e)) => panic!("cannot cut w{i}'s link: {e}"),
            None => panic!("w{i} has no namespace (ClusterOptions::netns_workers)"),
        }
    }

    /// Heals worker `i`'s link after [`Cluster::cut_link`].
    pub fn heal_link(&mut self, i: usize) {
        match self.netns.get(&i).map(Netns::heal) {
            Some(Ok(())) => self.cut[i] = false,
            Some(Err(e)) => panic!("cannot heal w{i}'s link: {e}"),
            None => panic!("w{i} has no namespace (ClusterOptions::netns_workers)"),
        }
    }

    /// Starts one more worker (the next id) and waits until it is live and
    /// `ready` (it has received the lists it owns). Returns its index.
    pub fn add_worker(&mut self) -> usize {
        let id = worker_id(self.worker_count());
        let i = match self.processes.add_worker(&id) {
            Ok(i) => i,
            Err(e) => panic!("cannot start {id}: {e}"),
        };
        self.stopped.push(false);
        self.cut.push(false);
        self.wait_ready();
        i
    }

    /// SIGKILLs the (first) proxy (and reaps it).
    pub fn kill_proxy(&mut self) {
        self.kill_proxy_at(0);
    }

    /// SIGKILLs proxy `i` (and reaps it).
    pub fn kill_proxy_at(&mut self, i: usize) {
        self.processes.proxy(i).kill();
    }

    /// Starts the (first) proxy again; see [`Cluster::restart_proxy_at`].
    pub fn restart_proxy(&mut self) {
        self.restart_proxy_at(0);
    }

    /// Starts proxy `i` again on the ports it first reported (workers and
    /// clients are configured with them), checks that its ready file
    /// reports those same ports, and waits until `status` shows every
    /// running worker alive.
    pub fn restart_proxy_at(&mut self, i: usize) {
        if let Err(e) = self.processes.restart_proxy(i) {
            panic!("cannot restart proxy {i}: {e}\n{}", self.log_report(40));
        }
        self.wait_ready();
    }

    /// Whether the (first) proxy process is running.
    pub fn proxy_running(&mut self) -> bool {
        self.processes.proxy(0).is_running()
    }

    /// Waits until `status`, asked of every running proxy, answers and
    /// lists every running (not stopped) worker alive; panics (with log
    /// tails) after the ready timeout or if a process that should run has
    /// exited.
    pub fn wait_ready(&mut self) {
        let timeout = self.opts.ready_timeout;
        wait_until("the cluster to be ready", timeout, || {
            self.check_processes();
            let expected: Vec<String> = (0..self.worker_count())
                .filter(|&i| {
                    !self.stopped[i] && !self.cut[i] && self.processes.worker(i).is_running()
                })
                .map(worker_id)
                .collect();
            for i in 0..self.proxy_count() {
                if !self.processes.proxy(i).is_running() {
                    continue;
                }
                let status = self.status_via(i)?;
                let alive = alive_workers(&status);
                if let Some(missing) = expected.iter().find(|id| !alive.contains(id)) {
                    return Err(format!("{missing} not alive at proxy {i} in {status}"));
                }
            }
            Ok(())
        });
    }

    /// Ids of the workers `status` reports alive.
    pub fn alive_workers(&self) -> Result<Vec<String>, String> {
        self.status().map(|s| alive_workers(&s))
    }

    /// `shoplist-cloud status --proxy FRONTEND --json` against the (first)
    /// proxy, parsed; `Err` with the reason if it fails, times out or
    /// prints no JSON.
    pub fn status(&self) -> Result<Value, String> {
        self.status_via(0)
    }

    /// `status` asked of proxy `i`.
    pub fn status_via(&self, i: usize) -> Result<Value, String> {
        let out = self.cloud_command(&["status", "--proxy", &self.frontend_of(i), "--json"]);
        parse_json(&out)
    }

    /// `shoplist-cloud where LIST --json` against the (first) proxy: the
    /// list's replicas, in preference order. Panics if the command fails.
    pub fn where_(&self, list: &str) -> Vec<String> {
        self.where_via(0, list)
    }

    /// `where LIST` asked of proxy `i`.
    pub fn where_via(&self, i: usize, list: &str) -> Vec<String> {
        let out = self.cloud_command(&["where", list, "--proxy", &self.frontend_of(i), "--json"]);
        let json = parse_json(&out).unwrap_or_else(|e| panic!("`where {list}` failed: {e}"));
        match json.get("replicas").and_then(Value::as_array) {
            Some(replicas) => replicas
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
            None => panic!("`where {list}` printed no replicas array: {json}"),
        }
    }

    /// Runs `shoplist-cloud ARGS` under the command timeout.
    pub fn cloud_command(&self, args: &[&str]) -> CommandOutput {
        let mut command = Command::new(binary(CLOUD_BIN));
        command.args(args);
        run_with_timeout(command, self.opts.command_timeout)
    }

    /// The log files, with the last lines of each: for failure messages.
    pub fn log_report(&self, lines: usize) -> String {
        self.processes.log_report(lines)
    }

    /// Panics if a proxy or a worker that was not killed has exited.
    fn check_processes(&mut self) {
        if let Err(e) = self.processes.check_exits() {
            panic!("{e}\n{}", self.log_report(40));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for service in self.processes.services_mut() {
            service.kill();
        }
        let keep = std::thread::panicking() || std::env::var_os("SHOPLIST_KEEP_TMP").is_some();
        if keep {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                eprintln!(
                    "cluster files kept in {} (logs in {}/logs)\n{}",
                    path.display(),
                    path.display(),
                    self.log_report(40)
                );
            }
        }
    }
}

/// The id of worker `i`: `w0`, `w1`, ...
pub fn worker_id(i: usize) -> String {
    format!("w{i}")
}

/// Ids with `"alive": true` in a `status --json` document (DESIGN §7).
fn alive_workers(status: &Value) -> Vec<String> {
    status
        .get("workers")
        .and_then(Value::as_array)
        .map(|workers| {
            workers
                .iter()
                .filter(|w| w.get("alive").and_then(Value::as_bool) == Some(true))
                // A member counts once it is `ready` (PROTOCOL §7.2).
                .filter(|w| {
                    w.get("state")
                        .and_then(Value::as_str)
                        .is_none_or(|s| s == "ready")
                })
                .filter_map(|w| w.get("id").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON document a successful command printed, or why there is none.
fn parse_json(out: &CommandOutput) -> Result<Value, String> {
    if out.timed_out {
        return Err("timed out".into());
    }
    if out.code != Some(0) {
        return Err(format!("exit {:?}: {}", out.code, out.stderr.trim()));
    }
    serde_json::from_str(out.stdout.trim()).map_err(|e| format!("bad JSON ({e}): {:?}", out.stdout))
}
