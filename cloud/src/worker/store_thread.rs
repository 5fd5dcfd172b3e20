//! The worker's replica store on its own thread, with group commit
//! (DESIGN §6 "Worker").
//!
//! SQLite and Automerge are synchronous, so the [`Store`] lives on one
//! dedicated OS thread. Sockets submit [`SyncJob`]s through a channel; the
//! thread takes everything queued (up to [`MAX_BATCH`] jobs), ingests all of
//! their changes in ONE transaction ([`Store::ingest_many`]), and only after
//! the commit computes and sends each reply: `synced` with the changes the
//! requester lacks, or `error bad_change` for a rejected request. A panic
//! while processing is contained: the batch is answered `internal` and the
//! store reopened from disk.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use bytes::Bytes;
use engine::protocol::snapshot::{snapshot_frames, MAX_SNAPSHOT_BYTES};
use engine::protocol::{ErrorCode, Header, Limits, Message, WorkerStats};
use engine::store::{ServedSnapshot, Store, StoreError, StoreOptions};
use engine::{ChangeHash, ListId};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, error, warn};

use super::cluster_jobs::{ClusterDuties, ClusterJob};
use super::memory::MemoryWatch;
use super::read_cache::ReadCache;
use super::repair::{Damaged, Repairs};
use crate::quorum::{MAX_REPLY_BYTES, MAX_REPLY_CHANGES};

/// Most requests committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// Change bytes queued at the store, worker-wide, before requests are
/// answered `overloaded`.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// One `sync` for the store, and where to send its reply.
#[derive(Debug)]
pub struct SyncJob {
    /// The request's id (echoed).
    pub id: u64,
    /// The list.
    pub list: ListId,
    /// The requester's heads.
    pub have: Vec<ChangeHash>,
    /// Raw change bytes to ingest.
    pub changes: Vec<Bytes>,
    /// Stored as a stand-in for this home replica: keep a hint.
    pub hint_for: Option<engine::WorkerId>,
    /// The requester has nothing and accepts a snapshot (PROTOCOL §4.2.1).
    pub snapshot_ok: bool,
    /// Where the reply goes (the socket task of the proxy that asked).
    pub reply: UnboundedSender<Message>,
}

/// Anything the store thread does.
#[derive(Debug)]
pub enum Job {
    /// A `sync`, committed in a group.
    Sync(SyncJob),
    /// A cluster duty (see [`super::cluster_jobs`]).
    Cluster(ClusterJob),
}

/// The worker's counters (reported in heartbeats, shown by `status`).
#[derive(Debug, Default)]
pub struct Counters {
    pub(super) lists_repaired: AtomicU64,
    quarantined: AtomicU64,
    overloaded: AtomicU64,
    pub(super) hints: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            lists_repaired: self.lists_repaired.load(Ordering::Relaxed),
            quarantined: self.quarantined.load(Ordering::Relaxed),
            overloaded: self.overloaded.load(Ordering::Relaxed),
            hints: self.hints.load(Ordering::Relaxed),
        }
    }
}

/// A handle to submit jobs to the store thread.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: std_mpsc::Sender<Job>,
    counters: Arc<Counters>,
    members: Arc<std::sync::Mutex<crate::members::MemberSet>>,
    queued_bytes: Arc<std::sync::atomic::AtomicUsize>,
    damaged: Damaged,
    reads: ReadCache,
}

impl StoreHandle {
    /// Queue a job; gives it back if the store thread is gone.
    pub fn submit(&self, job: SyncJob) -> Result<(), SyncJob> {
        self.tx.send(Job::Sync(job)).map_err(|e| match e.0 {
            Job::Sync(j) => j,
            // Only a Sync was sent.
            Job::Cluster(_) => unreachable!("a sync job comes back as a sync job"),
        })
    }

    /// Queue a cluster duty (dropped if the store thread is gone).
    pub fn submit_cluster(&self, job: ClusterJob) {
        let _ = self.tx.send(Job::Cluster(job));
    }

    /// The member set this worker knows, shared by its links.
    pub fn members(&self) -> &Arc<std::sync::Mutex<crate::members::MemberSet>> {
        &self.members
    }

    /// The worker's counters now.
    pub fn stats(&self) -> WorkerStats {
        self.counters.snapshot()
    }

