//! One long-running child process (a proxy or a worker).
//!
//! A [`Service`] is described once ([`ServiceSpec`]) and can be spawned,
//! signalled and spawned again with the same command line and the same log
//! file. Signals go to the pid of a child that has not been reaped yet, so
//! the pid cannot have been reused. Dropping a service SIGKILLs and reaps
//! its process, so a failing test or a crashed bench leaves nothing behind;
//! on Linux the child also gets `PR_SET_PDEATHSIG`, which covers a
//! `kill -9` of the parent.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::wait::POLL;
use crate::LaunchError;

/// Where a service's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Appended to this file (every run of the service, one file).
    File(PathBuf),
    /// The launcher's own stdout and stderr (`shoplist-cloud up`).
    Inherit,
}

/// How to run a service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The name in messages (`proxy`, `w0`, `worker-1`, ...).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments. Never a secret: secrets travel in `env` as file paths.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Where its output goes.
    pub output: Output,
    /// The signal the child gets when the thread that spawned it dies
    /// (Linux `PR_SET_PDEATHSIG`), e.g. `libc::SIGKILL`; 0 for none.
    pub parent_death_signal: i32,
}

/// A spawned-or-not child process. See the module docs.
#[derive(Debug)]
pub struct Service {
    spec: ServiceSpec,
    child: Option<Child>,
}

impl Service {
    /// Describes a service; nothing runs until [`Service::spawn`].
    pub fn new(spec: ServiceSpec) -> Self {
        Self { spec, child: None }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its log file, if its output goes to one.
    pub fn log(&self) -> Option<&Path> {
        match &self.spec.output {
            Output::File(path) => Some(path),
            Output::Inherit => None,
        }
    }

    /// Its current arguments.
    pub fn args(&self) -> &[String] {
        &self.spec.args
    }

    /// Replaces the arguments used by the next [`Service::spawn`] (a proxy
    /// first started on port 0 is restarted on the ports it reported).
    pub fn set_args(&mut self, args: Vec<String>) {
        self.spec.args = args;
    }

    /// The pid of the running process, if one was started and not reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Replaces the executable (for the next start).
    pub fn set_program(&mut self, program: PathBuf) {
        self.spec.program = program;
    }

    /// Starts the process. Fails if it is already running or cannot start.
    pub fn spawn(&mut self) -> Result<(), LaunchError> {
        let running = self.is_running();
        let spawn_error = |source| LaunchError::Spawn {
            name: self.spec.name.clone(),
            command: format!(
                "{} {}",
                self.spec.program.display(),
                self.spec.args.join(" ")
            ),
            source,
        };
        if running {
            return Err(spawn_error(std::io::Error::other("it is already running")));
        }
        let mut command = Command::new(&self.spec.program);
        command
            .args(&self.spec.args)
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Output::File(path) = &self.spec.output {
            let io = |source| LaunchError::Io {
                path: path.display().to_string(),
                source,
            };
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(io)?;
            let stderr = log.try_clone().map_err(io)?;
            command.stdout(log).stderr(stderr);
        }
        set_parent_death_signal(&mut command, self.spec.parent_death_signal);
        let child = command.spawn().map_err(spawn_error)?;
        self.child = Some(child);
        Ok(())
    }

    /// `Some(status)` if the process was started and has exited by itself
    /// (it is then reaped and forgotten), `None` if it runs or never started.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Whether the process is running now (a stopped process is running).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILL by pid, then reap. No-op if not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGKILL);
            // Reap, so no zombie outlives the launcher.
            let _ = child.wait();
        }
    }

    /// SIGSTOP by pid: the process stays, silent (a hung replica).
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGSTOP);
        }
    }

    /// SIGCONT by pid: a stopped process runs on.
    pub fn cont(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGCONT);
        }
    }

    /// Sends SIGTERM (and SIGCONT, so a stopped process can act on it)
    /// without waiting; see [`Service::reap_or_kill`].
    pub fn terminate(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGTERM);
            signal(pid, libc::SIGCONT);
        }
    }

    /// Waits until `deadline` for the process to exit (after
    /// [`Service::terminate`]); SIGKILLs it if it is still there. Returns
    /// whether it exited by itself.
    pub fn reap_or_kill(&mut self, deadline: Instant) -> bool {
        while self.is_running() {
            if Instant::now() >= deadline {
                self.kill();
                return false;
            }
            std::thread::sleep(POLL.min(Duration::from_millis(10)));
        }
        self.child = None;
        true
    }

    /// The last `lines` lines of the log (empty without a log file).
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Some(Ok(mut file)) = self.log().map(File::open) {
            let _ = file.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A stopped child dies of SIGKILL too.
        self.kill();
    }
}

/// Sends `sig` to `pid` (a child not yet reaped).
pub fn signal(pid: u32, sig: i32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is that of
    // a child we have not reaped yet, so it cannot have been reused.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// SIGKILL by pid.
pub fn sigkill(pid: u32) {
    signal(pid, libc::SIGKILL);
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(command: &mut Command, sig: i32) {
    use std::os::unix::process::CommandExt;
    if sig == 0 {
        return;
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child
    // between fork and exec.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut Command, _sig: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path) -> Service {
        Service::new(ServiceSpec {
            name: "sleeper".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "echo started; exec sleep 30".into()],
            env: vec![],
            output: Output::File(dir.join("sleeper.log")),
            parent_death_signal: libc::SIGKILL,
        })
    }

    /// The process's state letter in /proc (`T` when stopped).
    fn state(pid: u32) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        after.trim_start().chars().next().unwrap()
    }

    fn wait_state(pid: u32, want: char) {
        crate::poll_until("the process state", Duration::from_secs(5), || {
            let now = state(pid);
            Ok(if now == want {
                crate::Poll::Ready(())
            } else {
                crate::Poll::NotYet(format!("state {now}"))
            })
        })
        .unwrap();
    }

    #[test]
    fn kill_stop_cont_and_respawn_act_on_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sleeper(dir.path());
        s.spawn().unwrap();
        assert!(s.spawn().is_err(), "a running service is not spawned twice");
        let pid = s.pid().unwrap();
        s.stop();
        wait_state(pid, 'T');
        assert!(s.is_running());
        s.cont();
        wait_state(pid, 'S');
        s.kill();
        assert!(!s.is_running() && s.pid().is_none());
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || state(pid) == 'Z');
        s.spawn().unwrap();
        assert_ne!(s.pid(), Some(pid));
        crate::poll_until("two runs in the log", Duration::from_secs(5), || {
            let log = s.log_tail(10);
            Ok(if log.matches("started").count() == 2 {
                crate::Poll::Ready(())
            } else {
                crate::Poll::NotYet(log)
            })
        })
        .unwrap();
        s.terminate();
        assert!(s.reap_or_kill(Instant::now() + Duration::from_secs(5)));
    }

    #[test]
    fn dropping_a_service_kills_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sleeper(dir.path());
        s.spawn().unwrap();
        let pid = s.pid().unwrap();
        s.stop();
        drop(s);
        // Reaped by the drop: the pid is gone, not a zombie.
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
