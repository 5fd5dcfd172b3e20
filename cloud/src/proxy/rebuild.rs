//! Rebuilding a replica's damaged list, and hinted handoff.
//!
//! Rebuild (issue "cloud trust" §4): a worker
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
            snapshot_ok: false,
            id,
            list,
            have: Vec::new(),
            hint_for: None,
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

    /// A `handoff {list, home}` from the stand-in on `route` (PROTOCOL
    /// §7.3): copy the list from it to `home`, then answer `handed_off`.
    /// Nothing happens while `home` is down (the stand-in offers it again).
    pub(super) fn on_handoff(
        &mut self,
        route: &Bytes,
        req: u64,
        list: ListId,
        home: WorkerId,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let Some(source) = self.members.worker_of(route).cloned() else {
            return;
        };
        if !self.is_live(&home) || self.repairs >= self.cfg.max_repairs {
            return;
        }
        let id = self.fresh_id();
        let fetch = Message::sync(id, list, Vec::new(), Vec::new());
        let purpose = Purpose::HandoffFetch {
            list,
            source: source.clone(),
            home,
            req,
        };
        if self.send_to_worker(&source, purpose, id, fetch, now, out) {
            self.repairs += 1;
        }
    }

    /// The stand-in answered the fetch: push to the home.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_handoff_fetched(
        &mut self,
        list: ListId,
        source: WorkerId,
        home: WorkerId,
        req: u64,
        reply: Option<Message>,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let Some(Message {
            header: Header::Synced { heads, .. },
            changes,
        }) = reply
        else {
            self.repairs = self.repairs.saturating_sub(1);
            return;
        };
        if changes.is_empty() {
            // The stand-in has nothing (left): the hint is moot.
            self.repairs = self.repairs.saturating_sub(1);
            self.handed_off(list, &source, home, req, out);
            return;
        }
        let id = self.fresh_id();
        let push = Message::sync(id, list, heads, changes);
        let purpose = Purpose::HandoffPush {
            list,
            source,
            home: home.clone(),
            req,
        };
        if !self.send_to_worker(&home, purpose, id, push, now, out) {
            self.repairs = self.repairs.saturating_sub(1);
        }
    }

    /// The home stored the pushed list (`ok`): tell the stand-in.
    pub(super) fn on_handoff_pushed(
        &mut self,
        list: ListId,
        source: WorkerId,
        home: WorkerId,
        req: u64,
        ok: bool,
        out: &mut Vec<Effect>,
    ) {
        self.repairs = self.repairs.saturating_sub(1);
        if ok {
            self.handed_off(list, &source, home, req, out);
        }
    }

    fn handed_off(
        &mut self,
        list: ListId,
        source: &WorkerId,
        home: WorkerId,
        req: u64,
        out: &mut Vec<Effect>,
    ) {
        let Some(route) = self.members.route_of(source).cloned() else {
            return;
        };
        let release = !self.placement.owns(&list, source);
        info!(%list, from = %source, to = %home, release, "hinted handoff done");
        out.push(Effect::ToWorker(
            route,
            Message::new(Header::HandedOff {
                id: req,
                list,
                home,
                release,
            }),
        ));
    }

    /// A repair transfer to `target` ended (done, failed or expired).
    pub(super) fn finish_repair(&mut self, list: ListId, target: &WorkerId) {
        self.repairs = self.repairs.saturating_sub(1);
        self.rebuilding.remove(&(list, target.clone()));
    }
}
