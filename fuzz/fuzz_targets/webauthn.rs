//! `cargo fuzz run webauthn`: see `keyward_server::fuzzing::webauthn`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyward_server::fuzzing::webauthn(data));
