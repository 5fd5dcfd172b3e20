//! Issue 11 deliverable 4, fresh open without replaying history, across
//! real processes: a list long enough for the replicas to compact it is
//! joined by a fresh `shoplist` device, which gets the replicas' snapshot
//! (PROTOCOL §4.2.1) through the proxy and stores it through the guarded
//! loader — its store then holds the snapshot's changes as rows without
//! bytes and without their own signatures, which only a fresh open writes
//! — and afterwards edits and syncs like any device.
//!
//! The author is this test driving the client library (`sync_list` over
//! `SyncClient`, the code `shoplist sync` runs) so that its 1,200 edits take
//! seconds, not 1,200 process starts.

use std::time::Duration;

use engine::list::EditContext;
use engine::store::{Store, StoreOptions};
use shoplist_cli::sync::sync_list;
use shoplist_cli::sync_client::{ClientConfig, SyncClient};
use shoplist_tests::{wait_until, Client, Cluster, ClusterOptions};

/// Edits of the author: more than a worker's `compact_after` (1,000).
const EDITS: usize = 1_200;

fn count(db: &std::path::Path, sql: &str) -> Result<i64, String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())?;
    conn.query_row(sql, [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

#[test]
fn a_fresh_device_joins_a_long_list_from_the_replicas_snapshot() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let opts = StoreOptions {
        synchronous_full: false,
        ..StoreOptions::default()
    };
    let mut author = Store::open_with(dir.path().join("author.db"), opts)
        .unwrap_or_else(|e| panic!("store: {e}"));
    let ctx = EditContext::now("author");
    let list = author
        .create_list("Long party list", &ctx)
        .unwrap_or_else(|e| panic!("create: {e}"));
    for i in 0..EDITS {
        author
            .edit(list, |l| l.add_item(&format!("item {i}"), 1, &ctx))
            .unwrap_or_else(|e| panic!("edit: {e}"));
    }
    let _guard = rt.enter();
    let (client, _events) = SyncClient::start(ClientConfig::new(cluster.frontends()));
    let report = rt
        .block_on(sync_list(&client, &mut author, list))
        .unwrap_or_else(|e| panic!("author sync: {e}"));
    assert_eq!(report.pending, 0);

    // Every replica compacts the list in the background; wait until each
    // has written its snapshot.
    for w in 0..cluster.worker_count() {
        let db = cluster.worker_db(w);
        wait_until(
            "a replica's snapshot",
            Duration::from_secs(30),
            || match count(&db, "SELECT COUNT(*) FROM lists WHERE snapshot IS NOT NULL") {
                Ok(n) if n > 0 => Ok(()),
                Ok(_) => Err("no snapshot yet".into()),
                Err(e) => Err(e),
            },
        );
    }

    let fresh = Client::new(&cluster);
    let url = format!("shoplist://list/{list}");
    let joined = fresh.join(&url);
    assert!(joined.success(), "join: {joined:?}");
    let db = fresh.data_dir().join("shoplist.db");
    let rows = count(&db, "SELECT COUNT(*) FROM changes").unwrap_or_else(|e| panic!("{e}"));
    let from_snapshot = count(
        &db,
        "SELECT COUNT(*) FROM changes WHERE bytes IS NULL AND length(sig) = 0",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows, EDITS as i64 + 1, "every change is indexed");
    assert!(
        from_snapshot >= 1_000,
        "the compacted changes came in the snapshot, not one by one: {from_snapshot} of {rows}"
    );
    let shown = fresh.show(&list.to_string());
    assert_eq!(shown.items.len(), EDITS);

    // The device edits on from the snapshot, and the author receives it.
    let added = fresh.add(&list.to_string(), "cake", Some(1));
    assert!(added.success(), "add: {added:?}");
    let synced = fresh.sync(&[&list.to_string()]);
    assert!(synced.success(), "sync: {synced:?}");
    rt.block_on(sync_list(&client, &mut author, list))
        .unwrap_or_else(|e| panic!("author sync: {e}"));
    let view = author.view(list).unwrap_or_else(|e| panic!("view: {e}"));
    assert!(
        view.items.iter().any(|i| i.name == "cake"),
        "the author sees the fresh device's edit"
    );
    assert_eq!(view.items.len(), EDITS + 1);
}
