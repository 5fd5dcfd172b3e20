//! The workloads of DESIGN §9, one module each. Every workload returns the
//! JSON fields of its result line; `main` adds the common ones (`workload`,
//! `cores`, `n`, `w`, `r`, ...).

pub mod ae_heal;
pub mod compaction;
pub mod transport;
pub mod w1_live;
pub mod w1_propagation;
pub mod w2_many_lists;
pub mod w3_long_history;
pub mod w4_scale;
pub mod w5_local;
pub mod w6_devices;
pub mod w6_plan;

use std::time::Instant;

use anyhow::bail;
use tokio::sync::Barrier;

use crate::args::Args;

/// What every workload needs.
#[derive(Debug, Clone)]
pub struct Env {
    /// The effective arguments (after `--quick`).
    pub args: Args,
    /// The cluster's client endpoint (empty for in-process workloads).
    pub endpoint: String,
    /// The run's time origin: send times in item names count from here.
    pub epoch: Instant,
}

/// Wait at `barrier`, but not past `deadline` (a device that failed never
/// arrives).
pub async fn meet(barrier: &Barrier, deadline: Instant) -> anyhow::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, barrier.wait()).await {
        Ok(_) => Ok(()),
        Err(_) => bail!("a device did not reach the barrier in time"),
    }
}
