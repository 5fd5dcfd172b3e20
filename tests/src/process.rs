//! Child processes for scenarios besides the cluster's (which the shared
//! launcher, `shoplist_launch`, starts): children killed with SIGKILL by pid
//! when dropped, and short commands run to completion under a deadline.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub use shoplist_launch::service::sigkill;
pub use shoplist_launch::POLL;

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
