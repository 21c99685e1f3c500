//! `cargo xtask test`: every check and test the project has, in one command. Each stage runs
//! even when an earlier one failed (so one run shows everything that is wrong); the command exits
//! non-zero if anything failed and ends with one line `N passed, N failed`.

use std::process::Command;
use std::time::Instant;

use crate::cmd::{self, cargo};
use crate::pg::{Durability, Postgres};
use crate::setup::{WASM_TARGET, chromium_path};
use crate::{Result, root, step};

/// Requests per API operation and phase in the bounded schemathesis pass (`cargo xtask fuzz`
/// runs more).
const API_FUZZ_EXAMPLES: u64 = 25;

/// Passed and failed counts: tests where a stage runs tests, the stage itself otherwise.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    failed_stages: Vec<String>,
}

impl Tally {
    /// A stage that is one check (fmt, clippy, a build).
    fn check(&mut self, name: &str, outcome: Result) {
        match outcome {
            Ok(()) => self.passed += 1,
            Err(message) => {
                eprintln!("xtask: {message}");
                self.fail(name);
            }
        }
    }

    fn fail(&mut self, name: &str) {
        self.failed += 1;
        self.failed_stages.push(name.to_owned());
    }

    /// A stage that runs tests: counts each test from the runner's summary lines. A stage that
    /// fails without any failed test (a compile error, a crash) counts as one failure.
    fn tests(&mut self, name: &str, command: &mut Command) {
        let mut counts = Counts::default();
        match cmd::run_observed(command, |line| counts.observe(line)) {
            Ok(success) => {
                self.passed += counts.passed;
                self.failed += counts.failed;
                if counts.failed > 0 {
                    self.failed_stages.push(name.to_owned());
                } else if !success || counts.passed == 0 {
                    if counts.passed == 0 {
                        eprintln!("xtask: {name}: no test ran");
                    }
                    self.fail(name);
                }
            }
            Err(message) => {
                eprintln!("xtask: {message}");
                self.fail(name);
            }
        }
    }
}

/// Reads libtest (`test result: ok. 3 passed; 0 failed; …`, also what wasm-bindgen-test-runner
/// prints) and Node's spec reporter (`ℹ pass 3`, `ℹ fail 0`).
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
}

impl Counts {
    fn observe(&mut self, line: &str) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split([';', '.']) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (words.next(), words.next()) {
                    match (n.parse::<u64>(), what) {
                        (Ok(n), "passed") => self.passed += n,
                        (Ok(n), "failed") => self.failed += n,
                        _ => {}
                    }
                }
            }
        } else if let Some(n) = line.strip_prefix("ℹ pass ") {
            self.passed += n.trim().parse().unwrap_or(0);
        } else if let Some(n) = line.strip_prefix("ℹ fail ") {
            self.failed += n.trim().parse().unwrap_or(0);
        }
    }
}

