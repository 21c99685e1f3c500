//! `cargo fuzz run settings`: see `keyward_server::fuzzing::settings`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_server::fuzzing::settings(data));
