//! `shoplist-cloud retire WORKER`: remove a worker from the cluster for good
//! (PROTOCOL §7.2). The command proves the cluster secret (read from its
//! file, never from the command line), the proxy makes the worker `leaving`,
//! anti-entropy copies its lists to their next homes, and only then is it
//! `retired`. With `--wait` the command returns once it is.

use std::time::{Duration, Instant};

use engine::protocol::{Header, MemberState, Message};
use engine::WorkerId;

use crate::inspect::{ask, unexpected, Failure};
use crate::secret::ClusterSecret;

/// How often `--wait` looks at the worker's state.
const POLL: Duration = Duration::from_millis(250);

fn state_name(s: MemberState) -> &'static str {
    match s {
        MemberState::Joining => "joining",
        MemberState::Ready => "ready",
        MemberState::Leaving => "leaving",
        MemberState::Retired => "retired",
    }
}

/// Ask `proxy` to retire `worker`; with `wait`, until it is `retired` (at
/// most `wait_for`). Returns the line to print.
pub async fn retire(
    proxy: &str,
    worker: &WorkerId,
    secret: &ClusterSecret,
    wait: Option<Duration>,
    timeout: Duration,
) -> Result<String, Failure> {
    let proof = secret.retire_proof(worker);
    let reply = ask(proxy, timeout, |id| {
        Message::new(Header::Retire {
            id,
            worker: worker.clone(),
            proof,
        })
    })
    .await?;
    let Header::RetireOk { mut state, .. } = reply.header else {
        return Err(unexpected(&reply));
    };
    if let Some(wait_for) = wait {
        let deadline = Instant::now() + wait_for;
        while state != MemberState::Retired {
            if Instant::now() >= deadline {
                return Err(Failure {
                    message: format!(
                        "{worker} is still {} after {wait_for:?}: its lists are still being copied (see `shoplist-cloud status`)",
                        state_name(state)
                    ),
                    code: 2,
                });
            }
            tokio::time::sleep(POLL).await;
            let reply = ask(proxy, timeout, |id| {
                Message::new(Header::ClusterStatus { id })
            })
            .await?;
            let Header::ClusterStatusOk { workers, .. } = &reply.header else {
                return Err(unexpected(&reply));
            };
            if let Some(s) = workers
                .iter()
                .find(|w| &w.id == worker)
                .and_then(|w| w.state)
            {
                state = s;
            }
        }
    }
    Ok(match state {
        MemberState::Retired => {
            format!("{worker} retired: its lists have new homes; its data may be deleted")
        }
        s => format!(
            "{worker} is {}: its lists are being copied to their next homes",
            state_name(s)
        ),
    })
}
