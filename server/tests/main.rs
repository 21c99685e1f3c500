//! The server's integration tests, as one test executable: one file per area, each a module
//! here. One executable links the server once and compiles the shared helpers (`common`) once,
//! where an executable per file did both two dozen times, and its tests share the threads of
//! one run instead of waiting for each file's slowest test in turn.

mod common;

mod accounts;
mod admin;
mod caddy;
mod cli;
mod connect_tickets;
mod crash;
mod dpop;
mod gateway;
mod hardening;
mod health;
mod hooks;
mod lifecycle;
mod mfa;
mod nginx;
mod oauth;
mod oidc_provider;
mod orgs;
mod passkeys;
mod scale_out;
mod security;
mod sign_in_hooks;
mod sync;
mod tokens;
mod webhooks;

/// Every test file is a module above: with `autotests = false`, one left out would never run.
#[test]
fn every_test_file_is_a_module_of_this_executable() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let main = std::fs::read_to_string(format!("{dir}/main.rs")).expect("main.rs");
    let files: Vec<String> = std::fs::read_dir(dir)
        .expect("the tests directory")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some(name.strip_suffix(".rs")?.to_owned()))
        .filter(|name| name != "main")
        .collect();
    assert!(files.len() > 20, "the test files were found: {files:?}");
    let missing: Vec<&String> = files
        .iter()
        .filter(|name| !main.contains(&format!("\nmod {name};\n")))
        .collect();
    assert!(
        missing.is_empty(),
        "not modules of tests/main.rs: {missing:?}"
    );
}
