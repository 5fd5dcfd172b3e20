//! Background compaction (issue 11 §5): the snapshot of a list is built on a
//! compaction thread, not on the store's thread, so other lists are not
//! delayed while a big document saves.
//!
//! 1. When a list is due, the store thread takes a copy of its document
//!    (`Automerge::clone`, a memory copy, much cheaper than `save`), its heads
//!    and `last_id` (the highest change row the copy reflects), and queues a
//!    [`Job`] (bounded queue; at most one job in flight per list).
//! 2. The compaction thread saves the copy ([`Done`]).
//! 3. The store thread, the next time it is used, writes the snapshot and
//!    deletes the bytes of rows `id <= last_id` in its own short transaction
//!    ([`Store::finish_compactions`] / `write_done`), but only if the list
//!    still has the row `last_id` and no row after it was compacted already
//!    (a newer snapshot is never replaced by an older one). Rows committed
//!    after the copy keep their bytes. A `kill -9` at any instant leaves the
//!    old or the new state: the copy and the save touch no file.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::Automerge;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};
use crate::ids::hashes_to_blob;
use crate::{ChangeHash, ListId};

/// Compaction jobs queued at once (more due lists wait for the next change).
const QUEUE: usize = 4;

/// Longest [`Store::finish_compactions`] waits for one snapshot.
const WAIT_ONE: Duration = Duration::from_secs(120);

/// Called on the compaction thread before each save (a test hook: hold a
/// compaction in progress while the store thread keeps serving).
pub type CompactionHook = Arc<dyn Fn(ListId) + Send + Sync>;

/// A list's copy, to be saved off the store thread.
pub(crate) struct Job {
    id: ListId,
    doc: Automerge,
    heads: Vec<ChangeHash>,
    last_id: i64,
    rows: usize,
}

/// A saved snapshot, to be written by the store thread.
pub(crate) struct Done {
    id: ListId,
    snapshot: Option<Vec<u8>>,
    heads: Vec<ChangeHash>,
    last_id: i64,
    rows: usize,
}

/// The store's side of the compaction thread.
pub(crate) struct Compactor {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    in_flight: HashSet<ListId>,
}

impl Compactor {
    fn spawn(hook: Option<CompactionHook>) -> Result<Compactor, StoreError> {
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(QUEUE);
        let (done_tx, done) = mpsc::channel::<Done>();
        std::thread::Builder::new()
            .name("compaction".into())
            .spawn(move || {
                // Ends when the store (the sender) is dropped.
                for job in job_rx {
                    if let Some(h) = &hook {
                        h(job.id);
                    }
                    let doc = job.doc;
                    let snapshot = catch_unwind(AssertUnwindSafe(|| doc.save())).ok();
                    let done = Done {
                        id: job.id,
                        snapshot,
                        heads: job.heads,
                        last_id: job.last_id,
                        rows: job.rows,
                    };
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt {
                list: ListId::new_random(),
                detail: format!("cannot start the compaction thread: {e}"),
            })?;
        Ok(Compactor {
            jobs,
            done,
            in_flight: HashSet::new(),
        })
    }
}

impl Store {
    /// Install a hook run on the compaction thread before each background
    /// save (tests). Takes effect for a compaction thread not yet started.
    #[doc(hidden)]
    pub fn set_compaction_hook(&mut self, hook: CompactionHook) {
        self.compaction_hook = Some(hook);
    }

    /// Background compactions queued or running.
    pub fn compactions_in_flight(&self) -> usize {
        self.compactor.as_ref().map_or(0, |c| c.in_flight.len())
    }

    /// Queue `id` for a background compaction, unless one is in flight or
    /// the queue is full (then the next change retries). Returns whether a
    /// job was queued.
    pub(crate) fn start_compaction(&mut self, id: ListId) -> Result<bool, StoreError> {
        if self.compactor.is_none() {
            self.compactor = Some(Compactor::spawn(self.compaction_hook.clone())?);
        }
        let Some(c) = self.compactor.as_mut() else {
            return Ok(false);
        };
        if c.in_flight.contains(&id) {
            return Ok(false);
        }
        let Some(l) = self.cache.peek(&id) else {
            return Ok(false);
        };
        let job = Job {
            id,
            doc: l.list.doc().clone(),
            heads: l.graph.heads(),
            last_id: l.last_id,
            rows: l.uncompacted,
        };
        match c.jobs.try_send(job) {
            Ok(()) => {
                c.in_flight.insert(id);
                Ok(true)
            }
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => {
                // The thread died (it only ends when its channel closes):
                // start a fresh one next time.
                self.compactor = None;
                Ok(false)
            }
        }
    }

    /// Write the snapshots the compaction thread finished. With `wait`, wait
    /// (at most [`WAIT_ONE`] each) for every job in flight. Returns the number
    /// of snapshots written.
    pub fn finish_compactions(&mut self, wait: bool) -> Result<usize, StoreError> {
        let mut written = 0;
        loop {
            let Some(c) = self.compactor.as_mut() else {
                return Ok(written);
            };
            let next = if wait && !c.in_flight.is_empty() {
                match c.done.recv_timeout(WAIT_ONE) {
                    Ok(d) => Some(d),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        self.compactor = None;
                        None
                    }
                }
            } else {
                c.done.try_recv().ok()
            };
            let Some(done) = next else {
                return Ok(written);
            };
            if let Some(c) = self.compactor.as_mut() {
                c.in_flight.remove(&done.id);
            }
            if self.write_done(done)? {
                written += 1;
            }
        }
    }

    /// Write one finished snapshot in its own transaction if it still fits
    /// the list (see the module docs); false if it was dropped.
    fn write_done(&mut self, done: Done) -> Result<bool, StoreError> {
        let started = Instant::now();
        let Some(snapshot) = done.snapshot else {
            tracing::warn!(list = %done.id, "saving a snapshot panicked; compaction skipped");
            return Ok(false);
        };
        let list = done.id.as_bytes();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let still_there = tx
            .query_row(
                "SELECT 1 FROM changes WHERE list_id = ?1 AND id = ?2",
                params![list.as_slice(), done.last_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        let newer: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM changes WHERE list_id = ?1 AND id > ?2 AND bytes IS NULL LIMIT 1",
                params![list.as_slice(), done.last_id],
                |r| r.get(0),
            )
            .optional()?;
        if !still_there || newer.is_some() {
            return Ok(false);
        }
        tx.execute(
            "UPDATE lists SET snapshot = ?2, snapshot_heads = ?3 WHERE list_id = ?1",
            params![list.as_slice(), snapshot, hashes_to_blob(&done.heads)],
        )?;
        tx.execute(
            "UPDATE changes SET bytes = NULL WHERE list_id = ?1 AND id <= ?2 AND bytes IS NOT NULL",
            params![list.as_slice(), done.last_id],
        )?;
        tx.commit()?;
        if let Some(l) = self.cache.get_mut(&done.id) {
            l.uncompacted = l.uncompacted.saturating_sub(done.rows);
        }
        tracing::debug!(list = %done.id, ms = started.elapsed().as_secs_f64() * 1e3, "snapshot written");
        Ok(true)
    }
}

#[cfg(test)]
#[path = "compactor_tests.rs"]
mod tests;
