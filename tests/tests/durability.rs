//! Issue 9, against real clusters: reads never miss an acknowledged edit
//! while homes crash and return; anti-entropy and hinted handoff bring every
//! home replica up to date with no client traffic (PROTOCOL §6.1, §7.3,
//! §7.4; Dynamo §4.6–4.7).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;
use shoplist_tests::{seeded_rng, wait_until, Client, Cluster, ClusterOptions};

fn worker_index(id: &str) -> usize {
    id.trim_start_matches('w')
        .parse()
        .unwrap_or_else(|e| panic!("worker id {id}: {e}"))
}

/// Items a fresh device sees after `join`.
fn seen_by_fresh_device(cluster: &Cluster, url: &str, list: &str) -> BTreeSet<String> {
    let fresh = Client::new(cluster);
    let out = fresh.join(url);
    assert!(out.success(), "join failed: {out:?}");
    fresh.show(list).items.into_iter().map(|i| i.name).collect()
}

/// Change rows of `list` in a worker's replica (read-only; the worker keeps
/// running: SQLite WAL lets a reader in).
fn change_rows(db: &Path, list: &str) -> Result<i64, String> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let id = uuid_bytes(list);
    conn.query_row(
        "SELECT COUNT(*) FROM changes WHERE list_id = ?1",
        [id],
        |r| r.get(0),
    )
    .map_err(|e| e.to_string())
}

fn uuid_bytes(list: &str) -> Vec<u8> {
    let id = engine::ListId::parse(list).unwrap_or_else(|e| panic!("{list}: {e}"));
    id.as_bytes().to_vec()
}

fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits");
    // SAFETY: kill(2) on a child process this test started.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Rounds of: SIGKILL one of the list's homes (seeded choice), edit and sync
/// (W = 2 of the other homes acknowledge), restart it. After every round a
/// fresh device joins and must see every acknowledged edit, although the
/// restarted home is stale and may be one of the two that answer.
#[test]
fn reads_never_miss_an_acknowledged_edit_while_homes_crash_and_return() {
    let mut rng = seeded_rng("reads_never_miss_an_acknowledged_edit");
    let mut cluster = Cluster::start(5, ClusterOptions::default());
    let a = Client::new(&cluster);
    let created = a.new_list("Durable");
    let l = created.id.as_str();
    assert!(a.sync(&[l]).success());
    let homes = cluster.where_(l);
    assert_eq!(homes.len(), 3);
    let mut acked: BTreeSet<String> = BTreeSet::new();
    for round in 0..4 {
        let victim = worker_index(&homes[rng.gen_range(0..homes.len())]);
        cluster.kill_worker(victim);
        for k in 0..3 {
            let item = format!("r{round}e{k}");
            assert!(a.add(l, &item, Some(1)).success());
            let s = a.sync(&[l]);
            if s.code == Some(0) {
                acked.insert(item);
            }
        }
        cluster.restart_worker(victim);
        cluster.wait_ready();
        let seen = seen_by_fresh_device(&cluster, &created.url, l);
        let missed: Vec<_> = acked.difference(&seen).collect();
        assert!(
            missed.is_empty(),
            "round {round}: a read missed acknowledged edits {missed:?}"
        );
    }
    assert!(
        acked.len() >= 10,
        "with one home down, writes are acknowledged: {acked:?}"
    );
}

