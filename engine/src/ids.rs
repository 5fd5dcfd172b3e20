//! Identity newtypes, parsed once at the edge (STYLE §3).
//!
//! A [`ListId`] is a random UUIDv4 and doubles as a capability: whoever knows
//! it can open the list. Its share form is `shoplist://list/<uuid>`.
//! [`WorkerId`] and [`ClientId`] name cloud workers and devices.
//! [`ChangeHash`] is Automerge's change hash, re-exported with hex helpers.

use std::fmt;
use std::str::FromStr;

pub use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The URL scheme prefix of a shared list.
pub const URL_PREFIX: &str = "shoplist://list/";

/// Errors from parsing an identity at the edge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Not a UUID, nor a `shoplist://list/<uuid>` URL.
    #[error("not a list id or URL: {0:?} (expected shoplist://list/<uuid> or a UUID)")]
    BadListId(String),
    /// A worker id must be 1..=64 chars of `[A-Za-z0-9_.-]`.
    #[error("bad worker id {0:?}: use 1-64 characters of A-Z a-z 0-9 _ . -")]
    BadWorkerId(String),
    /// Not 64 hex characters.
    #[error("bad change hash {0:?}: expected 64 hex characters")]
    BadHash(String),
}

/// A shopping list's identity: a random UUIDv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ListId(Uuid);

impl ListId {
    /// A fresh random id (122 random bits).
    pub fn new_random() -> Self {
        ListId(Uuid::new_v4())
    }

    /// The share URL, `shoplist://list/<uuid>`.
    pub fn url(&self) -> String {
        format!("{URL_PREFIX}{}", self.0)
    }

    /// The 16 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// From 16 raw bytes (`None` for any other length).
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        Uuid::from_slice(b).ok().map(ListId)
    }

    /// Parse a URL (`shoplist://list/<uuid>`) or a bare UUID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        let body = t.strip_prefix(URL_PREFIX).unwrap_or(t);
        let body = body.trim_end_matches('/');
        Uuid::parse_str(body)
            .map(ListId)
            .map_err(|_| IdError::BadListId(s.to_string()))
    }
}

impl fmt::Display for ListId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for ListId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ListId::parse(s)
    }
}

impl TryFrom<String> for ListId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ListId::parse(&s)
    }
}

impl From<ListId> for String {
    fn from(id: ListId) -> String {
        id.to_string()
    }
}

/// A cloud worker's identity, chosen by the operator (`--id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkerId(String);

impl WorkerId {
    /// Validate and wrap a worker id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if ok {
            Ok(WorkerId(s.to_string()))
        } else {
            Err(IdError::BadWorkerId(s.to_string()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for WorkerId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        WorkerId::parse(&s)
    }
}

impl From<WorkerId> for String {
    fn from(id: WorkerId) -> String {
        id.0
    }
}

/// A device's identity (one per data dir), a random UUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientId(pub Uuid);

impl ClientId {
    /// A fresh random client id.
    pub fn new_random() -> Self {
        ClientId(Uuid::new_v4())
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// Hex form of a change hash.
pub fn hash_to_hex(h: &ChangeHash) -> String {
    hex::encode(h.0)
}

/// Parse a change hash from 64 hex characters.
pub fn hash_from_hex(s: &str) -> Result<ChangeHash, IdError> {
    let bytes = hex::decode(s).map_err(|_| IdError::BadHash(s.to_string()))?;
    hash_from_slice(&bytes).ok_or_else(|| IdError::BadHash(s.to_string()))
}

/// A change hash from exactly 32 bytes.
pub fn hash_from_slice(b: &[u8]) -> Option<ChangeHash> {
    let arr: [u8; 32] = b.try_into().ok()?;
    Some(ChangeHash(arr))
}

/// Encode a set of hashes as concatenated 32-byte values (the store's form).
pub fn hashes_to_blob(hs: &[ChangeHash]) -> Vec<u8> {
    hs.iter().flat_map(|h| h.0).collect()
}

/// Decode concatenated 32-byte hashes; `None` if the length is not a multiple of 32.
pub fn hashes_from_blob(b: &[u8]) -> Option<Vec<ChangeHash>> {
    if !b.len().is_multiple_of(32) {
        return None;
    }
    b.chunks_exact(32).map(hash_from_slice).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_id_round_trips_through_url_and_uuid() {
        let id = ListId::new_random();
        assert_eq!(ListId::parse(&id.url()).unwrap(), id);
        assert_eq!(ListId::parse(&id.to_string()).unwrap(), id);
        assert!(ListId::parse("shoplist://list/nope").is_err());
        assert!(ListId::parse("").is_err());
    }

    #[test]
    fn worker_id_rejects_odd_characters() {
        assert!(WorkerId::parse("w1").is_ok());
        assert!(WorkerId::parse("").is_err());
        assert!(WorkerId::parse("a b").is_err());
        assert!(WorkerId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn hash_blob_round_trip() {
        let hs = vec![ChangeHash([1; 32]), ChangeHash([2; 32])];
        assert_eq!(hashes_from_blob(&hashes_to_blob(&hs)).unwrap(), hs);
        assert!(hashes_from_blob(&[0; 31]).is_none());
        assert_eq!(hash_from_hex(&hash_to_hex(&hs[0])).unwrap(), hs[0]);
        assert!(hash_from_hex("zz").is_err());
    }
}
