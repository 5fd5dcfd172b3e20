//! The command line of `shoplist-bench` (clap). Size defaults are DESIGN §9's;
//! `--quick` shrinks every workload so the whole run takes well under a
//! minute (CI). The hidden `cloud-proxy` / `cloud-worker` subcommands are how
//! the benchmark re-executes itself as the cluster's processes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Every workload, in run order.
pub const ALL_WORKLOADS: [&str; 10] = [
    "W5",
    "compaction",
    "transport",
    "W1-serial",
    "W1",
    "W2",
    "W3",
    "W4",
    "AE",
    "W6",
];

/// `shoplist-bench`: DESIGN §9's workloads against a real local cluster.
#[derive(Parser, Debug, Clone)]
#[command(name = "shoplist-bench", version, about)]
pub struct Args {
    /// Internal: run as one of the cluster's processes.
    #[command(subcommand)]
    pub role: Option<Role>,
    /// Every workload at small sizes (the whole run in well under a minute).
    #[arg(long)]
    pub quick: bool,
    /// Run only these workloads (comma-separated: W1,W1-serial,W2,W3,W4,W5,W6,compaction,transport,AE).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Worker processes in the cluster.
    #[arg(long, default_value_t = 5)]
    pub workers: usize,
    /// Replicas per list (N).
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Write quorum (W).
    #[arg(long, default_value_t = 2)]
    pub write_quorum: usize,
    /// Read quorum (R).
    #[arg(long, default_value_t = 2)]
    pub read_quorum: usize,
    /// Lists each worker keeps decoded in memory (`shoplist-cloud worker`'s default).
    #[arg(long, default_value_t = 1000)]
    pub worker_cache_lists: usize,
    /// Workers' group commit merges same-list requests (A/B switch).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub worker_merge_same_list: bool,
    /// W1: writer clients.
    #[arg(long, default_value_t = 8)]
    pub w1_writers: usize,
    /// W1: edits per writer.
    #[arg(long, default_value_t = 500)]
    pub w1_edits: usize,
    /// W2: lists created, then opened by URL.
    #[arg(long, default_value_t = 1000)]
    pub w2_lists: usize,
    /// W2: items per list.
    #[arg(long, default_value_t = 10)]
    pub w2_items: usize,
    /// W2: opens in flight at once, one measurement each (comma-separated;
    /// 1 is the sequential `join` path, more use one device with that many
    /// requests outstanding).
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub w2_concurrency: Vec<usize>,
    /// W3: changes in the long list's history.
    #[arg(long, default_value_t = 10_000)]
    pub w3_changes: usize,
    /// W3: propagation samples after the open (the median is reported).
    #[arg(long, default_value_t = 20)]
    pub w3_samples: usize,
    /// W4: lists spread over the workers.
    #[arg(long, default_value_t = 1_000_000)]
    pub w4_lists: usize,
    /// W4: syncs in flight at once while loading.
    #[arg(long, default_value_t = 256)]
    pub w4_concurrency: usize,
    /// W4: sample syncs (writes and reads each) at the start and at the end.
    #[arg(long, default_value_t = 200)]
    pub w4_samples: usize,
    /// AE: lists loaded while one worker is frozen, then healed.
    #[arg(long, default_value_t = 10_000)]
    pub ae_lists: usize,
    /// W5: local edits.
    #[arg(long, default_value_t = 5000)]
    pub w5_edits: usize,
    /// transport: client counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub transport_clients: Vec<usize>,
    /// transport: round trips per client count, for sync and for echo each.
    #[arg(long, default_value_t = 5000)]
    pub transport_requests: usize,
    /// compaction: items in the big list that compacts while small requests flow.
    #[arg(long, default_value_t = 4000)]
    pub compaction_items: usize,
    /// compaction: requests for the big list (and as many for small lists).
    #[arg(long, default_value_t = 2000)]
    pub compaction_requests: usize,
    /// compaction: the big list compacts every this many changes.
    #[arg(long, default_value_t = 100)]
    pub compaction_every: usize,
    /// Compare the guarded figures with this baseline (bench/src/guard.rs):
    /// print the ratios, warn when worse, fail when 2x worse.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Save the guarded figures (best of `--repeat`) as a baseline here.
    #[arg(long)]
    pub save_baseline: Option<PathBuf>,
    /// Run the selected workloads this many times (fresh cluster each);
    /// the guard keeps each figure's best.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// With `--baseline`: when a figure fails, run the workloads with
    /// failing figures up to this many more times (fresh cluster each) and
    /// judge the best of all runs, so only a figure 2x worse in every run
    /// fails (a noisy neighbour rarely strikes the same figure each time).
    #[arg(long, default_value_t = 0)]
    pub confirm_failures: usize,
    /// W6: devices connected at once (raw ZMTP connections, each subscribed).
    #[arg(long, default_value_t = 10_000)]
    pub w6_devices: usize,
    /// W6: lists the devices are spread over.
    #[arg(long, default_value_t = 2_000)]
    pub w6_lists: usize,
    /// W6: writes by the one writer device, on random lists.
    #[arg(long, default_value_t = 2_000)]
    pub w6_writes: usize,
    /// W6: writes per second.
    #[arg(long, default_value_t = 200.0)]
    pub w6_rate: f64,
    /// W6: each device pings this often (0: a 20 s keepalive); 200 is what
    /// a live client does when idle.
    #[arg(long, default_value_t = 0)]
    pub w6_ping_ms: u64,
    /// Experiment: run the proxy without its transport guard (clients reach
    /// zeromq directly: 1 descriptor per connection instead of 3, but no
    /// caps, timeouts or framing checks). Prices the guard in W6; never
    /// how a cloud is run.
    #[arg(long)]
    pub proxy_unguarded: bool,
    /// Keep the cluster's temp dir (logs, worker data) after the run.
    #[arg(long)]
    pub keep: bool,
}