    /// Reserve room for `bytes` of changes to queue; `false` (nothing
    /// reserved) if the worker-wide bound would be passed.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        self.queued_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                (q + bytes <= MAX_QUEUED_BYTES).then_some(q + bytes)
            })
            .is_ok()
    }

    /// Give back what [`StoreHandle::try_reserve`] reserved.
    pub fn release(&self, bytes: usize) {
        let _ = self
            .queued_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(bytes))
            });
    }

    /// The lists this replica dropped as damaged, awaiting their rebuild.
    pub fn damaged(&self) -> &Damaged {
        &self.damaged
    }

    /// Up-to-date reads the link may answer itself (see [`super::read_cache`]).
    pub fn reads(&self) -> &ReadCache {
        &self.reads
    }

    /// Count one request answered `overloaded`.
    pub fn count_overloaded(&self) {
        self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
    }
}

/// Open the store at `path` and start its thread.
pub fn spawn(path: &Path, opts: StoreOptions) -> Result<StoreHandle, StoreError> {
    let store = Store::open_with(path, opts.clone())?;
    let counters = Arc::new(Counters::default());
    let quarantined = u64::try_from(store.quarantined()?).unwrap_or(0);
    counters.quarantined.store(quarantined, Ordering::Relaxed);
    let members = load_members(&store);
    let (tx, rx) = std_mpsc::channel::<Job>();
    let duties = ClusterDuties::at_start(&store, counters.clone());
    let path = path.to_path_buf();
    let damaged = Damaged::default();
    let repairs = Repairs::at_start(&store, damaged.clone(), counters.clone());
    let thread_counters = counters.clone();
    let reads = ReadCache::default();
    let thread_reads = reads.clone();
    std::thread::Builder::new()
        .name("replica-store".into())
        .spawn(move || {
            store_loop(
                store,
                path,
                opts,
                rx,
                thread_counters,
                repairs,
                duties,
                thread_reads,
            )
        })
        .map_err(|e| StoreError::Corrupt {
            list: ListId::new_random(),
            detail: format!("cannot start the store thread: {e}"),
        })?;
    Ok(StoreHandle {
        tx,
        counters,
        members: Arc::new(std::sync::Mutex::new(members)),
        queued_bytes: Arc::default(),
        damaged,
        reads,
    })
}

/// The member set saved in the store (empty if none or unreadable).
fn load_members(store: &Store) -> crate::members::MemberSet {
    let mut set = crate::members::MemberSet::new();
    match store.saved_members() {
        Ok(Some(bytes)) => {
            match serde_json::from_slice::<Vec<engine::protocol::ClusterMember>>(&bytes) {
                Ok(m) => {
                    set.merge(&m);
                }
                Err(e) => warn!("the saved member set does not parse ({e}); starting without it"),
            }
        }
        Ok(None) => {}
        Err(e) => warn!("cannot read the saved member set: {e}"),
    }
    set
}

