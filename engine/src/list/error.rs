//! Errors from list edits.

/// Why an edit was refused. Nothing is changed when an edit returns an error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    /// No live item with that (normalized) name.
    #[error("no item {0:?} on this list")]
    UnknownItem(String),
    /// Un-buy of an item none of which is bought.
    #[error("none of {0:?} is bought, so there is nothing to un-buy")]
    NothingBought(String),
    /// `undo` found no edit of this device left to undo.
    #[error("nothing to undo: this device has made no edit on this list that is not undone")]
    NothingToUndo,
    /// Empty or too long name.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// Quantity must be a whole number from 1 to the limit.
    #[error("invalid quantity {0}: use a whole number from 1 to {max}", max = super::MAX_QTY)]
    InvalidQuantity(i64),
    /// The document has no `items` map (no change from the list's creator yet).
    #[error("this list has not been received yet; run `shoplist sync` first")]
    NotInitialized,
    /// Automerge refused the operation (should not happen on a well-formed document).
    #[error("document error: {0}")]
    Automerge(String),
}

impl From<automerge::AutomergeError> for ListError {
    fn from(e: automerge::AutomergeError) -> Self {
        ListError::Automerge(e.to_string())
    }
}
