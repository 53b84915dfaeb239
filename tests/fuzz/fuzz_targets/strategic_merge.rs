#![no_main]

libfuzzer_sys::fuzz_target!(init: trellis_fuzz::init(), |data: &[u8]| trellis_server::fuzzing::strategic_merge(data));