pub fn run() -> Result {
    let started = Instant::now();
    crate::setup::run()?;
    let root = root();
    let mut tally = Tally::default();

    step("cargo fmt --check");
    tally.check(
        "fmt",
        cmd::run(cargo().args(["fmt", "--all", "--check"]).current_dir(&root)),
    );

    step("clippy (native)");
    tally.check(
        "clippy (native)",
        cmd::run(
            cargo()
                .args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
                .current_dir(&root),
        ),
    );

    step("clippy (wasm32: the browser crates)");
    tally.check(
        "clippy (wasm32)",
        cmd::run(
            cargo()
                .args(["clippy", "--target", WASM_TARGET, "--all-targets"])
                .args([
                    "-p",
                    "keyward-client",
                    "-p",
                    "keyward-leptos",
                    "-p",
                    "example-leptos-app",
                ])
                .args(["--", "-D", "warnings"])
                .current_dir(&root),
        ),
    );

    step("native tests (server on SQLite)");
    tally.tests(
        "native tests (SQLite)",
        cargo()
            .args(["test", "--workspace"])
            .env_remove("KEYWARD_TEST_DATABASE_URL")
            .current_dir(&root),
    );

    step("server tests on a throwaway PostgreSQL");
    match Postgres::start(Durability::Off) {
        Ok(pg) => {
            tally.tests(
                "server tests (PostgreSQL)",
                cargo()
                    .args(["test", "-p", "keyward-server", "--tests"])
                    .env("KEYWARD_TEST_DATABASE_URL", pg.url())
                    .current_dir(&root),
            );
            drop(pg);
        }
        Err(message) => {
            eprintln!("xtask: {message}");
            tally.fail("PostgreSQL cluster");
        }
    }

    step("API fuzzing: schemathesis against keyward serve (bounded)");
    tally.check(
        "API fuzzing (schemathesis)",
        test_built(&["-p", "keyward-server"], "keyward").and_then(|server| {
            let requests = crate::fuzz::api(&server, API_FUZZ_EXAMPLES)?;
            println!("schemathesis: {requests} requests checked");
            Ok(())
        }),
    );

    step("wasm tests in headless Chromium");
    tally.tests(
        "wasm tests (Chromium)",
        cargo()
            .args(["test", "--target", WASM_TARGET])
            .args(["-p", "keyward-client", "-p", "keyward-leptos"])
            .env("CHROMEDRIVER", chromedriver())
            // The runner adds --headless and --no-sandbox; this file adds the flags that keep
            // Chromium off the (closed) network on this machine kind.
            .env(
                "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
                root.join("webdriver.json"),
            )
            .current_dir(&root),
    );

    step("end-to-end tests (Playwright + Chromium + the real server)");
    let built = crate::demo::build_app().and_then(|site| {
        let leptos = crate::demo::build_leptos_app()?;
        let server = test_built(&["-p", "keyward-server"], "keyward")?;
        let api = test_built(&["-p", "example-axum-api"], "example-axum-api")?;
        Ok((site, leptos, server, api))
    });
    match built {
        Ok((site, leptos, server, api)) => {
            let mut node = Command::new("node");
            node.args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
                .arg("tests/e2e/")
                .env("KEYWARD_BIN", server)
                .env("KEYWARD_DEMO_DIR", site)
                .env("KEYWARD_API_BIN", api)
                .env("KEYWARD_LEPTOS_DIR", leptos)
                .env(
                    "KEYWARD_CHROMIUM",
                    chromium_path().unwrap_or_else(|| "chromium".into()),
                )
                .current_dir(&root);
            tally.tests("end-to-end tests", &mut node);
        }
        Err(message) => {
            eprintln!("xtask: {message}");
            tally.fail("build for the end-to-end tests");
        }
    }

    let minutes = started.elapsed().as_secs_f64() / 60.0;
    println!();
    if !tally.failed_stages.is_empty() {
        println!("failed: {}", tally.failed_stages.join(", "));
    }
    println!("took {minutes:.1} min");
    println!("{} passed, {} failed", tally.passed, tally.failed);
    if tally.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} failed", tally.failed))
    }
}

/// A binary as its package's tests built it. `cargo build -p …` would resolve features without
/// the dev-dependencies and rebuild half the tree for nothing.
fn test_built(package: &[&str], binary: &str) -> Result<std::path::PathBuf> {
    let root = root();
    cmd::run(
        cargo()
            .arg("test")
            .args(package)
            .args(["--tests", "--no-run"])
            .current_dir(&root),
    )?;
    Ok(root.join("target/debug").join(binary))
}

fn chromedriver() -> std::ffi::OsString {
    cmd::which("chromedriver")
        .map(Into::into)
        .unwrap_or_else(|| "chromedriver".into())
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn counts_libtest_and_node_summaries() {
        let mut counts = Counts::default();
        counts.observe("test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        counts.observe(
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        counts.observe("ℹ pass 4");
        counts.observe("ℹ fail 1");
        counts.observe("some other line with 9 passed");
        assert_eq!((counts.passed, counts.failed), (8, 3));
    }
}
