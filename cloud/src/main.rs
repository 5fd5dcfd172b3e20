//! `shoplist-cloud`: `proxy`, `worker`, `up`, `status`, `where` (DESIGN §7).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use cloud::proxy::caps::Caps;
use cloud::proxy::ProxyConfig;
use cloud::secret::ClusterSecret;
use cloud::up::UpConfig;
use cloud::worker::WorkerConfig;
use engine::WorkerId;

#[derive(Parser, Debug)]
#[command(
    name = "shoplist-cloud",
    version,
    about = "shoplist cloud: proxy, workers, local cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Route clients' requests to list replicas, answer at a quorum.
    Proxy {
        /// Client endpoint to bind.
        #[arg(long, default_value = "tcp://0.0.0.0:5555")]
        frontend: String,
        /// Worker endpoint to bind. Loopback by default: only this machine's
        /// workers may connect. A non-loopback backend needs a cluster secret.
        #[arg(long, default_value = "tcp://127.0.0.1:5556")]
        backend: String,
        /// File holding the cluster secret workers must prove (else
        /// SHOPLIST_CLUSTER_SECRET_FILE, else SHOPLIST_CLUSTER_SECRET).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// Replicas per list (N).
        #[arg(long, default_value_t = 3)]
        replicas: usize,
        /// Replicas that must store a write (W).
        #[arg(long, default_value_t = 2)]
        write_quorum: usize,
        /// Replicas that must answer a read (R).
        #[arg(long, default_value_t = 2)]
        read_quorum: usize,
        /// Per-request deadline. Keep it below the clients' own (3 s,
        /// PROTOCOL §8.1), so that they hear `unavailable` instead of
        /// timing out.
        #[arg(long, default_value_t = PROXY_DEADLINE_MS)]
        timeout_ms: u64,
        /// A read asks R homes first and the list's other replicas when one
        /// of those fails or after this long without an answer (0: ask
        /// every replica at once).
        #[arg(long, default_value_t = 50)]
        read_hedge_ms: u64,
        /// Worker heartbeat interval.
        #[arg(long, default_value_t = 500)]
        heartbeat_ms: u64,
        /// A worker silent this long leaves the ring.
        #[arg(long, default_value_t = 2000)]
        worker_timeout_ms: u64,
        /// Let zeromq listen on the ports directly, without the transport
        /// guard (unsafe on untrusted networks; for experiments).
        #[arg(long)]
        no_guard: bool,
        /// Once both ports listen, atomically write
        /// `{"frontend":"tcp://IP:N","backend":"tcp://IP:M"}` here (the real
        /// ports, so `--frontend tcp://127.0.0.1:0` can be used).
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// Runtime threads for this process's sockets and decoding. The
        /// routing core / replica store is one thread of its own either
        /// way; one runtime thread avoids cross-thread wake-ups on every
        /// message and was fastest on a 2-core machine running a whole
        /// cluster (README, "Runtime threads"). Raise on a dedicated host.
        #[arg(long, default_value_t = cloud::RUNTIME_THREADS, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: u16,
        #[command(flatten)]
        caps: Caps,
    },
    /// Keep replicas of lists for one or more proxies.
    Worker {
        /// This worker's id (1-64 of A-Z a-z 0-9 _ . -).
        #[arg(long)]
        id: String,
        /// Proxy backend endpoints, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        proxy: Vec<String>,
        /// Directory of the replica database.
        #[arg(long)]
        data_dir: PathBuf,
        /// Lists kept decoded in memory.
        #[arg(long, default_value_t = 1000)]
        cache_lists: usize,
        /// Group commit applies concurrent requests for the same list in
        /// one Automerge call (false: one call per request, for A/B runs).
        #[arg(long = "worker-merge-same-list", alias = "merge-same-list", default_value_t = true, action = clap::ArgAction::Set)]
        merge_same_list: bool,
        /// File holding the cluster secret (else SHOPLIST_CLUSTER_SECRET_FILE,
        /// else SHOPLIST_CLUSTER_SECRET).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// Runtime threads for this process's sockets and decoding. The
        /// routing core / replica store is one thread of its own either
        /// way; one runtime thread avoids cross-thread wake-ups on every
        /// message and was fastest on a 2-core machine running a whole
        /// cluster (README, "Runtime threads"). Raise on a dedicated host.
        #[arg(long, default_value_t = cloud::RUNTIME_THREADS, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: u16,
    },
    /// Run a proxy and workers on this machine, as separate processes.
    Up {
        /// Data directory (default: the XDG data dir, shoplist-cloud).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Number of workers.
        #[arg(long, default_value_t = 5)]
        workers: usize,
        /// Number of proxies (no single point of failure with 2 or more):
        /// proxy i listens on the frontend port + i and the backend port + i,
        /// and every worker serves all of them.
        #[arg(long, default_value_t = 1)]
        proxies: usize,
        /// Client endpoint (of the first proxy).
        #[arg(long, default_value = "tcp://127.0.0.1:5555")]
        frontend: String,
        /// Worker endpoint (of the first proxy) [default: 127.0.0.1, on the
        /// port after the last proxy's frontend port: 5556 for one proxy]
        #[arg(long)]
        backend: Option<String>,
        /// The proxies' connection caps.
        #[command(flatten)]
        caps: Caps,
        /// Each worker's `--worker-merge-same-list`.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        worker_merge_same_list: bool,
    },
    /// Retire a worker for good: its lists move to their next homes first.
    Retire {
        /// The worker's id.
        worker: String,
        /// The proxy's client endpoint.
        #[arg(long, default_value = "tcp://127.0.0.1:5555")]
        proxy: String,
        /// File holding the cluster secret (else SHOPLIST_CLUSTER_SECRET_FILE,
        /// else SHOPLIST_CLUSTER_SECRET).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// Wait (at most this many seconds) until the worker is retired.
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Live workers and their ring shares.
    Status {
        /// The proxy's client endpoint.
        #[arg(long, default_value = "tcp://127.0.0.1:5555")]
        proxy: String,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// A list's replicas, in preference order.
    Where {
        /// A share URL, a UUID, or, resolved against this machine's shoplist
        /// lists, a UUID prefix or a list name (as `shoplist` takes LIST).
        list: String,
        /// The shoplist data dir used to resolve names and prefixes.
        #[arg(long, env = "SHOPLIST_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The proxy's client endpoint.
        #[arg(long, default_value = "tcp://127.0.0.1:5555")]
        proxy: String,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// The proxy's default per-request deadline, in ms (the clients wait longer).
const PROXY_DEADLINE_MS: u64 = shoplist_cli::sync_client::PROXY_DEADLINE.as_millis() as u64;

/// How long `status`/`where` wait for the proxy.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(2);

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(shoplist_cli::commands::color_on_stderr())
        .with_writer(std::io::stderr)
        .try_init();
}

fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "shoplist-cloud")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("shoplist-cloud-data"))
}

