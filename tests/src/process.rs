//! Child processes for scenarios: long-running services with their output in
//! log files, killed with SIGKILL by pid; and short commands run to
//! completion under a deadline.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How often a deadline-bounded wait polls.
pub const POLL: Duration = Duration::from_millis(20);

/// A long-running child (proxy or worker) whose stdout and stderr append to
/// one log file. Restarting spawns the same command again, same log file.
#[derive(Debug)]
pub struct Service {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// Describes a service; nothing runs until [`Service::spawn`].
    pub fn new(
        name: impl Into<String>,
        program: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self {
            name: name.into(),
            program,
            args,
            env,
            log,
            child: None,
        }
    }

    /// The service's name, as used in messages (`proxy`, `w0`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log file (stdout and stderr, every run appended).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The pid of the running process, if one was started and not killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the process. Panics if it is already running or cannot start.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open log {}: {e}", self.log.display()));
        let stderr = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({} {}): {e}",
                self.name,
                self.program.display(),
                self.args.join(" ")
            )
        });
        self.child = Some(child);
    }

    /// `Some(status)` if the process was started and has exited by itself
    /// (it is then reaped and forgotten), `None` if it runs or never started.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Whether the process is running now.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGKILL to the pid and reaps the process. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            sigkill(child.id());
            // Reap, so no zombie outlives the test.
            let _ = child.wait();
        }
    }

    /// The last `lines` lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child started by a test (e.g. `shoplist sync --watch`), SIGKILLed by
/// pid and reaped when dropped, so a failing test leaves no process behind.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            sigkill(self.0.id());
        }
        let _ = self.0.wait();
    }
}

/// SIGKILL by pid (DESIGN §8: "kill -9 workers").
pub fn sigkill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is that of
    // a child we have not reaped yet, so it cannot have been reused.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The exit code; `None` if killed by a signal (or by the deadline).
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
    /// Whether the deadline passed and the command was killed.
    pub timed_out: bool,
}

/// Runs `command` to completion, killing it if it takes longer than
/// `timeout`. Stdout and stderr are captured.
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> CommandOutput {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                sigkill(child.id());
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(POLL),
            Err(_) => break child.wait().ok(),
        }
    };
    CommandOutput {
        code: status.and_then(|s| s.code()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        timed_out,
    }
}

/// Reads a pipe to its end on a thread (so a chatty child never blocks).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Polls `condition` every [`POLL`] until it returns `Some`, or panics with
/// `what` and the last failure description once `timeout` has passed.
/// `condition` returns `Err(why)` to say why it does not hold yet.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match condition() {
            Ok(value) => return value,
            Err(why) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {why}")
            }
            Err(_) => thread::sleep(POLL),
        }
    }
}
