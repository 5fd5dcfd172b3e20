//! W2 many lists (DESIGN §9): one device creates `--w2-lists` lists of
//! `--w2-items` items and syncs each; a second device opens each by URL
//! (a `join`: [`sync_list`](shoplist_cli::sync::sync_list) of a list its
//! store lacks, then the materialized list), one at a time; then, for each
//! `--w2-concurrency` above 1, a fresh device opens them all again with that
//! many opens in flight (as peers report it): the requests go out together
//! on one connection and each reply is applied to the device's store as it
//! arrives, through the same per-list planner ([`ListSync`]).

use std::collections::HashMap;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine::store::StoreOptions;
use serde_json::{json, Value};

use engine::ListId;
use shoplist_cli::sync::{ListSync, Next, Request};
use shoplist_cli::sync_client::{ClientError, SyncClient, SyncedReply};

use super::Env;
use crate::device::{on_thread, setup_store_options, Device};
use crate::progress::Progress;
use crate::stats::{rate, Summary};

/// Run W2.
pub async fn run(env: &Env) -> anyhow::Result<Value> {
    let lists = env.args.w2_lists;
    let items = env.args.w2_items;
    let concurrency = env.args.w2_concurrency.clone();
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
        let mut out = json!({
            "lists": lists,
            "items_per_list": items,
            "elapsed_s": elapsed.as_secs_f64(),
            "lists_per_s": per_s,
            "open_p50_ms": s.p50,
            "open_p99_ms": s.p99,
            "open_max_ms": s.max,
            "incomplete_lists": wrong,
        });
        let mut meets = per_s >= 1000.0 && s.p99 <= 5.0 && wrong == 0;
        let mut target = String::from("lists_per_s >= 1000, open_p99_ms <= 5");
        for &k in concurrency.iter().filter(|&&k| k > 1) {
            let mut dev = Device::open(&format!("reader-{k}"), &ep, StoreOptions::default())?;
            let bar = Progress::new(&format!("W2 open x{k}"), lists as u64);
            let (lat, elapsed) = open_in_flight(&mut dev, &ids, k, deadline, &bar).await?;
            bar.finish();
            let mut wrong = 0usize;
            for id in &ids {
                wrong += usize::from(dev.store.view(*id)?.items.len() != items);
            }
            let s = Summary::of(&lat);
            let per_s = rate(lists, elapsed);
            out[format!("in_flight_{k}_lists_per_s")] = json!(per_s);
            out[format!("in_flight_{k}_open_p50_ms")] = json!(s.p50);
            out[format!("in_flight_{k}_open_p99_ms")] = json!(s.p99);
            out[format!("in_flight_{k}_incomplete_lists")] = json!(wrong);
            meets &= per_s >= 3000.0 && wrong == 0;
            target.push_str(&format!(", in_flight_{k}_lists_per_s >= 3000"));
        }
        out["target"] = json!(target);
        out["meets_target"] = json!(meets);
        Ok(out)
    })
    .await
}

/// One `sync` round trip of `list`, as a task of its own.
fn launch(
    tasks: &mut tokio::task::JoinSet<(ListId, Result<SyncedReply, ClientError>)>,
    client: &SyncClient,
    list: ListId,
    req: Request,
) {
    let client = client.clone();
    tasks.spawn(async move {
        let reply = req.send(&client, list).await;
        (list, reply)
    });
}

/// Open every list of `ids` on `dev` with up to `in_flight` opens
/// outstanding; each reply is applied (one store call) as it arrives.
/// Returns each open's latency and the wall time.
async fn open_in_flight(
    dev: &mut Device,
    ids: &[ListId],
    in_flight: usize,
    deadline: Instant,
    bar: &Progress,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut plans: HashMap<ListId, (ListSync, Instant)> = HashMap::new();
    let mut next = ids.iter();
    let mut lat = Vec::with_capacity(ids.len());
    let start = Instant::now();
    loop {
        while tasks.len() < in_flight.max(1) {
            let Some(&id) = next.next() else { break };
            let mut plan = ListSync::new(id);
            let req = plan.start(&mut dev.store)?;
            plans.insert(id, (plan, Instant::now()));
            launch(&mut tasks, &dev.client, id, req);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let joined = match tokio::time::timeout(left, tasks.join_next()).await {
            Ok(Some(joined)) => joined?,
            Ok(None) => break,
            Err(_) => bail!("W2 x{in_flight} ran out of time after {} lists", lat.len()),
        };
        let (list, reply) = joined;
        let reply = reply.context("W2 open by URL")?;
        let Some((plan, _)) = plans.get_mut(&list) else {
            bail!("a reply for a list not being opened");
        };
        match plan.on_reply(&mut dev.store, reply)? {
            Next::Send(req) => launch(&mut tasks, &dev.client, list, req),
            Next::Done(_) => {
                if let Some((_, t)) = plans.remove(&list) {
                    lat.push(t.elapsed());
                }
                bar.inc(1);
            }
        }
    }
    Ok((lat, start.elapsed()))
}
