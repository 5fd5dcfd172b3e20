//! The commands that talk to the cloud: `sync`, `sync --watch`, `join`,
//! and the two that also work offline but ask the cloud when they can:
//! `share` (syncs an unsynced list first, so the URL works for others) and
//! `status` (one read per list: does the cloud have edits this device
//! lacks?). Each runs a single-threaded tokio runtime for its duration.

use std::io::Write;
use std::time::Duration;

use engine::store::Store;
use engine::ListId;

use super::local::show_doc;
use super::{CliError, Ctx};
use crate::output::{ShareDoc, StatusDoc, StatusEntry, SyncDoc, SyncEntry};
use crate::sync::{sync_list, SyncError};
use crate::sync_client::{ClientConfig, SyncClient};
use crate::timefmt;
use crate::watch::{WatchEvent, WatchOptions, Watcher};

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("cannot start the async runtime: {e}")))
}

/// `sync [LIST...] [--watch]`.
pub fn sync(ctx: &mut Ctx, lists: &[String], watch: bool) -> Result<(), CliError> {
    let named = lists
        .iter()
        .map(|l| ctx.resolve(l))
        .collect::<Result<Vec<ListId>, _>>()?;
    if watch {
        return watch_forever(ctx, (!named.is_empty()).then_some(named));
    }
    let ids = if named.is_empty() {
        ctx.store.list_ids()?
    } else {
        named
    };
    let config = ClientConfig::new(ctx.cloud.clone());
    let store = &mut ctx.store;
    let reports = runtime()?.block_on(async move {
        let (client, _events) = SyncClient::start(config);
        let mut reports = Vec::with_capacity(ids.len());
        for id in ids {
            reports.push(sync_list(&client, store, id).await?);
        }
        Ok::<_, SyncError>(reports)
    })?;
    let mut out = Vec::with_capacity(reports.len());
    for r in reports {
        out.push(SyncEntry {
            id: r.list,
            name: ctx.store.view(r.list)?.name,
            sent: r.sent,
            received: r.received,
            pending: r.pending,
        });
    }
    ctx.emit(&SyncDoc(out))
}

