//! DESIGN §3: a `kill -9` at any instant leaves either the old or the new
//! state. A child process (this test binary re-executed in writer mode)
//! edits a list in a loop and prints each edit's number after its commit
//! returned; the parent SIGKILLs it at random moments, 60 times, and after
//! each kill checks that the store opens, passes `PRAGMA integrity_check`,
//! and holds every edit whose commit had returned.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine::list::EditContext;
use engine::store::{Store, StoreOptions};
use engine::ListId;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "SHOPLIST_KILL_TEST_CHILD";
const KILLS: usize = 60;

fn opts() -> StoreOptions {
    StoreOptions {
        // Compact often so kills also land inside compaction transactions.
        compact_after: 25,
        ..StoreOptions::default()
    }
}

/// Writer mode: runs only in the re-executed child.
#[test]
fn writer_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (Some(path), Some(list), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad child spec");
    };
    let list = ListId::parse(list).unwrap();
    let start: u64 = start.parse().unwrap();
    let mut store = Store::open_with(path, opts()).unwrap();
    let ctx = EditContext::now("writer");
    let mut out = std::io::stdout();
    for n in start.. {
        store
            .edit(list, |l| l.add_item(&format!("edit-{n}"), 1, &ctx))
            .unwrap();
        use std::io::Write;
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_edits_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed: u64 = std::env::var("SHOPLIST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("acknowledged_edits_survive_sigkill: seed {seed} (SHOPLIST_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.db");
    let list = {
        let mut s = Store::open_with(&path, opts()).unwrap();
        s.create_list("Kill test", &EditContext::now("parent"))
            .unwrap()
    };
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut next = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}|{}|{}", path.display(), list, next))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        // Read acknowledgements on a thread; kill after a random number of
        // them (0 included: a kill during open) plus a random sub-ms delay.
        let stdout = child.stdout.take().unwrap();
        let target = rng.gen_range(0..40usize);
        let extra_us = rng.gen_range(0..800u64);
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("committed ").and_then(|s| s.parse().ok()) {
                    if tx.send(n).is_err() {
                        break;
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0;
        while seen < target && Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(n) => {
                    acknowledged.push(n);
                    next = n + 1;
                    seen += 1;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_micros(extra_us));
        // SAFETY: plain syscall on the pid of a child we spawned and not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: child exited on its own: {status:?}"
        );
        reader.join().unwrap();
        for n in rx.try_iter() {
            acknowledged.push(n);
            next = n + 1;
        }
        // Check: opens, integrity ok, every acknowledged edit present.
        let mut s = Store::open_with(&path, opts()).unwrap();
        assert!(
            s.integrity_ok().unwrap(),
            "round {round}: integrity_check failed"
        );
        let view = s.view(list).unwrap();
        let names: std::collections::HashSet<&str> =
            view.items.iter().map(|i| i.key.as_str()).collect();
        for n in &acknowledged {
            assert!(
                names.contains(format!("edit-{n}").as_str()),
                "round {round}: acknowledged edit {n} lost (seed {seed})"
            );
        }
        // The next child continues after the highest edit that may have landed.
        let highest = view
            .items
            .iter()
            .filter_map(|i| {
                i.key
                    .strip_prefix("edit-")
                    .and_then(|s| s.parse::<u64>().ok())
            })
            .max();
        if let Some(h) = highest {
            next = next.max(h + 1);
        }
    }
    eprintln!(
        "{} acknowledged edits survived {KILLS} kills",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > KILLS,
        "too few edits were made to prove anything"
    );
}
