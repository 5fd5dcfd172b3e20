//! Untrusted snapshot bytes through the guarded loader (fresh open): see
//! `engine::fuzzing::load_document`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: engine::fuzzing::let_panics_unwind(),
    |data: &[u8]| engine::fuzzing::load_document(data)
);