#[allow(clippy::too_many_arguments)]
fn store_loop(
    mut store: Store,
    path: PathBuf,
    opts: StoreOptions,
    rx: std_mpsc::Receiver<Job>,
    counters: Arc<Counters>,
    mut repairs: Repairs,
    mut duties: ClusterDuties,
    reads: ReadCache,
) {
    let mut memory = MemoryWatch::default();
    let mut damaged_seen = repairs.damaged().len();
    loop {
        // A list found damaged (by a request or the scrub) is dropped here:
        // no read may be answered from heads remembered before.
        let damaged_now = repairs.damaged().len();
        if damaged_now != damaged_seen {
            reads.clear();
            damaged_seen = damaged_now;
        }
        // Index and scrub while idle; block only when there is nothing to do.
        let first = if duties.building() || repairs.scrubbing() {
            match rx.try_recv() {
                Ok(job) => job,
                Err(std_mpsc::TryRecvError::Empty) => {
                    if duties.building() {
                        duties.build_slice(&mut store);
                    } else {
                        repairs.scrub_slice(&mut store);
                    }
                    continue;
                }
                Err(std_mpsc::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let first = match first {
            Job::Sync(job) => job,
            Job::Cluster(job) => {
                handle_cluster(&mut store, &mut duties, &reads, job);
                continue;
            }
        };
        memory.tick();
        let mut batch = vec![first];
        let mut later = Vec::new();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Job::Sync(job)) => batch.push(job),
                Ok(Job::Cluster(job)) => later.push(job),
                Err(_) => break,
            }
        }
        let routes: Vec<(u64, UnboundedSender<Message>)> =
            batch.iter().map(|j| (j.id, j.reply.clone())).collect();
        match catch_unwind(AssertUnwindSafe(|| {
            process_batch(&mut store, &batch, &mut repairs)
        })) {
            Ok(replies) => {
                duties.after_batch(&mut store, &batch, &replies);
                // Before any reply leaves: a read answered by a link after
                // this point sees at least these heads.
                if repairs.damaged().len() != damaged_seen {
                    reads.clear();
                    damaged_seen = repairs.damaged().len();
                } else {
                    for (job, msg) in batch.iter().zip(&replies) {
                        reads.observe(job.list, msg);
                    }
                }
                let refused = replies.iter().any(|m| {
                    matches!(
                        m.header,
                        Header::Error {
                            code: ErrorCode::BadChange,
                            ..
                        }
                    )
                });
                let mut poisoned = false;
                if refused {
                    if let Ok(n) = store.quarantined() {
                        let n = u64::try_from(n).unwrap_or(0);
                        poisoned = n > counters.quarantined.swap(n, Ordering::Relaxed);
                    }
                }
                for ((_, reply), msg) in routes.into_iter().zip(replies) {
                    let _ = reply.send(msg);
                }
                if poisoned {
                    memory.after_poison();
                }
            }
            Err(_) => {
                error!("store batch panicked; reopening the store");
                reads.clear();
                for (id, reply) in routes {
                    let _ = reply.send(Message::error(id, ErrorCode::Internal, "storage failure"));
                }
                match Store::open_with(&path, opts.clone()) {
                    Ok(s) => store = s,
                    Err(e) => {
                        error!("cannot reopen the store: {e}");
                        return;
                    }
                }
            }
        }
        for job in later {
            handle_cluster(&mut store, &mut duties, &reads, job);
        }
    }
}

/// One cluster duty; a handoff that may release a list forgets its heads.
fn handle_cluster(
    store: &mut Store,
    duties: &mut ClusterDuties,
    reads: &ReadCache,
    job: ClusterJob,
) {
    if let ClusterJob::HandedOff { list, .. } = &job {
        reads.forget(list);
    }
    duties.handle(store, job);
}

/// Attempts at a group commit: a damaged list fails the whole transaction,
/// is dropped, and the batch is tried again (each list at most once).
const COMMIT_ATTEMPTS: usize = 4;

/// Ingest every job's changes in one transaction, then build each reply (in
/// job order). A list found damaged is dropped (see [`super::repair`]).
pub fn process_batch(store: &mut Store, jobs: &[SyncJob], repairs: &mut Repairs) -> Vec<Message> {
    let writes: Vec<(ListId, &[Bytes])> = jobs
        .iter()
        .filter(|j| !j.changes.is_empty())
        .map(|j| (j.list, j.changes.as_slice()))
        .collect();
    let mut committed = store.ingest_many(&writes);
    for _ in 1..COMMIT_ATTEMPTS {
        match &committed {
            Err(e) if repairs.on_error(store, e) => committed = store.ingest_many(&writes),
            _ => break,
        }
    }
    let mut outcomes = match committed {
        Ok(v) => {
            for ((list, _), outcome) in writes.iter().zip(&v) {
                if outcome.is_ok() {
                    repairs.on_ingested(store, *list);
                }
            }
            v.into_iter().map(Ok).collect::<Vec<_>>()
        }
        Err(e) => {
            error!("group commit failed: {e}");
            writes.iter().map(|_| Err(e.to_string())).collect()
        }
    }
    .into_iter();
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        let missing = if job.changes.is_empty() {
            Vec::new()
        } else {
            match outcomes.next() {
                Some(Ok(Ok(outcome))) => outcome.missing,
                Some(Ok(Err(rejected))) => {
                    debug!(list = %job.list, "rejected sync: {rejected}");
                    replies.push(Message::error(
                        job.id,
                        rejected.error_code(),
                        rejected.to_string(),
                    ));
                    continue;
                }
                Some(Err(e)) => {
                    replies.push(Message::error(job.id, ErrorCode::Internal, e));
                    continue;
                }
                None => {
                    replies.push(Message::error(job.id, ErrorCode::Internal, "lost outcome"));
                    continue;
                }
            }
        };
        // A home that dropped its damaged copy must not answer "I do not
        // hold it" (that would count as an empty version): it answers an
        // error until the rebuild brings the list back.
        if repairs.damaged().contains(&job.list) && !store.has_list(job.list).unwrap_or(false) {
            replies.push(Message::error(
                job.id,
                ErrorCode::Unavailable,
                "this replica's copy is being rebuilt",
            ));
            continue;
        }
        replies.push(match answer(store, job, missing) {
            Ok(msg) => msg,
            Err(e) => {
                // A damaged copy never answers, so it never counts.
                if !repairs.on_error(store, &e) {
                    warn!(list = %job.list, "cannot read the list: {e}");
                }
                Message::error(job.id, ErrorCode::Internal, e.to_string())
            }
        });
    }
    replies
}

