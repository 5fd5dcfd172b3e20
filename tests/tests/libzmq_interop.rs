//! An independent client of protocol v2 against a real cluster (issue 10,
//! deliverables 4 and 5): `tests/interop/libzmq_client.py`, written from
//! PROTOCOL.md alone on libzmq (pyzmq), Ed25519 from `cryptography` and the
//! Python `automerge` binding, with no Rust client code. It checks that
//!
//! - (a) a DEALER with `ZMQ_HEARTBEAT_IVL` set stays connected: the guard
//!   answers ZMTP 3.1 PINGs with PONGs (RFC 37);
//! - (b) subscriptions survive a reconnect with a new random routing id when
//!   the client names its session in `subscribe` (PROTOCOL §6.1);
//! - (c) a REQ socket that subscribes gets `error unknown_op` naming DEALER,
//!   and keeps working after a write;
//! - (push) a list it makes (PROTOCOL §12: `name`, `items`, an added item),
//!   signed change by change with a fresh Ed25519 key as actor id (§2.1),
//!   is acknowledged by W replicas; here the real CLI then `join`s it and
//!   must `show --json` it without warnings, and `log --json` must name the
//!   Python key as author and signer of every change;
//! - (pull) a fresh Python state with `have: []` gets the frames, checks
//!   hashes, signatures and the chain rule, and reads the document;
//! - (notify) subscribed with heartbeats on, it gets `notify` after the CLI
//!   adds an item here, pulls that change (signed by the CLI's key) and
//!   reads the item;
//! - (errors) a change signed by another key than its actor's is `forged`
//!   (and the same change correctly signed is stored: the CLI then sees
//!   it), a `"v":1` header is `unsupported_version`, a wrong `n` is
//!   `frame_count`, a frame shorter than a signature is `bad_change`.
//!
//! `.ci/run` installs pyzmq, cryptography and automerge with pip. This test
//! reports SKIPPED (and passes) only when one of them cannot be imported;
//! any other failure of the script fails it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;
use shoplist_tests::lines::lines_of;
use shoplist_tests::process::sigkill;
use shoplist_tests::{Client, Cluster, ClusterOptions};

/// The whole conversation must end within this.
const LIMIT: Duration = Duration::from_secs(180);

/// Every step of the script, in its order.
const STEPS: [&str; 10] = [
    "heartbeats",
    "session",
    "req",
    "push",
    "pull",
    "notify",
    "forged",
    "unsupported_version",
    "frame_count",
    "bad_change",
];

/// The cluster's write quorum (PROTOCOL §5's default, which
/// `ClusterOptions::default()` keeps).
const W: &str = "2";

/// The Python client, killed (by pid) when dropped.
struct Python(Child);

impl Drop for Python {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            sigkill(self.0.id());
        }
        let _ = self.0.wait();
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/libzmq_client.py")
}

/// Whether the script's packages import (pyzmq, cryptography, automerge
/// >= 1.0, which has `automerge.core`); the reason when not.
fn python_packages() -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import zmq, cryptography; from automerge import core; core.Document; \
             print(zmq.zmq_version())",
        ])
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("an import failed")
            .to_string())
    }
}

