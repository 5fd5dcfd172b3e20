//! Issue 9 §6, deadlines that fit together (PROTOCOL §8.1): the client
//! waits longer than the proxy, so when a list's replicas are too slow the
//! user hears the proxy's verdict, "k of W replicas answered" (exit 2), not
//! "cloud unreachable"; and a watcher treats such a verdict as one list's
//! problem, not as the cloud going offline (no resubscribe, no resync of
//! every list).
//!
//! Slow replicas are real worker processes stopped with SIGSTOP: connected,
//! silent, exactly what a hung or overloaded replica looks like.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use shoplist_tests::{Client, Cluster, ClusterOptions};

/// Three workers, so every list lives on all of them (N=3); two stopped, so
/// W=2 cannot be reached.
#[test]
fn a_quorum_of_stopped_replicas_is_reported_as_k_of_w_with_exit_2() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let device = Client::new(&cluster);
    let list = device.new_list("Slow quorum").id;
    assert!(device.sync(&[&list]).success());
    cluster.stop_worker(0);
    cluster.stop_worker(1);
    assert!(device.add(&list, "milk", Some(1)).success());
    let out = device.sync(&[&list]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("of 2 replicas answered"),
        "the proxy's verdict reaches the user: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("cannot reach"),
        "a reachable proxy is not reported unreachable: {}",
        out.stderr
    );
    // The edit is kept and goes out once the replicas run again.
    cluster.cont_worker(0);
    cluster.cont_worker(1);
    cluster.wait_ready();
    let out = device.sync(&[&list]);
    assert!(out.success(), "{out:?}");
    assert_eq!(device.status(Some(&list))[0].pending, 0);
}

/// Reads `rx` until a line contains `needle` (bounded by `timeout`) and
/// returns every line read, the matching one last.
fn lines_until(rx: &Receiver<String>, needle: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no line with {needle:?} in {timeout:?} ({e}); saw {seen:#?}"),
        }
    }
}

#[test]
fn a_watcher_reports_an_unavailable_list_without_going_offline() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let device = Client::new(&cluster);
    let list = device.new_list("Watched").id;
    assert!(device.sync(&[&list]).success());
    let watcher = device.spawn_watcher();
    let bound = Duration::from_secs(20);
    lines_until(&watcher.stderr, r#""event":"online""#, bound);
    cluster.stop_worker(0);
    cluster.stop_worker(1);
    assert!(device.add(&list, "eggs", Some(1)).success());
    let seen = lines_until(&watcher.stderr, r#""event":"unavailable""#, bound);
    let verdict = seen.last().cloned().unwrap_or_default();
    assert!(verdict.contains("of 2 replicas answered"), "{verdict}");
    assert!(
        !seen.iter().any(|l| l.contains(r#""event":"offline""#)),
        "a quorum failure is not the cloud going offline: {seen:#?}"
    );
    cluster.cont_worker(0);
    cluster.cont_worker(1);
    cluster.wait_ready();
    // The list is retried on its own; the watcher never went offline, so
    // it did not resubscribe and resync every list.
    let seen = lines_until(&watcher.stderr, r#""event":"pushed""#, bound);
    assert!(
        !seen
            .iter()
            .any(|l| l.contains(r#""event":"offline""#) || l.contains(r#""event":"online""#)),
        "{seen:#?}"
    );
    assert_eq!(device.status(Some(&list))[0].pending, 0);
}
