//! `shoplist-cloud status` and `shoplist-cloud where`: ask a proxy at its
//! client endpoint and print the answer (DESIGN §7).
//!
//! JSON shapes: `status` → `{"workers":[{"id","alive","state","share",
//! "authenticated","heartbeat_age_ms","lists_repaired","quarantined",
//! "overloaded","hints"}],"proxy":{"connections","evicted_idle","evicted_per_source",
//! "window_pauses","overloaded","workers_refused"}}`,
//! `where` → `{"list","replicas":[worker ids]}`. Exit code 2 when the proxy
//! cannot be reached (or does not answer in time), 1 for other errors.

use std::time::Duration;

use engine::protocol::{Header, MemberState, Message, ProxyStats, WorkerStatus};
use engine::ListId;
use serde_json::json;

use crate::client::Client;

/// Exit code when the proxy could not be reached.
pub const EXIT_UNREACHABLE: u8 = 2;

/// A failed inspection: the message and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// One line for stderr.
    pub message: String,
    /// The process exit code.
    pub code: u8,
}

pub(crate) async fn ask(
    proxy: &str,
    timeout: Duration,
    make: impl FnOnce(u64) -> Message,
) -> Result<Message, Failure> {
    let mut client = Client::new(proxy, timeout);
    let reply = client.request(make).await.map_err(|e| Failure {
        message: e.to_string(),
        code: EXIT_UNREACHABLE,
    })?;
    if let Header::Error { code, message, .. } = &reply.header {
        return Err(Failure {
            message: format!("proxy answered {code}: {message}"),
            code: 1,
        });
    }
    Ok(reply)
}

pub(crate) fn unexpected(reply: &Message) -> Failure {
    Failure {
        message: format!("unexpected reply `{}`", reply.header.op()),
        code: 1,
    }
}

/// `status`: the text to print on stdout.
pub async fn status(proxy: &str, json_out: bool, timeout: Duration) -> Result<String, Failure> {
    let reply = ask(proxy, timeout, |id| {
        Message::new(Header::ClusterStatus { id })
    })
    .await?;
    let Header::ClusterStatusOk { workers, proxy, .. } = &reply.header else {
        return Err(unexpected(&reply));
    };
    Ok(render_status(workers, proxy.as_ref(), json_out))
}

/// The `status` output for `workers`: one JSON document, or a table.
pub fn render_status(
    workers: &[WorkerStatus],
    proxy: Option<&ProxyStats>,
    json_out: bool,
) -> String {
    if json_out {
        let workers: Vec<_> = workers
            .iter()
            .map(|w| {
                json!({
                    "id": w.id,
                    "alive": w.alive,
                    "state": w.state,
                    "share": w.share,
                    "authenticated": w.authenticated,
                    "heartbeat_age_ms": w.heartbeat_age_ms,
                    "lists_repaired": w.stats.lists_repaired,
                    "quarantined": w.stats.quarantined,
                    "overloaded": w.stats.overloaded,
                    "hints": w.stats.hints,
                })
            })
            .collect();
        let mut doc = json!({ "workers": workers });
        if let Some(p) = proxy {
            doc["proxy"] = json!(p);
        }
        return doc.to_string();
    }
    let live = workers.iter().filter(|w| w.alive).count();
    let mut out = format!("{live} of {} workers live\n", workers.len());
    out.push_str(&format!(
        "{:<24} {:<5} {:<8} {:>7} {:<5} {:>9} {:>8} {:>11} {:>10}\n",
        "worker",
        "state",
        "member",
        "share",
        "auth",
        "heard",
        "repaired",
        "quarantined",
        "overloaded"
    ));
    for w in workers {
        let state = if w.alive { "alive" } else { "dead" };
        let member = match w.state {
            Some(MemberState::Joining) => "joining",
            Some(MemberState::Ready) => "ready",
            Some(MemberState::Leaving) => "leaving",
            Some(MemberState::Retired) => "retired",
            None => "-",
        };
        let auth = if w.authenticated { "yes" } else { "no" };
        let heard = format!("{:.1}s ago", w.heartbeat_age_ms as f64 / 1000.0);
        out.push_str(&format!(
            "{:<24} {:<5} {:<8} {:>6.2}% {:<5} {:>9} {:>8} {:>11} {:>10}\n",
            w.id.as_str(),
            state,
            member,
            w.share * 100.0,
            auth,
            heard,
            w.stats.lists_repaired,
            w.stats.quarantined,
            w.stats.overloaded,
        ));
    }
    if let Some(p) = proxy {
        out.push_str(&format!(
            "proxy: {} client connections; evicted {} (cap) + {} (per address); \
             {} window pauses; {} overloaded replies; {} worker proofs refused; \
             anti-entropy: {} passes, {} transfers, {} ranges differed last\n",
            p.connections,
            p.evicted_idle,
            p.evicted_per_source,
            p.window_pauses,
            p.overloaded,
            p.workers_refused,
            p.entropy_passes,
            p.entropy_transfers,
            p.entropy_last_dirty
        ));
    }
    out.trim_end().to_string()
}

