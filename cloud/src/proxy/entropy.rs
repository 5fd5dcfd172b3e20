//! Running anti-entropy passes from the proxy (see [`crate::entropy`] for
//! what a pass compares and decides). A pass starts every
//! [`ProxyConfig::entropy_interval`](super::ProxyConfig) (sooner after one
//! that found differences), but not before the proxy has heard a round of
//! heartbeats ([`ProxyConfig::entropy_settle`](super::ProxyConfig)), so a
//! restarted proxy has learned the member set first. Transfers go through
//! read repair's fetch/push, at most
//! [`ProxyConfig::entropy_transfers_per_tick`](super::ProxyConfig) started
//! per tick and within the repair budget. At the end of a pass, member
//! transitions whose arcs all settled are made. Sans-IO.

use std::time::Instant;

use engine::protocol::{Header, MemberState, Message};
use engine::WorkerId;
use tracing::{debug, info};

use super::state::{Effect, ProxyCore, Purpose};
use crate::entropy::EntropyPass;

/// Anti-entropy counters (shown by `status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntropyStats {
    /// Passes completed.
    pub passes: u64,
    /// List transfers started by anti-entropy.
    pub transfers: u64,
    /// Arcs that differed in the last pass.
    pub last_dirty: u64,
}

/// A pass in progress.
#[derive(Debug)]
pub(super) struct Running {
    pub pass: EntropyPass,
    /// The member set the pass was planned with.
    pub members: crate::members::MemberSet,
    /// Digests not in by then are given up on.
    pub digest_deadline: Instant,
}

impl ProxyCore {
    /// Start, advance or finish the anti-entropy pass.
    pub(super) fn entropy_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let first = *self.first_tick.get_or_insert(now);
        if now < first + self.cfg.entropy_settle {
            return;
        }
        if self.entropy.is_none() {
            if self.entropy_next.is_some_and(|t| now < t) || self.cluster.is_empty() {
                return;
            }
            self.start_pass(now, out);
            return;
        }
        let mut drills = Vec::new();
        let mut transfers = Vec::new();
        if let Some(run) = &mut self.entropy {
            if now >= run.digest_deadline {
                run.pass.abandon_digests();
            }
            drills = run.pass.next_drills();
            let room = self.cfg.max_repairs.saturating_sub(self.repairs);
            transfers = run
                .pass
                .take_transfers(room.min(self.cfg.entropy_transfers_per_tick));
        }
        for ask in drills {
            self.send_heads_ask(ask, now, out);
        }
        for (list, t) in transfers {
            if self.start_repair_fetch(list, t, now, out) {
                self.entropy_stats.transfers += 1;
            }
        }
        if self.entropy.as_ref().is_some_and(|r| r.pass.finished()) {
            self.finish_pass(now);
        }
    }

    fn start_pass(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let arcs = self.placement.arcs();
        let live = |w: &WorkerId| self.members.route_of(w).is_some();
        let (mut pass, asks) = EntropyPass::start(arcs, self.cfg.read_quorum, live);
        for ask in asks {
            let id = self.fresh_id();
            let msg = Message::new(Header::Digest {
                id,
                ranges: ask.ranges.clone(),
            });
            let purpose = Purpose::EntropyDigest {
                worker: ask.worker.clone(),
            };
            if self.send_to_worker(&ask.worker, purpose, id, msg, now, out) {
                pass.sent_digest(id, &ask);
            }
        }
        self.entropy = Some(Running {
            pass,
            members: self.cluster.clone(),
            digest_deadline: now + self.cfg.timeout,
        });
        debug!("anti-entropy pass started");
    }

    pub(super) fn send_heads_ask(
        &mut self,
        ask: crate::entropy::HeadsAsk,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let id = self.fresh_id();
        let msg = Message::new(Header::ListHeadsIn {
            id,
            range: ask.range,
            after: ask.after,
        });
        let purpose = Purpose::EntropyHeads {
            worker: ask.worker.clone(),
        };
        let sent = self.send_to_worker(&ask.worker, purpose, id, msg, now, out);
        if let Some(run) = &mut self.entropy {
            run.pass.sent_heads(id, &ask);
            if !sent {
                // Count it as failed so the drill does not wait for it.
                let _ = run.pass.on_heads(id, None);
            }
        }
    }

    /// A reply to an anti-entropy request (`msg` is `None` when it failed
    /// or expired).
    pub(super) fn on_entropy_reply(
        &mut self,
        id: u64,
        msg: Option<&Message>,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let Some(run) = &mut self.entropy else {
            return;
        };
        if run.pass.awaits_digest(id) {
            let digests = match msg.map(|m| &m.header) {
                Some(Header::DigestOk { digests, .. }) => Some(digests.as_slice()),
                _ => None,
            };
            run.pass.on_digests(id, digests);
        } else if run.pass.awaits_heads(id) {
            let page = match msg.map(|m| &m.header) {
                Some(Header::ListHeadsOk { lists, next, .. }) => Some((lists.as_slice(), *next)),
                _ => None,
            };
            if let Some(next) = run.pass.on_heads(id, page) {
                self.send_heads_ask(next, now, out);
            }
        }
    }

    fn finish_pass(&mut self, now: Instant) {
        let Some(run) = self.entropy.take() else {
            return;
        };
        let report = run.pass.report();
        self.entropy_stats.passes += 1;
        self.entropy_stats.last_dirty = report.dirty as u64;
        let clean = report.dirty == 0;
        self.entropy_next = Some(
            now + if clean {
                self.cfg.entropy_interval
            } else {
                self.cfg.entropy_interval / 8
            },
        );
        if report.dirty > 0 {
            info!(
                arcs = report.arcs,
                dirty = report.dirty,
                transfers = report.transfers,
                "anti-entropy pass repaired differences"
            );
        }
        // Transitions only if the member set did not move under the pass.
        if run.members != self.cluster {
            return;
        }
        let joining: Vec<WorkerId> = self
            .cluster
            .in_state(MemberState::Joining)
            .cloned()
            .collect();
        for w in joining {
            if run.pass.all_settled(|a| a.future.contains(&w)) {
                info!(worker = %w, "member has its lists: ready");
                self.raise_member(&w, MemberState::Ready);
            }
        }
        let leaving: Vec<WorkerId> = self
            .cluster
            .in_state(MemberState::Leaving)
            .cloned()
            .collect();
        for w in leaving {
            if run.pass.all_settled(|a| a.homes.contains(&w)) {
                info!(worker = %w, "member's lists have new homes: retired");
                self.raise_member(&w, MemberState::Retired);
            }
        }
    }
}
