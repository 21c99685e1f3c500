//! `cargo xtask npm`: the `keyward` npm package, built into `npm/pkg/` and packed into `npm/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, cargo};
use crate::setup::WASM_TARGET;
use crate::{Result, root, step};

/// The cargo profile the browser client is built with (size-optimised, see Cargo.toml).
const PROFILE: &str = "wasm-release";

pub fn run() -> Result {
    crate::setup::run()?;
    let pkg = build()?;
    let tarball = pack(&pkg)?;
    println!("packed: {}", tarball.display());
    report_size(&pkg);
    Ok(())
}

/// `npm pack`s `npm/pkg/` into `npm/keyward-<version>.tgz` and returns its path.
pub fn pack(pkg: &Path) -> Result<PathBuf> {
    step("npm pack");
    cmd::run(
        Command::new("npm")
            .args(["pack", "--silent", "--pack-destination", ".."])
            .current_dir(pkg),
    )?;
    Ok(root().join(format!("npm/keyward-{}.tgz", env!("CARGO_PKG_VERSION"))))
}

/// Builds the release wasm client, generates the JS glue and fills `npm/pkg/`. Returns its path.
pub fn build() -> Result<PathBuf> {
    step("build the keyward npm package");
    let root = root();
    cmd::run(
        cargo()
            .args(["build", "-p", "keyward-client", "--target", WASM_TARGET])
            .args(["--profile", PROFILE])
            .current_dir(&root),
    )?;
    let wasm = root
        .join("target")
        .join(WASM_TARGET)
        .join(PROFILE)
        .join("keyward_client.wasm");
    let pkg = root.join("npm/pkg");
    let _ = std::fs::remove_dir_all(&pkg);
    cmd::run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-name", "keyward_wasm"])
            .args(["--remove-name-section", "--remove-producers-section"])
            .arg("--out-dir")
            .arg(&pkg)
            .arg(&wasm),
    )?;
    optimize(&root, &pkg.join("keyward_wasm_bg.wasm"))?;
    for file in ["package.json", "README.md", "index.js", "index.d.ts"] {
        std::fs::copy(root.join("npm").join(file), pkg.join(file))
            .map_err(|e| format!("copy npm/{file}: {e}"))?;
    }
    check_version(&pkg)?;
    Ok(pkg)
}

/// `wasm-opt -Oz` from the npm package `binaryen` (Debian's wasm-opt 108 corrupts current
/// wasm-bindgen output; DESIGN.md). The feature flags are the ones rustc's wasm32 target emits.
pub fn optimize(root: &Path, wasm: &Path) -> Result {
    let wasm_opt = root.join("node_modules/.bin/wasm-opt");
    if !wasm_opt.is_file() {
        return Err("node_modules/.bin/wasm-opt is missing: run `cargo xtask setup`".into());
    }
    cmd::run(
        Command::new(wasm_opt)
            .arg("-Oz")
            .args([
                "--enable-bulk-memory",
                "--enable-mutable-globals",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(wasm)
            .arg("-o")
            .arg(wasm),
    )
}

/// The npm version must be the crates' version: one release, one number.
fn check_version(pkg: &Path) -> Result {
    let manifest = std::fs::read_to_string(pkg.join("package.json"))
        .map_err(|e| format!("read package.json: {e}"))?;
    let expected = format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION"));
    if manifest.contains(&expected) {
        Ok(())
    } else {
        Err(format!(
            "npm/package.json must say {expected} (the workspace version)"
        ))
    }
}

/// Prints what a browser downloads (wasm + JS glue + entry), raw and gzip -9.
pub fn report_size(pkg: &Path) {
    let files = ["keyward_wasm_bg.wasm", "keyward_wasm.js", "index.js"];
    let mut raw = 0;
    let mut gzipped = 0;
    for file in files {
        let path = pkg.join(file);
        raw += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        gzipped += cmd::output(
            Command::new("sh")
                .arg("-c")
                .arg(format!("gzip -9 -c '{}' | wc -c", path.display())),
        )
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    }
    println!(
        "npm package, what a browser downloads (wasm + JS): {:.1} KB raw, {:.1} KB gzip -9",
        raw as f64 / 1000.0,
        gzipped as f64 / 1000.0
    );
}
