//! One list's sync with the cloud (DESIGN §4, PROTOCOL.md §5).
//!
//! The normal case is ONE round trip: send `sync {list, have: local heads,
//! changes: what the cloud has not acknowledged}`, ingest the changes of the
//! reply, and record the reply's heads as acknowledged so `status` shows 0
//! pending. [`ListSync`] is the sans-IO planner: it reads and writes the
//! [`Store`] but never touches a socket; [`sync_list`] is the few-line async
//! driver that carries its requests over a [`SyncClient`].
//!
//! Extra rounds happen only when needed, and are bounded:
//!
//! - the reply says `missing` (a replica lacks history our changes build on):
//!   resend from further back, first from the reply's heads we know, then as
//!   a last resort everything ([`Base`]);
//! - the local changes exceed one message's limits: they go in batches, in
//!   dependency order;
//! - the reply left some of its heads unknown to us (the cloud split a large
//!   delta) or its changes did not apply for lack of dependencies: ask again.

use std::collections::VecDeque;

use bytes::Bytes;
use engine::protocol::ErrorCode;
use engine::store::{Store, StoreError};
use engine::{ChangeHash, ListId};
use serde::Serialize;

use crate::sync_client::{ClientError, ReceivedSnapshot, SyncClient, SyncedReply};

mod pushed;
pub use pushed::{apply_pushed, Pushed};

/// Most changes sent in one `sync` request.
pub const MAX_BATCH_CHANGES: usize = 10_000;
/// Most change bytes sent in one `sync` request (half the wire limit).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Most round trips of one list's sync before giving up.
pub const MAX_ROUNDS: u32 = 64;

/// What one list's sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The list.
    pub list: ListId,
    /// Changes sent to the cloud.
    pub sent: usize,
    /// Changes received from the cloud and newly applied.
    pub received: usize,
    /// Local changes still not acknowledged afterwards.
    pub pending: usize,
    /// Round trips used.
    pub rounds: u32,
    /// The list was opened from a replica's snapshot (PROTOCOL §4.2.1)
    /// rather than change by change (not serialized).
    #[serde(skip)]
    pub from_snapshot: bool,
}

/// Why a list's sync failed. The local store is always left consistent.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The cloud could not be reached, refused, or did not reach its quorum.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The local store failed (or a change from the cloud was invalid).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `join` of a list the cloud does not have.
    #[error("list {0} not found in the cloud; whoever shared it has to sync it first (`shoplist sync`, or `shoplist share` which syncs before printing the URL)")]
    NotFound(ListId),
    /// The cloud refused some of our changes for a reason resending cannot fix.
    #[error("the cloud rejected {count} change(s) of list {list}: {detail}")]
    Rejected {
        /// The list.
        list: ListId,
        /// How many.
        count: usize,
        /// The first reason.
        detail: String,
    },
    /// The bounded number of rounds did not settle the sync.
    #[error("sync of list {0} did not settle after {1} round trips")]
    NoProgress(ListId, u32),
}

impl SyncError {
    /// The cloud could not be reached or did not reach its quorum (exit 2).
    pub fn is_offline(&self) -> bool {
        matches!(self, SyncError::Client(e) if e.is_offline())
    }
}

/// The point the outgoing changes are computed from: what we assume the
/// cloud already holds. Each `missing` reply moves one step further back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The heads a cloud quorum acknowledged last time (the normal case).
    Acked,
    /// The heads the cloud just reported, as far as we know them.
    Reported(Vec<ChangeHash>),
    /// Nothing: send the whole history.
    Everything,
}

/// One `sync` request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Our heads of the list (empty when we do not have it yet).
    pub have: Vec<ChangeHash>,
    /// Raw changes the cloud may lack, dependencies first.
    pub changes: Vec<Bytes>,
    /// We have nothing of the list: a snapshot may answer (fresh open).
    pub snapshot_ok: bool,
}

impl Request {
    /// Carry this request over `client`.
    pub async fn send(
        &self,
        client: &SyncClient,
        list: ListId,
    ) -> Result<SyncedReply, ClientError> {
        client
            .sync_with(list, &self.have, &self.changes, self.snapshot_ok)
            .await
    }
}

/// What to do after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send another request.
    Send(Request),
    /// Finished.
    Done(SyncReport),
}

/// The sans-IO planner of one list's sync. See the module docs.
#[derive(Debug)]
pub struct ListSync {
    list: ListId,
    base: Base,
    outgoing: VecDeque<Bytes>,
    in_flight: usize,
    sent: usize,
    received: usize,
    rounds: u32,
    refetched: bool,
    /// Whether a fresh open may still take a snapshot (false after one
    /// failed: then change by change).
    snapshot_ok: bool,
    from_snapshot: bool,
}

