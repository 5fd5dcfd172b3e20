//! `shoplist-cloud status` and `shoplist-cloud where`: ask a proxy at its
//! client endpoint and print the answer (DESIGN §7).
//!
//! JSON shapes: `status` → `{"workers":[{"id","alive","share"}]}`,
//! `where` → `{"list","replicas":[worker ids]}`. Exit code 2 when the proxy
//! cannot be reached (or does not answer in time), 1 for other errors.

use std::time::Duration;

use engine::protocol::{Header, Message};
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

async fn ask(
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

fn unexpected(reply: &Message) -> Failure {
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
    let Header::ClusterStatusOk { workers, .. } = &reply.header else {
        return Err(unexpected(&reply));
    };
    if json_out {
        let workers: Vec<_> = workers
            .iter()
            .map(|w| json!({"id": w.id, "alive": w.alive, "share": w.share}))
            .collect();
        return Ok(json!({ "workers": workers }).to_string());
    }
    let live = workers.iter().filter(|w| w.alive).count();
    let mut out = format!("{live} of {} workers live\n", workers.len());
    for w in workers {
        let state = if w.alive { "alive" } else { "dead" };
        out.push_str(&format!(
            "{:<24} {:<5} {:>6.2}%\n",
            w.id,
            state,
            w.share * 100.0
        ));
    }
    Ok(out.trim_end().to_string())
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
