//! `cargo xtask demo`: builds everything and runs the server on its embedded SQLite default,
//! serving the demo app, at http://localhost:8787.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{self, cargo};
use crate::{Result, root, step};

pub fn run() -> Result {
    crate::setup::run()?;
    let app = build_leptos_app()?;
    let server = build_api_server()?;

    step("serve");
    let provider = demo_provider();
    println!("Keyward demo: open http://localhost:8787  (Ctrl-C stops it)");
    println!(
        "  the Leptos app, the Keyward server (/auth) and the example API (/api) in one process"
    );
    let mut command = Command::new(server);
    command
        .args(["--bind", "127.0.0.1:8787"])
        .args(["--database-url", "sqlite://keyward.db"])
        .arg("--static-dir")
        .arg(app)
        .current_dir(root());
    if let Some((_, issuer)) = &provider {
        println!("  \"Continue with Demo provider\": a local OpenID Connect provider at {issuer}");
        command
            .env("KEYWARD_OAUTH_DEMO_ISSUER", issuer)
            .env("KEYWARD_OAUTH_DEMO_CLIENT_ID", "keyward-demo")
            .env("KEYWARD_OAUTH_DEMO_CLIENT_SECRET", "keyward-demo-secret")
            .env("KEYWARD_OAUTH_DEMO_NAME", "Demo provider");
    }
    let served = cmd::run(&mut command);
    if let Some((mut child, _)) = provider {
        let _ = child.kill();
        let _ = child.wait();
    }
    served
}

/// `cargo xtask offline-sync`: the npm package, the example's page beside it, and the sync
/// server (`examples/offline-sync`) serving both with Keyward at http://localhost:8787.
pub fn offline_sync() -> Result {
    crate::setup::run()?;
    crate::npm::build()?;
    let site = build_offline_sync_site()?;
    step("build the offline sync server (examples/offline-sync)");
    let root = root();
    cmd::run(
        cargo()
            .args(["build", "-p", "example-offline-sync"])
            .current_dir(&root),
    )?;
    step("serve");
    println!("Offline sync example: open http://localhost:8787 in two browsers  (Ctrl-C stops it)");
    cmd::run(
        Command::new(root.join("target/debug/example-offline-sync"))
            .args(["--bind", "127.0.0.1:8787"])
            .args(["--database-url", "sqlite://offline-sync.db"])
            .arg("--static-dir")
            .arg(site)
            .current_dir(&root),
    )
}

/// A local OpenID Connect provider (`oidc-provider` from npm, `tests/fixtures/oidc-provider.mjs`
/// with its login form) on port 8788, so that signing in with a provider works with no account
/// anywhere: the child and its issuer; `None`, with a note, when it cannot start (the demo runs
/// without it).
fn demo_provider() -> Option<(std::process::Child, String)> {
    use std::io::BufRead as _;
    let script = root().join("tests/fixtures/oidc-provider.mjs");
    let callback = "http://localhost:8787/auth/oauth/demo/callback";
    let spawned = Command::new("node")
        .arg(&script)
        .args([
            "8788",
            "keyward-demo",
            "keyward-demo-secret",
            callback,
            "--ask",
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            eprintln!(
                "xtask: the demo's OpenID Connect provider did not start ({err}); running without it"
            );
            return None;
        }
    };
    let mut line = String::new();
    let stdout = child.stdout.take()?;
    let _ = std::io::BufReader::new(stdout).read_line(&mut line);
    match line.trim().strip_prefix("ready ") {
        Some(issuer) => Some((child, issuer.to_owned())),
        None => {
            eprintln!(
                "xtask: the demo's OpenID Connect provider did not start; running without it"
            );
            let _ = child.kill();
            None
        }
    }
}

/// Builds the Leptos demo app (`examples/leptos-app`) into `target/leptos-app/`.
pub fn build_leptos_app() -> Result<PathBuf> {
    step("build the Leptos demo app (examples/leptos-app)");
    build_leptos_site(
        "example-leptos-app",
        "app",
        "examples/leptos-app/public",
        "target/leptos-app",
        false,
    )
}

/// Builds the sign-in page Keyward ships (`sign-in-page`) into `target/sign-in-page/`: a debug
/// build for the tests (it shares the demo app's dependencies), or `release` for operators
/// (`cargo xtask sign-in-page`), size-optimised.
pub fn build_sign_in_page(release: bool) -> Result<PathBuf> {
    step("build the sign-in page Keyward ships (sign-in-page)");
    build_leptos_site(
        "keyward-sign-in-page",
        "page",
        "sign-in-page/public",
        "target/sign-in-page",
        release,
    )
}