fn known_heads(
    store: &mut Store,
    list: ListId,
    hs: &[ChangeHash],
) -> Result<Vec<ChangeHash>, StoreError> {
    store.read(list, |_, g| {
        hs.iter().filter(|h| g.contains(h)).copied().collect()
    })
}

impl ListSync {
    /// A sync of `list` (which need not be in the store yet: `join`).
    pub fn new(list: ListId) -> Self {
        ListSync {
            list,
            base: Base::Acked,
            outgoing: VecDeque::new(),
            in_flight: 0,
            sent: 0,
            received: 0,
            rounds: 0,
            refetched: false,
            snapshot_ok: true,
            from_snapshot: false,
        }
    }

    /// The first request.
    pub fn start(&mut self, store: &mut Store) -> Result<Request, SyncError> {
        self.plan_outgoing(store)?;
        self.next_request(store)
    }

    /// Fill `outgoing` with what the cloud lacks relative to `self.base`.
    fn plan_outgoing(&mut self, store: &mut Store) -> Result<(), SyncError> {
        self.outgoing.clear();
        if !store.has_list(self.list)? {
            return Ok(());
        }
        let from = match &self.base {
            Base::Acked => store.acked_heads(self.list)?,
            Base::Reported(hs) => hs.clone(),
            Base::Everything => Vec::new(),
        };
        let (changes, _) = store.changes_for(self.list, &from)?;
        self.outgoing = changes.into_iter().map(Bytes::from).collect();
        Ok(())
    }

    /// The next batch of outgoing changes (possibly none) with our heads.
    fn next_request(&mut self, store: &mut Store) -> Result<Request, SyncError> {
        let has = store.has_list(self.list)?;
        let have = if has {
            store.heads(self.list)?
        } else {
            Vec::new()
        };
        let mut changes = Vec::new();
        let mut bytes = 0usize;
        while let Some(c) = self.outgoing.front() {
            let fits = changes.len() < MAX_BATCH_CHANGES && bytes + c.len() <= MAX_BATCH_BYTES;
            if !changes.is_empty() && !fits {
                break;
            }
            bytes += c.len();
            if let Some(c) = self.outgoing.pop_front() {
                changes.push(c);
            }
        }
        self.in_flight = changes.len();
        self.sent += changes.len();
        Ok(Request {
            have,
            changes,
            snapshot_ok: self.snapshot_ok && !has,
        })
    }