/// Errors look like `shoplist`'s: one line, `error: ` first. Exit codes are
/// shared too: 1 for any error (usage included), 2 when a proxy could not
/// be reached (README "Exit codes and errors").
fn fail(message: impl std::fmt::Display, code: u8) -> ExitCode {
    let text = message.to_string();
    eprintln!(
        "error: {}",
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match shoplist_cli::args::usage_error_line(&e) {
            Some(line) => return fail(line, 1),
            None => {
                print!("{}", e.render());
                return ExitCode::SUCCESS;
            }
        },
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Command::Proxy { threads, .. } | Command::Worker { threads, .. } = &cli.command {
        runtime.worker_threads(usize::from(*threads));
    }
    match runtime.enable_all().build() {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => fail(format!("cannot start the runtime: {e}"), 1),
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Proxy {
            frontend,
            backend,
            replicas,
            write_quorum,
            read_quorum,
            timeout_ms,
            read_hedge_ms,
            heartbeat_ms,
            worker_timeout_ms,
            no_guard,
            secret_file,
            ready_file,
            threads: _,
            caps,
        } => {
            init_tracing("info");
            let secret = match ClusterSecret::configured(secret_file.as_deref()) {
                Ok(secret) => secret,
                Err(e) => return fail(e, 1),
            };
            if replicas == 0 || write_quorum == 0 || read_quorum == 0 {
                return fail(
                    "--replicas, --write-quorum and --read-quorum must be at least 1",
                    1,
                );
            }
            if write_quorum > replicas || read_quorum > replicas {
                return fail("quorums cannot exceed --replicas", 1);
            }
            let cfg = ProxyConfig {
                replicas,
                write_quorum,
                read_quorum,
                timeout: Duration::from_millis(timeout_ms.max(1)),
                read_hedge: Duration::from_millis(read_hedge_ms),
                heartbeat: Duration::from_millis(heartbeat_ms.max(10)),
                worker_timeout: Duration::from_millis(worker_timeout_ms.max(10)),
                secret,
                caps,
                ..ProxyConfig::default()
            };
            match cloud::proxy::run(cfg, &frontend, &backend, !no_guard, ready_file.as_deref())
                .await
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}"), 1),
            }
        }
        Command::Worker {
            id,
            proxy,
            data_dir,
            cache_lists,
            merge_same_list,
            secret_file,
            threads: _,
        } => {
            init_tracing("info");
            let secret = match ClusterSecret::configured(secret_file.as_deref()) {
                Ok(secret) => secret,
                Err(e) => return fail(e, 1),
            };
            let id = match WorkerId::parse(&id) {
                Ok(id) => id,
                Err(e) => return fail(e, 1),
            };
            let cfg = WorkerConfig {
                id,
                proxies: proxy,
                data_dir,
                cache_lists,
                heartbeat: Duration::from_millis(500),
                secret,
                merge_same_list,
            };
            match cloud::worker::run(cfg).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}"), 1),
            }
        }
        Command::Up {
            data_dir,
            workers,
            proxies,
            frontend,
            backend,
            caps,
            worker_merge_same_list,
        } => {
            init_tracing("info");
            let cfg = UpConfig {
                data_dir: data_dir.unwrap_or_else(default_data_dir),
                workers,
                proxies,
                frontend,
                backend,
                caps,
                worker_merge_same_list,
            };
            match cloud::up::run(cfg).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}"), 1),
            }
        }
        Command::Retire {
            worker,
            proxy,
            secret_file,
            wait,
        } => {
            init_tracing("warn");
            let worker = match WorkerId::parse(&worker) {
                Ok(w) => w,
                Err(e) => return fail(e.to_string(), 1),
            };
            let secret = match cloud::secret::ClusterSecret::configured(secret_file.as_deref()) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    return fail(
                        "retiring a worker needs the cluster secret: --secret-file or SHOPLIST_CLUSTER_SECRET_FILE",
                        1,
                    )
                }
                Err(e) => return fail(e.to_string(), 1),
            };
            let wait = wait.map(Duration::from_secs);
            match cloud::retire::retire(&proxy, &worker, &secret, wait, INSPECT_TIMEOUT).await {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(f) => fail(f.message, f.code),
            }
        }
        Command::Status { proxy, json } => {
            init_tracing("warn");
            match cloud::inspect::status(&proxy, json, INSPECT_TIMEOUT).await {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(f) => fail(f.message, f.code),
            }
        }
        Command::Where {
            list,
            data_dir,
            proxy,
            json,
        } => {
            init_tracing("warn");
            let list = match cloud::inspect::resolve_list(&list, data_dir) {
                Ok(id) => id.to_string(),
                Err(f) => return fail(f.message, f.code),
            };
            match cloud::inspect::where_list(&proxy, &list, json, INSPECT_TIMEOUT).await {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(f) => fail(f.message, f.code),
            }
        }
    }
}
