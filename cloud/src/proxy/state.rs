//! The proxy's state machine, without sockets (STYLE §1).
//!
//! [`ProxyCore`] takes what arrived (a client's or a worker's payload frames
//! with its routing id) and `now`, and pushes [`Effect`]s: messages to send
//! to a client or a worker. The tokio adapter in [`super`] only moves bytes
//! and calls [`ProxyCore::on_tick`] periodically. Client ops other than
//! `sync` are answered here; the `sync` flow (quorum, fills, read repair,
//! notify) is in [`super::sync_flow`], the benchmark's `echo` relay in
//! [`super::echo`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::protocol::{
    ClusterMember, ErrorCode, Header, MemberState, Message, ProxyStats, WorkerStatus,
};
use engine::{ChangeHash, ListId, WorkerId};
use tracing::{debug, info, warn};

use crate::admission::{Admission, HelloOutcome};
use crate::members::MemberSet;
use crate::membership::{HeartbeatOutcome, Liveness, Membership};
use crate::placement::Placement;
use crate::quorum::SyncQuorum;
use crate::secret::ClusterSecret;
use crate::subscriptions::{SubscriptionLimits, Subscriptions};
use crate::transport::decode_frames;
use crate::transport::envelope::Envelope;

/// How often idle subscribers are looked for.
const SUBSCRIPTION_SWEEP: Duration = Duration::from_secs(1);

/// The proxy's tuning (the `proxy` subcommand's flags).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// N: replicas per list.
    pub replicas: usize,
    /// W: replicas that must store a write before the client is answered.
    pub write_quorum: usize,
    /// R: replicas that must answer a read.
    pub read_quorum: usize,
    /// Per-request deadline.
    pub timeout: Duration,
    /// A read goes to R homes first; the list's other targets are asked
    /// when one of those fails, or after this long without a verdict
    /// (zero: every target at once, as writes are).
    pub read_hedge: Duration,
    /// How often workers heartbeat (sent in `welcome`).
    pub heartbeat: Duration,
    /// A worker silent this long leaves the ring.
    pub worker_timeout: Duration,
    /// Bounds on subscriptions.
    pub subscriptions: SubscriptionLimits,
    /// Client syncs in progress before new ones get `overloaded`.
    pub max_pending: usize,
    /// Client syncs in progress from one connection before its new ones get
    /// `overloaded`.
    pub max_pending_per_client: usize,
    /// Change bytes held by client syncs in progress before new writes get
    /// `overloaded`.
    pub max_pending_bytes: usize,
    /// Background repair transfers in flight at once.
    pub max_repairs: usize,
    /// Time between anti-entropy passes that found nothing to repair.
    pub entropy_interval: Duration,
    /// Time after start before the first pass (heartbeats bring the member
    /// set first).
    pub entropy_settle: Duration,
    /// Anti-entropy list transfers started per tick (its rate limit).
    pub entropy_transfers_per_tick: usize,
    /// The cluster secret workers must prove (PROTOCOL §7.1); `None` admits
    /// every `hello` (allowed only on a loopback backend).
    pub secret: Option<ClusterSecret>,
    /// The frontend's connection caps (`--max-connections`,
    /// `--max-per-source`).
    pub caps: super::caps::Caps,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            replicas: 3,
            write_quorum: 2,
            read_quorum: 2,
            timeout: Duration::from_millis(2000),
            read_hedge: Duration::from_millis(50),
            heartbeat: Duration::from_millis(500),
            worker_timeout: Duration::from_millis(2000),
            subscriptions: SubscriptionLimits::default(),
            max_pending: 10_000,
            max_pending_per_client: 64,
            max_pending_bytes: 64 * 1024 * 1024,
            max_repairs: 256,
            entropy_interval: Duration::from_secs(2),
            entropy_settle: Duration::from_millis(1000),
            entropy_transfers_per_tick: 16,
            secret: None,
            caps: super::caps::Caps::default(),
        }
    }
}

/// Something the adapter must send.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// To a client, through the frontend ROUTER.
    ToClient(Envelope, Message),
    /// To a worker (its routing id), through the backend ROUTER.
    ToWorker(Bytes, Message),
}

