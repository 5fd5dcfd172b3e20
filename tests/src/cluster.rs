//! A real cloud on loopback: one `shoplist-cloud proxy` and N
//! `shoplist-cloud worker` processes (DESIGN §6, §7), each a separate OS
//! process with its output in a log file, so tests can `kill -9` any of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::bins::{binary, CLOUD_BIN};
use crate::process::{run_with_timeout, wait_until, CommandOutput, Service};

/// Knobs for [`Cluster::start`]. `Default` gives the proxy's own defaults.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
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
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            replicas: None,
            write_quorum: None,
            read_quorum: None,
            proxy_args: Vec::new(),
            worker_args: Vec::new(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(5),
        }
    }
}

/// A running proxy and its workers. Dropping it SIGKILLs and reaps every
/// process; if the test is panicking, the temp dir (logs, worker data) is
/// kept and its location and the log tails are printed.
#[derive(Debug)]
pub struct Cluster {
    /// `None` once kept (see Drop).
    dir: Option<TempDir>,
    root: PathBuf,
    frontend_port: u16,
    backend_port: u16,
    proxy: Service,
    workers: Vec<Service>,
    launch: Launch,
    opts: ClusterOptions,
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

/// How the processes of one cluster are started: everything but the ports.
#[derive(Debug)]
struct Launch {
    program: PathBuf,
    env: Vec<(String, String)>,
    logs: PathBuf,
    ready_file: PathBuf,
}

impl Launch {
    /// The proxy on `frontend`/`backend` (port 0 or a concrete port),
    /// reporting its real endpoints in the ready file.
    fn proxy(&self, opts: &ClusterOptions, frontend: &str, backend: &str) -> Service {
        let mut args = vec![
            "proxy".into(),
            "--frontend".into(),
            frontend.to_string(),
            "--backend".into(),
            backend.to_string(),
            "--ready-file".into(),
            self.ready_file.display().to_string(),
        ];
        for (flag, value) in [
            ("--replicas", opts.replicas),
            ("--write-quorum", opts.write_quorum),
            ("--read-quorum", opts.read_quorum),
        ] {
            if let Some(value) = value {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        args.extend(opts.proxy_args.iter().cloned());
        let log = self.logs.join("proxy.log");
        Service::new("proxy", self.program.clone(), args, self.env.clone(), log)
    }

    /// Worker `i`, connecting to `backend`, its data in `root/w<i>`.
    fn worker(&self, opts: &ClusterOptions, root: &Path, i: usize, backend: &str) -> Service {
        let id = worker_id(i);
        let mut args = vec![
            "worker".into(),
            "--id".into(),
            id.clone(),
            "--proxy".into(),
            backend.to_string(),
            "--data-dir".into(),
            root.join(&id).display().to_string(),
        ];
        args.extend(opts.worker_args.iter().cloned());
        let log = self.logs.join(format!("{id}.log"));
        Service::new(id, self.program.clone(), args, self.env.clone(), log)
    }
}

/// The port of a `tcp://IP:PORT` endpoint.
fn endpoint_port(endpoint: &str) -> Option<u16> {
    endpoint.rsplit_once(':')?.1.parse().ok()
}

impl Cluster {
    /// Starts a proxy on `127.0.0.1:0` (both ports), waits for the endpoints
    /// it reports in its ready file, then starts `workers` workers (ids
    /// `w0`, `w1`, ...) on the reported backend and waits until `status`
    /// shows every worker alive. No port is picked in advance, so no other
    /// process can take it first.
    pub fn start(workers: usize, opts: ClusterOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("shoplist-cluster-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create cluster temp dir: {e}"));
        let root = dir.path().to_path_buf();
        let logs = root.join("logs");
        if let Err(e) = std::fs::create_dir_all(&logs) {
            panic!("cannot create {}: {e}", logs.display());
        }
        let secret = write_secret(&root);
        let mut env = vec![
            // Every process proves the cluster secret (PROTOCOL §7.1).
            (
                "SHOPLIST_CLUSTER_SECRET_FILE".to_string(),
                secret.display().to_string(),
            ),
            (
                "RUST_LOG".to_string(),
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ),
            // Plain log files, without terminal colour codes.
            ("NO_COLOR".to_string(), "1".to_string()),
        ];
        env.extend(opts.env.iter().cloned());
        let launch = Launch {
            program: binary(CLOUD_BIN),
            env,
            logs,
            ready_file: root.join("proxy.ready.json"),
        };
        let any = "tcp://127.0.0.1:0";
        let proxy = launch.proxy(&opts, any, any);
        let mut cluster = Self {
            dir: Some(dir),
            root,
            frontend_port: 0,
            backend_port: 0,
            proxy,
            workers: Vec::new(),
            launch,
            opts,
        };
        cluster.proxy.spawn();
        let (frontend, backend) = cluster.wait_proxy_endpoints();
        cluster.frontend_port = frontend;
        cluster.backend_port = backend;
        let backend = cluster.backend();
        cluster.workers = (0..workers)
            .map(|i| {
                cluster
                    .launch
                    .worker(&cluster.opts, &cluster.root, i, &backend)
            })
            .collect();
        for worker in &mut cluster.workers {
            worker.spawn();
        }
        cluster.wait_ready();
        cluster
    }

    /// Waits (bounded, polling) until the proxy has written its ready file
    /// and returns the (frontend, backend) ports it reports; panics with the
    /// logs if the proxy exits first or the file is malformed.
    fn wait_proxy_endpoints(&mut self) -> (u16, u16) {
        let timeout = self.opts.ready_timeout;
        let path = self.launch.ready_file.clone();
        wait_until("the proxy's ready file", timeout, || {
            self.check_processes();
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            };
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("ready file {text:?} is not JSON: {e}"));
            let port = |key: &str| {
                json.get(key)
                    .and_then(Value::as_str)
                    .and_then(endpoint_port)
                    .filter(|&p| p != 0)
                    .unwrap_or_else(|| panic!("ready file has no {key} port: {text}"))
            };
            Ok((port("frontend"), port("backend")))
        })
    }

