//! The real `shoplist` binary on a temp data dir, with no cloud (DESIGN §7:
//! "Offline, everything but `join` and `sync` works exactly the same"):
//! every local command works, the `--json` shapes hold, bad input is one
//! stderr line + exit 1 + no change, and `sync`/`join` without a cloud exit 2
//! quickly with the edits still there.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.stdout))
    }
}

/// A closed loopback port: nothing listens there.
fn no_cloud() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("tcp://127.0.0.1:{port}")
}

struct Device {
    dir: TempDir,
    cloud: String,
}

impl Device {
    fn new() -> Self {
        Device {
            dir: TempDir::new().unwrap(),
            cloud: no_cloud(),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        let out = Command::new(env!("CARGO_BIN_EXE_shoplist"))
            .env_remove("SHOPLIST_CLOUD")
            .env("SHOPLIST_USER", "ann")
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["--cloud", &self.cloud])
            .args(args)
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        self.run(&a).json()
    }

    /// Everything observable about the store: lists, each list, its history.
    fn snapshot(&self) -> Vec<Value> {
        let ls = self.json(&["ls"]);
        let mut out = vec![ls.clone()];
        for l in ls.as_array().unwrap() {
            let id = l["id"].as_str().unwrap();
            out.push(self.json(&["show", id]));
            out.push(self.json(&["log", id]));
        }
        out
    }
}

fn assert_one_line_error(out: &Out, code: i32, needle: &str) {
    assert_eq!(
        out.code, code,
        "stdout {} stderr {}",
        out.stdout, out.stderr
    );
    assert_eq!(
        out.stderr.trim_end().lines().count(),
        1,
        "stderr: {:?}",
        out.stderr
    );
    assert!(out.stderr.starts_with("error: "), "{:?}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "{:?} lacks {needle:?}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
}

#[test]
fn local_commands_work_offline_with_the_documented_json() {
    let d = Device::new();
    let new = d.json(&["new", "Weekly", "groceries"]);
    let id = new["id"].as_str().unwrap().to_string();
    assert_eq!(
        new,
        json!({"id": id, "url": format!("shoplist://list/{id}"), "name": "Weekly groceries"})
    );
    // Human `new` prints just the URL.
    let other = d.run(&["new", "Party"]);
    assert!(
        other.stdout.trim().starts_with("shoplist://list/"),
        "{}",
        other.stdout
    );

    d.json(&["add", "weekly", "Milk", "-n", "2"]);
    let shown = d.json(&["add", "weekly", " milk "]);
    assert_eq!(
        shown["items"].as_array().unwrap().len(),
        1,
        "normalized names: {shown}"
    );
    assert_eq!(shown["items"][0]["needed"], 3);
    d.json(&["add", &id[..8], "bread"]);
    let shown = d.json(&["buy", &format!("shoplist://list/{id}"), "MILK", "-n", "1"]);
    let milk = &shown["items"][1];
    assert_eq!(
        (
            milk["name"].as_str(),
            milk["needed"].as_i64(),
            milk["acquired"].as_i64(),
            milk["done"].as_bool()
        ),
        (Some("Milk"), Some(3), Some(1), Some(false))
    );
    assert_eq!(milk["added_by"], "ann");
    let shown = d.json(&["buy", &id, "milk"]);
    assert_eq!(shown["items"][1]["acquired"], 3);
    assert_eq!(shown["items"][1]["done"], true);
    let shown = d.json(&["rm", "weekly", "bread"]);
    assert_eq!(shown["items"].as_array().unwrap().len(), 1);
    let shown = d.json(&["rename", "weekly", "Food"]);
    assert_eq!(shown["name"], "Food");
    for key in ["id", "url", "name", "items"] {
        assert!(shown.get(key).is_some(), "show lacks {key}: {shown}");
    }

    let ls = d.json(&["ls"]);
    assert_eq!(ls.as_array().unwrap().len(), 2);
    assert_eq!(ls[0]["id"], id.as_str());
    assert_eq!(ls[0]["name"], "Food");
    assert_eq!(ls[0]["items"], 1);
    assert_eq!(ls[0]["pending"], 8);
    let status = d.json(&["status", "food"]);
    assert_eq!(
        (&status[0]["id"], &status[0]["name"], &status[0]["pending"]),
        (&json!(id), &json!("Food"), &json!(8))
    );
    assert_eq!(
        (&status[0]["cloud"], &status[0]["cloud_ahead"]),
        (&json!("unreachable"), &Value::Null)
    );
    assert_eq!(
        d.json(&["share", "food"]),
        json!({"id": id, "url": format!("shoplist://list/{id}")})
    );

    let log = d.json(&["log", "food"]);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 8);
    for e in log {
        assert_eq!(e["by"], "ann");
        assert!(e["time_ms"].as_i64().unwrap() > 1_600_000_000_000);
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    }
    assert!(log[1]["what"].as_str().unwrap().contains("Milk"));
    let human = d.run(&["--utc", "log", "food"]);
    assert!(human.stdout.contains(" UTC  ann  "), "{}", human.stdout);
    let human = d.run(&["show", "food"]);
    assert!(human.stdout.contains("[x] Milk"), "{}", human.stdout);
}

