//! A list edited by a client that writes structured junk where the
//! document schema expects something else: the view never panics and never
//! loses an item without a warning. See `engine::fuzzing::foreign_view`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| engine::fuzzing::foreign_view(data));