/// LIST as `shoplist` takes it: a URL or UUID as is; a UUID prefix or a
/// list name resolved against the shoplist lists in `data_dir` (default:
/// shoplist's own default data dir).
pub fn resolve_list(input: &str, data_dir: Option<std::path::PathBuf>) -> Result<ListId, Failure> {
    if let Ok(id) = ListId::parse(input) {
        return Ok(id);
    }
    let fail = |message: String| Failure { message, code: 1 };
    let dir = shoplist_cli::commands::data_dir(data_dir).map_err(|e| fail(e.to_string()))?;
    let db = dir.join(shoplist_cli::commands::DB_FILE);
    if !db.exists() {
        return Err(fail(format!(
            "{input:?} is not a list URL or UUID, and there are no shoplist lists in {} to look it up (use --data-dir)",
            dir.display()
        )));
    }
    let mut store = engine::store::Store::open(&db).map_err(|e| fail(e.to_string()))?;
    let mut entries = Vec::new();
    for id in store.list_ids().map_err(|e| fail(e.to_string()))? {
        let name = store.view(id).map_err(|e| fail(e.to_string()))?.name;
        entries.push(shoplist_cli::resolve::ListEntry { id, name });
    }
    shoplist_cli::resolve::resolve(input, &entries).map_err(|e| fail(e.to_string()))
}

/// `where LIST`: the text to print on stdout.
pub async fn where_list(
    proxy: &str,
    list: &str,
    json_out: bool,
    timeout: Duration,
) -> Result<String, Failure> {
    let list = ListId::parse(list).map_err(|e| Failure {
        message: e.to_string(),
        code: 1,
    })?;
    let reply = ask(proxy, timeout, |id| {
        Message::new(Header::Where { id, list })
    })
    .await?;
    let Header::WhereOk { replicas, .. } = &reply.header else {
        return Err(unexpected(&reply));
    };
    if json_out {
        return Ok(json!({"list": list.to_string(), "replicas": replicas}).to_string());
    }
    if replicas.is_empty() {
        return Ok(format!("{list}: no live workers"));
    }
    let names: Vec<&str> = replicas.iter().map(|w| w.as_str()).collect();
    Ok(format!("{list}: {}", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::protocol::WorkerStats;
    use engine::WorkerId;

    fn workers() -> Vec<WorkerStatus> {
        vec![
            WorkerStatus {
                id: WorkerId::parse("worker-1").unwrap(),
                alive: true,
                share: 0.5,
                authenticated: true,
                heartbeat_age_ms: 120,
                stats: WorkerStats {
                    lists_repaired: 1,
                    quarantined: 2,
                    overloaded: 3,
                    hints: 0,
                },
                state: Some(MemberState::Ready),
            },
            WorkerStatus {
                id: WorkerId::parse("worker-2").unwrap(),
                alive: false,
                share: 0.0,
                authenticated: false,
                heartbeat_age_ms: 9000,
                stats: WorkerStats::default(),
                state: None,
            },
        ]
    }

    #[test]
    fn status_shows_authentication_heartbeat_age_and_counters() {
        let text = render_status(&workers(), None, false);
        assert_eq!(
            text,
            "1 of 2 workers live\n\
             worker                   state member     share auth      heard repaired quarantined overloaded\n\
             worker-1                 alive ready     50.00% yes    0.1s ago        1           2          3\n\
             worker-2                 dead  -          0.00% no     9.0s ago        0           0          0"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&render_status(&workers(), None, true)).unwrap();
        let w1 = &doc["workers"][0];
        assert_eq!(w1["authenticated"], true);
        assert_eq!(w1["state"], "ready");
        assert_eq!(w1["heartbeat_age_ms"], 120);
        assert_eq!(w1["lists_repaired"], 1);
        assert_eq!(w1["quarantined"], 2);
        assert_eq!(w1["overloaded"], 3);
        let stats = ProxyStats {
            connections: 7,
            window_pauses: 2,
            ..ProxyStats::default()
        };
        let text = render_status(&workers(), Some(&stats), false);
        assert!(text.ends_with(
            "proxy: 7 client connections; evicted 0 (cap) + 0 (per address); \
             2 window pauses; 0 overloaded replies; 0 worker proofs refused; \
             anti-entropy: 0 passes, 0 transfers, 0 ranges differed last"
        ));
        let doc: serde_json::Value =
            serde_json::from_str(&render_status(&workers(), Some(&stats), true)).unwrap();
        assert_eq!(doc["proxy"]["window_pauses"], 2);
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    /// Issue 12: `where` resolves LIST like `shoplist` (name, UUID prefix).
    #[test]
    fn where_resolves_names_and_prefixes_from_the_local_lists() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join(shoplist_cli::commands::DB_FILE);
        let mut store = engine::store::Store::open(&db).unwrap();
        let ctx = engine::list::EditContext::now("t");
        let id = store.create_list("Weekly groceries", &ctx).unwrap();
        drop(store);
        let d = || Some(dir.path().to_path_buf());
        assert_eq!(resolve_list("weekly", d()).unwrap(), id);
        assert_eq!(resolve_list(&id.to_string()[..8], d()).unwrap(), id);
        assert_eq!(resolve_list(&id.url(), d()).unwrap(), id);
        let e = resolve_list("party", d()).unwrap_err();
        assert_eq!(e.code, 1);
        assert!(e.message.contains("Weekly groceries"), "{}", e.message);
        let empty = tempfile::TempDir::new().unwrap();
        let e = resolve_list("weekly", Some(empty.path().to_path_buf())).unwrap_err();
        assert!(e.message.contains("--data-dir"), "{}", e.message);
    }
}
