//! A device's own facts about its lists, which never travel: whether a list
//! is archived (hidden from `ls`), when the cloud last answered a sync of it,
//! and deleting a list from this device (the cloud and other devices keep
//! it; `join` brings it back). Stored in `list_local` (see [`super::schema`]).

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{Store, StoreError};
use crate::ListId;

impl Store {
    /// Delete a list from this device: its rows, snapshot and local facts,
    /// in one transaction. Returns whether it was here.
    pub fn delete_list(&mut self, id: ListId) -> Result<bool, StoreError> {
        let key = id.as_bytes().as_slice();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM changes WHERE list_id = ?1", [key])?;
        tx.execute("DELETE FROM list_local WHERE list_id = ?1", [key])?;
        let n = tx.execute("DELETE FROM lists WHERE list_id = ?1", [key])?;
        tx.commit()?;
        self.cache.pop(&id);
        Ok(n > 0)
    }

    /// Archive (hide from `ls`) or unarchive a list.
    pub fn set_archived(&mut self, id: ListId, archived: bool) -> Result<(), StoreError> {
        if !self.has_list(id)? {
            return Err(StoreError::UnknownList(id));
        }
        self.conn.execute(
            "INSERT INTO list_local (list_id, archived) VALUES (?1, ?2)
             ON CONFLICT (list_id) DO UPDATE SET archived = excluded.archived",
            params![id.as_bytes().as_slice(), archived as i64],
        )?;
        Ok(())
    }

    /// The archived lists.
    pub fn archived(&self) -> Result<HashSet<ListId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT list_id FROM list_local WHERE archived != 0")?;
        let ids = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids
            .into_iter()
            .filter_map(|b| uuid::Uuid::from_slice(&b).ok())
            .filter_map(|u| ListId::parse(&u.to_string()).ok())
            .collect())
    }

    /// The list this device edited last (its actor's latest change row).
    pub fn last_edited_list(&self) -> Result<Option<ListId>, StoreError> {
        let b: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT list_id FROM changes WHERE actor = ?1 ORDER BY id DESC LIMIT 1",
                [self.actor.to_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(b.and_then(|b| uuid::Uuid::from_slice(&b).ok())
            .and_then(|u| ListId::parse(&u.to_string()).ok()))
    }

    /// Record that the cloud answered a sync of `id` at `at_ms` (without
    /// an fsync: a hint for the user, see [`super::relaxed`]).
    pub fn note_cloud_seen(&mut self, id: ListId, at_ms: i64) -> Result<(), StoreError> {
        self.relaxed(|s| upsert_cloud_seen(&s.conn, id, at_ms))
    }

    /// When the cloud last answered a sync of `id` (unix ms), if ever.
    pub fn cloud_seen_at(&self, id: ListId) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT cloud_seen_at FROM list_local WHERE list_id = ?1",
                [id.as_bytes().as_slice()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }
}

/// Write `cloud_seen_at` of `id` on `conn` (a connection or a transaction).
pub(crate) fn upsert_cloud_seen(
    conn: &rusqlite::Connection,
    id: ListId,
    at_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO list_local (list_id, cloud_seen_at) VALUES (?1, ?2)
         ON CONFLICT (list_id) DO UPDATE SET cloud_seen_at = excluded.cloud_seen_at",
    )?
    .execute(params![id.as_bytes().as_slice(), at_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::list::EditContext;

    #[test]
    fn delete_archive_and_cloud_contact_are_local_facts() {
        let dir = TempDir::new().unwrap();
        let mut s = Store::open(dir.path().join("db")).unwrap();
        let ctx = EditContext::now("t");
        let a = s.create_list("A", &ctx).unwrap();
        let b = s.create_list("B", &ctx).unwrap();
        s.edit(a, |l| l.add_item("milk", 1, &ctx)).unwrap();
        assert_eq!(s.last_edited_list().unwrap(), Some(a));
        assert_eq!(s.cloud_seen_at(a).unwrap(), None);
        s.note_cloud_seen(a, 42).unwrap();
        s.set_archived(a, true).unwrap();
        assert_eq!(s.cloud_seen_at(a).unwrap(), Some(42));
        assert_eq!(s.archived().unwrap(), HashSet::from([a]));
        s.set_archived(a, false).unwrap();
        assert!(s.archived().unwrap().is_empty());
        assert!(s.delete_list(a).unwrap());
        assert_eq!(s.list_ids().unwrap(), vec![b]);
        assert!(!s.delete_list(a).unwrap());
        assert!(s.view(a).is_err());
        assert!(s.set_archived(a, true).is_err());
        // Reopening sees the same.
        drop(s);
        let mut s = Store::open(dir.path().join("db")).unwrap();
        assert_eq!(s.list_ids().unwrap(), vec![b]);
        assert_eq!(s.cloud_seen_at(a).unwrap(), None);
        assert_eq!(s.view(b).unwrap().name, "B");
    }
}
