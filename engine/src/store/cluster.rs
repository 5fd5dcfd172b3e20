//! What a cloud worker keeps in its store besides lists (PROTOCOL §7.2,
//! §7.3): the cluster's member set, as opaque bytes under one `meta` key,
//! and **hints** — "`home` lacks `list`" — written when the worker stored a
//! write as a stand-in for a home replica that was down. A hint is deleted
//! once the home acknowledged the handoff.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};
use crate::ListId;

/// The `meta` key of the worker's member set.
const MEMBERS_KEY: &str = "cluster_members";
/// Longest home id kept in a hint (worker ids are at most 64 bytes).
const MAX_HOME_LEN: usize = 64;

impl Store {
    /// The member set saved by [`Store::save_members`], if any.
    pub fn saved_members(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [MEMBERS_KEY],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Save the member set (durably, in its own transaction).
    pub fn save_members(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            rusqlite::params![MEMBERS_KEY, bytes],
        )?;
        Ok(())
    }

    /// Record that `home` lacks `list` (idempotent). `at`: ms since epoch.
    pub fn add_hint(&mut self, list: ListId, home: &str, at: i64) -> Result<(), StoreError> {
        if home.is_empty() || home.len() > MAX_HOME_LEN {
            return Ok(());
        }
        self.conn.execute(
            "INSERT OR IGNORE INTO hints (list_id, home, at) VALUES (?1, ?2, ?3)",
            rusqlite::params![list.as_bytes().to_vec(), home, at],
        )?;
        Ok(())
    }

    /// Up to `limit` hints, oldest first, skipping the first `skip`.
    pub fn hints(&self, skip: usize, limit: usize) -> Result<Vec<(ListId, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT list_id, home FROM hints ORDER BY at, list_id, home LIMIT ?1 OFFSET ?2",
        )?;
        let rows = stmt.query_map(
            rusqlite::params![
                i64::try_from(limit).unwrap_or(i64::MAX),
                i64::try_from(skip).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, home) = row?;
            // A row that does not parse is skipped, never fatal.
            if let Some(list) = ListId::from_slice(&id) {
                out.push((list, home));
            }
        }
        Ok(out)
    }

    /// Number of hints held.
    pub fn hint_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM hints", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Forget the hint that `home` lacks `list`; returns whether any hint
    /// for `list` remains.
    pub fn remove_hint(&mut self, list: ListId, home: &str) -> Result<bool, StoreError> {
        let key = list.as_bytes().to_vec();
        self.conn.execute(
            "DELETE FROM hints WHERE list_id = ?1 AND home = ?2",
            rusqlite::params![key, home],
        )?;
        let left: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM hints WHERE list_id = ?1",
            [&key],
            |r| r.get(0),
        )?;
        Ok(left > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_members_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let (a, b) = (ListId::new_random(), ListId::new_random());
        {
            let mut s = Store::open(&path).unwrap();
            assert_eq!(s.saved_members().unwrap(), None);
            s.save_members(b"[1]").unwrap();
            s.save_members(b"[2]").unwrap();
            s.add_hint(a, "w1", 5).unwrap();
            s.add_hint(a, "w1", 6).unwrap();
            s.add_hint(a, "w2", 7).unwrap();
            s.add_hint(b, "w1", 8).unwrap();
            s.add_hint(b, &"x".repeat(65), 9).unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.saved_members().unwrap().as_deref(), Some(&b"[2]"[..]));
        assert_eq!(s.hint_count().unwrap(), 3);
        assert_eq!(s.hints(0, 10).unwrap()[0], (a, "w1".to_string()));
        assert_eq!(s.hints(2, 10).unwrap(), vec![(b, "w1".to_string())]);
        assert!(s.remove_hint(a, "w1").unwrap());
        assert!(!s.remove_hint(a, "w2").unwrap());
        assert_eq!(s.hint_count().unwrap(), 1);
    }
}
