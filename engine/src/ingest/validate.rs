//! Stateless checks of one change's bytes: everything that can be decided
//! without the document (DESIGN §5). Order matters: sizes and structure are
//! checked before Automerge's decoder sees a byte.

use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::{Change, ExpandedChange};

use super::prescan::{prescan_change, PrescanLimits};
use super::IngestError;

/// Limits for incoming changes.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Structural limits, checked before decoding.
    pub prescan: PrescanLimits,
    /// Changes accepted in one call.
    pub max_changes: usize,
    /// Decoded ops allowed per byte of input (plausibility).
    pub max_ops_per_byte: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            prescan: PrescanLimits::default(),
            max_changes: 100_000,
            max_ops_per_byte: 64,
        }
    }
}

/// Decode one change from untrusted bytes: pre-check, decode with panics
/// caught, plausibility of the op count, and decode → re-encode equality.
pub fn decode_untrusted(
    index: usize,
    raw: &[u8],
    limits: &IngestLimits,
) -> Result<Change, IngestError> {
    prescan_change(raw, &limits.prescan)
        .map_err(|source| IngestError::Malformed { index, source })?;
    let change = match catch_unwind(AssertUnwindSafe(|| Change::try_from(raw))) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Err(IngestError::Undecodable {
                index,
                detail: e.to_string(),
            })
        }
        Err(_) => return Err(IngestError::Panicked { index }),
    };
    if change.len() > raw.len().saturating_mul(limits.max_ops_per_byte) {
        return Err(IngestError::ImplausibleOps {
            index,
            ops: change.len(),
            bytes: raw.len(),
        });
    }
    let canonical = catch_unwind(AssertUnwindSafe(|| {
        let expanded: ExpandedChange = change.decode();
        let re = Change::from(expanded);
        re.raw_bytes() == raw
    }));
    match canonical {
        Ok(true) => Ok(change),
        Ok(false) => Err(IngestError::NotCanonical { index }),
        Err(_) => Err(IngestError::Panicked { index }),
    }
}
