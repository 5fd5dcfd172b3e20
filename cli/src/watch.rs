//! Live sync (`sync --watch`, the interactive mode's background task, the
//! benchmark's devices): the async driver of [`crate::live::LiveSession`].
//!
//! A [`Watcher`] owns the cloud connection and the clock and shares the
//! device's one store connection ([`SharedStore`]) with whoever edits on
//! the device, locking it only for store work (a sync plans its request and
//! applies the reply under the lock, never while waiting for the cloud:
//! [`phased`]); it feeds the session events (the client's `notify` and connection news,
//! pokes from a [`LiveHandle`], wake-ups, the results of the effects) and
//! executes the effects it returns: scan the store, subscribe, sync a list,
//! report to the sink. All decisions (what to sync when, coalescing, one
//! sync in flight per list, backoff, offline handling) are the session's,
//! and unit-tested there. The behaviour, as the user sees it:
//!
//! - it subscribes to the lists (all of the store's, or the ones named),
//!   asking for small writes to come with their `notify` (PROTOCOL §6.2).
//!   A `notify`'s changes are applied at once; it syncs a list **as soon
//!   as** a `notify` for it leaves heads that are not all known locally (no
//!   polling timer on the remote side);
//! - an edit made through a [`LiveHandle`] is pushed at once; every
//!   [`WatchOptions::local_poll`] the store is scanned for edits made by
//!   other processes and for new lists;
//! - every [`WatchOptions::recheck`] it asks the proxy for this connection's
//!   subscriptions: a proxy that restarted or a failover has lost them, so
//!   they are renewed and every list is synced;
//! - while the cloud is unreachable it reports [`WatchEvent::Offline`] and
//!   retries with jittered backoff; edits keep working locally meanwhile;
//! - a list whose replicas did not reach their quorum is reported as
//!   [`WatchEvent::Unavailable`] and retried with backoff from
//!   [`UNAVAILABLE_RETRY`]; a store failure is reported as
//!   [`WatchEvent::StoreError`] and retried the same way.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::store::{Store, StoreError};
use engine::{ChangeHash, ListId};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::live::session::SubscribeKind;
use crate::live::{
    Effect, Event, LiveHandle, LiveSession, ScannedList, SessionConfig, SharedStore, SyncOutcome,
};
use crate::sync::{apply_pushed, SyncError};
use crate::sync_client::{ClientError, ClientEvent, SyncClient};

mod phased;
#[cfg(test)]
mod tests;

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
    /// Look up a list's name for [`WatchEvent::Received`] and
    /// [`WatchEvent::Pushed`] (materializes the list; the benchmark turns
    /// it off).
    pub report_names: bool,
}

