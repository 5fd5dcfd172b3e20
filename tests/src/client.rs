//! One user device: the `shoplist` CLI (DESIGN §7) with its own data dir,
//! pointed at a cluster, always run with `--json`.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc::Receiver;

use crate::lines::lines_of;
use crate::process::ChildGuard;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tempfile::TempDir;

use crate::bins::{binary, CLI_BIN};
use crate::cluster::Cluster;
use crate::process::run_with_timeout;

/// Exit code when the cloud could not be reached or missed its quorum (§7).
pub const EXIT_CLOUD: i32 = 2;

/// How one CLI invocation ended.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The arguments after the global flags, for messages.
    pub args: Vec<String>,
    /// Exit code; `None` if killed by a signal or by the deadline.
    pub code: Option<i32>,
    /// The stdout JSON document, if stdout parsed as one.
    pub json: Option<Value>,
    /// Raw stdout.
    pub stdout: String,
    /// Raw stderr (one error line on failure, per §7).
    pub stderr: String,
    /// Whether the command was killed for taking too long.
    pub timed_out: bool,
}

impl CliOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The JSON document of a successful run; panics otherwise, showing
    /// the command, its exit code and its stderr.
    pub fn expect_json(self) -> Value {
        match (&self.code, self.json) {
            (Some(0), Some(json)) => json,
            (code, _) => panic!(
                "`shoplist {}` failed: exit {code:?}{}\nstderr: {}\nstdout: {}",
                self.args.join(" "),
                if self.timed_out { " (timed out)" } else { "" },
                self.stderr.trim(),
                self.stdout.trim()
            ),
        }
    }

    /// The JSON of a successful run, deserialized into `T`.
    pub fn expect<T: for<'de> Deserialize<'de>>(self) -> T {
        let args = self.args.join(" ");
        let json = self.expect_json();
        serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("`shoplist {args}` printed unexpected JSON ({e}): {json}"))
    }
}

/// `new` → `{"id","url","name"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewList {
    /// The list's UUID.
    pub id: String,
    /// Its share URL, `shoplist://list/<uuid>`.
    pub url: String,
    /// Its name.
    pub name: String,
}

/// One item of `show`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShownItem {
    /// Display name.
    pub name: String,
    /// Quantity needed.
    pub needed: i64,
    /// Quantity acquired.
    pub acquired: i64,
    /// `acquired >= needed`.
    pub done: bool,
}

/// `show` → `{"id","url","name","items":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShownList {
    /// The list's UUID.
    pub id: String,
    /// Its share URL.
    pub url: String,
    /// Its name.
    pub name: String,
    /// Its items.
    pub items: Vec<ShownItem>,
}

/// One row of `ls` → `[{"id","url","name","items","pending"}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LsRow {
    /// The list's UUID.
    pub id: String,
    /// Its share URL.
    pub url: String,
    /// Its name.
    pub name: String,
    /// Number of items.
    pub items: u64,
    /// Local changes the cloud has not acknowledged.
    pub pending: u64,
}

/// One row of `status` → `[{"id","name","pending"}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusRow {
    /// The list's UUID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Local changes the cloud has not acknowledged.
    pub pending: u64,
}

/// A device: a data dir of its own and the cloud endpoint(s) it syncs with.
#[derive(Debug)]
pub struct Client {
    data_dir: TempDir,
    cloud: String,
    timeout: Duration,
}

impl Client {
    /// A fresh device syncing with `cluster`'s proxies (`--cloud a,b,...`,
    /// failing over in that order).
    pub fn new(cluster: &Cluster) -> Self {
        Self::with_cloud(cluster.frontends().join(","))
    }

