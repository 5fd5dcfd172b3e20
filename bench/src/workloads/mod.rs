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

/// A new list named `name`, created and synced by a setup device of its own
/// (W1 and W1-serial share one list between all their devices).
pub async fn shared_list(endpoint: &str, name: &str) -> anyhow::Result<engine::ListId> {
    let (ep, name) = (endpoint.to_string(), name.to_string());
    crate::device::on_thread("setup", move || async move {
        let mut dev =
            crate::device::Device::open("setup", &ep, engine::store::StoreOptions::default())?;
        let list = dev.create_list(&name)?;
        dev.sync(list).await?;
        Ok(list)
    })
    .await
}