/// `cargo xtask sign-in-page`: the page, release-built, and how to serve it.
pub fn sign_in_page() -> Result {
    crate::setup::run()?;
    let site = build_sign_in_page(true)?;
    println!(
        "\nthe sign-in page is in {}: serve it with\n  keyward serve --oidc-provider on \\\n    \
         --static-dir {} --oidc-sign-in-page /",
        site.display(),
        site.display()
    );
    Ok(())
}

/// Builds the Leptos client-side app `package` for the browser, generates its JS glue as
/// `{name}.js` and puts both with the files of `public` into `out` (relative to the root); returns
/// that directory. `release` builds with the npm package's size profile and runs `wasm-opt`.
fn build_leptos_site(
    package: &str,
    name: &str,
    public: &str,
    out: &str,
    release: bool,
) -> Result<PathBuf> {
    let root = root();
    let profile = if release { crate::npm::PROFILE } else { "dev" };
    cmd::run(
        cargo()
            .args([
                "build",
                "-p",
                package,
                "--target",
                crate::setup::WASM_TARGET,
            ])
            .args(["--profile", profile])
            .current_dir(&root),
    )?;
    let site = root.join(out);
    let _ = std::fs::remove_dir_all(&site);
    let built = root
        .join("target")
        .join(crate::setup::WASM_TARGET)
        .join(if release { profile } else { "debug" })
        .join(format!("{package}.wasm"));
    let mut bindgen = Command::new("wasm-bindgen");
    bindgen.args(["--target", "web", "--out-name", name, "--no-typescript"]);
    if release {
        bindgen.args(["--remove-name-section", "--remove-producers-section"]);
    }
    cmd::run(bindgen.arg("--out-dir").arg(&site).arg(&built))?;
    if release {
        crate::npm::optimize(&root, &site.join(format!("{name}_bg.wasm")))?;
    }
    let public = root.join(public);
    for entry in
        std::fs::read_dir(&public).map_err(|e| format!("read {}: {e}", public.display()))?
    {
        let entry = entry.map_err(|e| format!("read {}: {e}", public.display()))?;
        std::fs::copy(entry.path(), site.join(entry.file_name()))
            .map_err(|e| format!("copy {}: {e}", entry.path().display()))?;
    }
    Ok(site)
}

/// Builds the example API (Keyward's router merged into an app of its own) and returns it.
pub fn build_api_server() -> Result<PathBuf> {
    step("build the example API server");
    let root = root();
    cmd::run(
        cargo()
            .args([
                "build",
                "-p",
                "example-axum-api",
                "--bin",
                "example-axum-api",
            ])
            .current_dir(&root),
    )?;
    Ok(root.join("target/debug/example-axum-api"))
}

/// Builds the npm package, installs the packed tarball into `examples/vanilla-js` (as a user
/// would) and builds that Vite app. Returns the built site's directory.
pub fn build_app() -> Result<PathBuf> {
    let pkg = crate::npm::build()?;
    crate::npm::report_size(&pkg);
    crate::npm::pack(&pkg)?;
    step("build the demo app (examples/vanilla-js, Vite)");
    build_vite_app(&root().join("examples/vanilla-js"))
}

/// The offline sync example's page (`examples/offline-sync/public`) with the npm package that
/// [`build_app`] built beside it at `keyward/`: the page imports it from there, no bundler.
/// Returns the site's directory.
pub fn build_offline_sync_site() -> Result<PathBuf> {
    step("assemble the offline sync example's page (examples/offline-sync)");
    let root = root();
    let site = root.join("target/offline-sync-site");
    let _ = std::fs::remove_dir_all(&site);
    copy_dir(&root.join("examples/offline-sync/public"), &site)?;
    copy_dir(&root.join("npm/pkg"), &site.join("keyward"))?;
    Ok(site)
}

/// Copies the directory `from` (and what is in it) to `to`.
fn copy_dir(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("create {}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("read {}: {e}", from.display()))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Installs the packed tarball (built by [`build_app`]) into `examples/react` and builds it.
/// Returns the example's directory (its site is `dist/`).
pub fn build_react_app() -> Result<PathBuf> {
    step("build the React example (examples/react, Vite)");
    let app = root().join("examples/react");
    build_vite_app(&app)?;
    Ok(app)
}

/// `npm install` (the tarball just packed included) and `vite build` in `app`; returns its
/// `dist/`.
fn build_vite_app(app: &Path) -> Result<PathBuf> {
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
            .current_dir(app),
    )?;
    cmd::run(
        Command::new("npx")
            .args(["--no-install", "vite", "build", "--logLevel", "warn"])
            .current_dir(app),
    )?;
    Ok(app.join("dist"))
}
