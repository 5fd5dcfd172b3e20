//! The proxy's `sync` flow (DESIGN §4, §6; PROTOCOL.md §5): forward to the
//! list's N live replicas, count durable answers into a
//! [`SyncQuorum`](crate::quorum::SyncQuorum), fill replicas that lack
//! history, answer the client at W (writes) or R (reads), notify the other
//! subscribers of a write, and start read repair once the replicas' answers
//! are in. All sans-IO, as methods of [`ProxyCore`].

use std::time::Instant;

use bytes::Bytes;
use engine::protocol::{ErrorCode, Header, Message};
use engine::{ChangeHash, ListId, WorkerId};
use tracing::{debug, warn};

use super::state::{ClientSync, Effect, Inflight, ProxyCore, Purpose};
use crate::placement::Target;
use crate::quorum::{Role, SyncQuorum, Verdict};
use crate::repair::plan_read_repair;
use crate::transport::envelope::Envelope;

/// A `notify` carries the write's changes only up to this many bytes of
/// frames in all (PROTOCOL §6.2); a bigger write is announced by heads alone
/// and the subscriber syncs.
pub const NOTIFY_CHANGES_MAX_BYTES: usize = 16 * 1024;

/// ... and only up to this many changes.
pub const NOTIFY_CHANGES_MAX: usize = 64;

/// Whether a write of `changes` is small enough to ride on its `notify`.
pub(super) fn notify_carries(changes: &[Bytes]) -> bool {
    changes.len() <= NOTIFY_CHANGES_MAX
        && changes.iter().map(Bytes::len).sum::<usize>() <= NOTIFY_CHANGES_MAX_BYTES
}

impl ProxyCore {
    /// Send `msg` (whose id is fresh) to `worker` for `purpose`. False if the
    /// worker has no live route.
    pub(super) fn send_to_worker(
        &mut self,
        worker: &WorkerId,
        purpose: Purpose,
        id: u64,
        msg: Message,
        now: Instant,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(route) = self.members.route_of(worker).cloned() else {
            return false;
        };
        self.inflight.insert(
            id,
            Inflight {
                purpose,
                deadline: now + self.cfg.timeout,
            },
        );
        out.push(Effect::ToWorker(route, msg));
        true
    }

