//! Multi-client convergence through the real CLI and a real cluster
//! (DESIGN §8 "many clients, concurrent offline edits, reconnect, converge").
//!
//! Five devices, each with its own data dir, share one list. Without syncing
//! they make concurrent edits covering every row of the merge-semantics
//! table (DESIGN §2): concurrent +1s, the same product added on two devices,
//! remove vs edit, both remove, both rename, and remove-then-re-add. Then
//! they sync in two different seeded orders; every device must end with the
//! identical `show --json`, nothing lost, and nothing pending. The second
//! test does the same while SIGKILLing one of the list's replicas half-way
//! through the syncs (N=3, W=2: the quorum still holds).

use std::time::Duration;

use rand::seq::SliceRandom;
use serde_json::Value;
use shoplist_tests::client::EXIT_CLOUD;
use shoplist_tests::lines::expect_line;
use shoplist_tests::{seeded_rng, wait_until, Client, Cluster, ClusterOptions};

const DEVICES: usize = 5;

/// `sync` until it succeeds: a killed replica may make the cloud briefly
/// unavailable (exit 2) until the proxy notices; any other failure is a bug.
fn sync_ok(c: &Client, list: &str) {
    wait_until("sync to succeed", Duration::from_secs(40), || {
        let out = c.sync(&[list]);
        match out.code {
            Some(0) => Ok(()),
            Some(EXIT_CLOUD) => Err(out.stderr),
            _ => panic!("sync failed: {:?} {}", out.code, out.stderr),
        }
    });
}

fn show(c: &Client, list: &str) -> Value {
    c.run(&["show", list]).expect_json()
}

/// The item named `name` (normalized) of a `show` document.
fn item<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["items"]
        .as_array()?
        .iter()
        .find(|i| i["name"].as_str().map(|n| n.trim().to_lowercase()) == Some(name.into()))
}

fn qty(doc: &Value, name: &str) -> Option<(i64, i64)> {
    item(doc, name).map(|i| {
        (
            i["needed"].as_i64().unwrap_or(-1),
            i["acquired"].as_i64().unwrap_or(-1),
        )
    })
}

fn ok(out: shoplist_tests::CliOutput) {
    out.expect_json();
}

fn scenario(test: &str, kill_replica_half_way: bool) {
    let mut rng = seeded_rng(test);
    let mut cluster = Cluster::start(5, ClusterOptions::default());
    let devices: Vec<Client> = (0..DEVICES).map(|_| Client::new(&cluster)).collect();
    let d = &devices;

    // Setup, synced everywhere: milk 1, bread 1, eggs 1, butter 2 (1 bought), jam 3.
    let created = d[0].new_list("Family");
    let list = created.id.clone();
    let l = list.as_str();
    for (name, n) in [
        ("milk", 1),
        ("bread", 1),
        ("eggs", 1),
        ("butter", 2),
        ("jam", 3),
    ] {
        ok(d[0].add(l, name, Some(n)));
    }
    ok(d[0].buy(l, "butter", Some(1)));
    sync_ok(&d[0], l);
    for c in &d[1..] {
        let joined = c.join(&created.url).expect_json();
        assert_eq!(joined, show(&d[0], l), "a joined list equals the original");
    }

    // Concurrent offline edits (no device syncs until all are made).
    for c in d {
        ok(c.add(l, "Milk", None)); // row 1: five concurrent +1s
    }
    ok(d[1].add(l, "Apples", Some(2))); // row 2: same product on two devices
    ok(d[2].add(l, " apples ", Some(3)));
    ok(d[3].rm(l, "bread")); // row 3: remove vs edit
    ok(d[4].add(l, "bread", None));
    ok(d[0].rm(l, "eggs")); // row 4: both remove
    ok(d[1].rm(l, "eggs"));
    ok(d[2].rename(l, "Family A")); // row 5: both rename
    ok(d[3].rename(l, "Family B"));
    ok(d[0].rm(l, "butter")); // row 6: remove (re-added later below)
    ok(d[1].buy(l, "jam", Some(1))); // concurrent buys add up too
    ok(d[2].buy(l, "jam", Some(1)));
    for c in d {
        let pending = c.status(Some(l));
        assert!(
            pending[0].pending > 0,
            "offline edits are pending: {pending:?}"
        );
    }

    // Sync in two different orders; a replica dies half-way if asked.
    let replicas = cluster.where_(l);
    let mut order: Vec<usize> = (0..DEVICES).collect();
    for pass in 0..2 {
        order.shuffle(&mut rng);
        eprintln!("[{test}] pass {pass} order {order:?}");
        for (k, &i) in order.iter().enumerate() {
            if kill_replica_half_way && pass == 0 && k == DEVICES / 2 {
                let victim = replicas[0]
                    .trim_start_matches('w')
                    .parse::<usize>()
                    .unwrap_or(0);
                eprintln!("[{test}] SIGKILL worker w{victim}");
                cluster.kill_worker(victim);
            }
            sync_ok(&d[i], l);
        }
    }

    // Row 6, later: re-adding butter gives a fresh item, not the old counts.
    ok(d[1].add(l, "butter", None));
    for c in d {
        sync_ok(c, l);
    }
    for c in d {
        sync_ok(c, l);
    }

    let docs: Vec<Value> = d.iter().map(|c| show(c, l)).collect();
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(doc, &docs[0], "device {i} differs from device 0");
        assert_eq!(
            d[i].status(Some(l))[0].pending,
            0,
            "device {i} has pending edits"
        );
    }
    let doc = &docs[0];
    assert_eq!(
        qty(doc, "milk"),
        Some((6, 0)),
        "five concurrent +1s add up: {doc}"
    );
    assert_eq!(
        qty(doc, "apples"),
        Some((5, 0)),
        "same product combines: {doc}"
    );
    assert_eq!(
        qty(doc, "bread"),
        Some((1, 0)),
        "add wins over a concurrent remove, which clears only what it saw (observed-remove): {doc}"
    );
    assert_eq!(item(doc, "eggs"), None, "both removed: {doc}");
    assert_eq!(qty(doc, "butter"), Some((1, 0)), "re-added fresh: {doc}");
    assert_eq!(
        qty(doc, "jam"),
        Some((3, 2)),
        "concurrent buys add up: {doc}"
    );
    assert_eq!(doc["items"].as_array().map(Vec::len), Some(5), "{doc}");
    let name = doc["name"].as_str().unwrap_or_default().to_string();
    assert!(
        name == "Family A" || name == "Family B",
        "one rename wins: {doc}"
    );
    let loser = if name == "Family A" {
        "Family B"
    } else {
        "Family A"
    };
    let others = doc["other_names"].as_array().cloned().unwrap_or_default();
    assert!(
        others.iter().any(|n| n == loser),
        "the other name is kept visible: {doc}"
    );
}

