//! Which replica errors refuse a sync's changes as invalid, and the code the
//! client gets for them (PROTOCOL §8): `bad_change`, and protocol v2's
//! `forged` (a signature that does not verify) and `actor_clash` (a copied
//! data dir). A refusal is not retryable, so it ends the quorum with that
//! code instead of `unavailable`.

use engine::protocol::ErrorCode;

/// Whether a replica's `error` code refuses the changes themselves.
pub(super) fn is_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::BadChange | ErrorCode::Forged | ErrorCode::ActorClash
    )
}

/// The code to answer a refusal with, read back from the refusing
/// replica's text (`"<code>: <message>"`, as the sync flow records it).
pub(super) fn refusal_code(text: &str) -> ErrorCode {
    text.split_once(':')
        .and_then(|(code, _)| {
            serde_json::from_value(serde_json::Value::String(code.trim().to_string())).ok()
        })
        .filter(|c| is_refusal(*c))
        .unwrap_or(ErrorCode::BadChange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_code() {
        for code in [
            ErrorCode::BadChange,
            ErrorCode::Forged,
            ErrorCode::ActorClash,
        ] {
            assert!(is_refusal(code));
            assert_eq!(refusal_code(&format!("{code}: change 0: why")), code);
        }
        assert!(!is_refusal(ErrorCode::Unavailable));
        assert_eq!(refusal_code("timeout: x"), ErrorCode::BadChange);
        assert_eq!(refusal_code("no colon"), ErrorCode::BadChange);
    }
}