    /// A client's `sync`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_sync(
        &mut self,
        client: Envelope,
        client_id: u64,
        list: ListId,
        have: Vec<ChangeHash>,
        changes: Vec<Bytes>,
        snapshot_ok: bool,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let is_write = !changes.is_empty();
        // A snapshot only for a requester that has nothing (PROTOCOL §4.2.1).
        let snapshot_ok = snapshot_ok && have.is_empty() && !is_write;
        // Fewer members than N: every home is needed at most.
        let homes = self.placement.homes(&list).len();
        let needed = if is_write {
            self.cfg.write_quorum
        } else {
            self.cfg.read_quorum
        }
        .min(homes.max(1));
        let bytes: usize = changes.iter().map(|c| c.len()).sum();
        let mine = self
            .pending_by_client
            .get(&client.route)
            .copied()
            .unwrap_or(0);
        let refusal = if self.syncs.len() >= self.cfg.max_pending {
            Some("too many syncs in flight")
        } else if mine >= self.cfg.max_pending_per_client {
            Some("too many syncs in flight on this connection")
        } else if bytes > 0 && self.pending_bytes + bytes > self.cfg.max_pending_bytes {
            Some("too many change bytes in flight")
        } else {
            None
        };
        if let Some(why) = refusal {
            self.overloaded += 1;
            debug!(overloaded = self.overloaded, "{why}");
            let reply = Message::error(client_id, ErrorCode::Overloaded, why);
            out.push(Effect::ToClient(client, reply));
            return;
        }
        let targets = self.placement.targets(&list, |w| self.is_live(w));
        if homes == 0 || !targets.iter().any(|t| t.role == Role::Home) {
            let reply = Message::unavailable(client_id, 0, needed as u32);
            out.push(Effect::ToClient(client, reply));
            return;
        }
        let req = self.fresh_id();
        // A read asks R homes first (anti-entropy keeps the others in step;
        // PROTOCOL §5.1); the rest are held for a hedge.
        let (ask, held) = if is_write || self.cfg.read_hedge.is_zero() {
            (targets, Vec::new())
        } else {
            split_read_targets(targets, needed)
        };
        let mut sync = ClientSync {
            client,
            client_id,
            list,
            have,
            changes,
            is_write,
            snapshot_ok,
            quorum: SyncQuorum::new(Vec::new(), needed),
            replied: false,
            deadline: now + self.cfg.timeout,
            held,
            hedge_at: now + self.cfg.read_hedge,
        };
        self.dispatch(req, &mut sync, ask, now, out);
        *self
            .pending_by_client
            .entry(sync.client.route.clone())
            .or_insert(0) += 1;
        self.pending_bytes += bytes;
        self.syncs.insert(req, sync);
        self.advance(req, now, out);
    }

    /// Fetches from `t.source` what `t.target` lacks of `list` (read repair
    /// and anti-entropy); the push follows the answer. False if the source
    /// has no route.
    pub(super) fn start_repair_fetch(
        &mut self,
        list: ListId,
        t: crate::repair::Transfer,
        now: Instant,
        out: &mut Vec<Effect>,
    ) -> bool {
        let id = self.fresh_id();
        let source = t.source.clone();
        let purpose = Purpose::RepairFetch {
            list,
            source: t.source,
            target: t.target,
        };
        let fetch = Message::sync(id, list, t.have, Vec::new());
        let sent = self.send_to_worker(&source, purpose, id, fetch, now, out);
        if sent {
            self.repairs += 1;
        }
        sent
    }

    /// Pushes `notify {list, heads}` to the list's subscribers, except the
    /// connection `writer` (empty: none excepted). Subscribers that asked
    /// for them also get the write's `changes` when they are small
    /// ([`notify_carries`], PROTOCOL §6.2); the frames are shared, not
    /// copied, between the pushes.
    pub(super) fn push_notify(
        &mut self,
        list: ListId,
        heads: &[ChangeHash],
        writer: &Bytes,
        changes: &[Bytes],
        out: &mut Vec<Effect>,
    ) {
        let carry = notify_carries(changes);
        for target in self.subs.push_targets(&list, writer) {
            let header = Header::Notify {
                id: 0,
                list,
                heads: heads.to_vec(),
            };
            let notify = if target.changes && carry {
                Message::with_changes(header, changes.to_vec())
            } else {
                Message::new(header)
            };
            out.push(Effect::ToClient(Envelope::dealer(target.route), notify));
        }
    }

    /// Sends request `req`'s `sync` to `targets`, adding them to its quorum.
    fn dispatch(
        &mut self,
        req: u64,
        sync: &mut ClientSync,
        targets: Vec<Target>,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        for t in targets {
            sync.quorum.add_target(t.worker.clone(), t.role);
            let id = self.fresh_id();
            let msg = Message::with_changes(
                Header::Sync {
                    snapshot_ok: sync.snapshot_ok,
                    id,
                    list: sync.list,
                    have: sync.have.clone(),
                    hint_for: t.hint_for.clone(),
                },
                sync.changes.clone(),
            );
            let purpose = Purpose::Replica {
                req,
                worker: t.worker.clone(),
            };
            if !self.send_to_worker(&t.worker, purpose, id, msg, now, out) {
                sync.quorum.on_failed(&t.worker, false, "no route".into());
            }
        }
    }

    /// Asks a read's held targets when its hedge time has come, or at once
    /// when the targets asked can no longer reach R without them.
    fn release_held(&mut self, req: u64, now: Instant, out: &mut Vec<Effect>) {
        let Some(sync) = self.syncs.get(&req) else {
            return;
        };
        if sync.held.is_empty() || sync.replied {
            return;
        }
        let hopeless = !matches!(
            sync.quorum.verdict(false),
            Verdict::Pending | Verdict::Reached { .. }
        );
        if !hopeless && now < sync.hedge_at {
            return;
        }
        let Some(mut sync) = self.syncs.remove(&req) else {
            return;
        };
        let held = std::mem::take(&mut sync.held);
        debug!(
            req,
            asked = held.len(),
            hopeless,
            "read hedged to the list's other targets"
        );
        self.dispatch(req, &mut sync, held, now, out);
        self.syncs.insert(req, sync);
    }

    /// Time passed: reads whose hedge time has come ask their held targets.
    pub(super) fn hedge_reads(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let due: Vec<u64> = self
            .syncs
            .iter()
            .filter(|(_, s)| !s.held.is_empty() && !s.replied && now >= s.hedge_at)
            .map(|(req, _)| *req)
            .collect();
        for req in due {
            self.advance(req, now, out);
        }
    }

    /// A `synced` or `error` from the worker on `route`.
    pub(super) fn on_reply(
        &mut self,
        route: &Bytes,
        msg: Message,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let id = msg.id();
        let Some(entry) = self.inflight.get(&id) else {
            debug!(id, "reply to an unknown or expired request");
            return;
        };
        if self.members.worker_of(route) != Some(entry.purpose.responder()) {
            warn!(
                id,
                "reply from a worker the request was not sent to; ignored"
            );
            return;
        }
        let Some(entry) = self.inflight.remove(&id) else {
            return;
        };
        let (ok, heads, missing, holds, snapshot) = match &msg.header {
            Header::Synced {
                heads,
                missing,
                holds,
                snapshot,
                ..
            } => (
                true,
                heads.clone(),
                missing.clone(),
                *holds,
                snapshot.clone(),
            ),
            _ => (false, Vec::new(), Vec::new(), false, None),
        };
        let (bad_change, err_text) = match &msg.header {
            Header::Error { code, message, .. } => (
                super::refusal::is_refusal(*code),
                format!("{code}: {message}"),
            ),
            _ => (false, String::new()),
        };
        match entry.purpose {
            Purpose::Replica { req, worker } => {
                let Some(sync) = self.syncs.get_mut(&req) else {
                    return;
                };
                match snapshot {
                    // Only a read of a requester that asked for one.
                    Some(meta) if ok && sync.snapshot_ok && missing.is_empty() => {
                        sync.quorum
                            .on_synced_snapshot(&worker, heads, holds, &meta, &msg.changes);
                    }
                    Some(_) if ok => {
                        sync.quorum
                            .on_failed(&worker, false, "unasked-for snapshot".into());
                    }
                    _ if ok => {
                        sync.quorum
                            .on_synced(&worker, heads, missing, holds, &msg.changes);
                    }
                    _ => {
                        debug!(worker = %worker, "replica refused a sync: {err_text}");
                        sync.quorum.on_failed(&worker, bad_change, err_text);
                    }
                }
                self.advance(req, now, out);
            }
            Purpose::FillFetch {
                req,
                target,
                heads: target_heads,
                missing: target_missing,
                ..
            } => {
                let Some(sync) = self.syncs.get_mut(&req) else {
                    return;
                };
                if !ok {
                    sync.quorum
                        .on_fill_failed(&target, target_heads, target_missing);
                    self.advance(req, now, out);
                    return;
                }
                let (list, have) = (sync.list, sync.have.clone());
                let mut changes = msg.changes;
                changes.extend(sync.changes.iter().cloned());
                let push_id = self.fresh_id();
                let purpose = Purpose::Replica {
                    req,
                    worker: target.clone(),
                };
                let push = Message::sync(push_id, list, have, changes);
                if !self.send_to_worker(&target, purpose, push_id, push, now, out) {
                    if let Some(sync) = self.syncs.get_mut(&req) {
                        sync.quorum
                            .on_fill_failed(&target, target_heads, target_missing);
                    }
                    self.advance(req, now, out);
                }
            }
            Purpose::RepairFetch { list, target, .. } => {
                if !ok || msg.changes.is_empty() {
                    self.finish_repair(list, &target);
                    return;
                }
                let push_id = self.fresh_id();
                let purpose = Purpose::RepairPush {
                    list,
                    target: target.clone(),
                };
                // `have` = the source's heads: the target answers (almost) nothing.
                let push = Message::sync(push_id, list, heads, msg.changes);
                if !self.send_to_worker(&target, purpose, push_id, push, now, out) {
                    self.finish_repair(list, &target);
                }
            }
            Purpose::RepairPush { list, target } => {
                self.finish_repair(list, &target);
                if !ok || !missing.is_empty() {
                    debug!(%list, worker = %target, "read repair incomplete: {err_text}");
                }
            }
            Purpose::Echo {
                client, client_id, ..
            } => self.finish_echo(client, client_id, msg, out),
            Purpose::EntropyDigest { .. } | Purpose::EntropyHeads { .. } => {
                self.on_entropy_reply(id, Some(&msg), now, out);
            }
            Purpose::HandoffFetch {
                list,
                source,
                home,
                req,
            } => {
                let reply = ok.then_some(msg);
                self.on_handoff_fetched(list, source, home, req, reply, now, out);
            }
            Purpose::HandoffPush {
                list,
                source,
                home,
                req,
            } => {
                let stored = ok && missing.is_empty();
                self.on_handoff_pushed(list, source, home, req, stored, out);
            }
        }
    }

    /// Start fills, answer the client once decided, finish when all is in.
    pub(super) fn advance(&mut self, req: u64, now: Instant, out: &mut Vec<Effect>) {
        self.release_held(req, now, out);
        self.start_fills(req, now, out);
        let Some(sync) = self.syncs.get_mut(&req) else {
            return;
        };
        let timed_out = now >= sync.deadline;
        if !sync.replied {
            let verdict = sync.quorum.verdict(timed_out);
            if verdict != Verdict::Pending {
                sync.replied = true;
                let reply = reply_for(sync, &verdict);
                out.push(Effect::ToClient(sync.client.clone(), reply));
                if sync.is_write && matches!(verdict, Verdict::Reached { .. }) {
                    let (list, heads) = (sync.list, sync.quorum.union().heads());
                    let writer = sync.client.route.clone();
                    let changes = sync.changes.clone();
                    self.push_notify(list, &heads, &writer, &changes, out);
                }
            }
        }
        let Some(sync) = self.syncs.get(&req) else {
            return;
        };
        if sync.replied && (timed_out || sync.quorum.all_resolved()) {
            let list = sync.list;
            let responders = sync.quorum.responders();
            if let Some(done) = self.syncs.remove(&req) {
                self.release(&done);
            }
            for t in plan_read_repair(&responders) {
                if self.repairs >= self.cfg.max_repairs {
                    debug!("repair budget exhausted; skipping");
                    break;
                }
                self.start_repair_fetch(list, t, now, out);
            }
        }
    }

    fn start_fills(&mut self, req: u64, now: Instant, out: &mut Vec<Effect>) {
        let Some(sync) = self.syncs.get_mut(&req) else {
            return;
        };
        let Some(source) = sync.quorum.fill_source() else {
            return;
        };
        let list = sync.list;
        let candidates = sync.quorum.fill_candidates();
        for (target, heads, missing) in candidates {
            if let Some(sync) = self.syncs.get_mut(&req) {
                sync.quorum.on_fill_started(&target);
            }
            let id = self.fresh_id();
            let fetch = Message::sync(id, list, heads.clone(), Vec::new());
            let purpose = Purpose::FillFetch {
                req,
                source: source.clone(),
                target: target.clone(),
                heads: heads.clone(),
                missing: missing.clone(),
            };
            if !self.send_to_worker(&source, purpose, id, fetch, now, out) {
                if let Some(sync) = self.syncs.get_mut(&req) {
                    sync.quorum.on_fill_failed(&target, heads, missing);
                }
            }
        }
    }

    /// Requests past their deadline count as failed; client syncs past
    /// theirs are decided.
    pub(super) fn expire_inflight(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let expired: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(entry) = self.inflight.remove(&id) else {
                continue;
            };
            match entry.purpose {
                Purpose::Replica { req, worker } => {
                    if let Some(sync) = self.syncs.get_mut(&req) {
                        sync.quorum.on_failed(&worker, false, "timeout".into());
                    }
                }
                Purpose::FillFetch {
                    req,
                    target,
                    heads,
                    missing,
                    ..
                } => {
                    if let Some(sync) = self.syncs.get_mut(&req) {
                        sync.quorum.on_fill_failed(&target, heads, missing);
                    }
                }
                Purpose::RepairFetch { list, target, .. }
                | Purpose::RepairPush { list, target } => {
                    self.finish_repair(list, &target);
                }
                Purpose::Echo {
                    client, client_id, ..
                } => {
                    let reply = Message::error(client_id, ErrorCode::Timeout, "echo timed out");
                    out.push(Effect::ToClient(client, reply));
                }
                Purpose::EntropyDigest { .. } | Purpose::EntropyHeads { .. } => {
                    self.on_entropy_reply(id, None, now, out);
                }
                Purpose::HandoffFetch { .. } | Purpose::HandoffPush { .. } => {
                    self.repairs = self.repairs.saturating_sub(1);
                }
            }
        }
        let due: Vec<u64> = self
            .syncs
            .iter()
            .filter(|(_, s)| s.deadline <= now || s.quorum.all_resolved())
            .map(|(id, _)| *id)
            .collect();
        for req in due {
            self.advance(req, now, out);
        }
    }
}

