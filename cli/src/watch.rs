//! Live sync (`sync --watch` and the interactive mode's background task).
//!
//! A [`Watcher`] keeps the device's lists in step with the cloud:
//!
//! - it subscribes to the lists (all of the store's, or the ones named) and
//!   syncs a list **as soon as** a `notify` for it arrives whose heads are not
//!   all known locally (no polling timer on the remote side);
//! - every [`WatchOptions::local_poll`] it cheaply checks the store for edits
//!   made by any process (another `shoplist` command, the TUI) that the cloud
//!   has not acknowledged, and for new lists, and pushes them;
//! - every [`WatchOptions::recheck`] it asks the proxy for this connection's
//!   subscriptions (`subscribe` with no lists): a proxy that restarted or a
//!   failover to another proxy has lost them, so they are renewed and every
//!   list is synced (pushes may have been missed). A new connection
//!   ([`ClientEvent::Connected`]) does the same, unless it is the one the
//!   last renewal itself opened (so a failover costs one round, not two);
//! - a dropped connection (the client's liveness probes found the proxy
//!   silent and failed over, [`ClientEvent::Disconnected`]) makes the next
//!   tick renew the subscriptions on the next proxy and sync every list;
//! - while the cloud is unreachable it reports [`WatchEvent::Offline`] and
//!   retries with jittered backoff ([`shoplist_net::Backoff`]); edits keep
//!   working locally meanwhile;
//! - a list whose replicas did not reach their quorum (`unavailable`: the
//!   proxy answered, so the cloud is not offline) is reported as
//!   [`WatchEvent::Unavailable`] and retried after
//!   [`UNAVAILABLE_RETRY`]; subscriptions stay and nothing else is resynced.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use engine::store::Store;
use engine::{ChangeHash, ListId};
use serde::Serialize;
use shoplist_net::{Backoff, BackoffPolicy};
use tokio::sync::mpsc;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::sync::{sync_list, SyncError, SyncReport};
use crate::sync_client::{ClientError, ClientEvent, SyncClient};

/// How long a list whose quorum failed waits before it is pushed again.
pub const UNAVAILABLE_RETRY: Duration = Duration::from_secs(2);

/// Timing of a watcher.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often the local store is checked for unpushed edits and new lists.
    pub local_poll: Duration,
    /// How often the subscriptions are checked (a liveness probe too).
    pub recheck: Duration,
    /// Longest wait between reconnection attempts while offline (every
    /// wait is below it).
    pub offline_retry_max: Duration,
}

impl WatchOptions {
    /// The backoff between reconnection attempts while offline. A round is
    /// bounded; the watcher runs until stopped, so it starts another.
    fn offline_backoff(&self) -> BackoffPolicy {
        BackoffPolicy {
            first: Duration::from_millis(250),
            ceiling: self.offline_retry_max,
            max_attempts: 64,
            max_total: Duration::from_secs(600),
        }
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            local_poll: Duration::from_millis(200),
            recheck: Duration::from_secs(3),
            offline_retry_max: Duration::from_secs(5),
        }
    }
}

/// Something the watcher did, for the user. Serialized as one JSON line with
/// an `"event"` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Remote changes were applied to a list.
    Received {
        /// The list.
        id: ListId,
        /// Its name now.
        name: String,
        /// Changes applied.
        received: usize,
        /// Local changes still unacknowledged.
        pending: usize,
    },
    /// Local changes were acknowledged by the cloud.
    Pushed {
        /// The list.
        id: ListId,
        /// Its name.
        name: String,
        /// Changes sent.
        sent: usize,
        /// Local changes still unacknowledged.
        pending: usize,
    },
    /// The cloud is reachable (again).
    Online,
    /// The cloud cannot be reached; edits stay local until it can.
    Offline {
        /// Why.
        reason: String,
    },
    /// The proxy answered, but too few of a list's replicas did ("k of W
    /// replicas answered"); the list is retried, the rest goes on.
    Unavailable {
        /// The list.
        id: ListId,
        /// What the proxy said.
        message: String,
    },
    /// A list could not be synced (not a connectivity problem).
    Error {
        /// The list.
        id: ListId,
        /// What went wrong.
        message: String,
    },
}

