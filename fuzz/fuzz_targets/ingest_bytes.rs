//! Untrusted change bytes through the ingest gate against a list with
//! history, and through the wire codec: see `engine::fuzzing::ingest_bytes`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: engine::fuzzing::let_panics_unwind(),
    |data: &[u8]| engine::fuzzing::ingest_bytes(data)
);
