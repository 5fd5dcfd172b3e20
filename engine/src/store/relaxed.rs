//! Commits that skip the fsync (issue 11): what a device receives from the
//! cloud, and its own bookkeeping, is written with `PRAGMA synchronous=NORMAL`
//! even when the store fsyncs every commit of the user's own edits.
//!
//! Why that loses nothing: in WAL mode a NORMAL commit is atomic and
//! survives a process crash (`kill -9`); only a power loss can roll it back,
//! and then to an earlier consistent state, because the WAL is replayed in
//! order. What such a commit holds is already durable elsewhere (changes a
//! cloud quorum stored, or marks the next sync recomputes), and the next
//! FULL commit (a local edit) fsyncs the WAL with everything before it, so
//! an edit never survives without the changes it was built on. The
//! device's own edits keep their fsync.

use super::{Store, StoreError};

impl Store {
    /// Run `f` with `synchronous=NORMAL`, restoring FULL afterwards (also
    /// when `f` fails), if this store fsyncs by default.
    pub(crate) fn relaxed<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !self.opts.synchronous_full {
            return f(self);
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let out = f(self);
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        let out = out?;
        restored?;
        Ok(out)
    }

    /// The connection's `PRAGMA synchronous` (0 OFF, 1 NORMAL, 2 FULL).
    pub fn synchronous_level(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::EditContext;
    use crate::store::StoreOptions;

    const FULL: i64 = 2;
    const NORMAL: i64 = 1;

    fn author_changes(dir: &std::path::Path) -> (crate::ListId, Vec<Vec<u8>>) {
        let mut author = Store::open(dir.join("author.db")).unwrap();
        let ctx = EditContext::now("test");
        let list = author.create_list("groceries", &ctx).unwrap();
        author.edit(list, |l| l.add_item("milk", 1, &ctx)).unwrap();
        let (changes, _) = author.changes_for(list, &[]).unwrap();
        (list, changes)
    }

    #[test]
    fn cloud_changes_and_marks_commit_relaxed_and_full_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let (list, changes) = author_changes(dir.path());
        let mut device = Store::open(dir.path().join("device.db")).unwrap();
        assert_eq!(device.synchronous_level().unwrap(), FULL);
        let seen = device
            .relaxed(|s| s.synchronous_level())
            .expect("relaxed read");
        assert_eq!(seen, NORMAL, "inside: no fsync");

        let out = device.ingest_from_cloud(list, &changes).unwrap();
        assert_eq!(out.applied.len(), changes.len());
        assert_eq!(device.synchronous_level().unwrap(), FULL);
        device.note_cloud_seen(list, 1).unwrap();
        assert_eq!(device.synchronous_level().unwrap(), FULL);
        let heads = device.heads(list).unwrap();
        device.set_acked_heads(list, &heads).unwrap();
        assert_eq!(device.synchronous_level().unwrap(), FULL);

        // Committed all the same: a fresh handle sees the list and the mark.
        drop(device);
        let mut again = Store::open(dir.path().join("device.db")).unwrap();
        assert_eq!(again.heads(list).unwrap(), heads);
        assert_eq!(again.acked_heads(list).unwrap(), heads);
        assert_eq!(again.cloud_seen_at(list).unwrap(), Some(1));
    }

    #[test]
    fn mark_synced_writes_both_marks_in_one_commit_or_neither() {
        let dir = tempfile::tempdir().unwrap();
        let (list, changes) = author_changes(dir.path());
        let mut device = Store::open(dir.path().join("device.db")).unwrap();
        device.ingest_from_cloud(list, &changes).unwrap();
        let heads = device.heads(list).unwrap();
        device.mark_synced(list, &heads, 7).unwrap();
        assert_eq!(device.synchronous_level().unwrap(), FULL);
        drop(device);
        let device = Store::open(dir.path().join("device.db")).unwrap();
        assert_eq!(device.acked_heads(list).unwrap(), heads);
        assert_eq!(device.cloud_seen_at(list).unwrap(), Some(7));

        // An unknown list: an error, and no `cloud_seen_at` row either.
        let mut device = device;
        let unknown = crate::ListId::new_random();
        assert!(matches!(
            device.mark_synced(unknown, &heads, 9),
            Err(StoreError::UnknownList(_))
        ));
        assert_eq!(device.cloud_seen_at(unknown).unwrap(), None);
        assert_eq!(device.synchronous_level().unwrap(), FULL);
    }

    #[test]
    fn full_is_restored_when_the_relaxed_work_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut device = Store::open(dir.path().join("device.db")).unwrap();
        let unknown = crate::ListId::new_random();
        assert!(device.set_acked_heads(unknown, &[]).is_err());
        assert_eq!(device.synchronous_level().unwrap(), FULL);
        let failed: Result<(), StoreError> =
            device.relaxed(|_| Err(StoreError::UnknownList(unknown)));
        assert!(failed.is_err());
        assert_eq!(device.synchronous_level().unwrap(), FULL);
    }

    #[test]
    fn a_store_that_never_fsyncs_stays_normal() {
        let dir = tempfile::tempdir().unwrap();
        let (list, changes) = author_changes(dir.path());
        let opts = StoreOptions {
            synchronous_full: false,
            ..StoreOptions::default()
        };
        let mut device = Store::open_with(dir.path().join("device.db"), opts).unwrap();
        device.ingest_from_cloud(list, &changes).unwrap();
        assert_eq!(device.synchronous_level().unwrap(), NORMAL);
    }
}
