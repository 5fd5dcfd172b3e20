//! # shoplist-bench
//!
//! The benchmark workloads of DESIGN §9 in one tool. It starts its own
//! cluster on 127.0.0.1 (a proxy and `--workers` workers as separate
//! processes, N/W/R as `shoplist-cloud up`), drives it through the real
//! client code (`shoplist_cli::sync`, `SyncClient`, engine `Store`s, one
//! SQLite store per simulated device), and prints ONE JSON line per
//! workload on stdout. Progress, when stdout is a terminal, goes to stderr.
//! See `bench/README-bench.md` for the latest numbers.
//!
//! ## Layout
//!
//! - [`args`]: flags (`--quick`, `--only`, sizes) and the hidden cluster roles.
//! - [`cluster`]: the proxy and workers as child processes; RSS and disk.
//! - [`device`]: a simulated device (store + connection), device threads.
//! - [`observe`]: the subscribed observer of W1 and W3, send-time markers.
//! - [`workloads`]: W1–W5 and transport, one module each.
//! - [`stats`]: percentiles; [`progress`]: the stderr progress bars.
//! - [`guard`]: the regression guard (`--baseline`, `--save-baseline`,
//!   `--repeat`).

mod args;
mod cluster;
mod device;
mod guard;
mod observe;
mod progress;
mod stats;
mod workloads;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::{json, Map, Value};

use crate::args::{Args, Role};
use crate::cluster::{Cluster, ClusterSpec};
use crate::workloads::Env;

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run as one of the cluster's processes (same code as `shoplist-cloud`).
async fn run_role(role: Role) -> anyhow::Result<()> {
    match role {
        Role::CloudProxy {
            frontend,
            backend,
            replicas,
            write_quorum,
            read_quorum,
            caps,
            no_guard,
            ready_file,
        } => {
            let cfg = cloud::proxy::ProxyConfig {
                replicas,
                write_quorum,
                read_quorum,
                secret: cloud::secret::ClusterSecret::configured(None)?,
                caps,
                ..Default::default()
            };
            cloud::proxy::run(cfg, &frontend, &backend, !no_guard, ready_file.as_deref()).await
        }
        Role::CloudWorker {
            id,
            proxy,
            data_dir,
            cache_lists,
            merge_same_list,
        } => {
            let cfg = cloud::worker::WorkerConfig {
                id: engine::WorkerId::parse(&id)?,
                proxies: proxy,
                data_dir,
                cache_lists,
                heartbeat: Duration::from_millis(500),
                secret: cloud::secret::ClusterSecret::configured(None)?,
                merge_same_list,
            };
            cloud::worker::run(cfg).await
        }
    }
}

/// The machine's 1-minute load average when the line is printed (other
/// processes on a shared machine skew every number).
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Every result line printed in this run, for the regression guard.
static LINES: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::new(Vec::new());

/// The guard's figures of the lines printed since the last call.
fn take_figures() -> std::collections::BTreeMap<String, f64> {
    let lines = LINES.lock().map(|mut l| std::mem::take(&mut *l));
    guard::figures(&lines.unwrap_or_default())
}

/// The figures of `--baseline`.
fn read_baseline(
    path: &std::path::Path,
) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(doc
        .get("figures")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default())
}

/// The workloads whose best figures so far fail against `--baseline`.
fn failing_against_baseline(
    args: &Args,
    runs: &[std::collections::BTreeMap<String, f64>],
) -> anyhow::Result<Vec<String>> {
    let Some(path) = &args.baseline else {
        return Ok(Vec::new());
    };
    let rows = guard::compare(&read_baseline(path)?, &guard::best_of(runs));
    Ok(guard::failing_workloads(&rows))
}

