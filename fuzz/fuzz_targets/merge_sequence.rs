//! Scripted edits on three replicas, delivered in arbitrary order, must
//! converge: see `engine::fuzzing::merge_sequence`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: engine::fuzzing::let_panics_unwind(),
    |data: &[u8]| engine::fuzzing::merge_sequence(data)
);