#[test]
fn five_devices_with_concurrent_offline_edits_converge() {
    scenario("five_devices_with_concurrent_offline_edits_converge", false);
}

#[test]
fn devices_converge_when_a_replica_is_killed_half_way() {
    scenario("devices_converge_when_a_replica_is_killed_half_way", true);
}

/// `sync --watch` (DESIGN §6 push): a remote edit is applied as soon as the
/// proxy's `notify` arrives, and an edit made by another local process is
/// pushed without an explicit sync; SIGTERM stops the watcher cleanly.
#[test]
fn watch_applies_remote_edits_at_once_and_pushes_local_ones() {
    let cluster = Cluster::start(3, ClusterOptions::default());
    let (a, b) = (Client::new(&cluster), Client::new(&cluster));
    let created = a.new_list("Live");
    let l = created.id.as_str();
    sync_ok(&a, l);
    ok(b.join(&created.url));

    let mut watcher = b.spawn_watcher();
    let (out, err) = (&watcher.stdout, &watcher.stderr);
    expect_line(err, "\"online\"", Duration::from_secs(10));

    ok(a.add(l, "tea", Some(2)));
    let t = std::time::Instant::now();
    sync_ok(&a, l);
    let line = expect_line(out, "\"received\"", Duration::from_secs(5));
    eprintln!(
        "remote edit applied {:?} after the writer's sync began: {line}",
        t.elapsed()
    );
    let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(event["id"], l);
    assert_eq!(qty(&show(&b, l), "tea"), Some((2, 0)));

    // Another process on B's device edits; the watcher pushes it.
    ok(b.add(l, "scones", None));
    wait_until("B's local edit to reach A", Duration::from_secs(10), || {
        sync_ok(&a, l);
        qty(&show(&a, l), "scones")
            .map(|_| ())
            .ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(b.status(Some(l))[0].pending, 0);

    // SAFETY: plain kill(2) on the pid of a child we spawned and still own.
    unsafe {
        libc::kill(watcher.process.0.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = wait_until("the watcher to exit", Duration::from_secs(5), || {
        watcher
            .process
            .0
            .try_wait()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "still running".to_string())
    });
    assert!(status.success(), "watcher exit status {status}");
}