/// `share LIST`: the URL, after pushing the list if the cloud lacks some of
/// it (a never-synced list's URL would not work for anyone else). Offline
/// it still prints the URL, and says when it will work.
pub fn share(ctx: &mut Ctx, list: &str) -> Result<(), CliError> {
    let id = ctx.resolve(list)?;
    if ctx.store.pending(id)? > 0 {
        let config = ClientConfig::new(ctx.cloud.clone());
        let store = &mut ctx.store;
        let synced = runtime()?.block_on(async move {
            let (client, _events) = SyncClient::start(config);
            sync_list(&client, store, id).await
        });
        match synced {
            Ok(_) => {}
            Err(e) if e.is_offline() => {
                let never = ctx.store.acked_heads(id)?.is_empty();
                ctx.warn(&if never {
                    "this list is not in the cloud yet (the cloud cannot be reached now); the URL works for others once it is synced: run `shoplist sync` when online".to_string()
                } else {
                    "the cloud cannot be reached now; others get the latest edits once you sync (`shoplist sync`)".to_string()
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    ctx.emit(&ShareDoc { id, url: id.url() })
}

/// `status [LIST]`: per list, what the cloud lacks (local, exact), when
/// it last answered a sync, and, if it answers now (one read per list, a
/// short budget, no changes sent or stored), what this device lacks.
pub fn status(ctx: &mut Ctx, list: Option<&str>) -> Result<(), CliError> {
    let ids = match list {
        Some(l) => vec![ctx.resolve(l)?],
        None => ctx.store.list_ids()?,
    };
    // Ask from the heads the cloud acknowledged (it knows them all), so the
    // reply holds exactly what the cloud has beyond them: others' edits.
    let mut asks = Vec::with_capacity(ids.len());
    for id in &ids {
        asks.push((*id, ctx.store.acked_heads(*id)?));
    }
    let mut config = ClientConfig::new(ctx.cloud.clone()).with_budget(Duration::from_millis(1200));
    config.request_timeout = Duration::from_millis(600);
    let replies: Vec<Option<(Vec<engine::ChangeHash>, usize)>> = runtime()?.block_on(async move {
        let (client, _events) = SyncClient::start(config);
        let mut out = Vec::with_capacity(asks.len());
        let mut reachable = true;
        for (id, have) in asks {
            if !reachable {
                out.push(None);
                continue;
            }
            match client.sync(id, &have, &[]).await {
                Ok(reply) => out.push(Some((reply.heads, reply.changes.len()))),
                Err(e) => {
                    reachable = !e.is_offline();
                    out.push(None);
                }
            }
        }
        out
    });
    let mut entries = Vec::with_capacity(ids.len());
    for (id, reply) in ids.into_iter().zip(replies) {
        let ahead = match reply {
            Some((heads, n)) => {
                let known = ctx
                    .store
                    .read(id, |_, g| heads.iter().all(|h| g.contains(h)))?;
                Some(if known { 0 } else { n })
            }
            None => None,
        };
        let seen = ctx.store.cloud_seen_at(id)?;
        entries.push(StatusEntry {
            id,
            name: ctx.store.view(id)?.name,
            pending: ctx.store.pending(id)?,
            last_synced_ms: seen,
            last_synced: seen.map(|ms| timefmt::format(ms, ctx.utc)),
            cloud: if ahead.is_some() {
                "reachable"
            } else {
                "unreachable"
            }
            .into(),
            cloud_ahead: ahead,
        });
    }
    ctx.emit(&StatusDoc(entries))
}

/// `join URL`: fetch a list from the cloud (or refresh it if already here).
pub fn join(ctx: &mut Ctx, url: &str) -> Result<(), CliError> {
    let id = ListId::parse(url).map_err(|e| CliError::Usage(e.to_string()))?;
    let config = ClientConfig::new(ctx.cloud.clone());
    let store = &mut ctx.store;
    runtime()?.block_on(async move {
        let (client, _events) = SyncClient::start(config);
        sync_list(&client, store, id).await
    })?;
    let doc = show_doc(ctx, id)?;
    ctx.emit(&doc)
}

/// Print a watch event: applied remote updates on stdout (one line, or one
/// JSON line with `--json`); connectivity and pushes on stderr.
fn print_event(json: bool, ev: &WatchEvent) {
    let line = if json {
        serde_json::to_string(ev).unwrap_or_default()
    } else {
        match ev {
            WatchEvent::Received { name, received, .. } => {
                format!("{name}: applied {received} change(s) from the cloud")
            }
            WatchEvent::Pushed { name, sent, .. } => format!("{name}: pushed {sent} change(s)"),
            WatchEvent::Online => "online: syncing live".into(),
            WatchEvent::Offline { reason } => {
                format!("offline ({reason}); edits stay local and go out on reconnect")
            }
            WatchEvent::Unavailable { id, message } => format!(
                "list {id}: the cloud did not reach its quorum ({message}); edits stay local and are retried"
            ),
            WatchEvent::Error { id, message } => format!("error: list {id}: {message}"),
            WatchEvent::StoreError { id: Some(id), message } => {
                format!("store error: list {id}: {message} (retrying)")
            }
            WatchEvent::StoreError { id: None, message } => {
                format!("store error: {message} (retrying)")
            }
        }
    };
    if matches!(ev, WatchEvent::Received { .. }) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    } else {
        eprintln!("{line}");
    }
}

/// The client settings of a long-running watcher (`sync --watch`, the
/// interactive mode): the same per-request deadline as every client (longer
/// than the proxy's, PROTOCOL §8.1), no retries beyond it (the watcher
/// retries on its own), and liveness probes even while idle, so a dead
/// proxy is left for the next one within [`crate::sync_client::LIVENESS`]
/// and the subscriptions move with it.
pub fn watch_client_config(cloud: Vec<String>) -> ClientConfig {
    let mut config = ClientConfig::new(cloud);
    config.budget = config.request_timeout + Duration::from_millis(500);
    config.probe_idle = true;
    config
}

fn watch_forever(ctx: &mut Ctx, only: Option<Vec<ListId>>) -> Result<(), CliError> {
    let store = Store::open(&ctx.db_path)?;
    let config = watch_client_config(ctx.cloud.clone());
    let json = ctx.json;
    runtime()?.block_on(async move {
        let (client, events) = SyncClient::start(config);
        let watcher = Watcher::new(
            crate::live::SharedStore::new(store),
            client,
            events,
            only,
            WatchOptions::default(),
        );
        watcher
            .run(|ev| print_event(json, &ev), shoplist_net::shutdown_signal())
            .await;
    });
    Ok(())
}
