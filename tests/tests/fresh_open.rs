//! Issue 11 deliverable 4, fresh open without replaying history, across
//! real processes: a long list (right after its author pushed it) is
//! joined by a fresh `shoplist` device, which gets it from the replicas as
//! one document (PROTOCOL §4.2.1) through the proxy, stores it through the guarded
//! loader — its store then holds the list with `graph_rows = 0` and no
//! rows for the snapshot's changes, which only a fresh open writes — and
//! afterwards edits and syncs like any device.
//!
//! The author is this test driving the client library (`sync_list` over
//! `SyncClient`, the code `shoplist sync` runs) so that its 1,200 edits take
//! seconds, not 1,200 process starts.

use engine::list::EditContext;
use engine::store::{Store, StoreOptions};
use shoplist_cli::sync::sync_list;
use shoplist_cli::sync_client::{ClientConfig, SyncClient};
use shoplist_tests::{Client, Cluster, ClusterOptions};

/// Edits of the author: well above `MIN_SNAPSHOT_CHANGES` (256).
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

    let fresh = Client::new(&cluster);
    let url = format!("shoplist://list/{list}");
    let joined = fresh.join(&url);
    assert!(joined.success(), "join: {joined:?}");
    let db = fresh.data_dir().join("shoplist.db");
    let rows = count(&db, "SELECT COUNT(*) FROM changes").unwrap_or_else(|e| panic!("{e}"));
    let opened = count(&db, "SELECT COUNT(*) FROM lists WHERE graph_rows = 0")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        opened == 1 && rows < 1_000,
        "the compacted changes came in the snapshot, not one by one: {rows} change rows"
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
