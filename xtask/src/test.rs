//! `cargo xtask test`: every check and test the project has, in one command. Each stage runs
//! even when an earlier one failed (so one run shows everything that is wrong); the command exits
//! non-zero if anything failed and ends with one line `N passed, N failed`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::cmd::{self, cargo};
use crate::pg::{Durability, Postgres};
use crate::setup::{WASM_TARGET, chromium_path};
use crate::{Result, root, step};

/// Requests per API operation and phase in the bounded schemathesis pass (`cargo xtask fuzz`
/// runs more).
const API_FUZZ_EXAMPLES: u64 = 25;

/// The crates made for the browser alone: linted and tested for wasm32, where they run. Natively
/// they have nothing to test, and building them there would cost the native stages the Leptos
/// and web-sys builds, and give the proc macros other features than the server's own passes
/// below (so each side would build them again).
const BROWSER_CRATES: [&str; 4] = [
    "keyward-client",
    "keyward-leptos",
    "example-leptos-app",
    "keyward-sign-in-page",
];

/// `command` over the workspace's native crates: all but [`BROWSER_CRATES`].
fn native_workspace(command: &mut Command) -> &mut Command {
    command
        .arg("--workspace")
        .args(BROWSER_CRATES.iter().flat_map(|name| ["--exclude", name]))
}

