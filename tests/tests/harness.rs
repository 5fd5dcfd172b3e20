//! The harness itself against the real binaries: a cluster starts, reports
//! its workers, and survives `kill -9` and restart of a worker and of the
//! proxy (DESIGN §6 membership: "a silent worker leaves the ring after a
//! timeout and comes back when it heartbeats again").

use std::time::Duration;

use shoplist_tests::cluster::worker_id;
use shoplist_tests::{wait_until, Cluster, ClusterOptions};

#[test]
fn killed_worker_leaves_and_restarted_processes_rejoin() {
    let mut cluster = Cluster::start(4, ClusterOptions::default());

    // Any list id has N = 3 distinct replicas among the live workers.
    let list = "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f";
    let replicas = cluster.where_(list);
    assert_eq!(replicas.len(), 3, "replicas {replicas:?}");

    cluster.kill_worker(0);
    wait_until("w0 to be seen dead", Duration::from_secs(20), || {
        let alive = cluster.alive_workers()?;
        match alive.contains(&worker_id(0)) {
            false => Ok(()),
            true => Err(format!("still alive: {alive:?}")),
        }
    });
    // A crashed worker stays a home (PROTOCOL §5.1): the list keeps its homes.
    assert_eq!(cluster.where_(list), replicas);

    cluster.restart_worker(0);
    cluster.kill_proxy();
    cluster.restart_proxy();
    assert_eq!(cluster.alive_workers().map(|a| a.len()), Ok(4));
}
