//! Fault tests against a real cluster (DESIGN §8, Dynamo §4.6 sloppy quorum):
//! SIGKILL one replica at a time, two replicas, and the proxy, during a
//! stream of edits; every acknowledged edit survives, the cluster and the
//! clients recover without restarting the clients, and all converge.

use std::time::Duration;

use serde_json::Value;
use shoplist_tests::lines::expect_line;
use shoplist_tests::{wait_until, Client, Cluster, ClusterOptions};

fn ok(out: shoplist_tests::CliOutput) -> Value {
    assert!(out.success(), "command failed: {out:?}");
    out.expect_json()
}

fn needed(c: &Client, list: &str, item: &str) -> Option<i64> {
    c.show(list)
        .items
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(item))
        .map(|i| i.needed)
}

/// Issue 3: with any one worker killed by SIGKILL, sync keeps working. Each
/// of the list's three replicas is killed in turn (and restarted after),
/// while a client keeps editing and syncing; every sync succeeds at once.
#[test]
fn sync_keeps_working_with_any_one_replica_killed() {
    let mut cluster = Cluster::start(5, ClusterOptions::default());
    let a = Client::new(&cluster);
    let created = a.new_list("Resilient");
    let l = created.id.as_str();
    ok(a.sync(&[l]));
    let replicas = cluster.where_(l);
    assert_eq!(replicas.len(), 3);
    for (round, victim) in replicas.iter().enumerate() {
        let i: usize = victim
            .trim_start_matches('w')
            .parse()
            .unwrap_or_else(|e| panic!("worker id {victim}: {e}"));
        cluster.kill_worker(i);
        ok(a.add(l, &format!("item{round}"), Some(1)));
        // No waiting for the proxy to notice: W=2 of the other replicas suffice.
        let out = ok(a.sync(&[l]));
        assert_eq!(out[0]["pending"], 0, "round {round}: {out}");
        cluster.restart_worker(i);
    }
    // A fresh device sees every edit.
    let b = Client::new(&cluster);
    ok(b.join(&created.url));
    for round in 0..3 {
        assert_eq!(needed(&b, l, &format!("item{round}")), Some(1));
    }
}

/// DESIGN §8: kill -9 one worker, then two, then the proxy, during a stream
/// of edits. Syncs that were acknowledged (exit 0) are never lost; syncs
/// refused for want of a quorum (exit 2) keep the edits locally and deliver
/// them after recovery; a `sync --watch` client started before the proxy
/// died keeps receiving edits afterwards without being restarted.
#[test]
fn acknowledged_edits_survive_worker_and_proxy_kills() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let a = Client::new(&cluster);
    let b = Client::new(&cluster);
    let created = a.new_list("Stream");
    let l = created.id.as_str();
    ok(a.sync(&[l]));
    ok(b.join(&created.url));

    let watcher = b.spawn_watcher();

    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let mut edit = |n: usize, expect_ok: Option<bool>| {
        let item = format!("e{n}");
        ok(a.add(l, &item, Some(1)));
        let s = a.sync(&[l]);
        match (s.code, expect_ok) {
            (Some(0), None | Some(true)) => acknowledged.push(item),
            (Some(2), None | Some(false)) => refused.push(item),
            (code, _) => panic!("edit {n}: sync exit {code:?}, expected {expect_ok:?}: {s:?}"),
        }
    };
    for n in 0..3 {
        edit(n, Some(true));
    }
    cluster.kill_worker(0);
    for n in 3..6 {
        edit(n, Some(true)); // 2 of 3 replicas: W=2 still reachable
    }
    cluster.kill_worker(1);
    for n in 6..8 {
        edit(n, Some(false)); // 1 of 3: no quorum, exit 2, edits stay local
    }
    cluster.kill_proxy();
    edit(8, Some(false));
    cluster.restart_proxy();
    cluster.restart_worker(0);
    cluster.restart_worker(1);
    wait_until(
        "all workers live",
        Duration::from_secs(20),
        || match cluster.alive_workers()?.len() {
            3 => Ok(()),
            n => Err(format!("{n} live")),
        },
    );
    // The refused edits go out on the next sync.
    let s = ok(a.sync(&[l]));
    assert_eq!(s[0]["pending"], 0, "{s}");

    // The watcher, never restarted, applies a new edit pushed after recovery.
    ok(a.add(l, "after-recovery", Some(1)));
    ok(a.sync(&[l]));
    expect_line(&watcher.stdout, "\"received\"", Duration::from_secs(15));
    wait_until(
        "the watcher to have the edit",
        Duration::from_secs(15),
        || {
            needed(&b, l, "after-recovery")
                .map(|_| ())
                .ok_or_else(|| "not yet".to_string())
        },
    );
    drop(watcher);

    // Every edit, acknowledged or refused-then-resent, is on a fresh device.
    assert_eq!(acknowledged.len(), 6);
    assert_eq!(refused.len(), 3);
    let c = Client::new(&cluster);
    ok(c.join(&created.url));
    for item in acknowledged.iter().chain(&refused) {
        assert_eq!(needed(&c, l, item), Some(1), "{item} lost");
    }
    assert_eq!(c.show(l).items.len(), 10);
}
