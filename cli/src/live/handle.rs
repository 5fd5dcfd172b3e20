//! [`LiveHandle`]: tell a running live session that a list was just edited.

use engine::ListId;
use tokio::sync::mpsc;

/// A cheap, cloneable handle to a running [`crate::watch::Watcher`]: code in
/// the same process that edits a list calls [`LiveHandle::edited`] so the
/// session pushes the edit at once (coalesced with whatever else is
/// pending) instead of at the next local poll.
#[derive(Debug, Clone)]
pub struct LiveHandle {
    tx: mpsc::UnboundedSender<ListId>,
}

impl LiveHandle {
    /// A handle and the receiving end the watcher listens on.
    pub fn channel() -> (LiveHandle, mpsc::UnboundedReceiver<ListId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LiveHandle { tx }, rx)
    }

    /// `list` has a new local edit. False when the watcher has stopped (the
    /// edit is safe in the store; the next `sync` pushes it).
    pub fn edited(&self, list: ListId) -> bool {
        self.tx.send(list).is_ok()
    }
}
