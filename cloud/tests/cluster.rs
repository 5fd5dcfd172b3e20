//! End-to-end: a proxy and workers as real processes on loopback
//! (DESIGN §6). Every process started here is killed by pid at the end, also
//! when a test panics ([`Procs`]'s `Drop`). Tests wait for conditions with a
//! bounded deadline, never with a bare sleep.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use cloud::client::Client;
use engine::list::EditContext;
use engine::protocol::{Header, Message};
use engine::store::Store;
use engine::{ListId, WorkerId};

const BIN: &str = env!("CARGO_BIN_EXE_shoplist-cloud");

/// Children killed (SIGKILL, by pid) and reaped on drop.
struct Procs(Vec<(String, Child)>);

impl Procs {
    fn spawn(&mut self, name: &str, args: &[&str]) {
        let logs = std::env::var_os("SHOPLIST_TEST_LOGS").is_some();
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if logs {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.0.push((name.to_string(), child));
    }

    fn kill(&mut self, name: &str) {
        if let Some(pos) = self.0.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.0.remove(pos);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

struct Cluster {
    procs: Procs,
    frontend: String,
    backend: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(workers: usize) -> Cluster {
        let frontend = format!("tcp://127.0.0.1:{}", free_port());
        let backend = format!("tcp://127.0.0.1:{}", free_port());
        let mut c = Cluster {
            procs: Procs(Vec::new()),
            frontend,
            backend,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        c.start_proxy();
        for i in 1..=workers {
            let id = format!("w{i}");
            let data = c.worker_dir(&id);
            let data = data.to_string_lossy().into_owned();
            let backend = c.backend.clone();
            c.procs.spawn(
                &id,
                &[
                    "worker",
                    "--id",
                    &id,
                    "--proxy",
                    &backend,
                    "--data-dir",
                    &data,
                ],
            );
        }
        c
    }

    fn start_proxy(&mut self) {
        let (f, b) = (self.frontend.clone(), self.backend.clone());
        self.procs.spawn(
            "proxy",
            &[
                "proxy",
                "--frontend",
                &f,
                "--backend",
                &b,
                "--heartbeat-ms",
                "200",
                "--worker-timeout-ms",
                "1000",
            ],
        );
    }

    fn worker_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }

    /// Poll `cluster_status` until `n` workers are live.
    async fn wait_live(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut client = Client::new(&self.frontend, Duration::from_millis(500));
        loop {
            let reply = client
                .request(|id| Message::new(Header::ClusterStatus { id }))
                .await;
            if let Ok(Message {
                header: Header::ClusterStatusOk { workers, .. },
                ..
            }) = &reply
            {
                if workers.iter().filter(|w| w.alive).count() == n {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cluster never had {n} live workers: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A list made with the engine: its id, raw changes and heads.
fn make_list(dir: &Path) -> (ListId, Vec<Bytes>, Vec<engine::ChangeHash>) {
    let mut store = Store::open(dir.join("client.db")).expect("client store");
    let ctx = EditContext::now("test");
    let list = store.create_list("groceries", &ctx).expect("create");
    store
        .edit(list, |l| l.add_item("milk", 2, &ctx))
        .expect("edit");
    let (changes, heads) = store.changes_for(list, &[]).expect("changes");
    (list, changes.into_iter().map(Bytes::from).collect(), heads)
}

async fn sync(
    client: &mut Client,
    list: ListId,
    have: Vec<engine::ChangeHash>,
    changes: Vec<Bytes>,
) -> Message {
    client
        .request(|id| Message::with_changes(Header::Sync { id, list, have }, changes))
        .await
        .expect("sync reply")
}

fn replica_has(dir: &Path, list: ListId) -> bool {
    let db = dir.join("replica.db");
    db.exists()
        && Store::open(&db)
            .and_then(|s| s.has_list(list))
            .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_reaches_quorum_on_exactly_the_preferred_replicas() {
    // DESIGN §6: N=3 replicas per list on the ring, reply at W=2.
    let cluster = Cluster::start(4);
    cluster.wait_live(4).await;
    let (list, changes, heads) = make_list(cluster.dir.path());
    let mut client = Client::new(&cluster.frontend, Duration::from_secs(5));

    let reply = sync(&mut client, list, heads.clone(), changes.clone()).await;
    match &reply.header {
        Header::Synced {
            acked,
            missing,
            heads: got,
            ..
        } => {
            assert!(*acked >= 2, "{reply:?}");
            assert!(missing.is_empty());
            assert_eq!(got, &heads);
        }
        other => panic!("expected synced, got {other:?}"),
    }

    // A reader with nothing gets every change back.
    let read = sync(&mut client, list, vec![], vec![]).await;
    assert_eq!(read.changes.len(), changes.len(), "{:?}", read.header);

    let reply = client
        .request(|id| Message::new(Header::Where { id, list }))
        .await
        .expect("where");
    let Header::WhereOk { replicas, .. } = reply.header else {
        panic!("expected where_ok");
    };
    let mut distinct: Vec<&WorkerId> = replicas.iter().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{replicas:?}");

    // All three replicas end up with the list (the third may commit after
    // the quorum reply); the fourth worker never sees it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let holders: Vec<String> = (1..=4)
            .map(|i| format!("w{i}"))
            .filter(|id| replica_has(&cluster.worker_dir(id), list))
            .collect();
        let mut expected: Vec<String> = replicas.iter().map(|w| w.to_string()).collect();
        expected.sort();
        if holders == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "holders {holders:?}, replicas {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_survive_a_proxy_restart_on_the_same_ports() {
    // zeromq 0.7 DEALERs do not reconnect: workers must rebuild and re-hello.
    let mut cluster = Cluster::start(3);
    cluster.wait_live(3).await;
    cluster.procs.kill("proxy");
    cluster.start_proxy();
    cluster.wait_live(3).await;
    let (list, changes, heads) = make_list(cluster.dir.path());
    let mut client = Client::new(&cluster.frontend, Duration::from_secs(5));
    let reply = sync(&mut client, list, heads, changes).await;
    assert!(
        matches!(reply.header, Header::Synced { acked, .. } if acked >= 2),
        "{reply:?}"
    );
}

#[test]
fn status_exits_2_when_the_proxy_is_unreachable() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args(["status", "--proxy", &endpoint, "--json"])
        .output()
        .expect("run status");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
