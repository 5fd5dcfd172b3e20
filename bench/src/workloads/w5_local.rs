//! W5 local (DESIGN §9): latency of one local edit including its durable
//! commit, in-process: [`Store::edit`] with the default options
//! (`synchronous=FULL`, compaction every 1000 changes), no network; the
//! same edits without fsync are reported beside it.

use std::time::{Duration, Instant};

use anyhow::Context;
use engine::list::EditContext;
use engine::store::{Store, StoreOptions};
use serde_json::{json, Value};

use super::Env;
use crate::device::on_thread;
use crate::stats::Summary;

/// Distinct item names the edits cycle through (adds, then increments).
const NAMES: usize = 100;

/// `edits` timed edits on a new list of `store`.
fn edit_latencies(store: &mut Store, edits: usize) -> anyhow::Result<Vec<Duration>> {
    let list = store.create_list("W5", &EditContext::now("w5"))?;
    let mut lat = Vec::with_capacity(edits);
    for i in 0..edits {
        let name = format!("item {}", i % NAMES);
        let ctx = EditContext::now("w5");
        let t = Instant::now();
        store.edit(list, |l| l.add_item(&name, 1, &ctx))?;
        lat.push(t.elapsed());
    }
    Ok(lat)
}

/// Run W5.
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let edits = env.args.w5_edits;
    on_thread("w5", move || async move {
        let dir = tempfile::Builder::new()
            .prefix("shoplist-bench-w5-")
            .tempdir()
            .context("cannot create a temp dir")?;
        let mut store = Store::open_with(dir.path().join("shoplist.db"), StoreOptions::default())?;
        let s = Summary::of(&edit_latencies(&mut store, edits)?);
        // The same without fsync (synchronous=NORMAL): what the commit's
        // fsync adds is the difference.
        let mut nosync = Store::open_with(
            dir.path().join("nosync.db"),
            StoreOptions {
                synchronous_full: false,
                ..StoreOptions::default()
            },
        )?;
        let ns = Summary::of(&edit_latencies(&mut nosync, edits)?);
        Ok(json!({
            "edits": edits,
            "edit_p50_ms": s.p50,
            "edit_p99_ms": s.p99,
            "edit_max_ms": s.max,
            "edit_mean_ms": s.mean,
            "synchronous_full": StoreOptions::default().synchronous_full,
            "edit_nosync_p50_ms": ns.p50,
            "edit_nosync_p99_ms": ns.p99,
            "target": "edit_p50_ms <= 0.5",
            "meets_target": s.p50 <= 0.5,
        }))
    })
    .await
}