/// The measurement: two of a list's three homes are killed. Writes
/// now reach one home and two stand-ins: stored, but not acknowledged
/// (exit 2, "1 of 2 replicas answered"), so no acknowledged edit can be
/// missed. After the homes return, handoff and anti-entropy copy the edits
/// home; the device's retry is acknowledged and a fresh device sees them.
#[test]
fn with_two_homes_down_writes_are_refused_not_lost() {
    let mut cluster = Cluster::start(5, ClusterOptions::default());
    let a = Client::new(&cluster);
    let created = a.new_list("Two down");
    let l = created.id.as_str();
    assert!(a.sync(&[l]).success());
    let homes = cluster.where_(l);
    let (x, y) = (worker_index(&homes[0]), worker_index(&homes[1]));
    cluster.kill_worker(x);
    cluster.kill_worker(y);
    wait_until(
        "the proxy to see both homes dead",
        Duration::from_secs(15),
        || {
            let status: Value = cluster.status()?;
            let dead = status["workers"].as_array().map_or(0, |ws| {
                ws.iter()
                    .filter(|w| {
                        (w["id"] == homes[0].as_str() || w["id"] == homes[1].as_str())
                            && w["alive"] == false
                    })
                    .count()
            });
            if dead == 2 {
                Ok(())
            } else {
                Err(format!("{status}"))
            }
        },
    );
    for k in 0..4 {
        assert!(a.add(l, &format!("e{k}"), Some(1)).success());
        let s = a.sync(&[l]);
        assert_eq!(s.code, Some(2), "refused, not acknowledged: {s:?}");
        assert!(
            s.stderr.contains("of 2 replicas answered"),
            "the user is told why: {}",
            s.stderr
        );
    }
    cluster.restart_worker(x);
    cluster.restart_worker(y);
    cluster.wait_ready();
    let s = a.sync(&[l]);
    assert!(s.success(), "{s:?}");
    let seen = seen_by_fresh_device(&cluster, &created.url, l);
    for k in 0..4 {
        assert!(
            seen.contains(&format!("e{k}")),
            "e{k} missing from {seen:?}"
        );
    }
}

/// A home frozen (SIGSTOP) long enough to be declared dead misses a stream
/// of edits; a stand-in stores them with hints. After SIGCONT, with no
/// client traffic at all, all three homes converge (hinted handoff and
/// anti-entropy), and the stand-in lets go of the list.
#[test]
fn homes_converge_without_client_traffic_after_a_heal() {
    let cluster = Cluster::start(4, ClusterOptions::default());
    let a = Client::new(&cluster);
    let created = a.new_list("Healing");
    let l = created.id.as_str();
    assert!(a.sync(&[l]).success());
    let homes = cluster.where_(l);
    let frozen = worker_index(&homes[2]);
    let pid = cluster.worker_pid(frozen).expect("worker runs");
    signal(pid, libc::SIGSTOP);
    wait_until(
        "the proxy to declare the frozen home dead",
        Duration::from_secs(15),
        || {
            let status: Value = cluster.status()?;
            let dead = status["workers"].as_array().is_some_and(|ws| {
                ws.iter()
                    .any(|w| w["id"] == homes[2].as_str() && w["alive"] == false)
            });
            if dead {
                Ok(())
            } else {
                Err(format!("{status}"))
            }
        },
    );
    for k in 0..20 {
        assert!(a.add(l, &format!("e{k}"), Some(1)).success());
        let s = a.sync(&[l]);
        assert!(s.success(), "two homes are live: {s:?}");
    }
    let stand_in = (0..cluster.worker_count())
        .find(|i| !homes.iter().any(|h| worker_index(h) == *i))
        .expect("a fourth worker");
    let live_rows = change_rows(&cluster.worker_db(worker_index(&homes[0])), l).expect("home db");
    assert!(
        change_rows(&cluster.worker_db(stand_in), l).expect("stand-in db") > 0,
        "the stand-in stored the writes"
    );
    let healed = Instant::now();
    signal(pid, libc::SIGCONT);
    // No client request from here on.
    wait_until(
        "all three homes to hold the same changes",
        Duration::from_secs(30),
        || {
            let rows: Vec<i64> = homes
                .iter()
                .map(|h| change_rows(&cluster.worker_db(worker_index(h)), l))
                .collect::<Result<_, _>>()?;
            if rows.iter().all(|r| *r == live_rows) {
                Ok(())
            } else {
                Err(format!("{rows:?} vs {live_rows}"))
            }
        },
    );
    let converged = healed.elapsed();
    wait_until(
        "the stand-in to let go of the list",
        Duration::from_secs(30),
        || match change_rows(&cluster.worker_db(stand_in), l)? {
            0 => Ok(()),
            n => Err(format!("{n} rows left")),
        },
    );
    println!(
        "homes converged {converged:?} after the heal; stand-in released after {:?}",
        healed.elapsed()
    );
}
