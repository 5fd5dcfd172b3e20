//! [`LiveSession`]: the sans-IO state machine of live sync. See
//! [`crate::live`] for the rules; the driver is [`crate::watch::Watcher`].
//!
//! The driver feeds [`Event`]s with the current time and executes the
//! returned [`Effect`]s in order; an effect's result comes back as another
//! event ([`Effect::Scan`] → [`Event::Scanned`], [`Effect::Sync`] →
//! [`Event::SyncDone`], [`Effect::Subscribe`] → [`Event::Subscribed`]).
//! A sync effect means "run one list's sync now": push everything pending
//! (in batches within the protocol's limits) and apply the reply's changes
//! in one store call ([`crate::sync::sync_list`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use engine::{ChangeHash, ListId};
use shoplist_net::{Backoff, BackoffPolicy};

use crate::watch::WatchEvent;

/// Timing of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How often the store is scanned for edits by other processes and new lists.
    pub local_poll: Duration,
    /// How often the subscriptions are checked (a liveness probe too).
    pub recheck: Duration,
    /// Longest wait between reconnection attempts while offline.
    pub offline_retry_max: Duration,
    /// First wait before a list whose sync failed (quorum not reached,
    /// store error) is tried again; doubles up to `list_retry_max`.
    pub list_retry_first: Duration,
    /// Longest wait before a failed list is tried again.
    pub list_retry_max: Duration,
    /// Only these lists (`sync --watch LIST...`), or every list in the store.
    pub only: Option<Vec<ListId>>,
    /// Seed of the backoff jitter (printed by tests; random in production).
    pub seed: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            local_poll: Duration::from_millis(200),
            recheck: Duration::from_secs(3),
            offline_retry_max: Duration::from_secs(5),
            list_retry_first: Duration::from_secs(2),
            list_retry_max: Duration::from_secs(30),
            only: None,
            seed: 0,
        }
    }
}

/// One list as the local store scan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedList {
    /// The list.
    pub list: ListId,
    /// Local changes the cloud has not acknowledged.
    pub pending: usize,
    /// Its local heads.
    pub heads: Vec<ChangeHash>,
}

/// How one list's sync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Settled: changes pushed and received.
    Synced {
        /// The list's name (may be empty when the driver does not look it up).
        name: String,
        /// Changes sent.
        sent: usize,
        /// Changes received and applied (in one store call per reply).
        received: usize,
        /// Local changes still unacknowledged.
        pending: usize,
        /// The list's heads after the sync (when changes were received).
        heads: Vec<ChangeHash>,
    },
    /// The proxy answered, but the list's replicas did not reach their quorum.
    Unavailable(String),
    /// The cloud could not be reached.
    Offline(String),
    /// The local store failed during the sync.
    StoreFailed(String),
    /// Any other failure (a refused change, no progress): not retried until
    /// the list changes.
    Failed(String),
}

/// Something that happened, fed to [`LiveSession::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed (the wake-up the session asked for, or any other).
    Tick,
    /// A process in this one edited `list` ([`crate::live::LiveHandle`]).
    Edited(ListId),
    /// The cloud pushed new heads of `list`; `known`: we already have them all.
    Notify {
        /// The list.
        list: ListId,
        /// Whether every notified head is in the local store.
        known: bool,
    },
    /// The driver applied the changes a `notify` carried (PROTOCOL §6.2,
    /// [`crate::sync::apply_pushed`]); the [`Event::Notify`] that follows
    /// says whether a sync is still needed.
    PushApplied {
        /// The list.
        list: ListId,
        /// Its name (may be empty when the driver does not look it up).
        name: String,
        /// Changes applied.
        received: usize,
        /// Local changes still unacknowledged.
        pending: usize,
        /// The list's heads afterwards.
        heads: Vec<ChangeHash>,
    },
    /// The result of [`Effect::Scan`].
    Scanned(Vec<ScannedList>),
    /// The result of [`Effect::Subscribe`]: the subscription set the proxy
    /// reported, or why the cloud could not be reached.
    Subscribed {
        /// What was asked.
        kind: SubscribeKind,
        /// The client's connection generation after the request.
        generation: u64,
        /// The proxy's subscription set for this connection, or the failure.
        result: Result<Vec<ListId>, String>,
    },
    /// The result of [`Effect::Sync`].
    SyncDone {
        /// The list.
        list: ListId,
        /// How it ended.
        outcome: SyncOutcome,
    },
    /// The client opened connection `generation` (possibly a failover).
    Connected {
        /// The client's connection counter.
        generation: u64,
    },
    /// The client dropped its connection (the proxy fell silent).
    Disconnected,
    /// A store operation of the driver failed outside a sync (the scan,
    /// checking a notify's heads).
    StoreFailed {
        /// The list concerned, if one.
        list: Option<ListId>,
        /// What failed.
        message: String,
    },
}

