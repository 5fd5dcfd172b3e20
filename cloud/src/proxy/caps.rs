//! The frontend's connection caps (`--max-connections`, `--max-per-source`)
//! and how many connections the process's file descriptors allow.
//!
//! Every device running `sync --watch` or the TUI holds one connection, so
//! the defaults are sized for 10,000 live devices with headroom. The caps
//! keep the lockout protections of DESIGN §5: beyond either cap the guard
//! evicts the least recently active connection (of the same source address
//! first) rather than refusing the newcomer, so one address cannot take
//! more than [`Caps::max_per_source`] places.
//!
//! A guarded connection costs [`FDS_PER_CONNECTION`] descriptors in the
//! proxy; [`Caps::fds_needed`] is the descriptor limit the caps need (the
//! proxy asks `shoplist_net::fdlimit::raise_nofile` for it: 16,640 for the
//! defaults) and [`Caps::fd_capacity`] says how many connections fit under
//! a limit. Beyond it `accept` fails (EMFILE) and the guard backs off:
//! newcomers are refused, nobody is dropped, nothing crashes.

use clap::builder::TypedValueParser;

use crate::transport::guard::GuardConfig;

/// Default `--max-connections`: 10,000 devices and headroom.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Default `--max-per-source`: devices behind one NAT address.
pub const DEFAULT_MAX_PER_SOURCE: usize = 256;

/// Descriptors one client connection holds in the proxy: the accepted
/// socket. The guard hands it to the in-process hub over an in-memory pipe
/// (`transport::hub`); before, a loopback TCP connection to zeromq made it 3.
pub const FDS_PER_CONNECTION: u64 = 1;

/// Descriptors kept for everything else (listeners, workers, logs, SQLite).
pub const FD_RESERVE: u64 = 256;

/// The frontend's connection caps.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most client connections at once; a new one beyond this evicts the
    /// least recently active. Each costs 1 file descriptor: the proxy
    /// raises its RLIMIT_NOFILE to this + 256 at start (the hard limit too
    /// if run with CAP_SYS_RESOURCE) and warns if it cannot.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_connections: usize,
    /// Most client connections from one source IP address; a new one beyond
    /// this evicts that address's least recently active.
    #[arg(long, default_value_t = DEFAULT_MAX_PER_SOURCE, value_parser = clap::value_parser!(u32).range(1..).map(|v| v as usize))]
    pub max_per_source: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_per_source: DEFAULT_MAX_PER_SOURCE,
        }
    }
}

impl Caps {
    /// `guard` with these caps.
    pub fn apply(&self, guard: GuardConfig) -> GuardConfig {
        GuardConfig {
            max_connections: self.max_connections,
            max_per_source: self.max_per_source,
            ..guard
        }
    }

    /// The flags that give a child proxy these caps.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--max-connections".into(),
            self.max_connections.to_string(),
            "--max-per-source".into(),
            self.max_per_source.to_string(),
        ]
    }

    /// Connections that fit under a descriptor limit of `nofile`.
    pub fn fd_capacity(nofile: u64) -> u64 {
        nofile.saturating_sub(FD_RESERVE) / FDS_PER_CONNECTION
    }

    /// The descriptor limit these caps need: [`FDS_PER_CONNECTION`] per
    /// connection up to `max_connections`, plus [`FD_RESERVE`]. The inverse
    /// of [`Caps::fd_capacity`].
    pub fn fds_needed(&self) -> u64 {
        self.max_connections as u64 * FDS_PER_CONNECTION + FD_RESERVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        caps: Caps,
    }

    #[test]
    fn defaults_are_sized_for_ten_thousand_devices() {
        let caps = Cli::try_parse_from(["x"]).unwrap().caps;
        assert_eq!(caps, Caps::default());
        assert!(caps.max_connections >= 10_000);
        assert!(caps.max_per_source < caps.max_connections);
    }

    #[test]
    fn flags_set_the_guard_and_round_trip() {
        let caps = Cli::try_parse_from(["x", "--max-connections", "2000", "--max-per-source", "7"])
            .unwrap()
            .caps;
        let guard = caps.apply(GuardConfig::frontend());
        assert_eq!((guard.max_connections, guard.max_per_source), (2000, 7));
        assert_eq!(guard.max_frame, GuardConfig::frontend().max_frame);
        let mut argv = vec!["x".to_string()];
        argv.extend(caps.to_args());
        assert_eq!(Cli::try_parse_from(argv).unwrap().caps, caps);
    }

    #[test]
    fn zero_caps_are_refused() {
        assert!(Cli::try_parse_from(["x", "--max-connections", "0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--max-per-source", "0"]).is_err());
    }

    #[test]
    fn the_default_caps_fit_under_a_20_000_descriptor_limit() {
        let caps = Caps::default();
        assert_eq!(caps.fds_needed(), 16_384 + FD_RESERVE);
        assert!(Caps::fd_capacity(20_000) >= caps.max_connections as u64);
        assert_eq!(Caps::fd_capacity(caps.fds_needed()), 16_384);
        assert_eq!(Caps::fd_capacity(caps.fds_needed() - 1), 16_383);
    }

    #[test]
    fn fd_capacity_counts_one_per_connection() {
        assert_eq!(Caps::fd_capacity(1024), 1024 - FD_RESERVE);
        assert_eq!(Caps::fd_capacity(20_000), 19_744);
        assert_eq!(Caps::fd_capacity(10), 0);
    }
}
