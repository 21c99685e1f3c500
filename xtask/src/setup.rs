//! `cargo xtask setup`: installs what is missing, skips what is present. Every check is cheap, so
//! `demo` and `test` run it first.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, cargo, is_root, output, which};
use crate::{Result, root, step};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub fn run() -> Result {
    step("setup");
    wasm_target()?;
    nightly_rust_src()?;
    wasm_bindgen_cli()?;
    chromium()?;
    nginx()?;
    caddy()?;
    npm_packages()?;
    python_tools()?;
    postgres_bin_dir()?;
    println!("setup: everything is in place");
    Ok(())
}

fn wasm_target() -> Result {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]));
    match installed {
        Some(list) if list.lines().any(|line| line.trim() == WASM_TARGET) => {
            println!("ok   rust target {WASM_TARGET}");
            Ok(())
        }
        Some(_) => cmd::run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        None => Err(format!(
            "rustup is not on PATH: install the {WASM_TARGET} target for your toolchain by hand"
        )),
    }
}

/// The npm build rebuilds std for wasm with nightly (`-Zbuild-std`), which needs nightly's
/// `rust-src`; everything else builds on stable.
fn nightly_rust_src() -> Result {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        "nightly",
    ]));
    if installed.is_some_and(|list| list.lines().any(|line| line.trim() == "rust-src")) {
        println!("ok   nightly rust-src");
        return Ok(());
    }
    cmd::run(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
        "--component",
        "rust-src",
    ]))
}

/// The exact `wasm-bindgen` version in Cargo.lock: the CLI must match it byte for byte.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    let lock_path = root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|e| format!("read {}: {e}", lock_path.display()))?;
    lock.split("[[package]]")
        .find(|package| package.contains("\nname = \"wasm-bindgen\"\n"))
        .and_then(|package| {
            package
                .lines()
                .find_map(|line| line.strip_prefix("version = \""))
                .and_then(|version| version.strip_suffix('"'))
        })
        .map(str::to_owned)
        .ok_or_else(|| "Cargo.lock has no wasm-bindgen package".into())
}

fn wasm_bindgen_cli() -> Result {
    let version = locked_wasm_bindgen_version()?;
    let have = output(Command::new("wasm-bindgen").arg("--version"));
    let runner = which("wasm-bindgen-test-runner").is_some();
    if runner && have.as_deref() == Some(&format!("wasm-bindgen {version}")) {
        println!("ok   wasm-bindgen-cli {version}");
        return Ok(());
    }
    // No `--locked`: the registry copy of the CLI's lock file pins a dependency version that is
    // not on the registry (DESIGN.md, engineering facts).
    cmd::run(cargo().args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
        "--force",
    ]))
}

pub fn chromium_path() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(which)
}

fn chromium() -> Result {
    let present = chromium_path().is_some() && which("chromedriver").is_some();
    debian(
        "chromium and chromedriver",
        present,
        &["chromium", "chromium-driver"],
    )
}

/// nginx, for a gateway test (`auth_request` in front of an app): on `PATH`, or in
/// `/usr/sbin` where Debian puts it.
pub fn nginx_path() -> Option<PathBuf> {
    which("nginx").or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
}

fn nginx() -> Result {
    debian("nginx", nginx_path().is_some(), &["nginx"])
}

/// Caddy, for the other gateway test (`forward_auth`).
fn caddy() -> Result {
    debian("caddy", which("caddy").is_some(), &["caddy"])
}

