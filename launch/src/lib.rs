//! # shoplist-launch
//!
//! The one place that starts a shoplist cluster's processes: `shoplist-cloud
//! up`, the multi-process tests (`shoplist-tests`) and the benchmark
//! (`shoplist-bench`) all launch proxies and workers through it (issue 9,
//! deliverable 8). It knows command lines, environment, log files, ready
//! files and signals; it does not know the wire protocol (callers check
//! worker liveness their own way) and depends on no other shoplist crate.
//!
//! ## Layout
//!
//! - [`service`]: one child process: spawned with its environment (the
//!   cluster secret travels as a file path in the environment, never on the
//!   command line), output to a log file or inherited, `PR_SET_PDEATHSIG`;
//!   SIGKILL / SIGSTOP / SIGCONT / SIGTERM by pid; killed and reaped on drop.
//! - [`ready`]: the proxy's ready file (`--ready-file`): the endpoints it
//!   really listens on, written atomically, so proxies bind port 0 and no
//!   port is ever guessed in advance.
//! - [`wait`]: bounded polling for conditions that have no event to await
//!   (a file appearing in another process).
//! - [`cluster`]: [`ClusterProcesses`]: P proxies (on port 0 or on
//!   consecutive fixed ports) and workers connected to all of them; kill,
//!   restart on the same ports, stop and continue any of them.

pub mod cluster;
pub mod ready;
pub mod service;
pub mod wait;

pub use cluster::{ClusterProcesses, ClusterSpec, Ports};
pub use ready::{read_ready_file, write_ready_file, ReadyEndpoints};
pub use service::{Output, Service, ServiceSpec};
pub use wait::{poll_until, Poll, POLL};

/// Why launching or waiting failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A process could not be started.
    #[error("cannot start {name} ({command}): {source}")]
    Spawn {
        /// The service's name.
        name: String,
        /// Its command line (no secrets are ever on it).
        command: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A file the launcher needs could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A process that should be running has exited.
    #[error("{0}")]
    Exited(String),
    /// A condition did not hold in time.
    #[error("timed out after {timeout:?} waiting for {what}: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: std::time::Duration,
        /// Why it did not hold at the last check.
        last: String,
    },
    /// A restarted proxy did not come back on its old ports.
    #[error("{name} came back on {got:?}, not on {want:?}")]
    Moved {
        /// The proxy.
        name: String,
        /// The endpoints it had.
        want: ReadyEndpoints,
        /// The endpoints it reported.
        got: ReadyEndpoints,
    },
    /// A ready file or port setting makes no sense.
    #[error("{0}")]
    Invalid(String),
}
