//! Frames split from the input through the wire codec: see
//! `engine::fuzzing::wire_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| engine::fuzzing::wire_decode(data));
