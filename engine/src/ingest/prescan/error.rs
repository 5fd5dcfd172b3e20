//! Why [`super::prescan_change`] rejected a chunk: one variant per way a
//! change chunk can be wrong, each naming the field concerned.

/// Why [`super::prescan_change`] rejected a chunk.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PrescanError {
    /// The chunk is larger than `max_change_bytes`.
    #[error("change is {len} bytes, limit is {limit}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The chunk does not start with the Automerge magic bytes.
    #[error("not an automerge chunk (bad magic bytes)")]
    BadMagic,
    /// The checksum in the header does not match the contents.
    #[error("chunk checksum does not match its contents")]
    BadChecksum,
    /// Not an uncompressed change chunk (documents, bundles and compressed
    /// changes — deflate bombs — are refused).
    #[error("chunk type {0} is not accepted (only uncompressed changes, type 1)")]
    WrongChunkType(u8),
    /// The input ended inside the named field.
    #[error("input ends inside {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A declared length disagrees with the bytes present.
    #[error("{what}: declared length {declared}, actual {actual}")]
    LengthMismatch {
        /// The field.
        what: &'static str,
        /// What the input claims.
        declared: u64,
        /// What is there.
        actual: u64,
    },
    /// A LEB128 number is overlong or too large for 64 bits.
    #[error("malformed LEB128 in {what}")]
    BadLeb {
        /// The field being read.
        what: &'static str,
    },
    /// More operations than allowed (by `max_ops` or by the size of the
    /// chunk); also reported for any per-operation column claiming that many
    /// rows.
    #[error("change claims {claimed} operations, limit is {limit}")]
    TooManyOps {
        /// Rows claimed (`u64::MAX` if the sum overflowed).
        claimed: u64,
        /// The effective limit.
        limit: u64,
    },
    /// More predecessor entries than allowed.
    #[error("change claims {claimed} predecessors, limit is {limit}")]
    TooManyPreds {
        /// Entries claimed (`u64::MAX` if the sum overflowed).
        claimed: u64,
        /// The effective limit.
        limit: u64,
    },
    /// More dependencies than `max_deps`.
    #[error("change claims {claimed} dependencies, limit is {limit}")]
    TooManyDeps {
        /// Count claimed.
        claimed: u64,
        /// The limit.
        limit: usize,
    },
    /// Dependencies not strictly increasing (automerge always sorts them).
    #[error("dependencies are not sorted and unique")]
    DepsNotSorted,
    /// More actors than `max_actors`.
    #[error("change claims {claimed} actors, limit is {limit}")]
    TooManyActors {
        /// Count claimed (author included).
        claimed: u64,
        /// The limit.
        limit: usize,
    },
    /// An actor id is empty or longer than `max_actor_len`.
    #[error("actor id of {len} bytes (allowed 1..={limit})")]
    BadActor {
        /// Length claimed.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// The same actor appears twice among author and other actors.
    #[error("duplicate actor id")]
    DuplicateActor,
    /// The commit message is longer than `max_message`.
    #[error("message of {len} bytes, limit is {limit}")]
    MessageTooLong {
        /// Length claimed.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// A string is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    BadUtf8 {
        /// The field.
        what: &'static str,
    },
    /// A header field has an impossible value (seq 0, start_op 0 or
    /// beyond 32 bits).
    #[error("bad header field: {what}")]
    BadHeaderField {
        /// The field.
        what: &'static str,
    },
    /// A column is marked deflated (refused: deflate bombs).
    #[error("column {spec:#x} is deflated")]
    DeflatedColumn {
        /// Raw column specification.
        spec: u64,
    },
    /// A column automerge 0.12 does not write.
    #[error("unknown column {spec:#x}")]
    UnknownColumn {
        /// Raw column specification.
        spec: u64,
    },
    /// Columns out of order or duplicated.
    #[error("column {spec:#x} out of order or duplicated")]
    ColumnOrder {
        /// Raw column specification.
        spec: u64,
    },
    /// A column's data is malformed.
    #[error("column {column}: {reason}")]
    BadColumn {
        /// Column name.
        column: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A column does not have the number of rows the other columns imply.
    #[error("column {column} has {actual} rows, expected {expected}")]
    RowCountMismatch {
        /// Column name.
        column: &'static str,
        /// Rows implied (operations, or predecessor entries).
        expected: u64,
        /// Rows decoded.
        actual: u64,
    },
    /// An actor index beyond the change's actor table.
    #[error("column {column}: actor index {index} but only {actors} actors")]
    ActorIndexOutOfRange {
        /// Column name.
        column: &'static str,
        /// The index found.
        index: u64,
        /// Number of actors in the change.
        actors: usize,
    },
    /// The value metadata does not account for exactly the raw value bytes.
    #[error("value metadata claims {meta_total} bytes, raw value column has {raw_len}")]
    ValueLengthMismatch {
        /// Sum of lengths in the metadata so far (saturating).
        meta_total: u64,
        /// Length of the raw value column.
        raw_len: u64,
    },
}

/// Result of the prescan passes.
pub(super) type Result<T> = std::result::Result<T, PrescanError>;
