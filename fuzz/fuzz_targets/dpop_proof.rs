//! `cargo fuzz run dpop_proof`: see `keyward_server::fuzzing::dpop_proof`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_server::fuzzing::dpop_proof(data));