/// One client `sync` in progress.
#[derive(Debug)]
pub(super) struct ClientSync {
    pub client: Envelope,
    pub client_id: u64,
    pub list: ListId,
    pub have: Vec<ChangeHash>,
    pub changes: Vec<Bytes>,
    pub is_write: bool,
    /// The requester has nothing and accepts a snapshot (PROTOCOL §4.2.1).
    pub snapshot_ok: bool,
    pub quorum: SyncQuorum,
    pub replied: bool,
    pub deadline: Instant,
    /// A read's targets not asked yet (see [`ProxyConfig::read_hedge`]).
    pub held: Vec<crate::placement::Target>,
    /// When `held` is asked anyway.
    pub hedge_at: Instant,
}

/// What a request the proxy sent to a worker was for.
#[derive(Debug, Clone)]
pub(super) enum Purpose {
    /// The client's `sync` (or a fill's push) to one of its replicas.
    Replica { req: u64, worker: WorkerId },
    /// Fetching from `source` what `target` lacks, for request `req`.
    FillFetch {
        req: u64,
        source: WorkerId,
        target: WorkerId,
        heads: Vec<ChangeHash>,
        missing: Vec<ChangeHash>,
    },
    /// Read repair: fetching from `source` what `target` lacks.
    RepairFetch {
        list: ListId,
        source: WorkerId,
        target: WorkerId,
    },
    /// Read repair: pushing to `target`.
    RepairPush { list: ListId, target: WorkerId },
    /// A client's `echo` relayed to one replica (see [`super::echo`]).
    Echo {
        client: Envelope,
        client_id: u64,
        worker: WorkerId,
    },
    /// Hinted handoff: fetching the list from the stand-in `source`.
    HandoffFetch {
        list: ListId,
        source: WorkerId,
        home: WorkerId,
        req: u64,
    },
    /// Hinted handoff: pushing it to `home`.
    HandoffPush {
        list: ListId,
        source: WorkerId,
        home: WorkerId,
        req: u64,
    },
    /// Anti-entropy: a `digest` request.
    EntropyDigest { worker: WorkerId },
    /// Anti-entropy: a `list_heads_in` request.
    EntropyHeads { worker: WorkerId },
}

impl Purpose {
    /// The worker expected to answer.
    pub(super) fn responder(&self) -> &WorkerId {
        match self {
            Purpose::Replica { worker, .. } => worker,
            Purpose::FillFetch { source, .. } | Purpose::RepairFetch { source, .. } => source,
            Purpose::RepairPush { target, .. } | Purpose::Echo { worker: target, .. } => target,
            Purpose::EntropyDigest { worker } | Purpose::EntropyHeads { worker } => worker,
            Purpose::HandoffFetch { source, .. } => source,
            Purpose::HandoffPush { home, .. } => home,
        }
    }
}

/// A request to a worker awaiting its answer.
#[derive(Debug, Clone)]
pub(super) struct Inflight {
    pub purpose: Purpose,
    pub deadline: Instant,
}

/// The proxy. See the module docs.
#[derive(Debug)]
pub struct ProxyCore {
    pub(super) cfg: ProxyConfig,
    /// Who belongs to the cluster (gossiped; PROTOCOL §7.2).
    pub(super) cluster: MemberSet,
    /// Where lists live, derived from `cluster`.
    pub(super) placement: Placement,
    pub(super) members: Membership,
    pub(super) admission: Admission,
    pub(super) subs: Subscriptions,
    pub(super) syncs: HashMap<u64, ClientSync>,
    pub(super) inflight: HashMap<u64, Inflight>,
    pub(super) repairs: usize,
    /// Damaged replicas being rebuilt: (list, worker).
    pub(super) rebuilding: std::collections::HashSet<(ListId, WorkerId)>,
    /// Client syncs in progress per client connection.
    pub(super) pending_by_client: HashMap<Bytes, usize>,
    /// Change bytes held by client syncs in progress.
    pub(super) pending_bytes: usize,
    /// Requests answered `overloaded` since the start.
    pub(super) overloaded: u64,
    /// The frontend guard's counters, as the adapter last set them.
    guard_stats: ProxyStats,
    /// The anti-entropy pass in progress.
    pub(super) entropy: Option<super::entropy::Running>,
    /// When the next pass may start.
    pub(super) entropy_next: Option<Instant>,
    /// Anti-entropy counters.
    pub(super) entropy_stats: super::entropy::EntropyStats,
    /// The first tick (anti-entropy waits a settle time after it).
    pub(super) first_tick: Option<Instant>,
    /// Workers' reports of writes other proxies sent (notify across proxies).
    pub(super) relays: super::relay::Relays,
    next_id: u64,
    next_expiry: Option<Instant>,
}