/// The `synced` for one job after the commit.
fn answer(
    store: &mut Store,
    job: &SyncJob,
    missing: Vec<ChangeHash>,
) -> Result<Message, StoreError> {
    let holds = store.has_list(job.list)?;
    if holds && job.snapshot_ok && job.have.is_empty() {
        if let Some(served) = store.snapshot_for(job.list)? {
            if served.doc.len() <= MAX_SNAPSHOT_BYTES {
                return Ok(snapshot_answer(job, missing, served));
            }
        }
    }
    let (changes, heads) = if holds {
        store.changes_for(job.list, &job.have)?
    } else {
        (Vec::new(), Vec::new())
    };
    let mut total = 0usize;
    let frames: Vec<Bytes> = changes
        .into_iter()
        .take(MAX_REPLY_CHANGES)
        .take_while(|c| {
            total += c.len();
            total <= MAX_REPLY_BYTES
        })
        .map(Bytes::from)
        .collect();
    let acked = u32::from(missing.is_empty());
    Ok(Message::with_changes(
        Header::Synced {
            snapshot: None,
            id: job.id,
            list: job.list,
            heads,
            missing,
            acked,
            rejected: Vec::new(),
            holds,
        },
        frames,
    ))
}

/// The `synced` of a fresh open served as one document (PROTOCOL §4.2.1):
/// its frames and nothing after them.
fn snapshot_answer(job: &SyncJob, missing: Vec<ChangeHash>, served: ServedSnapshot) -> Message {
    let (meta, frames) = snapshot_frames(
        &served.doc,
        &served.heads,
        &served.signatures,
        Limits::default().max_change_bytes,
    );
    let acked = u32::from(missing.is_empty());
    Message::with_changes(
        Header::Synced {
            id: job.id,
            list: job.list,
            heads: served.heads,
            missing,
            acked,
            rejected: Vec::new(),
            holds: true,
            snapshot: Some(meta),
        },
        frames,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::list::EditContext;

    fn repairs(store: &Store) -> Repairs {
        Repairs::at_start(store, Damaged::default(), Arc::default())
    }

    fn job(list: ListId, have: Vec<ChangeHash>, changes: Vec<Bytes>) -> SyncJob {
        job_replying(list, have, changes).0
    }

    /// A job and the receiving end of its reply channel.
    fn job_replying(
        list: ListId,
        have: Vec<ChangeHash>,
        changes: Vec<Bytes>,
    ) -> (SyncJob, tokio::sync::mpsc::UnboundedReceiver<Message>) {
        let (reply, rx) = tokio::sync::mpsc::unbounded_channel();
        let job = SyncJob {
            id: 7,
            list,
            have,
            changes,
            hint_for: None,
            snapshot_ok: false,
            reply,
        };
        (job, rx)
    }

    /// A client store with one list of two changes.
    fn client_list(dir: &Path) -> (Store, ListId, Vec<Bytes>) {
        let mut client = Store::open(dir.join("client.db")).unwrap();
        let ctx = EditContext::now("test");
        let list = client.create_list("groceries", &ctx).unwrap();
        client.edit(list, |l| l.add_item("milk", 1, &ctx)).unwrap();
        let (changes, _) = client.changes_for(list, &[]).unwrap();
        (client, list, changes.into_iter().map(Bytes::from).collect())
    }

    /// Submit `changes` (maybe none) for `list` to the running store thread
    /// and wait (bounded) for its reply.
    fn through_thread(
        handle: &StoreHandle,
        list: ListId,
        have: Vec<ChangeHash>,
        changes: Vec<Bytes>,
    ) -> Message {
        let (job, mut rx) = job_replying(list, have, changes);
        assert!(handle.submit(job).is_ok(), "store thread gone");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
                .await
                .expect("store thread answers within 30 s")
                .expect("a reply")
        })
    }

    fn heads_of(msg: &Message) -> Vec<ChangeHash> {
        match &msg.header {
            Header::Synced { heads, .. } => heads.clone(),
            other => panic!("expected synced, got {other:?}"),
        }
    }

    #[test]
    fn a_fresh_open_is_answered_from_the_snapshot_when_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let (mut client, list, _) = client_list(dir.path());
        let ctx = EditContext::now("test");
        for i in 0..300 {
            client
                .edit(list, |l| l.add_item(&format!("item {i}"), 1, &ctx))
                .unwrap();
        }
        let (all, _) = client.changes_for(list, &[]).unwrap();
        let handle = spawn(&dir.path().join("replica.db"), StoreOptions::default()).unwrap();
        let all: Vec<Bytes> = all.into_iter().map(Bytes::from).collect();
        let heads = heads_of(&through_thread(&handle, list, Vec::new(), all));

        // Without `snapshot_ok`: change by change, as before.
        let plain = through_thread(&handle, list, Vec::new(), Vec::new());
        assert!(matches!(
            &plain.header,
            Header::Synced { snapshot: None, .. }
        ));
        assert_eq!(plain.changes.len(), 302);

        let (mut job, mut rx) = job_replying(list, Vec::new(), Vec::new());
        job.snapshot_ok = true;
        assert!(handle.submit(job).is_ok());
        let reply = rx.blocking_recv().expect("a reply");
        let Header::Synced {
            snapshot: Some(meta),
            heads: got,
            ..
        } = &reply.header
        else {
            panic!("expected a snapshot: {:?}", reply.header);
        };
        assert_eq!(got, &heads);
        let (doc, after) = engine::protocol::snapshot::join_snapshot(meta, &reply.changes).unwrap();
        assert!(after.is_empty(), "the whole list is the document");
        let sigs = engine::protocol::snapshot::signatures_of(meta).unwrap();
        let mut fresh = Store::open(dir.path().join("fresh.db")).unwrap();
        fresh
            .open_from_snapshot(list, &doc, &meta.heads, &sigs)
            .unwrap();
        assert_eq!(fresh.view(list).unwrap(), client.view(list).unwrap());
    }

    #[test]
    fn the_store_thread_teaches_the_read_cache_before_it_replies() {
        let dir = tempfile::tempdir().unwrap();
        let (mut client, list, changes) = client_list(dir.path());
        let handle = spawn(&dir.path().join("replica.db"), StoreOptions::default()).unwrap();
        assert!(handle.reads().answer(1, list, &[]).is_none());

        let first = heads_of(&through_thread(&handle, list, Vec::new(), changes.clone()));
        // The reply is out, so the heads it carried are remembered: a read
        // with exactly those heads is answered by the cache, and the answer
        // is the one the store thread gives (same header, no changes).
        let cached = handle.reads().answer(7, list, &first).expect("remembered");
        let stored = through_thread(&handle, list, first.clone(), Vec::new());
        assert_eq!(cached.header, stored.header);
        assert!(stored.changes.is_empty());

        // A newer write replaces the heads: the old `have` now needs changes
        // and is not answered from the cache.
        let ctx = EditContext::now("test");
        client.edit(list, |l| l.add_item("eggs", 1, &ctx)).unwrap();
        let (newer, _) = client.changes_for(list, &first).unwrap();
        let newer: Vec<Bytes> = newer.into_iter().map(Bytes::from).collect();
        let second = heads_of(&through_thread(&handle, list, first.clone(), newer));
        assert_ne!(first, second);
        assert!(handle.reads().answer(7, list, &first).is_none());
        assert!(handle.reads().answer(7, list, &second).is_some());
        let behind = through_thread(&handle, list, first, Vec::new());
        assert!(
            !behind.changes.is_empty(),
            "the store thread sends what is new"
        );

        // A list this replica does not hold is never answered from the cache.
        let other = ListId::new_random();
        let _ = through_thread(&handle, other, second.clone(), Vec::new());
        assert!(handle.reads().answer(7, other, &second).is_none());
    }

    #[test]
    fn group_commit_stores_and_answers_each_job() {
        let dir = tempfile::tempdir().unwrap();
        let (mut client, list, changes) = client_list(dir.path());
        let mut replica = Store::open(dir.path().join("replica.db")).unwrap();
        let other = ListId::new_random();
        let jobs = vec![
            job(list, vec![], changes.clone()),
            job(other, vec![], vec![]),
            job(
                list,
                vec![],
                vec![Bytes::from_static(b"\x85\x6f\x4a\x83junk")],
            ),
            job(list, vec![], vec![]),
        ];
        let mut repairs = repairs(&replica);
        let replies = process_batch(&mut replica, &jobs, &mut repairs);
        let heads = client.heads(list).unwrap();
        match &replies[0].header {
            Header::Synced {
                heads: h,
                missing,
                acked,
                ..
            } => {
                assert_eq!(h, &heads);
                assert!(missing.is_empty());
                assert_eq!(*acked, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(replies[0].changes.len(), 2, "have=[] gets everything");
        // A list never seen, read with no changes: empty heads, no changes.
        assert!(matches!(&replies[1].header, Header::Synced { heads, .. } if heads.is_empty()));
        assert!(matches!(
            &replies[2].header,
            Header::Error {
                code: ErrorCode::BadChange,
                ..
            }
        ));
        assert_eq!(replies[3].changes.len(), 2);
        assert!(replica.has_list(list).unwrap());
    }

    #[test]
    fn a_change_without_its_dependencies_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (_client, list, changes) = client_list(dir.path());
        let mut replica = Store::open(dir.path().join("replica.db")).unwrap();
        let mut repairs = repairs(&replica);
        let replies = process_batch(
            &mut replica,
            &[job(list, vec![], vec![changes[1].clone()])],
            &mut repairs,
        );
        match &replies[0].header {
            Header::Synced { missing, acked, .. } => {
                assert_eq!(missing.len(), 1);
                assert_eq!(*acked, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_damaged_list_in_a_batch_is_dropped_without_spoiling_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let (_client, list, changes) = client_list(dir.path());
        let (_other_client, other, other_changes) = {
            let sub = dir.path().join("b");
            std::fs::create_dir_all(&sub).unwrap();
            client_list(&sub)
        };
        let path = dir.path().join("replica.db");
        let mut replica = Store::open(&path).unwrap();
        let mut repairs = repairs(&replica);
        process_batch(
            &mut replica,
            &[job(list, vec![], changes.clone())],
            &mut repairs,
        );
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE changes SET bytes = zeroblob(length(bytes)) WHERE list_id = ?1",
                [list.as_bytes().to_vec()],
            )
            .unwrap();
        replica.evict(list);
        let damaged = Damaged::default();
        let mut repairs = Repairs::at_start(&replica, damaged.clone(), Arc::default());
        // The same batch writes the damaged list and another one.
        let more = job(list, vec![], changes[1..].to_vec());
        let fine = job(other, vec![], other_changes);
        let replies = process_batch(&mut replica, &[more, fine], &mut repairs);
        assert!(
            matches!(&replies[1].header, Header::Synced { acked: 1, .. }),
            "the other list is stored: {:?}",
            replies[1].header
        );
        assert!(
            damaged.contains(&list),
            "queued for its rebuild: {:?}",
            replies[0]
        );
        // The damaged copy is gone: the write names what it lacks instead.
        assert!(
            matches!(&replies[0].header, Header::Synced { missing, .. } if !missing.is_empty()),
            "{:?}",
            replies[0].header
        );
        // The rebuild (a push of everything) repairs it.
        process_batch(&mut replica, &[job(list, vec![], changes)], &mut repairs);
        assert!(damaged.is_empty());
        assert!(replica.has_list(list).unwrap());
    }
}