    /// Take a fresh open's snapshot into the store. `Ok(false)`: there was
    /// none, or it was refused (logged) and the next request asks for the
    /// history change by change instead.
    fn take_snapshot(
        &mut self,
        store: &mut Store,
        snapshot: Option<Result<ReceivedSnapshot, String>>,
    ) -> Result<bool, SyncError> {
        let refused = match snapshot {
            None => return Ok(false),
            Some(Ok(s)) => {
                match store.open_from_snapshot(self.list, &s.doc, &s.heads, &s.signatures) {
                    Ok(n) => {
                        self.received += n;
                        self.from_snapshot = true;
                        return Ok(true);
                    }
                    Err(e @ (StoreError::Snapshot(_) | StoreError::AlreadyHeld(_))) => {
                        e.to_string()
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(Err(why)) => why,
        };
        tracing::warn!(list = %self.list, "snapshot refused, syncing change by change: {refused}");
        self.snapshot_ok = false;
        Ok(false)
    }

    /// Handle the reply to the last request.
    pub fn on_reply(&mut self, store: &mut Store, reply: SyncedReply) -> Result<Next, SyncError> {
        self.rounds += 1;
        if self.rounds >= MAX_ROUNDS {
            return Err(SyncError::NoProgress(self.list, self.rounds));
        }
        let mut lacking_ours = false;
        let asked_snapshot = reply.snapshot.is_some();
        let got_snapshot = self.take_snapshot(store, reply.snapshot)?;
        if asked_snapshot && !got_snapshot {
            // Refused: what came after it may build on it. Ask again.
            self.in_flight = 0;
            return Ok(Next::Send(self.next_request(store)?));
        }
        let news = unknown_changes(store, self.list, &reply.changes)?;
        if !news.is_empty() {
            let outcome = store.ingest_from_cloud(self.list, &news)?;
            self.received += outcome.applied.len();
            lacking_ours = !outcome.missing.is_empty();
        }
        let (deps, fatal): (Vec<_>, Vec<_>) = reply
            .rejected
            .iter()
            .partition(|r| r.code == ErrorCode::MissingDeps);
        if let Some(first) = fatal.first() {
            return Err(SyncError::Rejected {
                list: self.list,
                count: fatal.len(),
                detail: format!("{}: {}", first.code, first.message),
            });
        }
        if !reply.missing.is_empty() || !deps.is_empty() {
            // The cloud lacks history our changes build on: send from further back.
            self.base = match self.base {
                Base::Acked if store.has_list(self.list)? => {
                    Base::Reported(known_heads(store, self.list, &reply.heads)?)
                }
                Base::Acked | Base::Reported(_) => Base::Everything,
                Base::Everything => return Err(SyncError::NoProgress(self.list, self.rounds)),
            };
            self.plan_outgoing(store)?;
            return Ok(Next::Send(self.next_request(store)?));
        }
        if self.in_flight > 0 && reply.acked == 0 {
            return Err(
                ClientError::Unavailable("no replica acknowledged the changes".into()).into(),
            );
        }
        if !self.outgoing.is_empty() {
            return Ok(Next::Send(self.next_request(store)?));
        }
        let has = store.has_list(self.list)?;
        if lacking_ours && !self.refetched {
            // Their changes need history we lack: ask for everything once.
            self.refetched = true;
            self.in_flight = 0;
            return Ok(Next::Send(Request {
                have: Vec::new(),
                changes: Vec::new(),
                snapshot_ok: false,
            }));
        }
        if !has {
            return Err(SyncError::NotFound(self.list));
        }
        let known = known_heads(store, self.list, &reply.heads)?;
        if known.len() < reply.heads.len() && (!reply.changes.is_empty() || got_snapshot) {
            // A split delta: more to receive.
            return Ok(Next::Send(self.next_request(store)?));
        }
        store.mark_synced(self.list, &known, engine::list::EditContext::now("").now_ms)?;
        Ok(Next::Done(SyncReport {
            list: self.list,
            sent: self.sent,
            received: self.received,
            pending: store.pending(self.list)?,
            rounds: self.rounds,
            from_snapshot: self.from_snapshot,
        }))
    }
}

/// The frames of `changes` whose change the store does not hold yet (by
/// their hash, before any decoding): a reply may repeat what we have — a
/// snapshot's changes sent again by a replica that had none to offer, or
/// changes a notify already brought.
fn unknown_changes(
    store: &mut Store,
    list: ListId,
    changes: &[Bytes],
) -> Result<Vec<Bytes>, StoreError> {
    if changes.is_empty() || !store.has_list(list)? {
        return Ok(changes.to_vec());
    }
    store.read(list, |_, g| {
        changes
            .iter()
            .filter(|f| !engine::signing::frame_hash(f).is_some_and(|h| g.contains(&h)))
            .cloned()
            .collect()
    })
}

/// Sync one list with the cloud: push what it lacks, pull what we lack.
/// For a list not in the store this is `join`: [`SyncError::NotFound`] when
/// the cloud has nothing for it.
pub async fn sync_list(
    client: &SyncClient,
    store: &mut Store,
    list: ListId,
) -> Result<SyncReport, SyncError> {
    match sync_once(client, store, list).await {
        Err(e) if is_actor_clash(&e) && store.has_list(list)? => {
            // PROTOCOL §5.2: a copied data dir. Rebuild from what the cloud
            // acknowledged plus its changes, replay our edits, sync again
            // (once: a second clash is reported as it is).
            let acked = store.acked_heads(list)?;
            let news = client.sync(list, &acked, &[]).await?;
            let rebuilt = store.rebuild_after_clash(list, &news.changes)?;
            tracing::warn!(
                %list,
                rotated = rebuilt.rotated,
                replayed = rebuilt.replayed,
                "this device's changes clashed with another copy of its data dir: \
                 rebuilt the list and replayed its unacknowledged edits"
            );
            sync_once(client, store, list).await
        }
        other => other,
    }
}

/// Whether a sync failed because the cloud holds other changes under our
/// `(actor, seq)` (refused by the cloud, or met while ingesting its reply).
pub fn is_actor_clash(e: &SyncError) -> bool {
    match e {
        SyncError::Client(ClientError::Refused { code, .. }) => *code == ErrorCode::ActorClash,
        SyncError::Store(StoreError::Ingest(i)) => i.error_code() == ErrorCode::ActorClash,
        _ => false,
    }
}

async fn sync_once(
    client: &SyncClient,
    store: &mut Store,
    list: ListId,
) -> Result<SyncReport, SyncError> {
    let mut plan = ListSync::new(list);
    let mut req = plan.start(store)?;
    loop {
        let reply = req.send(client, list).await?;
        match plan.on_reply(store, reply)? {
            Next::Send(r) => req = r,
            Next::Done(report) => return Ok(report),
        }
    }
}

#[cfg(test)]
mod tests;