impl WatchOptions {
    /// The session's configuration for these timings.
    pub fn session_config(&self, only: Option<Vec<ListId>>, seed: u64) -> SessionConfig {
        SessionConfig {
            local_poll: self.local_poll,
            recheck: self.recheck,
            offline_retry_max: self.offline_retry_max,
            list_retry_first: UNAVAILABLE_RETRY,
            list_retry_max: Duration::from_secs(30),
            only,
            seed,
        }
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            local_poll: Duration::from_millis(200),
            recheck: Duration::from_secs(3),
            offline_retry_max: Duration::from_secs(5),
            report_names: true,
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
        /// The list's heads once they were applied (for in-process
        /// observers such as the benchmark; not in the JSON line).
        #[serde(skip)]
        heads: Vec<engine::ChangeHash>,
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
    /// The local store failed (the list is retried with backoff).
    StoreError {
        /// The list concerned, if one.
        id: Option<ListId>,
        /// What failed.
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

/// The live-sync driver. See the module docs.
pub struct Watcher {
    store: SharedStore,
    client: SyncClient,
    events: mpsc::UnboundedReceiver<ClientEvent>,
    pokes: mpsc::UnboundedReceiver<ListId>,
    /// Kept so the poke channel never closes while the watcher runs.
    handle: LiveHandle,
    opts: WatchOptions,
    session: LiveSession,
    wake: Instant,
}

impl Watcher {
    /// A watcher over `store` (all of its lists, or only `only`). Whoever
    /// edits on this device should edit through the same `store` (a clone)
    /// and poke [`Watcher::handle`]; a [`Store`] of its own is wrapped with
    /// [`SharedStore::new`].
    pub fn new(
        store: SharedStore,
        client: SyncClient,
        events: mpsc::UnboundedReceiver<ClientEvent>,
        only: Option<Vec<ListId>>,
        opts: WatchOptions,
    ) -> Self {
        let now = Instant::now();
        let (handle, pokes) = LiveHandle::channel();
        let seed = rand_seed();
        tracing::debug!(seed, "live session backoff jitter seed");
        let session = LiveSession::new(opts.session_config(only, seed), now);
        Watcher {
            store,
            client,
            events,
            pokes,
            handle,
            opts,
            session,
            wake: now,
        }
    }

    /// A handle that pokes this watcher when a list is edited in-process.
    pub fn handle(&self) -> LiveHandle {
        self.handle.clone()
    }

    /// Listen to pokes from a handle made beforehand ([`LiveHandle::channel`]),
    /// e.g. on another thread than the one the watcher runs on.
    pub fn with_pokes(
        mut self,
        handle: LiveHandle,
        pokes: mpsc::UnboundedReceiver<ListId>,
    ) -> Self {
        self.handle = handle;
        self.pokes = pokes;
        self
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
        let mut queue: VecDeque<Effect> = VecDeque::new();
        self.feed(Event::Tick, &mut queue);
        loop {
            // Execute what the session asked for; results become events.
            while let Some(effect) = queue.pop_front() {
                let next = self.execute(effect, sink).await;
                if let Some(ev) = next {
                    self.feed(ev, &mut queue);
                }
                // Take in what arrived meanwhile (coalesced by the session).
                self.drain(&mut queue);
            }
            let wake = tokio::time::Instant::from_std(self.wake);
            let ev = tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => self.client_events(Some(ev)),
                    None => return,
                },
                Some(list) = self.pokes.recv() => vec![Event::Edited(list)],
                _ = tokio::time::sleep_until(wake) => vec![Event::Tick],
            };
            for ev in ev {
                self.feed(ev, &mut queue);
            }
        }
    }

    fn feed(&mut self, ev: Event, queue: &mut VecDeque<Effect>) {
        for effect in self.session.handle(Instant::now(), ev) {
            match effect {
                Effect::WakeAt(at) => self.wake = at,
                other => queue.push_back(other),
            }
        }
    }

    /// Feed every event already waiting, without blocking.
    fn drain(&mut self, queue: &mut VecDeque<Effect>) {
        while let Ok(list) = self.pokes.try_recv() {
            self.feed(Event::Edited(list), queue);
        }
        for ev in self.client_events(None) {
            self.feed(ev, queue);
        }
    }

    /// Turn `first` and every client event already waiting into session
    /// events. The notifies among them are merged per list: their changes
    /// are applied in one store call (one `apply_changes`), their heads
    /// checked once, so a burst of pushes costs one apply and one report,
    /// not one per write.
    fn client_events(&mut self, first: Option<ClientEvent>) -> Vec<Event> {
        let waiting = std::iter::from_fn(|| self.events.try_recv().ok());
        let (mut out, notified) = merge_notifies(first.into_iter().chain(waiting));
        for (list, (heads, changes)) in notified {
            if changes.is_empty() && self.session.sync_wanted(list) {
                // A sync is queued anyway: no need to take the store (the
                // editing side may be using it) to check the heads.
                out.push(Event::Notify { list, known: false });
            } else {
                out.extend(self.on_notify(list, &heads, &changes));
            }
        }
        out
    }

    /// A `notify`: apply what it carried (PROTOCOL §6.2), then tell the
    /// session whether its heads are all here now.
    fn on_notify(&mut self, list: ListId, heads: &[ChangeHash], changes: &[Bytes]) -> Vec<Event> {
        let mut store = self.store.lock();
        let failed = |e: StoreError| {
            vec![Event::StoreFailed {
                list: Some(list),
                message: e.to_string(),
            }]
        };
        if !store.has_list(list).unwrap_or(false) {
            // Not ours, or gone: the session ignores unknown lists.
            return vec![Event::Notify { list, known: false }];
        }
        if changes.is_empty() {
            return match store.read(list, |_, g| heads.iter().all(|h| g.contains(h))) {
                Ok(known) => vec![Event::Notify { list, known }],
                Err(e) => failed(e),
            };
        }
        let pushed = match apply_pushed(&mut store, list, heads, changes) {
            Ok(p) => p,
            Err(e) => return failed(e),
        };
        let mut out = Vec::with_capacity(2);
        if !pushed.applied.is_empty() {
            let (pending, now) = match (store.pending(list), store.heads(list)) {
                (Ok(p), Ok(h)) => (p, h),
                (Err(e), _) | (_, Err(e)) => return failed(e),
            };
            out.push(Event::PushApplied {
                list,
                name: self.name(&mut store, list, true),
                received: pushed.applied.len(),
                pending,
                heads: now,
            });
        }
        out.push(Event::Notify {
            list,
            known: pushed.known,
        });
        out
    }

    async fn execute(
        &mut self,
        effect: Effect,
        sink: &mut impl FnMut(WatchEvent),
    ) -> Option<Event> {
        match effect {
            Effect::Report(ev) => {
                sink(ev);
                None
            }
            Effect::WakeAt(at) => {
                self.wake = at;
                None
            }
            Effect::Scan => Some(match scan(&mut self.store.lock()) {
                Ok(lists) => Event::Scanned(lists),
                Err(e) => Event::StoreFailed {
                    list: None,
                    message: e.to_string(),
                },
            }),
            Effect::Subscribe(kind) => {
                let lists = match &kind {
                    SubscribeKind::Renew(l) | SubscribeKind::Add(l) => l.clone(),
                    SubscribeKind::Check => Vec::new(),
                };
                let result = self
                    .client
                    .subscribe(&lists)
                    .await
                    .map_err(|e| e.to_string());
                Some(Event::Subscribed {
                    kind,
                    generation: self.client.connection_generation(),
                    result,
                })
            }
            Effect::Sync(list) => {
                let outcome = match phased::sync_shared(&self.client, &self.store, list).await {
                    Ok(r) => {
                        let mut store = self.store.lock();
                        let name = self.name(&mut store, list, r.sent + r.received > 0);
                        SyncOutcome::Synced {
                            name,
                            sent: r.sent,
                            received: r.received,
                            pending: r.pending,
                            heads: if r.received > 0 {
                                store.heads(list).unwrap_or_default()
                            } else {
                                Vec::new()
                            },
                        }
                    }
                    Err(e) => outcome_of(e),
                };
                Some(Event::SyncDone { list, outcome })
            }
        }
    }

    fn name(&self, store: &mut Store, list: ListId, needed: bool) -> String {
        if !needed || !self.opts.report_names {
            return String::new();
        }
        store.view(list).map(|v| v.name).unwrap_or_default()
    }
}

/// The connection news among `events`, in order, and their notifies
/// merged per list: every notified head (sorted, once) and every carried
/// change frame, in arrival order.
#[allow(clippy::type_complexity)]
fn merge_notifies(
    events: impl IntoIterator<Item = ClientEvent>,
) -> (Vec<Event>, BTreeMap<ListId, (Vec<ChangeHash>, Vec<Bytes>)>) {
    let mut news = Vec::new();
    let mut notified: BTreeMap<ListId, (Vec<ChangeHash>, Vec<Bytes>)> = BTreeMap::new();
    for ev in events {
        match ev {
            ClientEvent::Notify {
                list,
                heads,
                changes,
            } => {
                let (hs, cs) = notified.entry(list).or_default();
                hs.extend(heads);
                cs.extend(changes);
            }
            ClientEvent::Connected { generation, .. } => news.push(Event::Connected { generation }),
            ClientEvent::Disconnected { .. } => news.push(Event::Disconnected),
        }
    }
    for (heads, _) in notified.values_mut() {
        heads.sort_unstable();
        heads.dedup();
    }
    (news, notified)
}

/// Every list of `store` with its pending count and heads.
fn scan(store: &mut Store) -> Result<Vec<ScannedList>, StoreError> {
    let ids = store.list_ids()?;
    let mut out = Vec::with_capacity(ids.len());
    for list in ids {
        out.push(ScannedList {
            list,
            pending: store.pending(list)?,
            heads: store.heads(list)?,
        });
    }
    Ok(out)
}

/// How a failed sync is told to the session.
fn outcome_of(e: SyncError) -> SyncOutcome {
    match e {
        SyncError::Client(ClientError::Unavailable(m)) => SyncOutcome::Unavailable(m),
        e if e.is_offline() => SyncOutcome::Offline(e.to_string()),
        SyncError::Store(StoreError::Ingest(i)) => SyncOutcome::Failed(i.to_string()),
        SyncError::Store(e) => SyncOutcome::StoreFailed(e.to_string()),
        e => SyncOutcome::Failed(e.to_string()),
    }
}

/// A seed for the backoff jitter (logged at debug level).
fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}
