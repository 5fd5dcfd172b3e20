//! The store thread's cluster duties besides `sync` (PROTOCOL §7.2–§7.4):
//! answering anti-entropy `digest` and `list_heads_in` from the
//! [`DigestIndex`], saving the member set, keeping hints for the home
//! replicas it stood in for, and offering them for handoff.
//!
//! Handoff: every heartbeat, each link asks for a few hints; this thread
//! sends a `handoff {list, home}` for each hint not offered in the last
//! [`HINT_LEASE`] through that link. The proxy copies the list to the home
//! and answers `handed_off`; the hint is then deleted, and if the proxy
//! says this worker is not a home of the list (`release`) and no other hint
//! needs the list, the list is dropped here.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::protocol::{ErrorCode, Header, Message};
use engine::store::Store;
use engine::{ListId, WorkerId};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use super::digests::DigestIndex;
use super::store_thread::{Counters, SyncJob};

/// A hint is offered again through a link after this long without an answer.
pub const HINT_LEASE: Duration = Duration::from_secs(5);
/// Lists read per idle slice while the digest index is built.
const BUILD_SLICE: usize = 64;
/// Ids of worker-originated `handoff` requests start here (links use small ids).
const HANDOFF_IDS: u64 = 1 << 62;

/// A cluster request for the store thread.
#[derive(Debug)]
pub enum ClusterJob {
    /// Answer `digest`.
    Digest {
        /// Request id.
        id: u64,
        /// The ranges.
        ranges: Vec<[u64; 2]>,
        /// Where the reply goes.
        reply: UnboundedSender<Message>,
    },
    /// Answer `list_heads_in`.
    ListHeads {
        /// Request id.
        id: u64,
        /// The range.
        range: [u64; 2],
        /// Continue after this list.
        after: Option<ListId>,
        /// Where the reply goes.
        reply: UnboundedSender<Message>,
    },
    /// Save the member set (JSON).
    SaveMembers(Vec<u8>),
    /// Send up to `limit` `handoff` requests through `link`.
    OfferHints {
        /// Most to send.
        limit: usize,
        /// The link's outgoing queue.
        link: UnboundedSender<Message>,
    },
    /// The proxy's `handed_off`.
    HandedOff {
        /// The list.
        list: ListId,
        /// The home that now has it.
        home: WorkerId,
        /// Whether this worker may drop it.
        release: bool,
    },
}

/// See the module docs.
#[derive(Debug)]
pub struct ClusterDuties {
    index: DigestIndex,
    counters: Arc<Counters>,
    offered: HashMap<(ListId, String), Instant>,
    next_id: u64,
}

impl ClusterDuties {
    /// Duties for `store`, whose lists the index will read while idle.
    pub fn at_start(store: &Store, counters: Arc<Counters>) -> Self {
        let lists = store.list_ids().unwrap_or_else(|e| {
            warn!("cannot list the stored lists for the digest index: {e}");
            Vec::new()
        });
        let duties = ClusterDuties {
            index: DigestIndex::building(lists),
            counters,
            offered: HashMap::new(),
            next_id: HANDOFF_IDS,
        };
        duties.count_hints(store);
        duties
    }

    fn count_hints(&self, store: &Store) {
        if let Ok(n) = store.hint_count() {
            self.counters.hints.store(n, Ordering::Relaxed);
        }
    }

    /// Whether the index still has lists to read.
    pub fn building(&self) -> bool {
        !self.index.ready()
    }

    /// Read a slice of lists into the index.
    pub fn build_slice(&mut self, store: &mut Store) {
        for list in self.index.next_to_build(BUILD_SLICE) {
            match store.heads(list) {
                Ok(heads) => self.index.update(list, &heads),
                Err(e) => debug!(%list, "not indexed: {e}"),
            }
        }
        if self.index.ready() {
            info!(lists = self.index.len(), "anti-entropy index built");
        }
    }

    /// After a group commit: index the new heads and record hints.
    pub fn after_batch(&mut self, store: &mut Store, jobs: &[SyncJob], replies: &[Message]) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mut hinted = false;
        for (job, reply) in jobs.iter().zip(replies) {
            let Header::Synced {
                heads,
                missing,
                holds,
                ..
            } = &reply.header
            else {
                continue;
            };
            self.index
                .update(job.list, if *holds { heads } else { &[] });
            if let (Some(home), true, true) = (&job.hint_for, *holds, missing.is_empty()) {
                if let Err(e) = store.add_hint(job.list, home.as_str(), now_ms) {
                    warn!(list = %job.list, "cannot record a hint: {e}");
                }
                hinted = true;
            }
        }
        if hinted {
            self.count_hints(store);
        }
    }

    /// Handle one cluster job.
    pub fn handle(&mut self, store: &mut Store, job: ClusterJob) {
        match job {
            ClusterJob::Digest { id, ranges, reply } => {
                let msg = if self.index.ready() {
                    let digests = ranges.iter().map(|r| self.index.digest(*r)).collect();
                    Message::new(Header::DigestOk { id, digests })
                } else {
                    Message::error(
                        id,
                        ErrorCode::Unavailable,
                        "anti-entropy index still building",
                    )
                };
                let _ = reply.send(msg);
            }
            ClusterJob::ListHeads {
                id,
                range,
                after,
                reply,
            } => {
                let msg = if self.index.ready() {
                    let (lists, next) = self.index.heads_in(range, after);
                    Message::new(Header::ListHeadsOk { id, lists, next })
                } else {
                    Message::error(
                        id,
                        ErrorCode::Unavailable,
                        "anti-entropy index still building",
                    )
                };
                let _ = reply.send(msg);
            }
            ClusterJob::SaveMembers(bytes) => {
                if let Err(e) = store.save_members(&bytes) {
                    warn!("cannot save the member set: {e}");
                }
            }
            ClusterJob::OfferHints { limit, link } => self.offer_hints(store, limit, &link),
            ClusterJob::HandedOff {
                list,
                home,
                release,
            } => {
                self.offered.remove(&(list, home.as_str().to_string()));
                match store.remove_hint(list, home.as_str()) {
                    Ok(true) => {}
                    Ok(false) if release => {
                        info!(%list, %home, "handed off; this stand-in lets the list go");
                        match store.purge_list(list) {
                            Ok(()) => self.index.update(list, &[]),
                            Err(e) => warn!(%list, "cannot drop a handed-off list: {e}"),
                        }
                    }
                    Ok(false) => debug!(%list, %home, "handed off"),
                    Err(e) => warn!(%list, "cannot delete a hint: {e}"),
                }
                self.count_hints(store);
            }
        }
    }

    fn offer_hints(&mut self, store: &mut Store, limit: usize, link: &UnboundedSender<Message>) {
        let now = Instant::now();
        self.offered
            .retain(|_, at| now.duration_since(*at) < HINT_LEASE);
        let hints = match store.hints(0, limit + self.offered.len()) {
            Ok(h) => h,
            Err(e) => {
                warn!("cannot read hints: {e}");
                return;
            }
        };
        let mut sent = 0;
        for (list, home) in hints {
            if sent >= limit || self.offered.contains_key(&(list, home.clone())) {
                continue;
            }
            let Ok(home_id) = WorkerId::parse(&home) else {
                continue;
            };
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(HANDOFF_IDS);
            let msg = Message::new(Header::Handoff {
                id,
                list,
                home: home_id,
            });
            if link.send(msg).is_err() {
                return;
            }
            self.offered.insert((list, home), now);
            sent += 1;
        }
    }
}
