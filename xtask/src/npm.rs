//! `cargo xtask npm`: the `keyward` npm package, built into `npm/pkg/` and packed into `npm/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd;
use crate::setup::WASM_TARGET;
use crate::{Result, root, step};

/// The cargo profile the browser client is built with (size-optimised, see Cargo.toml).
pub const PROFILE: &str = "wasm-release";

pub fn run() -> Result {
    crate::setup::run()?;
    let pkg = build()?;
    let tarball = pack(&pkg)?;
    println!("packed: {}", tarball.display());
    // The sizes as shipped and as bundled, each module's, and where the wasm goes.
    crate::bench::size::print(&pkg)
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

/// The toolchain and flags of the npm build: std rebuilt with immediate-abort panics and no
/// location details or `Debug` output, so no panic or formatting machinery reaches the wasm
/// (DESIGN.md, "Engineering facts"; `cargo xtask setup` adds nightly's `rust-src`).
const NIGHTLY_FLAGS: &str =
    "-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none";

/// The JS files of the package, copied from `npm/` as they are.
const SOURCES: &[&str] = &[
    "package.json",
    "README.md",
    "index.js",
    "index.d.ts",
    "client.js",
    "internal.js",
    "sessions.js",
    "sessions.d.ts",
    "devices.js",
    "devices.d.ts",
    "passkeys.js",
    "passkeys.d.ts",
    "email.js",
    "email.d.ts",
    "password.js",
    "password.d.ts",
    "magic-link.js",
    "magic-link.d.ts",
    "mfa.js",
    "mfa.d.ts",
    "oauth.js",
    "oauth.d.ts",
    "orgs.js",
    "orgs.d.ts",
    "apps.js",
    "apps.d.ts",
    "admin.js",
    "admin.d.ts",
    "react.js",
    "react.d.ts",
];

/// Builds the release wasm core (the `js` face, without serde), generates its JS glue, inlines
/// the wasm (gzip, base64) and fills `npm/pkg/`. Returns its path.
pub fn build() -> Result<PathBuf> {
    step("build the keyward npm package");
    let root = root();
    let target_dir = root.join("target/npm");
    cmd::run(
        Command::new("cargo")
            .args([
                "+nightly",
                "build",
                "-p",
                "keyward-client",
                "--target",
                WASM_TARGET,
            ])
            .args([
                "--profile",
                PROFILE,
                "--no-default-features",
                "--features",
                "js",
            ])
            .args(["-Zbuild-std=std,panic_abort"])
            .arg("--target-dir")
            .arg(&target_dir)
            .env("RUSTFLAGS", NIGHTLY_FLAGS)
            .env_remove("RUSTUP_TOOLCHAIN")
            .current_dir(&root),
    )?;
    let wasm = target_dir
        .join(WASM_TARGET)
        .join(PROFILE)
        .join("keyward_client.wasm");
    let pkg = root.join("npm/pkg");
    let _ = std::fs::remove_dir_all(&pkg);
    cmd::run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-name", "keyward_wasm"])
            .args(["--remove-name-section", "--remove-producers-section"])
            .arg("--omit-default-module-path")
            .arg("--out-dir")
            .arg(&pkg)
            .arg(&wasm),
    )?;
    place_primitives(&root, &pkg)?;
    let binary = pkg.join("keyward_wasm_bg.wasm");
    optimize(&root, &binary)?;
    inline(&binary, &pkg.join("keyward_wasm_inline.js"))?;
    for file in ["keyward_wasm_bg.wasm", "keyward_wasm_bg.wasm.d.ts"] {
        std::fs::remove_file(pkg.join(file)).map_err(|e| format!("remove {file}: {e}"))?;
    }
    for file in SOURCES {
        std::fs::copy(root.join("npm").join(file), pkg.join(file))
            .map_err(|e| format!("copy npm/{file}: {e}"))?;
    }
    check_version(&pkg)?;
    Ok(pkg)
}

/// Puts the browser primitives the core imports (`client-wasm/js/io.js`, which wasm-bindgen copies
/// under `snippets/<crate>-<hash>/`) at `io.js`, where the package's entry can import them too (it
/// starts opening IndexedDB while the wasm compiles).
fn place_primitives(root: &Path, pkg: &Path) -> Result {
    let glue = pkg.join("keyward_wasm.js");
    let text = std::fs::read_to_string(&glue).map_err(|e| format!("read the glue: {e}"))?;
    let specifier = text
        .find("./snippets/")
        .and_then(|start| text.get(start..start + text.get(start..)?.find("/js/io.js")? + 9))
        .ok_or("the glue does not import snippets/…/js/io.js")?;
    // Only where the glue imports it: the wasm still names the module by its snippet path.
    let text = text
        .replace(&["from '", specifier, "'"].concat(), "from './io.js'")
        .replace(&["from \"", specifier, "\""].concat(), "from \"./io.js\"");
    if text.contains("from './snippets/") || text.contains("from \"./snippets/") {
        return Err("the glue imports a snippet besides js/io.js".into());
    }
    std::fs::write(&glue, text).map_err(|e| format!("write the glue: {e}"))?;
    std::fs::copy(root.join("client-wasm/js/io.js"), pkg.join("io.js"))
        .map_err(|e| format!("copy io.js: {e}"))?;
    std::fs::remove_dir_all(pkg.join("snippets")).map_err(|e| format!("remove snippets: {e}"))
}

/// Writes `wasm` as a JS module whose default export is the gzip -9 of it in base64: no .wasm
/// file for a bundler to resolve (esbuild cannot without a plugin), and, compressed before
/// base64, a download no bigger than the file served gzipped.
fn inline(wasm: &Path, module: &Path) -> Result {
    let encoded = cmd::output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9 -n -c '{}' | base64 -w0", wasm.display())),
    )
    .ok_or("gzip | base64 failed")?;
    std::fs::write(
        module,
        format!(
            "// The client's WebAssembly core, gzip -9 then base64 (made by `cargo xtask npm`).\n\
             export default \"{encoded}\";\n"
        ),
    )
    .map_err(|e| format!("write {}: {e}", module.display()))
}

/// The wasm features rustc's wasm32 target emits, as wasm-opt names them.
pub const WASM_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];

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
            .args(WASM_FEATURES)
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

/// What a browser downloads for the core (`createAuthClient` + sign-in + `fetch`): the entry,
/// the shared module, the wasm glue, the inlined wasm and the browser primitives it imports.
pub const CORE_FILES: &[&str] = &[
    "index.js",
    "internal.js",
    "keyward_wasm.js",
    "keyward_wasm_inline.js",
    "io.js",
];

/// The core's files in `pkg`.
pub fn core_files(pkg: &Path) -> Vec<PathBuf> {
    CORE_FILES.iter().map(|file| pkg.join(file)).collect()
}

/// Bytes of the file at `path`: raw and gzip -9.
pub fn sizes(path: &Path) -> (u64, u64) {
    let raw = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let gzipped = cmd::output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9 -c '{}' | wc -c", path.display())),
    )
    .and_then(|n| n.parse::<u64>().ok())
    .unwrap_or(0);
    (raw, gzipped)
}

/// Prints what a browser downloads for the core, raw and gzip -9.
pub fn report_size(pkg: &Path) {
    let (raw, gzipped) = core_files(pkg)
        .iter()
        .map(|file| sizes(file))
        .fold((0, 0), |(r, g), (fr, fg)| (r + fr, g + fg));
    println!(
        "npm package core, what a browser downloads (JS + inlined wasm): {:.1} KB raw, {:.1} KB gzip -9",
        raw as f64 / 1000.0,
        gzipped as f64 / 1000.0
    );
}