/// The live-sync loop. See the module docs.
pub struct Watcher {
    store: Store,
    client: SyncClient,
    events: mpsc::UnboundedReceiver<ClientEvent>,
    only: Option<Vec<ListId>>,
    opts: WatchOptions,
    online: Option<bool>,
    full_round_due: bool,
    retry_at: Instant,
    retry_backoff: Backoff,
    next_recheck: Instant,
    subscribed: HashSet<ListId>,
    /// The client's connection the subscriptions were last renewed on.
    round_generation: u64,
    /// Local heads at the last push attempt, so a failing list is not
    /// retried every tick.
    attempted: HashMap<ListId, Vec<ChangeHash>>,
    /// Lists whose last sync was `unavailable`, and when to try again.
    unavailable: HashMap<ListId, Instant>,
}

impl Watcher {
    /// A watcher over `store` (all of its lists, or only `only`).
    pub fn new(
        store: Store,
        client: SyncClient,
        events: mpsc::UnboundedReceiver<ClientEvent>,
        only: Option<Vec<ListId>>,
        opts: WatchOptions,
    ) -> Self {
        let now = Instant::now();
        let retry_backoff = Backoff::new(opts.offline_backoff());
        Watcher {
            store,
            client,
            events,
            only,
            opts,
            online: None,
            full_round_due: true,
            retry_at: now,
            retry_backoff,
            next_recheck: now,
            subscribed: HashSet::new(),
            round_generation: 0,
            attempted: HashMap::new(),
            unavailable: HashMap::new(),
        }
    }

    /// Run until `stop` completes, reporting to `sink`. Cancelling mid-sync
    /// is safe: every store operation is its own transaction.
    pub async fn run(mut self, mut sink: impl FnMut(WatchEvent), stop: impl Future<Output = ()>) {
        tokio::select! {
            _ = stop => {}
            _ = self.run_forever(&mut sink) => {}
        }
    }

