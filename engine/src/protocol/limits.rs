//! Hard size limits on wire messages (DESIGN §5, PROTOCOL.md "Limits").
//!
//! [`decode`](super::decode) checks every limit before it parses the JSON
//! header or hands a change frame to anyone: frame and message sizes first,
//! then (after the at most [`Limits::max_header_bytes`] of JSON) the counts
//! inside the header. A peer that exceeds a limit gets `too_large`.

/// Limits applied by [`decode`](super::decode). `Default` gives the values
/// documented in PROTOCOL.md; both ends of a connection should use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest header frame (frame 0), in bytes. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Largest single change frame, in bytes. Default 1 MiB.
    pub max_change_bytes: usize,
    /// Largest message (all frames together), in bytes. Default 32 MiB.
    pub max_message_bytes: usize,
    /// Most change frames in one message. Default 100 000.
    pub max_changes: usize,
    /// Most hashes in one `have`, `heads` or `missing` list. Default 1 024.
    pub max_hashes: usize,
    /// Most list ids in one `subscribe`, `unsubscribe` or `subscribed`.
    /// Default 10 000.
    pub max_lists: usize,
}

impl Limits {
    /// Default largest header frame: 64 KiB.
    pub const MAX_HEADER_BYTES: usize = 64 * 1024;
    /// Default largest change frame: 1 MiB.
    pub const MAX_CHANGE_BYTES: usize = 1024 * 1024;
    /// Default largest message: 32 MiB.
    pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
    /// Default most changes per message.
    pub const MAX_CHANGES: usize = 100_000;
    /// Default most hashes per hash list.
    pub const MAX_HASHES: usize = 1_024;
    /// Default most list ids per subscription message.
    pub const MAX_LISTS: usize = 10_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: Self::MAX_HEADER_BYTES,
            max_change_bytes: Self::MAX_CHANGE_BYTES,
            max_message_bytes: Self::MAX_MESSAGE_BYTES,
            max_changes: Self::MAX_CHANGES,
            max_hashes: Self::MAX_HASHES,
            max_lists: Self::MAX_LISTS,
        }
    }
}
