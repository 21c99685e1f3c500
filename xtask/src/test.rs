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

    // From here on the native stages leave some of the machine idle (one large crate checking
    // alone, tests waiting on a database or a socket); the first pass keeps every core busy.
    let browser = BrowserBuilds::start();

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

    step("native tests (server on SQLite)");
    tally.tests(
        "native tests (SQLite)",
        cargo()
            .args(["test", "--workspace"])
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

    step("the browser side's builds (made beside the stages above)");
    let sites = browser.join(&mut tally);

    step("wasm tests in headless Chromium");
    tally.tests(
        "wasm tests (Chromium)",
        cmd::wasm_cargo()
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
    match (binaries, sites) {
        (Ok(binaries), Some(sites)) => {
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
        (Err(message), _) => {
            eprintln!("xtask: {message}");
            tally.fail("build for the end-to-end tests");
        }
        // Counted where the browser side's builds were joined.
        (_, None) => eprintln!("xtask: the end-to-end tests need every site; see above"),
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

/// How the browser side's builds tell `test` what happened, in their output: a line `{STAGE}ok
/// {name}` or `{STAGE}failed {name}` per stage, and `{SITE}{VARIABLE}={dir}` per site the
/// end-to-end tests serve.
const STAGE: &str = "xtask-stage ";
const SITE: &str = "xtask-site ";

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

/// `cargo xtask browser-builds`, which `test` runs beside its native stages: the browser crates'
/// clippy passes, the wasm tests' build and every site of the end-to-end tests. They build in
/// target directories of their own ([`cmd::WASM_TARGET_DIR`], the npm package's), so they make
/// use of what the native builds leave idle of the machine (one crate compiling alone, tests
/// waiting on a database or a browser) instead of waiting for them. What runs in a browser runs
/// afterwards, in `test` itself, with no build beside it.
pub fn browser_builds() -> Result {
    let root = root();
    // Every stage runs even when one before it failed, as in `test`; the exit status says
    // whether all passed.
    let mut failed = 0;
    let mut report = |name: &str, outcome: Result| match outcome {
        Ok(()) => println!("{STAGE}ok {name}"),
        Err(message) => {
            failed += 1;
            println!("xtask: {message}");
            println!("{STAGE}failed {name}");
        }
    };

    step("clippy (wasm32: the browser crates)");
    report(
        "clippy (wasm32)",
        cmd::run(
            cmd::wasm_cargo()
                .args(["clippy", "--target", WASM_TARGET, "--all-targets"])
                .args(["-p", "keyward-client", "-p", "keyward-leptos"])
                .args(["-p", "example-leptos-app", "-p", "keyward-sign-in-page"])
                .args(["--", "-D", "warnings"])
                .current_dir(&root),
        ),
    );

    // The npm package's face of the client: without serde, with the JS exports.
    step("clippy (wasm32: the npm core)");
    report(
        "clippy (wasm32, npm core)",
        cmd::run(
            cmd::wasm_cargo()
                .args(["clippy", "--target", WASM_TARGET, "-p", "keyward-client"])
                .args(["--no-default-features", "--features", "js"])
                .args(["--", "-D", "warnings"])
                .current_dir(&root),
        ),
    );

    step("build the wasm tests");
    report(
        "build of the wasm tests",
        cmd::run(
            cmd::wasm_cargo()
                .args(["test", "--no-run", "--target", WASM_TARGET])
                .args(["-p", "keyward-client", "-p", "keyward-leptos"])
                .current_dir(&root),
        ),
    );

    let mut unbuilt = Vec::new();
    for (variable, build) in SITES {
        match build() {
            Ok(dir) => println!("{SITE}{variable}={}", dir.display()),
            Err(message) => unbuilt.push(format!("{variable}: {message}")),
        }
    }
    report(
        "build for the end-to-end tests",
        if unbuilt.is_empty() {
            Ok(())
        } else {
            Err(unbuilt.join("; "))
        },
    );
    match failed {
        0 => Ok(()),
        n => Err(format!("{n} of the browser side's stages failed")),
    }
}

/// The browser side's builds, running in a second xtask process ([`browser_builds`]) whose
/// output goes to a file, printed whole when they are joined. Dropped unjoined (a panic), it
/// stops them.
struct BrowserBuilds {
    child: Option<std::io::Result<std::process::Child>>,
    log: PathBuf,
}

impl BrowserBuilds {
    fn start() -> Self {
        let log = root().join("target/xtask-browser-builds.log");
        let child = log
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(&log))
            .and_then(|out| {
                let err = out.try_clone()?;
                Command::new(std::env::current_exe()?)
                    .arg("browser-builds")
                    .stdout(out)
                    .stderr(err)
                    .current_dir(root())
                    .spawn()
            });
        println!(
            "the browser side builds beside the stages below: {}",
            log.display()
        );
        Self {
            child: Some(child),
            log,
        }
    }

    /// Waits for the builds, prints what they printed and counts their stages. Returns the
    /// sites' variables for the end-to-end tests, if every site was built.
    fn join(mut self, tally: &mut Tally) -> Option<Vec<(String, String)>> {
        let status = match self.child.take() {
            Some(child) => child.and_then(|mut child| child.wait()),
            None => return None,
        };
        let output = std::fs::read_to_string(&self.log).unwrap_or_default();
        print!("{output}");
        let mut sites = Vec::new();
        let mut finished = false;
        for line in output.lines() {
            if let Some((outcome, name)) = line.strip_prefix(STAGE).and_then(|r| r.split_once(' '))
            {
                finished = name == "build for the end-to-end tests";
                if outcome == "ok" {
                    tally.check(name, Ok(()));
                } else {
                    tally.fail(name);
                }
            } else if let Some((variable, dir)) =
                line.strip_prefix(SITE).and_then(|r| r.split_once('='))
            {
                sites.push((variable.to_owned(), dir.to_owned()));
            }
        }
        // A stage that failed makes the process fail too: it is counted above.
        if !finished {
            eprintln!("xtask: the browser side's builds did not finish ({status:?})");
            tally.fail("browser side's builds");
            return None;
        }
        (sites.len() == SITES.len()).then_some(sites)
    }
}

impl Drop for BrowserBuilds {
    fn drop(&mut self) {
        if let Some(Ok(mut child)) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

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
    command
        .args(["test", "--workspace", "--tests", "--no-run"])
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
