//! Finding and dropping damaged data in a store (DESIGN §5: "a replica whose
//! store is damaged stops counting for the damaged lists and is rebuilt from
//! the others").
//!
//! [`Store::quick_check`] runs SQLite's `PRAGMA quick_check` (when a worker
//! starts); [`Store::verify_list`] loads a list from its rows exactly as a
//! request would, so a damaged snapshot or change row shows up as
//! [`StoreError::Corrupt`]; [`Store::purge_list`] forgets a list entirely,
//! after which it is simply absent and can be rebuilt through the normal
//! ingest path. [`StoreError::damaged_list`] tells a damaged list apart from
//! every other failure.

use rusqlite::ErrorCode;

use super::{loaded, Store, StoreError};
use crate::ListId;

/// Most problems `quick_check` reports back.
const MAX_PROBLEMS: u32 = 100;

impl StoreError {
    /// The list whose stored data is damaged, if that is what this error
    /// says.
    pub fn damaged_list(&self) -> Option<ListId> {
        match self {
            StoreError::Corrupt { list, .. } => Some(*list),
            _ => None,
        }
    }

    /// Whether SQLite itself reports the file damaged (not one list's rows).
    pub fn is_file_damage(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        )
    }
}

impl Store {
    /// `PRAGMA quick_check`: the problems SQLite finds in the file (empty
    /// when it is sound), at most 100.
    pub fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("PRAGMA quick_check({MAX_PROBLEMS})"))?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
    }

    /// Load `id` from its rows (not from the cache) as a request would; a
    /// damaged snapshot or row is an `Err` whose
    /// [`damaged_list`](StoreError::damaged_list) is `id`.
    pub fn verify_list(&mut self, id: ListId) -> Result<(), StoreError> {
        self.cache.pop(&id);
        loaded::load_full(&self.conn, &self.actor, id).map(|_| ())
    }

    /// Forget `id`: its snapshot, change rows and marks, in one transaction.
    /// Afterwards the list is absent from this store.
    pub fn purge_list(&mut self, id: ListId) -> Result<(), StoreError> {
        self.cache.pop(&id);
        let tx = self.conn.transaction()?;
        let key = id.as_bytes().to_vec();
        tx.execute("DELETE FROM changes WHERE list_id = ?1", [&key])?;
        tx.execute("DELETE FROM lists WHERE list_id = ?1", [&key])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::EditContext;

    #[test]
    fn a_damaged_row_is_found_purged_and_the_list_rebuilt_by_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        let ctx = EditContext::now("t");
        let id = store.create_list("groceries", &ctx).unwrap();
        store.edit(id, |l| l.add_item("milk", 2, &ctx)).unwrap();
        let other = store.create_list("other", &ctx).unwrap();
        let (changes, heads) = store.changes_for(id, &[]).unwrap();
        assert!(store.quick_check().unwrap().is_empty());
        store.verify_list(id).unwrap();

        // Garble the bytes of one change row of `id`.
        store
            .conn
            .execute(
                "UPDATE changes SET bytes = zeroblob(length(bytes))
                 WHERE id = (SELECT MAX(id) FROM changes WHERE list_id = ?1)",
                [id.as_bytes().to_vec()],
            )
            .unwrap();
        let err = store.verify_list(id).unwrap_err();
        assert_eq!(err.damaged_list(), Some(id), "{err}");
        store.verify_list(other).unwrap();

        store.purge_list(id).unwrap();
        assert!(!store.has_list(id).unwrap());
        store.ingest(id, &changes).unwrap();
        store.verify_list(id).unwrap();
        assert_eq!(store.heads(id).unwrap(), heads);
    }
}
