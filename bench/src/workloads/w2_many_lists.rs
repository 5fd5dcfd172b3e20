//! W2 many lists (DESIGN §9): one device creates `--w2-lists` lists of
//! `--w2-items` items and syncs each; a second device opens each by URL
//! (a `join`: [`sync_list`](shoplist_cli::sync::sync_list) of a list its
//! store lacks, then the materialized list), one at a time.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine::store::StoreOptions;
use serde_json::{json, Value};

use super::Env;
use crate::device::{on_thread, setup_store_options, Device};
use crate::progress::Progress;
use crate::stats::{rate, Summary};

/// Run W2.
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let lists = env.args.w2_lists;
    let items = env.args.w2_items;
    let ep = env.endpoint.clone();
    let deadline = Instant::now() + Duration::from_secs(120 + lists as u64 / 5);
    on_thread("w2", move || async move {
        let mut author = Device::open("author", &ep, setup_store_options())?;
        let bar = Progress::new("W2 create", lists as u64);
        let mut ids = Vec::with_capacity(lists);
        for i in 0..lists {
            if Instant::now() >= deadline {
                bail!("W2 setup ran out of time after {i} lists");
            }
            let id = author.create_list(&format!("W2 list {i}"))?;
            for k in 0..items {
                author.add_item(id, &format!("item {k}"))?;
            }
            author.sync(id).await.context("W2 author sync")?;
            ids.push(id);
            bar.inc(1);
        }
        bar.finish();

        let mut reader = Device::open("reader", &ep, StoreOptions::default())?;
        let bar = Progress::new("W2 open", lists as u64);
        let mut lat = Vec::with_capacity(lists);
        let mut wrong = 0usize;
        let start = Instant::now();
        for id in &ids {
            if Instant::now() >= deadline {
                bail!("W2 ran out of time after opening {} lists", lat.len());
            }
            let t = Instant::now();
            reader.sync(*id).await.context("W2 open by URL")?;
            let view = reader.store.view(*id)?;
            lat.push(t.elapsed());
            if view.items.len() != items {
                wrong += 1;
            }
            bar.inc(1);
        }
        let elapsed = start.elapsed();
        bar.finish();
        let s = Summary::of(&lat);
        let per_s = rate(lists, elapsed);
        Ok(json!({
            "lists": lists,
            "items_per_list": items,
            "elapsed_s": elapsed.as_secs_f64(),
            "lists_per_s": per_s,
            "open_p50_ms": s.p50,
            "open_p99_ms": s.p99,
            "open_max_ms": s.max,
            "incomplete_lists": wrong,
            "target": "lists_per_s >= 1000, open_p99_ms <= 5",
            "meets_target": per_s >= 1000.0 && s.p99 <= 5.0 && wrong == 0,
        }))
    })
    .await
}
