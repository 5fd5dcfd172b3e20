//! [`SessionId`]: the name a subscriber gives its subscriptions, so they
//! outlive its connection (PROTOCOL.md §6 "Sessions").
//!
//! libzmq reconnects silently and gives the new connection a new random
//! routing id; subscriptions that belonged to the routing id were lost with
//! it. A `subscribe` that names a session attaches the session to the
//! connection it came on: the proxy keeps the session's lists, sends its
//! `notify` pushes to the connection it was last attached to, and moves it
//! when the same session is named on another connection. Whoever names a
//! session receives its pushes, so it is a secret: at least 120 random bits.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A session name: 22 to 64 characters of `A-Z a-z 0-9 _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

/// A session name that is too short, too long or has other characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a session is 22 to 64 characters of A-Z a-z 0-9 _ - (at least 120 random bits)")]
pub struct BadSession;

impl SessionId {
    /// Shortest accepted session (22 base64url characters hold 128 bits).
    pub const MIN_LEN: usize = 22;
    /// Longest accepted session.
    pub const MAX_LEN: usize = 64;

    /// Check a session name.
    pub fn parse(s: &str) -> Result<Self, BadSession> {
        let ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(SessionId(s.to_string()))
        } else {
            Err(BadSession)
        }
    }

    /// A fresh session: a random UUIDv4 as 32 hex digits (122 random bits).
    pub fn new_random() -> Self {
        SessionId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The session as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    /// Only a prefix: a session is a secret and may reach logs this way.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", &self.0[..6])
    }
}

impl TryFrom<String> for SessionId {
    type Error = BadSession;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SessionId::parse(&s)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_long_random_and_url_safe() {
        let s = SessionId::new_random();
        assert_eq!(SessionId::parse(s.as_str()), Ok(s.clone()));
        assert_ne!(s, SessionId::new_random());
        assert!(SessionId::parse(&"a".repeat(21)).is_err());
        assert!(SessionId::parse(&"a".repeat(65)).is_err());
        assert!(SessionId::parse(&format!("{}!", "a".repeat(30))).is_err());
        assert!(SessionId::parse("Zm9vYmFyYmF6cXV4cXV1eA-_").is_ok());
        assert!(!s.to_string().contains(&s.as_str()[6..]));
    }
}
