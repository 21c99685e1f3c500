//! `cargo xtask …`: the project's commands. Run with `cargo xtask help`.
//!
//! - `setup`: install what is missing (wasm target, wasm-bindgen-cli, Chromium, npm packages).
//! - `demo`: build everything and serve the demo app with the server at http://localhost:8787.
//! - `offline-sync`: build and serve the offline-first sync example at http://localhost:8787.
//! - `test`: every check and test; ends with one line `N passed, N failed`.
//! - `sign-in-page`: build the sign-in page Keyward ships (release) into `target/sign-in-page/`.
//! - `npm`: build the `keyward` npm package into `npm/pkg/` and pack it.
//! - `bench`: Keyward and the two peers side by side; writes `BENCHMARKS.md`.
//! - `fuzz`: a longer schemathesis pass over the API, then every `cargo fuzz` target.

mod bench;
mod cmd;
mod demo;
mod fuzz;
mod npm;
mod pg;
mod server;
mod setup;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Instant;

/// What went wrong in a command, for people.
type Result<T = ()> = std::result::Result<T, String>;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  setup   install what is missing: wasm32 target, wasm-bindgen-cli, Chromium, npm packages
  demo    build everything and serve the demo at http://localhost:8787 (Ctrl-C stops it)
  offline-sync
          build and serve the offline-first sync example at http://localhost:8787
  test    fmt, clippy, native tests (SQLite and PostgreSQL), wasm tests in Chromium, e2e tests
  sign-in-page
          build the sign-in page Keyward ships into target/sign-in-page/ (release)
  npm     build the npm package into npm/pkg/ and pack it into npm/
  bench   Keyward and the peers side by side (release builds, wrk); writes BENCHMARKS.md
  fuzz    schemathesis over the whole API (longer than in test), then each cargo fuzz target";

fn main() -> ExitCode {
    LazyLock::force(&STARTED);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("demo") => demo::run(),
        Some("offline-sync") => demo::offline_sync(),
        Some("test") => test::run(),
        Some("sign-in-page") => demo::sign_in_page(),
        Some("npm") => npm::run(),
        Some("bench") => bench::run(),
        Some("fuzz") => fuzz::run(),
        Some("help" | "-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (this crate lives in `<root>/xtask`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// When the command started.
static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Prints a step heading, with the minutes since the command started (where a slow run spends
/// its time shows in any log of it).
fn step(title: &str) {
    let minutes = STARTED.elapsed().as_secs_f64() / 60.0;
    println!("\n==> {title}  [{minutes:.1} min]");
}