fn next_line(rx: &Receiver<String>, deadline: Instant) -> Option<String> {
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// The CLI's view of a list the Python client made: joined by its share
/// URL, shown without warnings with the expected name and items, and every
/// change in `log` written and signed by the Python key.
fn cli_sees(cli: &Client, list: &str, expected: &Value) -> Result<(), String> {
    let url = format!("shoplist://list/{list}");
    let joined = cli.run(&["join", &url]);
    if !joined.success() {
        return Err(format!(
            "join {url}: exit {:?}: {}",
            joined.code,
            joined.stderr.trim()
        ));
    }
    let shown = cli.run(&["show", list]);
    let Some(show) = shown.json.filter(|_| shown.code == Some(0)) else {
        return Err(format!(
            "show: exit {:?}: {}",
            shown.code,
            shown.stderr.trim()
        ));
    };
    if show["warnings"] != Value::Array(vec![]) {
        return Err(format!("show has warnings: {}", show["warnings"]));
    }
    if show["name"] != expected["name"] {
        return Err(format!("show names the list {}", show["name"]));
    }
    let items: Vec<Value> = show["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| serde_json::json!({"name": i["name"], "needed": i["needed"]}))
                .collect()
        })
        .unwrap_or_default();
    if Value::Array(items.clone()) != expected["items"] {
        return Err(format!("show lists {items:?}, not {}", expected["items"]));
    }
    let logged = cli.run(&["log", list]);
    let Some(Value::Array(log)) = logged.json.filter(|_| logged.code == Some(0)) else {
        return Err(format!(
            "log: exit {:?}: {}",
            logged.code,
            logged.stderr.trim()
        ));
    };
    let actor = &expected["actor"];
    if log.len() != 2
        || log
            .iter()
            .any(|e| &e["actor"] != actor || &e["signed_by"] != actor)
    {
        return Err(format!("log does not show 2 changes by {actor}: {log:?}"));
    }
    eprintln!("the CLI sees the Python list: {show}");
    Ok(())
}

#[test]
fn an_independent_python_client_signs_pushes_pulls_subscribes_and_gets_the_error_codes() {
    if let Err(why) = python_packages() {
        eprintln!(
            "SKIPPED libzmq interop: a Python package cannot be imported ({why}); \
             `pip install --user pyzmq cryptography automerge==1.0.0rc1` (.ci/run does) \
             to run it"
        );
        return;
    }
    let cluster = Cluster::start(3, ClusterOptions::default());
    let cli = Client::new(&cluster);
    let made = cli.run(&["new", "Interop"]).expect_json();
    let list = made["id"].as_str().unwrap_or_default().to_string();
    assert!(cli.sync(&[&list]).success(), "first sync");

    let mut python = Python(
        Command::new("python3")
            .arg(script())
            .arg(cluster.frontend())
            .arg(&list)
            .arg(W)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3"),
    );
    let lines = lines_of(python.0.stdout.take().expect("stdout"));
    let mut stdin = python.0.stdin.take().expect("stdin");
    let deadline = Instant::now() + LIMIT;
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut python_list = None;
    while let Some(line) = next_line(&lines, deadline) {
        eprintln!("python: {line}");
        let answer = if let Some(step) = line.strip_prefix("ok ") {
            passed.push(step.to_string());
            continue;
        } else if line.starts_with("fail ") || line.starts_with("skip ") {
            failed.push(line.clone());
            continue;
        } else if let Some(rest) = line.strip_prefix("write ") {
            let (l, item) = rest.split_once(' ').expect("write LIST ITEM");
            cli.run(&["add", l, item]).expect_json();
            assert!(cli.sync(&[l]).success(), "the write's sync");
            "written".to_string()
        } else if let Some(rest) = line.strip_prefix("check ") {
            let (l, expected) = rest.split_once(' ').expect("check LIST JSON");
            let expected: Value = serde_json::from_str(expected).expect("check's JSON");
            python_list = Some(l.to_string());
            match cli_sees(&cli, l, &expected) {
                Ok(()) => "checked".to_string(),
                Err(why) => why.replace('\n', " "),
            }
        } else {
            continue;
        };
        writeln!(stdin, "{answer}").expect("answer python");
        stdin.flush().expect("flush");
    }
    assert!(
        Instant::now() < deadline,
        "the conversation took over {LIMIT:?}"
    );
    let status = python.0.wait().expect("python exit status");
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(passed, STEPS, "exit {status}");
    assert!(status.success(), "exit {status}");

    // The change the Python client signed after its forged twin was refused
    // reaches the CLI like any other.
    let python_list = python_list.expect("the script asked for a check");
    assert!(cli.sync(&[&python_list]).success(), "the final sync");
    let show = cli.run(&["show", &python_list]).expect_json();
    assert_eq!(show["warnings"], serde_json::json!([]), "{show}");
    let names: Vec<&str> = show["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["Bread", "Eggs", "Milk"], "{show}");
}