    /// A fresh device with an explicit `--cloud` value (several endpoints
    /// comma-separated, or one nobody listens on to test offline use).
    pub fn with_cloud(cloud: impl Into<String>) -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("shoplist-client-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create client temp dir: {e}"));
        Self {
            data_dir,
            cloud: cloud.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Changes the deadline for each command (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This device's `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Runs `shoplist --data-dir D --cloud C --json ARGS...`.
    pub fn run(&self, args: &[&str]) -> CliOutput {
        let mut command = Command::new(binary(CLI_BIN));
        command
            .env_remove("SHOPLIST_DATA_DIR")
            .env_remove("SHOPLIST_CLOUD")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--cloud", &self.cloud, "--json"])
            .args(args);
        let out = run_with_timeout(command, self.timeout);
        CliOutput {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: out.code,
            json: serde_json::from_str(out.stdout.trim()).ok(),
            stdout: out.stdout,
            stderr: out.stderr,
            timed_out: out.timed_out,
        }
    }

    /// Starts `shoplist ... --json sync --watch` for this device; returns the
    /// process (SIGKILLed and reaped on drop) and its stdout / stderr lines.
    pub fn spawn_watcher(&self) -> Watcher {
        let mut child = Command::new(binary(CLI_BIN))
            .env_remove("SHOPLIST_DATA_DIR")
            .env_remove("SHOPLIST_CLOUD")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--cloud", &self.cloud, "--json", "sync", "--watch"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the watcher: {e}"));
        let stdout = lines_of(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
        let stderr = lines_of(child.stderr.take().unwrap_or_else(|| panic!("no stderr")));
        Watcher {
            process: ChildGuard(child),
            stdout,
            stderr,
        }
    }

    /// `new NAME`.
    pub fn new_list(&self, name: &str) -> NewList {
        self.run(&["new", name]).expect()
    }

    /// `show LIST`.
    pub fn show(&self, list: &str) -> ShownList {
        self.run(&["show", list]).expect()
    }

    /// `ls`.
    pub fn ls(&self) -> Vec<LsRow> {
        self.run(&["ls"]).expect()
    }

    /// `status [LIST]`.
    pub fn status(&self, list: Option<&str>) -> Vec<StatusRow> {
        let mut args = vec!["status"];
        args.extend(list);
        self.run(&args).expect()
    }

    /// `add LIST ITEM [-n QTY]`.
    pub fn add(&self, list: &str, item: &str, qty: Option<u64>) -> CliOutput {
        self.edit("add", list, item, qty)
    }

    /// `buy LIST ITEM [-n QTY]`.
    pub fn buy(&self, list: &str, item: &str, qty: Option<u64>) -> CliOutput {
        self.edit("buy", list, item, qty)
    }

    /// `rm LIST ITEM`.
    pub fn rm(&self, list: &str, item: &str) -> CliOutput {
        self.run(&["rm", list, item])
    }

    /// `rename LIST NAME`.
    pub fn rename(&self, list: &str, name: &str) -> CliOutput {
        self.run(&["rename", list, name])
    }

    /// `join URL`.
    pub fn join(&self, url: &str) -> CliOutput {
        self.run(&["join", url])
    }

    /// `sync [LIST...]` (exit code 2 when the cloud is unreachable).
    pub fn sync(&self, lists: &[&str]) -> CliOutput {
        let mut args = vec!["sync"];
        args.extend_from_slice(lists);
        self.run(&args)
    }

    /// `log LIST`.
    pub fn log(&self, list: &str) -> CliOutput {
        self.run(&["log", list])
    }

    fn edit(&self, verb: &str, list: &str, item: &str, qty: Option<u64>) -> CliOutput {
        let qty = qty.map(|q| q.to_string());
        let mut args = vec![verb, list, item];
        if let Some(qty) = &qty {
            args.extend(["-n", qty]);
        }
        self.run(&args)
    }
}

/// A running `sync --watch` of one device (see [`Client::spawn_watcher`]).
#[derive(Debug)]
pub struct Watcher {
    /// The process; dropping it SIGKILLs and reaps it.
    pub process: ChildGuard,
    /// Its stdout, line by line (JSON events of applied updates).
    pub stdout: Receiver<String>,
    /// Its stderr, line by line (online/offline/pushed events).
    pub stderr: Receiver<String>,
}
