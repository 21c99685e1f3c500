//! `cargo xtask demo`: builds everything and runs the server on its embedded SQLite default,
//! serving the demo app, at http://localhost:8787.

use std::path::PathBuf;
use std::process::Command;

use crate::cmd::{self, cargo, copy_dir};
use crate::{Result, root, step};

pub fn run() -> Result {
    crate::setup::run()?;
    let pkg = crate::npm::build()?;
    crate::npm::report_size(&pkg);
    let site = build_site()?;
    let server = build_server()?;

    step("serve");
    println!("Keyward demo: open http://localhost:8787  (Ctrl-C stops it)");
    cmd::run(
        Command::new(server)
            .args(["serve", "--bind", "127.0.0.1:8787"])
            .args(["--database-url", "sqlite://keyward.db"])
            .arg("--static-dir")
            .arg(site)
            .current_dir(root()),
    )
}

/// The demo page with the npm package beside it, in `target/demo/`.
pub fn build_site() -> Result<PathBuf> {
    step("build the demo page");
    let root = root();
    let site = root.join("target/demo");
    let _ = std::fs::remove_dir_all(&site);
    copy_dir(&root.join("examples/demo"), &site)?;
    copy_dir(&root.join("npm/pkg"), &site.join("pkg"))?;
    println!("demo page: {}", site.display());
    Ok(site)
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