    async fn run_forever(&mut self, sink: &mut impl FnMut(WatchEvent)) {
        let mut tick = interval(self.opts.local_poll);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ClientEvent::Notify { list, heads }) => self.on_notify(list, &heads, sink).await,
                    Some(ClientEvent::Connected { generation, .. }) => {
                        if generation > self.round_generation {
                            self.full_round_due = true;
                        }
                    }
                    // Failed over: the next proxy knows nothing of us.
                    Some(ClientEvent::Disconnected { .. }) => self.full_round_due = true,
                    None => return,
                },
                _ = tick.tick() => self.on_tick(sink).await,
            }
        }
    }

    fn lists(&self) -> Vec<ListId> {
        match &self.only {
            Some(l) => l.clone(),
            None => self.store.list_ids().unwrap_or_default(),
        }
    }

    fn set_online(&mut self, online: bool, reason: &str, sink: &mut impl FnMut(WatchEvent)) {
        if self.online == Some(online) {
            return;
        }
        self.online = Some(online);
        if online {
            self.retry_backoff.reset();
            sink(WatchEvent::Online);
        } else {
            self.subscribed.clear();
            sink(WatchEvent::Offline {
                reason: reason.to_string(),
            });
        }
    }

    fn went_offline(&mut self, e: &SyncError, sink: &mut impl FnMut(WatchEvent)) {
        self.set_online(false, &e.to_string(), sink);
        self.full_round_due = true;
        let delay = self.retry_backoff.next_delay().unwrap_or_else(|| {
            // A long outage used up a round: start another.
            self.retry_backoff.reset();
            self.retry_backoff
                .next_delay()
                .unwrap_or(self.opts.offline_retry_max)
        });
        self.retry_at = Instant::now() + delay;
    }

    async fn on_tick(&mut self, sink: &mut impl FnMut(WatchEvent)) {
        let now = Instant::now();
        if self.online == Some(false) && now < self.retry_at {
            return;
        }
        if self.full_round_due {
            self.full_round(sink).await;
            return;
        }
        if now >= self.next_recheck {
            self.next_recheck = now + self.opts.recheck;
            match self.client.subscribe(&[]).await {
                Ok(set) => {
                    let set: HashSet<ListId> = set.into_iter().collect();
                    if !self.subscribed.iter().all(|l| set.contains(l)) {
                        // The proxy forgot us (restart or failover).
                        self.full_round(sink).await;
                        return;
                    }
                }
                Err(e) => return self.went_offline(&SyncError::Client(e), sink),
            }
        }
        self.push_local(sink).await;
    }

    /// Subscribe to every list and sync them all.
    async fn full_round(&mut self, sink: &mut impl FnMut(WatchEvent)) {
        let lists = self.lists();
        if let Err(e) = self.client.subscribe(&lists).await {
            return self.went_offline(&SyncError::Client(e), sink);
        }
        self.subscribed = lists.iter().copied().collect();
        self.round_generation = self.client.connection_generation();
        self.full_round_due = false;
        self.next_recheck = Instant::now() + self.opts.recheck;
        self.set_online(true, "", sink);
        for list in lists {
            if !self.sync_one(list, sink).await {
                return;
            }
        }
    }

    /// Push lists with unacknowledged local edits; subscribe to new lists.
    async fn push_local(&mut self, sink: &mut impl FnMut(WatchEvent)) {
        let lists = self.lists();
        let new: Vec<ListId> = lists
            .iter()
            .filter(|l| !self.subscribed.contains(l))
            .copied()
            .collect();
        if !new.is_empty() {
            if let Err(e) = self.client.subscribe(&new).await {
                return self.went_offline(&SyncError::Client(e), sink);
            }
            self.subscribed.extend(new.iter().copied());
        }
        let now = Instant::now();
        for list in lists {
            let fresh = new.contains(&list);
            let pending = self.store.pending(list).unwrap_or(0);
            let heads = self.store.heads(list).unwrap_or_default();
            let retry_due = self.unavailable.get(&list).is_some_and(|at| now >= *at);
            let retried = self.attempted.get(&list) == Some(&heads) && !retry_due;
            if (fresh || (pending > 0 && !retried)) && !self.sync_one(list, sink).await {
                return;
            }
        }
    }

    async fn on_notify(
        &mut self,
        list: ListId,
        heads: &[ChangeHash],
        sink: &mut impl FnMut(WatchEvent),
    ) {
        let ours = match &self.only {
            Some(only) => only.contains(&list),
            None => self.store.has_list(list).unwrap_or(false),
        };
        if !ours {
            return;
        }
        let known = self
            .store
            .read(list, |_, g| heads.iter().all(|h| g.contains(h)))
            .unwrap_or(false);
        if !known {
            self.sync_one(list, sink).await;
        }
    }

    /// Sync one list and report; false when the cloud went offline.
    async fn sync_one(&mut self, list: ListId, sink: &mut impl FnMut(WatchEvent)) -> bool {
        if let Ok(h) = self.store.heads(list) {
            self.attempted.insert(list, h);
        }
        match sync_list(&self.client, &mut self.store, list).await {
            Ok(report) => {
                self.unavailable.remove(&list);
                self.set_online(true, "", sink);
                self.report(report, sink);
                true
            }
            Err(SyncError::Client(ClientError::Unavailable(message))) => {
                // The proxy is there; only this list's quorum is not.
                self.unavailable
                    .insert(list, Instant::now() + UNAVAILABLE_RETRY);
                self.set_online(true, "", sink);
                sink(WatchEvent::Unavailable { id: list, message });
                true
            }
            Err(e) if e.is_offline() => {
                self.went_offline(&e, sink);
                false
            }
            Err(e) => {
                sink(WatchEvent::Error {
                    id: list,
                    message: e.to_string(),
                });
                true
            }
        }
    }

    fn report(&mut self, r: SyncReport, sink: &mut impl FnMut(WatchEvent)) {
        let name = self.store.view(r.list).map(|v| v.name).unwrap_or_default();
        if r.received > 0 {
            sink(WatchEvent::Received {
                id: r.list,
                name: name.clone(),
                received: r.received,
                pending: r.pending,
            });
        }
        if r.sent > 0 {
            sink(WatchEvent::Pushed {
                id: r.list,
                name,
                sent: r.sent,
                pending: r.pending,
            });
        }
    }
}
