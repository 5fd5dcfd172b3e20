//! Test harness for multi-process shoplist scenarios (DESIGN §8).
//!
//! The scenarios in `tests/tests/` run the real binaries as separate OS
//! processes on loopback, so they can `kill -9` any of them. They need the
//! workspace's binaries built: run them with `cargo nextest run --workspace`
//! or `cargo test --workspace`.
//!
//! Layout:
//! - [`bins`]: finding `shoplist-cloud` and `shoplist` next to the test
//!   executable;
//! - [`process`]: child guards (SIGKILL by pid on drop), commands under a
//!   deadline, bounded polling ([`wait_until`]);
//! - [`cluster`]: [`Cluster`], proxies and N workers, launched by the
//!   launcher `shoplist-cloud up` and the bench share (`shoplist_launch`);
//! - [`client`]: [`Client`], one device driving the CLI with `--json`;
//! - [`lines`]: a child's output line by line, with deadlines;
//! - [`seed`]: seeded randomness that prints its seed;
//! - [`procfs`]: a process's RSS, from `/proc`.
//!
//! Raw ZMTP bytes for transport attacks are `shoplist_net::zmtp`.

pub mod bins;
pub mod client;
pub mod cluster;
pub mod lines;
pub mod netns;
pub mod process;
pub mod procfs;
pub mod seed;

pub use client::{CliOutput, Client};
pub use cluster::{Cluster, ClusterOptions};
pub use process::wait_until;
pub use seed::seeded_rng;
