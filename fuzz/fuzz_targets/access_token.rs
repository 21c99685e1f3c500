//! `cargo fuzz run access_token`: see `keyward_server::fuzzing::access_token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_server::fuzzing::access_token(data));
