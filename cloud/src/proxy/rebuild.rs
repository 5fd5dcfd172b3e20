//! Rebuilding a replica's damaged list (issue "cloud trust" §4): a worker
//! that dropped a damaged list sends `repair {list}`; the proxy fetches the
//! list from another live replica and pushes it to the worker, through the
//! same fetch/push as read repair ([`super::sync_flow`]). One rebuild per
//! (list, worker) at a time, within the repair budget. Sans-IO, as methods
//! of [`ProxyCore`].

use std::time::Instant;

use bytes::Bytes;
use engine::protocol::{Header, Message};
use engine::{ListId, WorkerId};
use tracing::{debug, info};

use super::state::{Effect, ProxyCore, Purpose};

impl ProxyCore {
    /// A `repair {list}` from the worker on `route`.
    pub(super) fn on_repair_request(
        &mut self,
        route: &Bytes,
        list: ListId,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let Some(target) = self.members.worker_of(route).cloned() else {
            debug!(%list, "repair request from a connection that is not a member; ignored");
            return;
        };
        let replicas = self.replicas_of(&list);
        if !replicas.contains(&target) {
            debug!(%list, worker = %target, "repair request for a list it does not hold; ignored");
            return;
        }
        if self.rebuilding.contains(&(list, target.clone())) || self.repairs >= self.cfg.max_repairs
        {
            return;
        }
        let Some(source) = replicas
            .into_iter()
            .find(|w| *w != target && self.members.route_of(w).is_some())
        else {
            debug!(%list, "no other live replica to rebuild from yet");
            return;
        };
        let id = self.fresh_id();
        let fetch = Message::new(Header::Sync {
            id,
            list,
            have: Vec::new(),
        });
        let purpose = Purpose::RepairFetch {
            list,
            source: source.clone(),
            target: target.clone(),
        };
        if self.send_to_worker(&source, purpose, id, fetch, now, out) {
            info!(%list, from = %source, to = %target, "rebuilding a damaged replica");
            self.repairs += 1;
            self.rebuilding.insert((list, target));
        }
    }

    /// A repair transfer to `target` ended (done, failed or expired).
    pub(super) fn finish_repair(&mut self, list: ListId, target: &WorkerId) {
        self.repairs = self.repairs.saturating_sub(1);
        self.rebuilding.remove(&(list, target.clone()));
    }
}