/// Tests run at once in each test executable. The server's tests spend most of their time
/// waiting on sockets, processes, mail and the database: four at a time keep two cores busy
/// (its integration tests took 80 s on two threads, 51 s on four and on eight).
const TEST_THREADS: &str = "--test-threads=4";

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
        self.tests_in(name, &mut [command]);
    }

    /// A stage whose tests are spread over several commands (all of them run); it must run at
    /// least one test in all.
    fn tests_in(&mut self, name: &str, commands: &mut [&mut Command]) {
        let mut counts = Counts::default();
        let mut broken = false;
        for command in commands {
            match cmd::run_observed(command, |line| counts.observe(line)) {
                Ok(success) => broken |= !success,
                Err(message) => {
                    eprintln!("xtask: {message}");
                    broken = true;
                }
            }
        }
        self.passed += counts.passed;
        self.failed += counts.failed;
        if counts.failed > 0 {
            self.failed_stages.push(name.to_owned());
        } else if broken || counts.passed == 0 {
            if counts.passed == 0 {
                eprintln!("xtask: {name}: no test ran");
            }
            self.fail(name);
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
            native_workspace(cargo().arg("clippy"))
                .args(["--all-targets", "--", "-D", "warnings"])
                .current_dir(&root),
        ),
    );

    // The server library as apps get it: the workspace pass above builds it with its tests'
    // `testing` feature on. And an app that nests the router may turn the CLI off: the library
    // alone must build, warning free, without clap, toml and the log formatter.
    for (name, features) in [
        ("clippy (server library as apps get it)", None),
        (
            "clippy (server library alone)",
            Some("--no-default-features"),
        ),
    ] {
        step(name);
        tally.check(
            name,
            cmd::run(
                cargo()
                    .args(["clippy", "-p", "keyward-server", "--lib", "--bins"])
                    .args(features)
                    .args(["--", "-D", "warnings"])
                    .current_dir(&root),
            ),
        );
    }

    step("clippy (wasm32: the browser crates)");
    tally.check(
        "clippy (wasm32)",
        cmd::run(
            cargo()
                .args(["clippy", "--target", WASM_TARGET, "--all-targets"])
                .args(BROWSER_CRATES.iter().flat_map(|name| ["-p", name]))
                .args(["--", "-D", "warnings"])
                .current_dir(&root),
        ),
    );

    // The npm package's face of the client: without serde, with the JS exports.
    step("clippy (wasm32: the npm core)");
    tally.check(
        "clippy (wasm32, npm core)",
        cmd::run(
            cargo()
                .args(["clippy", "--target", WASM_TARGET, "-p", "keyward-client"])
                .args(["--no-default-features", "--features", "js"])
                .args(["--", "-D", "warnings"])
                .current_dir(&root),
        ),
    );

    step("native tests (server on SQLite)");
    tally.tests(
        "native tests (SQLite)",
        native_workspace(cargo().arg("test"))
            .args(["--", TEST_THREADS])
            .env_remove("KEYWARD_TEST_DATABASE_URL")
            .current_dir(&root),
    );

    // What the SQLite pass built (test executables and binaries), listed once for the stages
    // below.
    let built = workspace_build();

    step("server tests on a throwaway PostgreSQL");
    match Postgres::start(Durability::Off).and_then(|pg| Ok((pg, built.clone()?))) {
        Ok((pg, built)) => {
            // The executables `cargo test --workspace` built, run directly: `cargo test -p
            // keyward-server` would unify features for that package alone and rebuild ~230
            // crates on a clean machine for the same tests.
            let mut commands: Vec<Command> = built
                .tests_of("server")
                .map(|test| {
                    let mut command = Command::new(&test.executable);
                    command
                        .arg(TEST_THREADS)
                        .env("KEYWARD_TEST_DATABASE_URL", pg.url())
                        .current_dir(&test.package_dir);
                    command
                })
                .collect();
            tally.tests_in(
                "server tests (PostgreSQL)",
                &mut commands.iter_mut().collect::<Vec<_>>(),
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
        built.clone().and_then(|built| {
            let server = built.binary("keyward")?;
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
    let binaries = built.and_then(|built| {
        Ok([
            ("KEYWARD_BIN", built.binary("keyward")?),
            ("KEYWARD_API_BIN", built.binary("example-axum-api")?),
            (
                "KEYWARD_OFFLINE_SYNC_BIN",
                built.binary("example-offline-sync")?,
            ),
        ])
    });
    let sites = SITES
        .into_iter()
        .map(|(variable, build)| Ok((variable, build()?)))
        .collect::<Result<Vec<_>>>();
    match binaries.and_then(|binaries| Ok((binaries, sites?))) {
        Ok((binaries, sites)) => {
            let mut node = Command::new("node");
            node.args(["--test", "--test-reporter=spec", "--test-concurrency=1"])
                .arg("tests/e2e/")
                .envs(binaries)
                .envs(sites)
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

/// A site's build: where it is.
type SiteBuild = fn() -> Result<PathBuf>;

/// The sites the end-to-end tests serve: the variable that names each, and its build.
const SITES: [(&str, SiteBuild); 5] = [
    ("KEYWARD_LEPTOS_DIR", crate::demo::build_leptos_app),
    ("KEYWARD_SIGN_IN_PAGE_DIR", || {
        crate::demo::build_sign_in_page(false)
    }),
    ("KEYWARD_DEMO_DIR", crate::demo::build_app),
    ("KEYWARD_REACT_DIR", crate::demo::build_react_app),
    (
        "KEYWARD_OFFLINE_SYNC_DIR",
        crate::demo::build_offline_sync_site,
    ),
];

/// What `cargo test --workspace --tests` builds: the test executables and the binaries, with
/// the features unified over the whole workspace as the SQLite pass built them (so nothing is
/// rebuilt).
#[derive(Clone)]
struct WorkspaceBuild {
    artifacts: Vec<Artifact>,
}

#[derive(Clone)]
struct Artifact {
    package_dir: PathBuf,
    name: String,
    is_test: bool,
    executable: PathBuf,
}

impl WorkspaceBuild {
    /// The test executables of the package in `dir` (relative to the workspace root).
    fn tests_of(&self, dir: &str) -> impl Iterator<Item = &Artifact> {
        let dir = root().join(dir);
        self.artifacts
            .iter()
            .filter(move |artifact| artifact.is_test && artifact.package_dir == dir)
    }

    fn binary(&self, name: &str) -> Result<PathBuf> {
        self.artifacts
            .iter()
            .find(|artifact| !artifact.is_test && artifact.name == name)
            .map(|artifact| artifact.executable.clone())
            .ok_or_else(|| format!("cargo built no binary `{name}`"))
    }
}

fn workspace_build() -> Result<WorkspaceBuild> {
    let mut command = cargo();
    native_workspace(command.arg("test"))
        .args(["--tests", "--no-run"])
        .args(["--message-format=json"])
        .current_dir(root());
    println!("$ {}", cmd::describe(&command));
    let out = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run `{}`: {err}", cmd::describe(&command)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({})",
            cmd::describe(&command),
            out.status
        ));
    }
    let artifacts = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.starts_with(r#"{"reason":"compiler-artifact""#))
        .filter_map(|line| {
            let manifest = PathBuf::from(cmd::json_string(line, "manifest_path")?);
            Some(Artifact {
                package_dir: manifest.parent()?.to_owned(),
                name: cmd::json_string(line, "name")?.to_owned(),
                is_test: json_object(line, "profile")?.contains(r#""test":true"#),
                executable: PathBuf::from(cmd::json_string(line, "executable")?),
            })
        })
        .collect();
    Ok(WorkspaceBuild { artifacts })
}

/// The text of the flat object under `key` (no nested objects, as cargo's `profile`).
fn json_object<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(r#""{key}":{{"#))? + key.len() + 3;
    let len = line[start..].find('}')?;
    Some(&line[start..start + len])
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