impl ProxyCore {
    /// A proxy with no workers yet.
    pub fn new(cfg: ProxyConfig) -> Self {
        ProxyCore {
            members: Membership::new(cfg.worker_timeout),
            admission: Admission::new(cfg.secret.clone()),
            subs: Subscriptions::new(cfg.subscriptions),
            cluster: MemberSet::new(),
            placement: Placement::default(),
            syncs: HashMap::new(),
            inflight: HashMap::new(),
            repairs: 0,
            rebuilding: std::collections::HashSet::new(),
            pending_by_client: HashMap::new(),
            pending_bytes: 0,
            overloaded: 0,
            guard_stats: ProxyStats::default(),
            entropy: None,
            entropy_next: None,
            entropy_stats: Default::default(),
            first_tick: None,
            relays: Default::default(),
            next_id: 1,
            next_expiry: None,
            cfg,
        }
    }

    /// A fresh id for a request the proxy sends.
    pub(super) fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// Client syncs in progress.
    pub fn pending(&self) -> usize {
        self.syncs.len()
    }

    fn apply(&mut self, changes: impl IntoIterator<Item = Liveness>) {
        for c in changes {
            match c {
                Liveness::Joined(w) => info!(worker = %w, "worker is live"),
                Liveness::Left(w) => {
                    warn!(worker = %w, "worker went silent; stand-ins take its writes")
                }
            }
        }
    }

    /// Merge a member set heard from a worker (or raise one member); the
    /// placement follows.
    pub(super) fn merge_members(&mut self, members: &[ClusterMember]) {
        if self.cluster.merge(members) {
            self.on_members_changed();
        }
    }

    /// Raise one member's state.
    pub(super) fn raise_member(&mut self, worker: &WorkerId, state: MemberState) {
        if self.cluster.raise(worker, state) {
            self.on_members_changed();
        }
    }

    fn on_members_changed(&mut self) {
        info!(members = ?self.cluster.to_wire(), "member set changed");
        self.placement = Placement::new(&self.cluster, self.cfg.replicas);
    }

    /// Whether `worker` is live (admitted, not silent).
    pub(super) fn is_live(&self, worker: &WorkerId) -> bool {
        self.members.route_of(worker).is_some()
    }

    /// Payload frames from a client.
    pub fn on_client(
        &mut self,
        env: Envelope,
        frames: &[Bytes],
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        self.subs.touch(&env.route, now);
        let msg = match decode_frames(frames) {
            Ok(m) => m,
            Err(reply) => {
                debug!("undecodable client message");
                out.push(Effect::ToClient(env, *reply));
                return;
            }
        };
        let reply = match msg.header {
            // `hint_for` is proxy → worker only; a client's is ignored.
            Header::Sync {
                id,
                list,
                have,
                snapshot_ok,
                ..
            } => {
                self.start_sync(env, id, list, have, msg.changes, snapshot_ok, now, out);
                return;
            }
            ref h @ (Header::Subscribe { .. } | Header::Unsubscribe { .. }) => {
                match self.on_subscription(&env, h, now) {
                    Some(reply) => reply,
                    None => return,
                }
            }
            Header::Ping { id } => Message::new(Header::Pong { id }),
            Header::Retire { id, worker, proof } => self.on_retire(id, &worker, &proof),
            Header::ClusterStatus { id } => Message::new(Header::ClusterStatusOk {
                id,
                workers: self.status(now),
                proxy: Some(self.proxy_stats()),
            }),
            Header::Echo { id, list } => {
                self.start_echo(env, id, list, msg.changes, now, out);
                return;
            }
            Header::Where { id, list } => Message::new(Header::WhereOk {
                id,
                list,
                replicas: self.placement.homes(&list),
            }),
            other => Message::error(
                other.id(),
                ErrorCode::UnknownOp,
                format!("`{}` is not a request a proxy serves", other.op()),
            ),
        };
        out.push(Effect::ToClient(env, reply));
    }