/// The cluster roles the benchmark re-executes itself as.
#[derive(Subcommand, Debug, Clone)]
pub enum Role {
    /// A proxy (as `shoplist-cloud proxy`).
    #[command(hide = true)]
    CloudProxy {
        /// Client endpoint.
        #[arg(long)]
        frontend: String,
        /// Worker endpoint.
        #[arg(long)]
        backend: String,
        /// N.
        #[arg(long)]
        replicas: usize,
        /// W.
        #[arg(long)]
        write_quorum: usize,
        /// R.
        #[arg(long)]
        read_quorum: usize,
        /// Connection caps (`--max-connections`, `--max-per-source`).
        #[command(flatten)]
        caps: cloud::proxy::caps::Caps,
        /// No transport guard (as `shoplist-cloud proxy --no-guard`).
        #[arg(long)]
        no_guard: bool,
        /// Where to report the bound endpoints (as `shoplist-cloud proxy
        /// --ready-file`).
        #[arg(long)]
        ready_file: Option<std::path::PathBuf>,
    },
    /// A worker (as `shoplist-cloud worker`).
    #[command(hide = true)]
    CloudWorker {
        /// Worker id.
        #[arg(long)]
        id: String,
        /// Proxy backend endpoints, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        proxy: Vec<String>,
        /// Data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Lists kept decoded.
        #[arg(long)]
        cache_lists: usize,
        /// Group commit merges same-list requests.
        #[arg(long = "worker-merge-same-list", default_value_t = true, action = clap::ArgAction::Set)]
        merge_same_list: bool,
    },
}

impl Args {
    /// Apply `--quick`: small sizes everywhere (only where not given
    /// explicitly would be nicer, but clap defaults are indistinguishable;
    /// `--quick` wins).
    pub fn effective(mut self) -> Self {
        if self.quick {
            self.w1_writers = self.w1_writers.min(4);
            self.w1_edits = 50;
            self.w2_lists = 100;
            self.w3_changes = 1000;
            self.w3_samples = 10;
            self.w4_lists = 5000;
            self.w4_samples = 50;
            self.w5_edits = 500;
            self.ae_lists = 500;
            self.transport_requests = 500;
            self.compaction_items = 500;
            self.compaction_requests = 300;
            self.w6_devices = self.w6_devices.min(200);
            self.w6_lists = self.w6_lists.min(50);
            self.w6_writes = self.w6_writes.min(100);
        }
        self
    }

    /// Whether `workload` is selected (case-insensitive).
    pub fn selected(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w.eq_ignore_ascii_case(workload))
    }

    /// Unknown names in `--only`.
    pub fn unknown_workloads(&self) -> Vec<String> {
        self.only
            .iter()
            .filter(|w| !ALL_WORKLOADS.iter().any(|a| a.eq_ignore_ascii_case(w)))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_role_takes_connection_caps() {
        let args = Args::parse_from([
            "shoplist-bench",
            "cloud-proxy",
            "--frontend=tcp://127.0.0.1:0",
            "--backend=tcp://127.0.0.1:0",
            "--replicas=3",
            "--write-quorum=2",
            "--read-quorum=2",
            "--max-connections=11024",
            "--max-per-source=256",
        ]);
        let Some(Role::CloudProxy { caps, .. }) = args.role else {
            panic!("not the proxy role: {:?}", args.role);
        };
        assert_eq!((caps.max_connections, caps.max_per_source), (11_024, 256));
    }

    #[test]
    fn quick_runs_w6_small() {
        let args = Args::parse_from(["shoplist-bench", "--quick", "--only", "w6"]).effective();
        assert!(args.selected("W6") && args.unknown_workloads().is_empty());
        assert_eq!(
            (args.w6_devices, args.w6_lists, args.w6_writes),
            (200, 50, 100)
        );
    }
}