impl ProxyCore {
    /// Forget what a finished client sync counted against the caps.
    fn release(&mut self, done: &ClientSync) {
        let bytes: usize = done.changes.iter().map(|c| c.len()).sum();
        self.pending_bytes = self.pending_bytes.saturating_sub(bytes);
        if let Some(n) = self.pending_by_client.get_mut(&done.client.route) {
            *n -= 1;
            if *n == 0 {
                self.pending_by_client.remove(&done.client.route);
            }
        }
    }
}

/// The client's reply for a decided verdict.
/// A read's targets: the first `needed` homes in preference order to ask
/// now, and the rest (other homes, stand-ins, pending members) held.
fn split_read_targets(targets: Vec<Target>, needed: usize) -> (Vec<Target>, Vec<Target>) {
    let mut homes = 0;
    targets.into_iter().partition(|t| {
        let ask = t.role == Role::Home && homes < needed;
        if ask {
            homes += 1;
        }
        ask
    })
}

fn reply_for(sync: &ClientSync, verdict: &Verdict) -> Message {
    let id = sync.client_id;
    let union = sync.quorum.union();
    let synced = |acked: u32, missing: Vec<ChangeHash>, heads: Vec<ChangeHash>| {
        // The snapshot's document frames come first (PROTOCOL §4.2.1).
        let (snapshot, mut frames) = match union.snapshot() {
            Some((meta, doc)) if missing.is_empty() => (Some(meta.clone()), doc.clone()),
            _ => (None, Vec::new()),
        };
        frames.extend(union.changes().iter().cloned());
        Message::with_changes(
            Header::Synced {
                snapshot,
                id,
                list: sync.list,
                heads,
                missing,
                acked,
                rejected: Vec::new(),
                holds: sync.quorum.any_holds(),
            },
            frames,
        )
    };
    match verdict {
        Verdict::Reached { acked } => synced(*acked, Vec::new(), union.heads()),
        // The replicas' real heads, so the requester can send from there.
        Verdict::Missing { acked, missing } => {
            synced(*acked, missing.clone(), sync.quorum.reported_heads())
        }
        Verdict::BadChange { message } => {
            Message::error(id, super::refusal::refusal_code(message), message.clone())
        }
        Verdict::Unavailable { answered, needed } => Message::unavailable(id, *answered, *needed),
        Verdict::Pending => Message::error(id, ErrorCode::Internal, "undecided"),
    }
}