    /// The proxy's own counters: the core's, plus the frontend guard's as
    /// last reported by the adapter ([`ProxyCore::set_guard_stats`]).
    pub fn proxy_stats(&self) -> ProxyStats {
        ProxyStats {
            overloaded: self.overloaded,
            workers_refused: self.admission.refused(),
            entropy_passes: self.entropy_stats.passes,
            entropy_transfers: self.entropy_stats.transfers,
            entropy_last_dirty: self.entropy_stats.last_dirty,
            ..self.guard_stats
        }
    }

    /// The frontend guard's counters (connections, evictions, pauses).
    pub fn set_guard_stats(&mut self, stats: ProxyStats) {
        self.guard_stats = stats;
    }

    /// Every known worker with liveness, ring share, authentication, the
    /// age of its last message and its own counters, as of `now`.
    pub fn status(&self, now: Instant) -> Vec<WorkerStatus> {
        let shares: HashMap<WorkerId, f64> = self.placement.shares().into_iter().collect();
        self.members
            .members()
            .map(|(id, m)| WorkerStatus {
                id: id.clone(),
                alive: m.alive,
                share: if m.alive {
                    shares.get(id).copied().unwrap_or(0.0)
                } else {
                    0.0
                },
                authenticated: m.authenticated,
                heartbeat_age_ms: u64::try_from(
                    now.saturating_duration_since(m.last_seen).as_millis(),
                )
                .unwrap_or(u64::MAX),
                stats: m.stats,
                state: self.cluster.state(id),
            })
            .collect()
    }

    /// Payload frames from the worker on `route`.
    pub fn on_worker(
        &mut self,
        route: Bytes,
        frames: &[Bytes],
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        let joined = self.members.touch(&route, now);
        self.apply(joined);
        let msg = match decode_frames(frames) {
            Ok(m) => m,
            Err(reply) => {
                warn!("undecodable message from a worker: {:?}", reply.header);
                return;
            }
        };
        match msg.header {
            Header::Hello {
                id, worker, nonce, ..
            } => match self
                .admission
                .on_hello(route.clone(), id, &worker, nonce, now)
            {
                HelloOutcome::AdmitOpen => self.admit(&worker, route, id, false, now, out),
                HelloOutcome::Challenge(challenge) => {
                    debug!(worker = %worker, "challenging a backend connection");
                    out.push(Effect::ToWorker(route, Message::new(challenge)));
                }
            },
            Header::Auth { id, worker, proof } => {
                match self.admission.on_auth(&route, &worker, &proof, now) {
                    Ok(()) => self.admit(&worker, route, id, true, now, out),
                    Err(refusal) => {
                        warn!(
                            worker = %worker,
                            refused = self.admission.refused(),
                            "backend connection refused: {refusal}; it is not in the ring"
                        );
                        out.push(Effect::ToWorker(
                            route,
                            Message::error(id, ErrorCode::Unauthorized, refusal.to_string()),
                        ));
                    }
                }
            }
            Header::Heartbeat {
                id,
                worker,
                stats,
                members,
            } => {
                match self.members.on_heartbeat(&worker, &route, now) {
                    HeartbeatOutcome::Echo(joined) => {
                        self.apply(joined);
                        if let Some(stats) = stats {
                            self.members.record_stats(&route, stats);
                        }
                        // Only an admitted worker's set is merged.
                        self.merge_members(&members);
                        out.push(Effect::ToWorker(
                            route,
                            Message::new(Header::Heartbeat {
                                id,
                                worker,
                                stats: None,
                                members: self.cluster.to_wire(),
                            }),
                        ));
                    }
                    HeartbeatOutcome::NotFound => out.push(Effect::ToWorker(
                        route,
                        Message::error(id, ErrorCode::NotFound, "unknown worker: send hello"),
                    )),
                }
            }
            Header::Synced { .. }
            | Header::Error { .. }
            | Header::EchoOk { .. }
            | Header::DigestOk { .. }
            | Header::ListHeadsOk { .. } => {
                self.on_reply(&route, msg, now, out);
            }
            Header::Repair { list, .. } => self.on_repair_request(&route, list, now, out),
            Header::Handoff { id, list, home } => self.on_handoff(&route, id, list, home, now, out),
            Header::Notify { list, heads, .. } => {
                self.on_relayed_notify(&route, list, heads, now, out)
            }
            Header::Pong { .. } => {}
            other => debug!(op = other.op(), "ignoring worker message"),
        }
    }

