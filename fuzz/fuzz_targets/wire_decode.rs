//! Frames split from the input through the wire codec: see
//! `engine::fuzzing::wire_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: engine::fuzzing::let_panics_unwind(),
    |data: &[u8]| engine::fuzzing::wire_decode(data)
);
