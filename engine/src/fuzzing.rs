//! The bodies of the fuzz targets (DESIGN §8), as plain functions of
//! `&[u8]`. The cargo-fuzz crate in `fuzz/` calls them from its targets and
//! the stable test `engine/tests/fuzz_replay.rs` replays every saved corpus
//! and crasher file through them, so both run the same code.
//!
//! Each function may panic only through its assertions (a property of the
//! engine that failed); anything else is a finding.
//!
//! - [`ingest_bytes`]: untrusted change bytes through the one ingest gate
//!   ([`crate::ingest::ingest_in_memory`]) against a list with history, and
//!   the same bytes through the wire codec (DESIGN §5).
//! - [`merge_sequence`]: a script of edits on three replicas with deliveries
//!   in arbitrary order; they must converge (DESIGN §2, §4).
//! - [`wire_decode`]: frames through [`crate::protocol::decode`]; what
//!   decodes must survive encode → decode.
//! - [`foreign_view`]: a list edited by a client that writes structured
//!   junk where the document schema expects something else; the view never
//!   panics and never loses an item without a warning (PROTOCOL.md
//!   "Document").
//! - [`load_document`]: snapshot bytes through the guarded loader
//!   [`crate::load::load_untrusted`] (fresh open).
//!
//! Inputs that carry several byte strings (changes, frames) are split with
//! [`split_parts`]; [`join_parts`] is its inverse, for writing seeds.

mod foreign;
mod ingest;
mod load;
mod merge;
mod resign;

pub use foreign::foreign_view;
pub use ingest::{base_list, fix_header, ingest_bytes};
pub use load::load_document;
pub use merge::merge_sequence;
pub use resign::{base_key, other_key, signed_base_and};

use crate::protocol::{decode, encode, peek_id, Limits};

/// The fuzz targets, by name (also the corpus and crasher directory names).
pub const TARGETS: [&str; 5] = [
    "ingest_bytes",
    "merge_sequence",
    "wire_decode",
    "foreign_view",
    "load_document",
];

/// Run the body of the target called `name` on `data`. Returns `false` for
/// an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "ingest_bytes" => ingest_bytes(data),
        "merge_sequence" => merge_sequence(data),
        "wire_decode" => wire_decode(data),
        "foreign_view" => foreign_view(data),
        "load_document" => load_document(data),
        _ => return false,
    }
    true
}

/// Make panics unwind, as in production, instead of aborting at once.
///
/// libfuzzer-sys installs a panic hook that aborts the process, so even a
/// panic the engine contains on purpose (automerge's, inside the
/// `catch_unwind` of [`crate::ingest::decode_untrusted`] or
/// [`crate::ingest::merge::apply_ordered`]) would count as a crash. The fuzz
/// targets call this from their `init`: the hook below only prints the
/// panic, a contained one unwinds into the engine's `catch_unwind`, and one
/// that escapes the target function is still turned into an abort (a crash)
/// by libfuzzer-sys's own wrapper.
pub fn let_panics_unwind() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic (unwinding; a crash only if it escapes the engine): {info}");
    }));
}

/// Split `data` into 1..=`max_parts` byte strings: byte 0 gives the count
/// (`data[0] % max_parts + 1`); every part but the last is a little-endian
/// `u16` length and that many bytes (cut short at the end of the input); the
/// last part is the rest. Empty input gives no parts.
pub fn split_parts(data: &[u8], max_parts: usize) -> Vec<&[u8]> {
    let Some((&first, mut rest)) = data.split_first() else {
        return Vec::new();
    };
    let count = usize::from(first) % max_parts.max(1) + 1;
    let mut parts = Vec::with_capacity(count);
    for _ in 1..count {
        let Some((len, after)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len)).min(after.len());
        let (part, after) = after.split_at(len);
        parts.push(part);
        rest = after;
    }
    parts.push(rest);
    parts
}

/// The inverse of [`split_parts`] for 1..=256 parts, every part but the last
/// at most `u16::MAX` bytes (longer ones are cut). Byte 0 is
/// `parts.len() - 1`, which [`split_parts`] reads back as long as
/// `parts.len() <= max_parts`.
pub fn join_parts(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![u8::try_from(parts.len().saturating_sub(1)).unwrap_or(u8::MAX)];
    if let Some((last, init)) = parts.split_last() {
        for p in init {
            let p = &p[..p.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&u16::try_from(p.len()).unwrap_or(u16::MAX).to_le_bytes());
            out.extend_from_slice(p);
        }
        out.extend_from_slice(last);
    }
    out
}

/// The `wire_decode` target: up to 8 frames (split with [`split_parts`])
/// through [`decode`] and [`peek_id`] under the default limits and under tiny
/// ones; neither may panic. A message that decodes must encode and decode
/// back to itself.
pub fn wire_decode(data: &[u8]) {
    let frames = split_parts(data, 8);
    let limits = Limits::default();
    let _ = peek_id(&frames, &limits);
    if let Ok(msg) = decode(&frames, &limits) {
        // Generous limits: the re-encoded header may differ in length
        // (escapes, dropped unknown fields), which is not what is tested.
        let generous = Limits {
            max_header_bytes: usize::MAX,
            max_change_bytes: usize::MAX,
            max_message_bytes: usize::MAX,
            max_changes: usize::MAX,
            max_hashes: usize::MAX,
            max_lists: usize::MAX,
        };
        match decode(&encode(&msg), &generous) {
            Ok(again) => assert_eq!(again, msg, "decode(encode(m)) != m"),
            Err(e) => panic!("a decoded message does not decode after encoding: {e}"),
        }
    }
    let tiny = Limits {
        max_header_bytes: 96,
        max_change_bytes: 16,
        max_message_bytes: 160,
        max_changes: 2,
        max_hashes: 1,
        max_lists: 1,
    };
    let _ = peek_id(&frames, &tiny);
    let _ = decode(&frames, &tiny);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_then_split_round_trips() {
        let parts: [&[u8]; 3] = [b"abc", b"", b"tail bytes"];
        let joined = join_parts(&parts);
        assert_eq!(split_parts(&joined, 4), parts.to_vec());
        assert_eq!(split_parts(&join_parts(&[b"x"]), 4), vec![b"x".as_slice()]);
        assert!(split_parts(&[], 4).is_empty());
    }

    #[test]
    fn split_never_reads_past_the_end() {
        // Count 4, then a length claiming 0xffff bytes with 2 present.
        let parts = split_parts(&[3, 0xff, 0xff, 1, 2], 4);
        assert_eq!(parts, vec![&[1u8, 2][..], &[][..]]);
    }

    #[test]
    fn every_target_runs_on_empty_and_small_inputs() {
        for t in TARGETS {
            for input in [&[][..], &[0][..], &[7, 1, 2, 3, 4, 5][..]] {
                assert!(run(t, input));
            }
        }
        assert!(!run("nope", &[]));
    }
}