    /// Register `worker` on `route` and welcome it (after its proof, or at
    /// once on a proxy without a secret).
    fn admit(
        &mut self,
        worker: &WorkerId,
        route: Bytes,
        id: u64,
        authenticated: bool,
        now: Instant,
        out: &mut Vec<Effect>,
    ) {
        info!(worker = %worker, authenticated, "worker admitted");
        let changes = self
            .members
            .admit(worker, route.clone(), authenticated, now);
        self.apply(changes);
        // A new member joins; one the set already has keeps its state.
        self.raise_member(worker, MemberState::Joining);
        let heartbeat_ms = self.cfg.heartbeat.as_millis() as u64;
        out.push(Effect::ToWorker(
            route,
            Message::new(Header::Welcome {
                id,
                heartbeat_ms,
                members: self.cluster.to_wire(),
            }),
        ));
    }

    /// A client connection turned out to be gone (a send to it failed).
    pub fn on_client_gone(&mut self, route: &Bytes) {
        self.subs.drop_client(route);
    }

    /// Time passed: membership timeouts, request deadlines, idle subscribers.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let left = self.members.tick(now);
        self.apply(left);
        self.admission.expire(now);
        if self.next_expiry.is_none_or(|t| now >= t) {
            self.subs.expire(now);
            self.relays.expire(now);
            self.next_expiry = Some(now + SUBSCRIPTION_SWEEP);
        }
        self.expire_inflight(now, out);
        self.hedge_reads(now, out);
        self.entropy_tick(now, out);
    }

    /// The list's home replicas (for tests and `where`).
    pub fn replicas_of(&self, list: &ListId) -> Vec<WorkerId> {
        self.placement.homes(list)
    }

    /// An administrator's `retire` (PROTOCOL §7.2): with a valid proof,
    /// the member becomes `leaving`; anti-entropy copies its lists to their
    /// next homes and then makes it `retired`.
    fn on_retire(
        &mut self,
        id: u64,
        worker: &WorkerId,
        proof: &engine::protocol::Token,
    ) -> Message {
        let Some(secret) = &self.cfg.secret else {
            return Message::error(
                id,
                ErrorCode::Unauthorized,
                "retiring a worker needs a proxy with a cluster secret",
            );
        };
        if !secret.verify_retire(worker, proof) {
            warn!(worker = %worker, "retire refused: wrong proof");
            return Message::error(id, ErrorCode::Unauthorized, "wrong cluster secret");
        }
        let Some(state) = self.cluster.state(worker) else {
            return Message::error(id, ErrorCode::NotFound, format!("{worker} is not a member"));
        };
        if state < MemberState::Leaving {
            let remaining = self
                .cluster
                .iter()
                .filter(|(w, s)| {
                    *w != worker && matches!(s, MemberState::Ready | MemberState::Joining)
                })
                .count();
            if remaining < self.cfg.replicas {
                return Message::error(
                    id,
                    ErrorCode::Unavailable,
                    format!(
                        "retiring {worker} would leave {remaining} members for {} replicas per list",
                        self.cfg.replicas
                    ),
                );
            }
            info!(worker = %worker, "retiring: its lists move to their next homes first");
            self.raise_member(worker, MemberState::Leaving);
        }
        Message::new(Header::RetireOk {
            id,
            worker: worker.clone(),
            state: self.cluster.state(worker).unwrap_or(state),
        })
    }

    /// The member set as this proxy knows it.
    pub fn member_set(&self) -> &MemberSet {
        &self.cluster
    }
}