    /// The proxy's client endpoint, `tcp://127.0.0.1:PORT`.
    pub fn frontend(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.frontend_port)
    }

    /// The proxy's client port (for raw TCP tests).
    pub fn frontend_port(&self) -> u16 {
        self.frontend_port
    }

    /// The proxy's worker port (for raw TCP tests).
    pub fn backend_port(&self) -> u16 {
        self.backend_port
    }

    /// The proxy's worker endpoint, `tcp://127.0.0.1:PORT`.
    pub fn backend(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.backend_port)
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
        self.workers.len()
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

    /// The proxy's pid, while it runs.
    pub fn proxy_pid(&self) -> Option<u32> {
        self.proxy.pid()
    }

    /// Worker `i`'s pid, while it runs.
    pub fn worker_pid(&self, i: usize) -> Option<u32> {
        self.workers.get(i).and_then(Service::pid)
    }

    /// SIGKILLs worker `i` (and reaps it).
    pub fn kill_worker(&mut self, i: usize) {
        self.workers[i].kill();
    }

    /// Starts worker `i` again (same id, data dir and log) and waits until
    /// `status` shows it alive.
    pub fn restart_worker(&mut self, i: usize) {
        self.workers[i].kill();
        self.workers[i].spawn();
        self.wait_ready();
    }

    /// Starts one more worker (the next id) and waits until it is live and
    /// `ready` (it has received the lists it owns). Returns its index.
    pub fn add_worker(&mut self) -> usize {
        let i = self.workers.len();
        let backend = self.backend();
        let mut worker = self.launch.worker(&self.opts, &self.root, i, &backend);
        worker.spawn();
        self.workers.push(worker);
        self.wait_ready();
        i
    }

    /// SIGKILLs the proxy (and reaps it).
    pub fn kill_proxy(&mut self) {
        self.proxy.kill();
    }

    /// Starts the proxy again on the ports it first reported (workers and
    /// clients are configured with them), checks that its ready file
    /// reports those same ports, and waits until `status` shows every
    /// running worker alive.
    pub fn restart_proxy(&mut self) {
        self.proxy.kill();
        if let Err(e) = std::fs::remove_file(&self.launch.ready_file) {
            if e.kind() != std::io::ErrorKind::NotFound {
                panic!("cannot remove {}: {e}", self.launch.ready_file.display());
            }
        }
        self.proxy = self
            .launch
            .proxy(&self.opts, &self.frontend(), &self.backend());
        self.proxy.spawn();
        let ports = self.wait_proxy_endpoints();
        assert_eq!(
            ports,
            (self.frontend_port, self.backend_port),
            "the restarted proxy must listen on its old ports"
        );
        self.wait_ready();
    }

    /// Whether the proxy process is running.
    pub fn proxy_running(&mut self) -> bool {
        self.proxy.is_running()
    }

    /// Waits until `status` answers and lists every running worker alive;
    /// panics (with log tails) after the ready timeout or if a process that
    /// should run has exited.
    pub fn wait_ready(&mut self) {
        let timeout = self.opts.ready_timeout;
        wait_until("the cluster to be ready", timeout, || {
            self.check_processes();
            let expected: Vec<String> = self
                .workers
                .iter_mut()
                .filter_map(|w| w.is_running().then(|| w.name().to_string()))
                .collect();
            let status = self.status()?;
            let alive = alive_workers(&status);
            match expected.iter().find(|id| !alive.contains(id)) {
                None => Ok(()),
                Some(missing) => Err(format!("{missing} not alive in {status}")),
            }
        });
    }

    /// Ids of the workers `status` reports alive.
    pub fn alive_workers(&self) -> Result<Vec<String>, String> {
        self.status().map(|s| alive_workers(&s))
    }

    /// `shoplist-cloud status --proxy FRONTEND --json`, parsed; `Err` with
    /// the reason if it fails, times out or prints no JSON.
    pub fn status(&self) -> Result<Value, String> {
        let out = self.cloud_command(&["status", "--proxy", &self.frontend(), "--json"]);
        parse_json(&out)
    }

    /// `shoplist-cloud where LIST --json`: the list's replicas, in
    /// preference order. Panics if the command fails.
    pub fn where_(&self, list: &str) -> Vec<String> {
        let out = self.cloud_command(&["where", list, "--proxy", &self.frontend(), "--json"]);
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
        std::iter::once(&self.proxy)
            .chain(&self.workers)
            .map(|s| {
                format!(
                    "--- {} ({}) ---\n{}",
                    s.name(),
                    s.log().display(),
                    s.log_tail(lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Panics if the proxy or a worker that was not killed has exited.
    fn check_processes(&mut self) {
        let mut dead = Vec::new();
        for service in std::iter::once(&mut self.proxy).chain(&mut self.workers) {
            if let Some(status) = service.exited() {
                dead.push(format!("{} exited with {status}", service.name()));
            }
        }
        if !dead.is_empty() {
            panic!("{}\n{}", dead.join("\n"), self.log_report(40));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.proxy.kill();
        for worker in &mut self.workers {
            worker.kill();
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