/// Why a subscribe request is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeKind {
    /// Renew every subscription (start, reconnect, proxy forgot us), then
    /// sync every list.
    Renew(Vec<ListId>),
    /// Add lists new since the last scan, then sync them.
    Add(Vec<ListId>),
    /// Ask for the current set (no lists): did the proxy forget us?
    Check,
}

/// Something the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Read the store: list ids, pending counts, heads. Answer with
    /// [`Event::Scanned`] (or [`Event::StoreFailed`]).
    Scan,
    /// Send a `subscribe`; answer with [`Event::Subscribed`].
    Subscribe(SubscribeKind),
    /// Sync one list now (everything pending in one request when it fits;
    /// apply each reply in one store call); answer with [`Event::SyncDone`].
    Sync(ListId),
    /// Tell the user.
    Report(WatchEvent),
    /// Feed [`Event::Tick`] at this instant at the latest.
    WakeAt(Instant),
}

/// Per-list state.
#[derive(Debug)]
struct ListState {
    /// A sync of this list is running.
    in_flight: bool,
    /// A sync is wanted (an edit, a notify with unknown heads, a new list),
    /// the next time one may start.
    wanted: bool,
    /// No sync before this (after a failure).
    retry_at: Option<Instant>,
    backoff: Backoff,
    /// Heads at a sync that failed for good: not retried until they change.
    stuck_at: Option<Vec<ChangeHash>>,
    /// Heads at the last scan.
    heads: Vec<ChangeHash>,
}

/// The live-sync state machine. See the module docs.
#[derive(Debug)]
pub struct LiveSession {
    cfg: SessionConfig,
    lists: BTreeMap<ListId, ListState>,
    subscribed: BTreeSet<ListId>,
    online: Option<bool>,
    full_round_due: bool,
    subscribe_in_flight: bool,
    scan_in_flight: bool,
    next_poll: Instant,
    next_recheck: Instant,
    retry_at: Instant,
    offline_backoff: Backoff,
    round_generation: u64,
    seeds: u64,
}

impl LiveSession {
    /// A session starting at `now`: its first tick scans the store and
    /// renews the subscriptions.
    pub fn new(cfg: SessionConfig, now: Instant) -> Self {
        let offline_backoff = Backoff::with_seed(
            BackoffPolicy {
                first: Duration::from_millis(250),
                ceiling: cfg.offline_retry_max,
                max_attempts: 64,
                max_total: Duration::from_secs(600),
            },
            cfg.seed,
        );
        let mut s = LiveSession {
            lists: BTreeMap::new(),
            subscribed: BTreeSet::new(),
            online: None,
            full_round_due: true,
            subscribe_in_flight: false,
            scan_in_flight: false,
            next_poll: now,
            next_recheck: now + cfg.recheck,
            retry_at: now,
            offline_backoff,
            round_generation: 0,
            seeds: cfg.seed,
            cfg,
        };
        if let Some(only) = s.cfg.only.clone() {
            for l in only {
                s.entry(l);
            }
        }
        s
    }

    /// Whether a sync of `list` is running.
    pub fn in_flight(&self, list: ListId) -> bool {
        self.lists.get(&list).is_some_and(|l| l.in_flight)
    }

    /// Whether a next sync of `list` is already wanted (queued behind the
    /// one in flight, or waiting for its turn). A `notify` for such a list
    /// changes nothing whatever its heads, so the driver need not check
    /// them against the store.
    pub fn sync_wanted(&self, list: ListId) -> bool {
        self.lists.get(&list).is_some_and(|l| l.wanted)
    }

    /// The lists the proxy was last told to push for.
    pub fn subscribed(&self) -> impl Iterator<Item = &ListId> {
        self.subscribed.iter()
    }

    fn entry(&mut self, list: ListId) -> &mut ListState {
        let policy = BackoffPolicy {
            first: self.cfg.list_retry_first,
            ceiling: self.cfg.list_retry_max,
            max_attempts: 1024,
            max_total: Duration::from_secs(24 * 3600),
        };
        self.seeds = self.seeds.wrapping_add(1);
        let seed = self.seeds;
        self.lists.entry(list).or_insert_with(|| ListState {
            in_flight: false,
            wanted: false,
            retry_at: None,
            backoff: Backoff::with_seed(policy, seed),
            stuck_at: None,
            heads: Vec::new(),
        })
    }