#[test]
fn bad_input_is_one_stderr_line_exit_1_and_changes_nothing() {
    let d = Device::new();
    d.json(&["new", "Party"]);
    d.json(&["new", "Party people"]);
    d.json(&["new", "party"]);
    d.json(&["add", "party people", "cake"]);
    let before = d.snapshot();
    for (args, needle) in [
        (vec!["add", "party people", "cake", "-n", "0"], "quantity"),
        (vec!["add", "party people", "cake", "-n", "-3"], "quantity"),
        (
            vec!["add", "party people", "cake", "-n", "lots"],
            "quantity",
        ),
        (vec!["buy", "party people", "cake", "-n", "0"], "quantity"),
        (vec!["add", "party people", "   "], "name"),
        (vec!["rm", "party people", "candles"], "candles"),
        (vec!["buy", "party people", "candles"], "candles"),
        (vec!["show", "nope"], "Party people"),
        (vec!["add", "party", "x"], "ambiguous"),
        (vec!["rename", "party people", ""], "name"),
        (vec!["join", "shoplist://list/not-a-uuid"], "not a list id"),
        (vec!["join", "hello"], "not a list id"),
        (
            vec![
                "show",
                "shoplist://list/2b5b0e31-56cf-4b0f-8a39-2f3a1a2b3c4d",
            ],
            "join",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let out = d.run(&args);
        assert_one_line_error(&out, 1, needle);
    }
    assert_eq!(d.snapshot(), before);
    // The interactive mode needs a terminal.
    assert_one_line_error(&d.run(&[]), 1, "terminal");
}

#[test]
fn sync_and_join_without_a_cloud_exit_2_quickly_and_keep_the_edits() {
    let d = Device::new();
    let id = d.json(&["new", "L"])["id"].as_str().unwrap().to_string();
    d.json(&["add", "L", "tea", "-n", "2"]);
    let before = d.snapshot();
    for args in [vec!["sync"], vec!["sync", "L"], vec!["--json", "sync"]] {
        let t = Instant::now();
        let out = d.run(&args);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "took {:?}",
            t.elapsed()
        );
        assert_one_line_error(&out, 2, "cannot reach the cloud");
    }
    let out = d.run(&[
        "join",
        "shoplist://list/2b5b0e31-56cf-4b0f-8a39-2f3a1a2b3c4d",
    ]);
    assert_one_line_error(&out, 2, "cannot reach the cloud");
    assert_eq!(d.snapshot(), before);
    let status = d.json(&["status"]);
    assert_eq!(
        (&status[0]["id"], &status[0]["pending"], &status[0]["cloud"]),
        (&json!(id), &json!(2), &json!("unreachable"))
    );
}
