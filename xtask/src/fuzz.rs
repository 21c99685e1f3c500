//! Fuzzing. The API: schemathesis (PyPI) generates requests from the server's own OpenAPI
//! document, sends them to a running `keyward serve`, and checks every answer (no 5xx; status
//! codes, content types, headers and bodies as documented). `cargo xtask test` runs a bounded
//! pass; `cargo xtask fuzz` a longer one, then each `cargo fuzz` target in `fuzz/` (every parser
//! of untrusted bytes) for a while.
//!
//! Knobs (environment): `FUZZ_EXAMPLES` (per operation and phase, default 300), `FUZZ_SECONDS`
//! (per `cargo fuzz` target, default 60).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cmd::{self, cargo};
use crate::server::{Server, sign_in, sign_up};
use crate::setup::SCHEMATHESIS;
use crate::{Result, root, step};

/// The `cargo fuzz` targets (fuzz/fuzz_targets/).
const TARGETS: [&str; 4] = ["access_token", "dpop_proof", "webauthn", "settings"];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The schemathesis command (installed by `cargo xtask setup`; here when missing).
fn schemathesis() -> Result<PathBuf> {
    Ok(crate::setup::python_tool("schemathesis", SCHEMATHESIS)?.join("bin/st"))
}

/// Fuzzes every operation of the `keyward` binary at `binary` (on a fresh SQLite database,
/// rate limits off so that requests reach the code behind them), signed in as one user, with
/// up to `examples` requests per operation and phase. Returns how many requests were checked.
pub fn api(binary: &Path, examples: u64) -> Result<u64> {
    let st = schemathesis()?;
    let dir = root().join("target/fuzz-api");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let database = format!("sqlite://{}", dir.join("api.db").display());
    let log = dir.join("server.log");
    // The OpenID Connect provider on, so its endpoints are fuzzed too.
    let server = Server::start(binary, &["serve", "--oidc-provider", "on"], &database, &log)?;
    sign_up(server.port, "fuzz@example.com")?;
    let (access, _) = sign_in(server.port, "fuzz@example.com")?;

    // Two passes: first everything but what ends the session the other calls use (sign-out,
    // and revoking a session, whose id the stateful phase finds in the session list), then
    // those alone.
    let mut checked = 0;
    let mut passed = true;
    for pass in ["--exclude-path-regex", "--include-path-regex"] {
        let mut command = Command::new(&st);
        command
            .arg("--no-color")
            .arg("--config-file")
            .arg(root().join("fuzz/schemathesis.toml"))
            .arg("run")
            .arg(format!(
                "http://127.0.0.1:{}/auth/openapi.json",
                server.port
            ))
            .args([pass, r"^/auth/(sign-out|sessions/\{id\})$"])
            .args(["--checks", "all"])
            .args(["--max-examples", &examples.to_string()])
            .args(["--workers", "2"])
            .args(["--header", &format!("Authorization: Bearer {access}")])
            .current_dir(&dir);
        let mut summary = false;
        passed &= cmd::run_observed(&mut command, |line| {
            // The summary says `Test cases:`, then `1234 generated, …` on the next line.
            if summary && let Some(count) = leading_number(line) {
                checked += count;
            }
            summary = line.trim() == "Test cases:";
        })?;
    }
    drop(server);
    if passed {
        Ok(checked)
    } else {
        Err(format!(
            "schemathesis found responses that break the spec or the checks (above; the server's log is {})",
            log.display()
        ))
    }
}

/// The number a line starts with (`919 generated, 919 passed`).
fn leading_number(line: &str) -> Option<u64> {
    line.split_whitespace().next()?.parse().ok()
}

/// `cargo xtask fuzz`: the longer API pass, then every `cargo fuzz` target.
pub fn run() -> Result {
    crate::setup::run()?;
    let root = root();
    let examples = env_number("FUZZ_EXAMPLES", 300);
    let seconds = env_number("FUZZ_SECONDS", 60);

    step("build the server");
    cmd::run(
        cargo()
            .args(["build", "-p", "keyward-server", "--bin", "keyward"])
            .current_dir(&root),
    )?;
    step(&format!(
        "API fuzzing: schemathesis, {examples} examples per operation"
    ));
    let requests = api(&root.join("target/debug/keyward"), examples)?;

    step("cargo fuzz (nightly)");
    let toolchains = cmd::output(Command::new("rustup").args(["toolchain", "list"]));
    if !toolchains.is_some_and(|list| list.contains("nightly")) {
        return Err(
            "cargo fuzz needs a nightly toolchain, and this machine has none \
                    (`rustup toolchain install nightly` where the network allows)"
                .into(),
        );
    }
    if cmd::output(Command::new("cargo").args(["fuzz", "--version"])).is_none() {
        cmd::run(Command::new("cargo").args(["install", "cargo-fuzz"]))?;
    }
    let fuzz = root.join("fuzz");
    if !fuzz.join("Cargo.lock").exists() {
        // The same dependency versions as the server everyone runs.
        std::fs::copy(root.join("Cargo.lock"), fuzz.join("Cargo.lock"))
            .map_err(|e| format!("copy Cargo.lock into fuzz/: {e}"))?;
    }
    let mut report = Vec::new();
    for target in TARGETS {
        let runs = fuzz_target(&fuzz, target, seconds)?;
        report.push(format!("{target}: {runs} executions"));
    }
    println!("\nAPI: {requests} requests checked by schemathesis, none failed");
    println!("cargo fuzz, {seconds} s each: {}", report.join(", "));
    Ok(())
}

/// Runs one target for `seconds` (its corpus kept in `fuzz/corpus/`); returns libFuzzer's count
/// of executions. A crash fails the run and leaves the input in `fuzz/artifacts/`.
fn fuzz_target(fuzz: &Path, target: &str, seconds: u64) -> Result<u64> {
    let mut command = Command::new("cargo");
    command
        .args(["+nightly", "fuzz", "run", target, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-rss_limit_mb=4096")
        .current_dir(fuzz)
        .stderr(Stdio::piped());
    println!("$ {}", cmd::describe(&command));
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let mut runs = 0;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr)
            .lines()
            .map_while(std::result::Result::ok)
        {
            eprintln!("{line}");
            // libFuzzer's last line: "Done 123456 runs in 60 second(s)".
            if let Some(count) = line
                .strip_prefix("Done ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
            {
                runs = count;
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(runs)
    } else {
        Err(format!(
            "cargo fuzz {target} failed (a crash leaves its input in fuzz/artifacts/{target}/)"
        ))
    }
}
