//! Live updates cross proxies (PROTOCOL §6, "Several proxies"): a device
//! watching through one proxy hears at once of a write made through the
//! other. Without it, a device that failed over (or is configured with
//! another first endpoint) watches in silence: `sync --watch` only resyncs
//! on a `notify` or a new connection.
//!
//! Two proxies, three workers; the writer knows only proxy 0, the watcher
//! only proxy 1. Each of several writes must reach the watcher's store
//! (its `received` event, then `show`) well before anything but a `notify`
//! would make it sync.

use std::time::{Duration, Instant};

use serde_json::Value;
use shoplist_tests::lines::expect_line;
use shoplist_tests::{Client, Cluster, ClusterOptions};

/// How long a write may take to reach the watcher. The watcher's only
/// other trigger, a lost subscription, does not happen here; 5 s is
/// generous for a push and still short of any periodic resync.
const PUSH_BOUND: Duration = Duration::from_secs(5);

#[test]
fn a_write_through_one_proxy_reaches_a_watcher_on_the_other() {
    let cluster = Cluster::start(
        3,
        ClusterOptions {
            proxies: 2,
            ..ClusterOptions::default()
        },
    );
    let writer = Client::with_cloud(cluster.frontend_of(0));
    let watching = Client::with_cloud(cluster.frontend_of(1));
    let list = writer.new_list("Across");
    assert!(writer.sync(&[&list.id]).success());
    assert!(watching.join(&list.url).success());

    let watcher = watching.spawn_watcher();
    expect_line(&watcher.stderr, "\"online\"", Duration::from_secs(10));
    for (i, item) in ["tea", "bread", "eggs"].into_iter().enumerate() {
        assert!(writer.add(&list.id, item, Some(i as u64 + 1)).success());
        let t = Instant::now();
        assert!(writer.sync(&[&list.id]).success());
        let line = expect_line(&watcher.stdout, "\"received\"", PUSH_BOUND);
        eprintln!(
            "{item}: received {:?} after the writer's sync began",
            t.elapsed()
        );
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event["id"], list.id.as_str(), "{line}");
        let shown = watching.show(&list.id);
        assert!(
            shown.items.iter().any(|it| it.name == item),
            "{item} not in the watcher's store: {shown:?}"
        );
    }
}