    fn ours(&self, list: ListId) -> bool {
        match &self.cfg.only {
            Some(only) => only.contains(&list),
            None => true,
        }
    }

    /// Handle one event at `now`; the effects to execute, in order. The
    /// last one is always the next [`Effect::WakeAt`].
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            Event::Tick => self.on_tick(now, &mut out),
            Event::Edited(list) => {
                if self.ours(list) {
                    let known = self.lists.contains_key(&list);
                    let l = self.entry(list);
                    l.wanted = true;
                    l.stuck_at = None;
                    if !known {
                        // A list new to us: the scan subscribes it.
                        self.next_poll = now;
                    }
                }
            }
            Event::Notify { list, known } => {
                if !known && self.ours(list) && self.lists.contains_key(&list) {
                    self.entry(list).wanted = true;
                }
            }
            Event::PushApplied {
                list,
                name,
                received,
                pending,
                heads,
            } => {
                if self.ours(list) && self.lists.contains_key(&list) {
                    out.push(Effect::Report(WatchEvent::Received {
                        id: list,
                        name,
                        received,
                        pending,
                        heads,
                    }));
                }
            }
            Event::Scanned(scan) => self.on_scanned(now, scan, &mut out),
            Event::Subscribed {
                kind,
                generation,
                result,
            } => self.on_subscribed(now, kind, generation, result, &mut out),
            Event::SyncDone { list, outcome } => self.on_sync_done(now, list, outcome, &mut out),
            Event::Connected { generation } => {
                if generation > self.round_generation {
                    self.full_round_due = true;
                    self.next_poll = now;
                }
            }
            Event::Disconnected => {
                self.full_round_due = true;
                self.next_poll = now;
            }
            Event::StoreFailed { list, message } => {
                self.scan_in_flight = false;
                out.push(Effect::Report(WatchEvent::StoreError { id: list, message }));
            }
        }
        self.pump(now, &mut out);
        out.push(Effect::WakeAt(self.next_wake(now)));
        out
    }

    /// The latest instant the driver should feed [`Event::Tick`].
    fn next_wake(&self, now: Instant) -> Instant {
        let mut at = self.next_poll.max(now);
        if self.online == Some(false) {
            at = at.max(self.retry_at);
        } else {
            at = at.min(self.next_recheck.max(now));
            for l in self.lists.values() {
                if let (true, false, Some(r)) = (l.wanted, l.in_flight, l.retry_at) {
                    at = at.min(r.max(now));
                }
            }
        }
        at
    }

    fn offline_wait(&self, now: Instant) -> bool {
        self.online == Some(false) && now < self.retry_at
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if self.offline_wait(now) {
            return;
        }
        if (now >= self.next_poll || self.full_round_due) && !self.scan_in_flight {
            self.next_poll = now + self.cfg.local_poll;
            self.scan_in_flight = true;
            out.push(Effect::Scan);
        }
        if now >= self.next_recheck && !self.full_round_due && !self.subscribe_in_flight {
            self.next_recheck = now + self.cfg.recheck;
            self.subscribe_in_flight = true;
            out.push(Effect::Subscribe(SubscribeKind::Check));
        }
    }

    fn on_scanned(&mut self, now: Instant, scan: Vec<ScannedList>, out: &mut Vec<Effect>) {
        self.scan_in_flight = false;
        let mut lists: Vec<ListId> = match &self.cfg.only {
            Some(only) => only.clone(),
            None => scan.iter().map(|s| s.list).collect(),
        };
        lists.sort();
        lists.dedup();
        for s in &scan {
            if !self.ours(s.list) {
                continue;
            }
            let l = self.entry(s.list);
            if l.stuck_at.as_ref().is_some_and(|h| *h != s.heads) {
                l.stuck_at = None;
            }
            l.heads = s.heads.clone();
            if s.pending > 0 && l.stuck_at.is_none() {
                l.wanted = true;
            }
        }
        for l in &lists {
            self.entry(*l);
        }
        if self.subscribe_in_flight || self.offline_wait(now) {
            return;
        }
        if self.full_round_due {
            self.subscribe_in_flight = true;
            out.push(Effect::Subscribe(SubscribeKind::Renew(lists)));
            return;
        }
        let new: Vec<ListId> = lists
            .into_iter()
            .filter(|l| !self.subscribed.contains(l))
            .collect();
        if !new.is_empty() {
            self.subscribe_in_flight = true;
            out.push(Effect::Subscribe(SubscribeKind::Add(new)));
        }
    }

    fn on_subscribed(
        &mut self,
        now: Instant,
        kind: SubscribeKind,
        generation: u64,
        result: Result<Vec<ListId>, String>,
        out: &mut Vec<Effect>,
    ) {
        self.subscribe_in_flight = false;
        let set = match result {
            Ok(set) => set,
            Err(reason) => return self.went_offline(now, reason, out),
        };
        self.set_online(true, String::new(), out);
        match kind {
            SubscribeKind::Check => {
                if !self.subscribed.iter().all(|l| set.contains(l)) {
                    // The proxy forgot us (restart or failover).
                    self.full_round_due = true;
                    self.next_poll = now;
                }
            }
            SubscribeKind::Renew(lists) => {
                self.subscribed = lists.iter().copied().collect();
                self.round_generation = generation;
                self.full_round_due = false;
                self.next_recheck = now + self.cfg.recheck;
                // Pushes may have been missed: sync every list.
                for l in lists {
                    self.entry(l).wanted = true;
                }
            }
            SubscribeKind::Add(lists) => {
                for l in lists {
                    self.subscribed.insert(l);
                    self.entry(l).wanted = true;
                }
            }
        }
    }

    fn on_sync_done(
        &mut self,
        now: Instant,
        list: ListId,
        outcome: SyncOutcome,
        out: &mut Vec<Effect>,
    ) {
        let retry_max = self.cfg.list_retry_max;
        let l = self.entry(list);
        l.in_flight = false;
        match outcome {
            SyncOutcome::Synced {
                name,
                sent,
                received,
                pending,
                heads,
            } => {
                l.retry_at = None;
                l.backoff.reset();
                self.set_online(true, String::new(), out);
                if received > 0 {
                    out.push(Effect::Report(WatchEvent::Received {
                        id: list,
                        name: name.clone(),
                        received,
                        pending,
                        heads,
                    }));
                }
                if sent > 0 {
                    out.push(Effect::Report(WatchEvent::Pushed {
                        id: list,
                        name,
                        sent,
                        pending,
                    }));
                }
            }
            SyncOutcome::Unavailable(message) => {
                l.wanted = true;
                l.retry_at = Some(now + l.backoff.next_delay().unwrap_or(retry_max));
                self.set_online(true, String::new(), out);
                out.push(Effect::Report(WatchEvent::Unavailable {
                    id: list,
                    message,
                }));
            }
            SyncOutcome::StoreFailed(message) => {
                l.wanted = true;
                l.retry_at = Some(now + l.backoff.next_delay().unwrap_or(retry_max));
                out.push(Effect::Report(WatchEvent::StoreError {
                    id: Some(list),
                    message,
                }));
            }
            SyncOutcome::Failed(message) => {
                // Not retried until the list changes (a new edit or new heads),
                // unless something new arrived meanwhile.
                if !l.wanted {
                    l.stuck_at = Some(l.heads.clone());
                }
                out.push(Effect::Report(WatchEvent::Error { id: list, message }));
            }
            SyncOutcome::Offline(reason) => {
                l.wanted = true;
                self.went_offline(now, reason, out);
            }
        }
    }

    /// Start a sync of every list that wants one and may have one now.
    fn pump(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if self.online != Some(true) || self.full_round_due {
            return;
        }
        for (id, l) in self.lists.iter_mut() {
            let due = l.retry_at.is_none_or(|r| now >= r);
            if l.wanted && !l.in_flight && due && self.subscribed.contains(id) {
                l.wanted = false;
                l.in_flight = true;
                out.push(Effect::Sync(*id));
            }
        }
    }

    fn set_online(&mut self, online: bool, reason: String, out: &mut Vec<Effect>) {
        if self.online == Some(online) {
            return;
        }
        self.online = Some(online);
        if online {
            self.offline_backoff.reset();
            out.push(Effect::Report(WatchEvent::Online));
        } else {
            self.subscribed.clear();
            out.push(Effect::Report(WatchEvent::Offline { reason }));
        }
    }

    fn went_offline(&mut self, now: Instant, reason: String, out: &mut Vec<Effect>) {
        self.set_online(false, reason, out);
        self.full_round_due = true;
        let delay = self.offline_backoff.next_delay().unwrap_or_else(|| {
            // A long outage used up a round: start another.
            self.offline_backoff.reset();
            self.offline_backoff
                .next_delay()
                .unwrap_or(self.cfg.offline_retry_max)
        });
        self.retry_at = now + delay;
        self.next_poll = self.retry_at;
    }
}