/// Save and/or check the baseline (`--save-baseline`, `--baseline`);
/// false if a figure is [`guard::FAIL_RATIO`] times worse.
fn check_baseline(
    args: &Args,
    runs: &[std::collections::BTreeMap<String, f64>],
) -> anyhow::Result<bool> {
    let best = guard::best_of(runs);
    if let Some(path) = &args.save_baseline {
        let doc = json!({
            "note": "shoplist-bench --quick figures (best of --repeat runs); see bench/src/guard.rs",
            "repeat": runs.len(),
            "figures": best,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("shoplist-bench: baseline saved to {}", path.display());
    }
    let Some(path) = &args.baseline else {
        return Ok(true);
    };
    let rows = guard::compare(&read_baseline(path)?, &best);
    eprintln!(
        "shoplist-bench: against the baseline {} (warn when worse, fail at {}x):",
        path.display(),
        guard::FAIL_RATIO
    );
    for row in &rows {
        eprintln!("  {}", guard::render(row));
    }
    Ok(!guard::failed(&rows))
}

/// Print one result line: the common fields, then the workload's.
fn emit(args: &Args, workload: &str, result: anyhow::Result<Value>) -> bool {
    let mut line = Map::new();
    line.insert("workload".into(), json!(workload));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (k, v) in [
        ("cores", json!(cores)),
        ("n", json!(args.replicas)),
        ("w", json!(args.write_quorum)),
        ("r", json!(args.read_quorum)),
        ("workers", json!(args.workers)),
        ("quick", json!(args.quick)),
        ("loadavg_1m", json!(load_average())),
    ] {
        line.insert(k.into(), v);
    }
    let ok = match result {
        Ok(Value::Object(fields)) => {
            line.extend(fields);
            true
        }
        Ok(other) => {
            line.insert("result".into(), other);
            true
        }
        Err(e) => {
            line.insert("error".into(), json!(format!("{e:#}")));
            false
        }
    };
    if let Ok(mut lines) = LINES.lock() {
        lines.push(Value::Object(line.clone()));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", Value::Object(line));
    let _ = out.flush();
    ok
}

/// Run every selected workload; false if any failed.
async fn run_bench(args: Args) -> anyhow::Result<bool> {
    let mut env = Env {
        args: args.clone(),
        endpoint: String::new(),
        epoch: Instant::now(),
    };
    let mut ok = true;
    if args.selected("W5") {
        progress::note("W5 local edits");
        ok &= emit(&args, "W5", workloads::w5_local::run(&env).await);
    }
    if args.selected("compaction") {
        progress::note("compaction off the hot path");
        ok &= emit(&args, "compaction", workloads::compaction::run(&env).await);
    }
    let networked = ["transport", "W1-serial", "W1", "W2", "W3", "W4", "AE", "W6"];
    if !networked.iter().any(|w| args.selected(w)) {
        return Ok(ok);
    }
    let spec = ClusterSpec {
        workers: args.workers,
        replicas: args.replicas,
        write_quorum: args.write_quorum,
        read_quorum: args.read_quorum,
        cache_lists: args.worker_cache_lists,
        merge_same_list: args.worker_merge_same_list,
        caps: cloud::proxy::caps::Caps {
            // W6's devices, the other workloads' clients, and headroom.
            max_connections: cloud::proxy::caps::DEFAULT_MAX_CONNECTIONS
                .max(args.w6_devices + 1024),
            ..Default::default()
        },
        guarded: !args.proxy_unguarded,
    };
    progress::note("starting the cluster");
    let mut cluster = Cluster::start(&spec)
        .await
        .context("cannot start the cluster")?;
    env.endpoint = cluster.frontend().to_string();
    for w in ["transport", "W1-serial", "W1", "W2", "W3"] {
        if !args.selected(w) {
            continue;
        }
        progress::note(w);
        let result = match w {
            "transport" => workloads::transport::run(&env).await,
            "W1-serial" => workloads::w1_propagation::run(&env).await,
            "W1" => workloads::w1_live::run(&env).await,
            "W2" => workloads::w2_many_lists::run(&env).await,
            _ => workloads::w3_long_history::run(&env).await,
        };
        ok &= emit(&args, w, result);
        cluster.check_alive()?;
    }
    if args.selected("W4") {
        progress::note("W4 scale");
        let result = workloads::w4_scale::run(&env, &mut cluster).await;
        ok &= emit(&args, "W4", result);
    }
    if args.selected("AE") {
        progress::note("AE heal");
        let result = workloads::ae_heal::run(&env, &mut cluster).await;
        ok &= emit(&args, "AE", result);
        cluster.check_alive()?;
    }
    if args.selected("W6") {
        progress::note("W6 many live devices");
        let result = workloads::w6_devices::run(&env, &mut cluster).await;
        ok &= emit(&args, "W6", result);
        cluster.check_alive()?;
    }
    if args.keep {
        if let Some(dir) = cluster.keep() {
            eprintln!("shoplist-bench: cluster files kept in {}", dir.display());
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if args.role.is_some() {
        // The cluster's processes run as `shoplist-cloud` runs them.
        runtime.worker_threads(usize::from(cloud::RUNTIME_THREADS));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoplist-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(role) = args.role.clone() {
        init_tracing();
        return match runtime.block_on(run_role(role)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shoplist-bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let unknown = args.unknown_workloads();
    if !unknown.is_empty() {
        eprintln!(
            "shoplist-bench: unknown workload(s) {}; choose from {}",
            unknown.join(","),
            args::ALL_WORKLOADS.join(",")
        );
        return ExitCode::from(2);
    }
    init_tracing();
    let args = args.effective();
    // The cluster lives inside `run_bench`: on Ctrl-C the future is dropped,
    // and with it the cluster, which kills every child by pid.
    let outcome = runtime.block_on(async {
        let mut ok = true;
        let mut runs = Vec::new();
        for _ in 0..args.repeat.max(1) {
            ok &= tokio::select! {
                r = run_bench(args.clone()) => r?,
                _ = shoplist_net::shutdown_signal() => anyhow::bail!("interrupted"),
            };
            runs.push(take_figures());
        }
        for round in 1..=args.confirm_failures {
            let failing = failing_against_baseline(&args, &runs)?;
            if failing.is_empty() {
                break;
            }
            eprintln!(
                "shoplist-bench: {} failed against the baseline; confirming ({round} of {})",
                failing.join(","),
                args.confirm_failures
            );
            let again = Args {
                only: failing,
                ..args.clone()
            };
            ok &= tokio::select! {
                r = run_bench(again) => r?,
                _ = shoplist_net::shutdown_signal() => anyhow::bail!("interrupted"),
            };
            runs.push(take_figures());
        }
        Ok(check_baseline(&args, &runs)? && ok)
    });
    // Device threads may still be blocked in a store call; do not wait.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("shoplist-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
