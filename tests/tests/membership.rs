//! Issue 9 deliverable 4: membership changes move data. A new worker gets
//! the lists it now owns before it counts; a retired worker's lists are
//! copied to their new homes before it is `retired` (PROTOCOL §7.2).

use std::path::Path;
use std::time::Duration;

use shoplist_tests::{wait_until, Client, Cluster, ClusterOptions};

fn worker_index(id: &str) -> usize {
    id.trim_start_matches('w')
        .parse()
        .unwrap_or_else(|e| panic!("worker id {id}: {e}"))
}

/// Whether the worker's replica holds any change of `list`.
fn holds(db: &Path, list: &str) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    let id = engine::ListId::parse(list).unwrap_or_else(|e| panic!("{list}: {e}"));
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM changes WHERE list_id = ?1",
            [id.as_bytes().to_vec()],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    n > 0
}

/// Lists created on a 3-worker cluster, synced. Returns (ids, urls).
fn lists(cluster: &Cluster, n: usize) -> (Client, Vec<(String, String)>) {
    let a = Client::new(cluster);
    let mut out = Vec::new();
    for k in 0..n {
        let created = a.new_list(&format!("list {k}"));
        assert!(a.add(&created.id, &format!("item {k}"), Some(1)).success());
        let s = a.sync(&[&created.id]);
        assert!(s.success(), "{s:?}");
        out.push((created.id, created.url));
    }
    (a, out)
}

#[test]
fn a_new_worker_receives_the_lists_it_now_owns() {
    let mut cluster = Cluster::start(3, ClusterOptions::default());
    let (_a, made) = lists(&cluster, 24);
    // `add_worker` returns once the new worker is `ready`: every list it is
    // now a home of must already be in its replica.
    let new = cluster.add_worker();
    let mut owned = 0;
    for (id, _) in &made {
        let homes = cluster.where_(id);
        if homes.iter().any(|h| worker_index(h) == new) {
            owned += 1;
            assert!(
                holds(&cluster.worker_db(new), id),
                "w{new} is a home of {id} but lacks it"
            );
        }
    }
    assert!(owned > 0, "the new worker owns some of 24 lists");
    // And reads through the new placement see every edit.
    for (id, url) in &made {
        let fresh = Client::new(&cluster);
        assert!(fresh.join(url).success());
        assert_eq!(fresh.show(id).items.len(), 1, "{id}");
    }
}

#[test]
fn a_retired_worker_hands_its_lists_to_their_new_homes_first() {
    let cluster = Cluster::start(4, ClusterOptions::default());
    let (_a, made) = lists(&cluster, 24);
    let victim = 1;
    let secret = cluster.secret_file().display().to_string();
    let out = cluster.cloud_command(&[
        "retire",
        &format!("w{victim}"),
        "--proxy",
        &cluster.frontend(),
        "--secret-file",
        &secret,
        "--wait",
        "30",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("retired"), "{}", out.stdout);
    wait_until(
        "status to show the worker retired",
        Duration::from_secs(10),
        || {
            let s = cluster.status()?;
            let retired = s["workers"].as_array().is_some_and(|ws| {
                ws.iter()
                    .any(|w| w["id"] == format!("w{victim}") && w["state"] == "retired")
            });
            if retired {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    );
    for (id, url) in &made {
        let homes = cluster.where_(id);
        assert_eq!(homes.len(), 3);
        assert!(!homes.contains(&format!("w{victim}")), "{id}: {homes:?}");
        for h in &homes {
            assert!(
                holds(&cluster.worker_db(worker_index(h)), id),
                "new home {h} lacks {id}"
            );
        }
        let fresh = Client::new(&cluster);
        assert!(fresh.join(url).success());
        assert_eq!(fresh.show(id).items.len(), 1, "{id}");
    }
    // Retiring below N members is refused.
    let out = cluster.cloud_command(&[
        "retire",
        "w0",
        "--proxy",
        &cluster.frontend(),
        "--secret-file",
        &secret,
    ]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("would leave"), "{}", out.stderr);
}

#[test]
fn retiring_needs_the_cluster_secret() {
    let cluster = Cluster::start(4, ClusterOptions::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("wrong.secret");
    std::fs::write(&wrong, "not the cluster secret, but long enough").expect("write");
    let wrong = wrong.display().to_string();
    let out = cluster.cloud_command(&[
        "retire",
        "w1",
        "--proxy",
        &cluster.frontend(),
        "--secret-file",
        &wrong,
    ]);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("unauthorized"), "{}", out.stderr);
    let s = cluster.status().expect("status");
    assert!(
        s["workers"]
            .as_array()
            .is_some_and(|ws| ws.iter().all(|w| w["state"] == "ready")),
        "{s}"
    );
}
