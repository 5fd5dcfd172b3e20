//! `shoplist-cloud up --proxies 2` (issue 9 §5): two proxies on
//! consecutive ports, every worker serving both, the same replicas for a
//! list through either, a SIGKILLed proxy restarted on its ports, and a
//! clean stop on SIGTERM. The frontend is given
//! as port 0, so every port comes from the kernel and `up` reports them: no
//! port is guessed and none can be taken first.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use shoplist_tests::bins::{binary, CLOUD_BIN};
use shoplist_tests::lines::{expect_line, lines_of};
use shoplist_tests::process::{run_with_timeout, ChildGuard};
use shoplist_tests::wait_until;

fn cloud(args: &[&str]) -> Result<Value, String> {
    let mut command = Command::new(binary(CLOUD_BIN));
    command.args(args);
    let out = run_with_timeout(command, Duration::from_secs(10));
    if out.code != Some(0) {
        return Err(format!("{args:?}: exit {:?}: {}", out.code, out.stderr));
    }
    serde_json::from_str(out.stdout.trim()).map_err(|e| format!("{e}: {}", out.stdout))
}

/// Workers alive and `ready` (members that own ring ranges, PROTOCOL §7.2).
fn alive(status: &Value) -> usize {
    status["workers"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter(|w| w["alive"] == true && w["state"] == "ready")
                .count()
        })
        .unwrap_or(0)
}

/// The pid of `parent`'s child whose command line ends an argument with
/// `suffix` (proxy *i*'s ready file, `proxy-i.ready.json`), from /proc.
fn child_pid(parent: u32, suffix: &str) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.iter().any(|a| a.ends_with(suffix))
        })
}

#[test]
fn up_runs_two_proxies_that_route_alike_restarts_them_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let data = dir.path().display().to_string();
    let mut child = Command::new(binary(CLOUD_BIN))
        .args(["up", "--proxies", "2", "--workers", "3", "--frontend"])
        .arg("tcp://127.0.0.1:0")
        .args(["--data-dir", &data])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start up: {e}"));
    let stdout = lines_of(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let mut up = ChildGuard(child);
    let line = expect_line(&stdout, "clients take --cloud", Duration::from_secs(30));
    let endpoints: Vec<String> = line
        .rsplit_once("--cloud ")
        .map(|(_, e)| e.trim().split(',').map(String::from).collect())
        .unwrap_or_default();
    assert_eq!(endpoints.len(), 2, "{line}");
    assert_ne!(endpoints[0], endpoints[1]);

    // Every worker serves both proxies.
    for ep in &endpoints {
        wait_until("3 workers alive and ready", Duration::from_secs(30), || {
            let status = cloud(&["status", "--proxy", ep, "--json"])?;
            match alive(&status) {
                3 => Ok(()),
                n => Err(format!("{n} alive at {ep}: {status}")),
            }
        });
    }
    // Both route a list to the same replicas.
    let list = "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f";
    let replicas: Vec<Value> = endpoints
        .iter()
        .map(|ep| {
            cloud(&["where", list, "--proxy", ep, "--json"]).unwrap_or_else(|e| panic!("{e}"))
                ["replicas"]
                .clone()
        })
        .collect();
    assert_eq!(replicas[0], replicas[1]);
    assert_eq!(replicas[0].as_array().map(Vec::len), Some(3));

    // A proxy SIGKILLed under `up` comes back on its ports: clients and
    // workers configured with them need nothing new.
    let victim = child_pid(up.0.id(), "proxy-0.ready.json")
        .unwrap_or_else(|| panic!("no proxy child for {}", endpoints[0]));
    shoplist_launch::service::signal(victim, libc::SIGKILL);
    wait_until("the proxy to come back", Duration::from_secs(30), || {
        match child_pid(up.0.id(), "proxy-0.ready.json") {
            Some(pid) if pid != victim => {}
            _ => return Err("not restarted yet".into()),
        }
        let status = cloud(&["status", "--proxy", &endpoints[0], "--json"])?;
        match alive(&status) {
            3 => Ok(()),
            n => Err(format!("{n} alive: {status}")),
        }
    });

    // SIGTERM: `up` stops its children and exits 0.
    shoplist_launch::service::signal(up.0.id(), libc::SIGTERM);
    let status = wait_until("up to exit", Duration::from_secs(20), || {
        up.0.try_wait()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "running".to_string())
    });
    assert!(status.success(), "{status}");
    for ep in &endpoints {
        assert!(
            cloud(&["status", "--proxy", ep, "--json"]).is_err(),
            "{ep} still answers"
        );
    }
}
