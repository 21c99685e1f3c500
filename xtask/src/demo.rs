//! `cargo xtask demo`: builds everything and runs the server on its embedded SQLite default,
//! serving the demo app, at http://localhost:8787.

use std::path::PathBuf;
use std::process::Command;

use crate::cmd::{self, cargo};
use crate::{Result, root, step};

pub fn run() -> Result {
    crate::setup::run()?;
    let app = build_app()?;
    let server = build_server()?;

    step("serve");
    println!("Keyward demo: open http://localhost:8787  (Ctrl-C stops it)");
    cmd::run(
        Command::new(server)
            .args(["serve", "--bind", "127.0.0.1:8787"])
            .args(["--database-url", "sqlite://keyward.db"])
            .arg("--static-dir")
            .arg(app)
            .current_dir(root()),
    )
}

/// Builds the npm package, installs the packed tarball into `examples/vanilla-js` (as a user
/// would) and builds that Vite app. Returns the built site's directory.
pub fn build_app() -> Result<PathBuf> {
    let pkg = crate::npm::build()?;
    crate::npm::report_size(&pkg);
    crate::npm::pack(&pkg)?;
    step("build the demo app (examples/vanilla-js, Vite)");
    let app = root().join("examples/vanilla-js");
    // The tarball is rebuilt with the same version number: make npm take the new one.
    let _ = std::fs::remove_dir_all(app.join("node_modules/keyward"));
    cmd::run(
        Command::new("npm")
            .args([
                "install",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--silent",
            ])
            .current_dir(&app),
    )?;
    cmd::run(
        Command::new("npx")
            .args(["--no-install", "vite", "build", "--logLevel", "warn"])
            .current_dir(&app),
    )?;
    Ok(app.join("dist"))
}

/// Builds the `keyward` binary and returns its path.
pub fn build_server() -> Result<PathBuf> {
    step("build the server");
    let root = root();
    cmd::run(
        cargo()
            .args(["build", "-p", "keyward-server", "--bin", "keyward"])
            .current_dir(&root),
    )?;
    Ok(root.join("target/debug/keyward"))
}