/// Installs Debian `packages` (the real parts the tests run: a browser, a gateway) unless
/// `what` is `present`; as root with apt, otherwise by saying the command to run.
fn debian(what: &str, present: bool, packages: &[&str]) -> Result {
    if present {
        println!("ok   {what}");
        return Ok(());
    }
    let list = packages.join(" ");
    if !is_root() {
        return Err(format!(
            "{what} is missing: install the Debian packages (sudo apt-get install -y {list})"
        ));
    }
    let install = || {
        cmd::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    install()
        .or_else(|_| {
            cmd::run(Command::new("apt-get").arg("update"))?;
            install()
        })
        .map_err(|e| format!("{e}\ninstalling {what} failed: the packages are {list}"))
}

/// A real SMTP server for the mail tests: aiosmtpd (PyPI), pinned, in a virtualenv under
/// `target/tools/aiosmtpd` (the tests run `bin/python -m aiosmtpd` from there).
pub const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// The webhook tests' receiver verifies signatures with the Standard Webhooks reference
/// implementation for Python (PyPI), pinned, in a virtualenv under `target/tools/standardwebhooks`.
pub const STANDARDWEBHOOKS: &str = "standardwebhooks==1.3.0";

/// The API fuzzer (`cargo xtask test` runs a bounded pass, `cargo xtask fuzz` a longer one), in
/// `target/tools/schemathesis`. Pinned, so that a new release's new checks do not change what a
/// test run means.
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The Python tools, each in its virtualenv `target/tools/<name>`, installed side by side: an
/// install is mostly waiting on PyPI.
fn python_tools() -> Result {
    let tools = [
        ("aiosmtpd", AIOSMTPD),
        ("standardwebhooks", STANDARDWEBHOOKS),
        ("schemathesis", SCHEMATHESIS),
    ];
    std::thread::scope(|scope| {
        let installs: Vec<_> = tools
            .into_iter()
            .map(|(dir, requirement)| scope.spawn(move || python_tool(dir, requirement).map(drop)))
            .collect();
        // Every install is waited for, and every failure named.
        let failures: Vec<String> = installs
            .into_iter()
            .filter_map(|install| {
                install
                    .join()
                    .unwrap_or_else(|_| Err("a Python tool's install panicked".into()))
                    .err()
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    })
}

/// `requirement` (pinned) from PyPI in its own virtualenv, `target/tools/<dir>`: its path.
pub fn python_tool(dir: &str, requirement: &str) -> Result<PathBuf> {
    let venv = root().join("target/tools").join(dir);
    let stamp = venv.join("installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirement) {
        println!("ok   {requirement}");
        return Ok(venv);
    }
    cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    cmd::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(requirement),
    )?;
    std::fs::write(&stamp, requirement).map_err(|e| format!("write {}: {e}", stamp.display()))?;
    Ok(venv)
}

/// `npm ci` at the workspace root (playwright-core for the e2e tests, binaryen for wasm-opt),
/// skipped when `node_modules` already matches `package-lock.json`.
fn npm_packages() -> Result {
    if which("npm").is_none() || which("node").is_none() {
        return Err("Node.js and npm are missing: install Debian's `nodejs` and `npm`".into());
    }
    let root = root();
    let lock = std::fs::read(root.join("package-lock.json"))
        .map_err(|e| format!("read package-lock.json: {e}"))?;
    let stamp_path = root.join("node_modules/.keyward-lock");
    if std::fs::read(&stamp_path).ok().as_deref() == Some(lock.as_slice()) {
        println!("ok   npm packages");
        return Ok(());
    }
    cmd::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&root),
    )?;
    std::fs::write(&stamp_path, lock).map_err(|e| format!("write {}: {e}", stamp_path.display()))
}

/// The directory holding PostgreSQL's server programs (`initdb`, `postgres`, `pg_isready`).
pub fn postgres_bin_dir() -> Result<PathBuf> {
    let from_debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .max();
    let found = from_debian.or_else(|| {
        which("initdb")
            .and_then(|initdb| std::fs::canonicalize(initdb).ok())
            .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
    });
    match found {
        Some(bin) => {
            println!("ok   postgresql ({})", bin.display());
            Ok(bin)
        }
        None => Err(
            "PostgreSQL is missing: install the Debian package `postgresql` \
                     (the tests start their own throwaway cluster with its initdb)"
                .into(),
        ),
    }
}
