//! The client's figures: what a browser downloads (gzip -9), and timings in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::peers::copy_sources;
use crate::cmd::{self, cargo, free_port};
use crate::{Result, root};

pub(super) fn sizes(files: &[PathBuf]) -> (u64, u64) {
    files
        .iter()
        .map(|path| crate::npm::sizes(path))
        .fold((0, 0), |(raw, gz), (r, g)| (raw + r, gz + g))
}

/// The Leptos demo app's wasm + JS, release-built and optimised like the npm package.
pub(super) fn leptos_size(root: &Path) -> Result<(u64, u64)> {
    cmd::run(
        cargo()
            .args([
                "build",
                "-p",
                "example-leptos-app",
                "--target",
                crate::setup::WASM_TARGET,
                "--profile",
                "wasm-release",
            ])
            .current_dir(root),
    )?;
    let dir = root.join("target/bench/leptos-app");
    let _ = std::fs::remove_dir_all(&dir);
    cmd::run(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--out-name", "app", "--no-typescript"])
            .args(["--remove-name-section", "--remove-producers-section"])
            .arg("--out-dir")
            .arg(&dir)
            .arg(
                root.join("target")
                    .join(crate::setup::WASM_TARGET)
                    .join("wasm-release/example-leptos-app.wasm"),
            ),
    )?;
    crate::npm::optimize(root, &dir.join("app_bg.wasm"))?;
    Ok(sizes(&[dir.join("app_bg.wasm"), dir.join("app.js")]))
}

#[derive(Debug)]
pub(super) struct ClientFigures {
    pub(super) cold_median_ms: f64,
    pub(super) cold_p95_ms: f64,
    pub(super) floor_median_ms: f64,
    pub(super) floor_p95_ms: f64,
    pub(super) token_median_us: f64,
    pub(super) token_p95_us: f64,
}

pub(super) fn client_figures(keyward: &Path, out: &Path) -> Result<ClientFigures> {
    let demo = crate::demo::build_app()?;
    // The demo and the floor page (bench/floor.html) from one server, so they load alike.
    let site = out.join("site");
    copy_sources(&demo, &site)?;
    std::fs::copy(root().join("bench/floor.html"), site.join("floor.html"))
        .map_err(|e| format!("copy floor.html: {e}"))?;
    let port = free_port()?;
    let db = out.join("client.db");
    let mut server = Command::new(keyward)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &format!("http://localhost:{port}"),
        ])
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .arg("--static-dir")
        .arg(site)
        .args(["--rate-limits", "off"])
        .env(
            "KEYWARD_SECRET",
            "keyward benchmark secret, not for production use",
        )
        .env("KEYWARD_LOG", "warn")
        .spawn()
        .map_err(|e| format!("keyward serve: {e}"))?;
    std::thread::sleep(Duration::from_secs(2));
    let output = Command::new("node")
        .arg(root().join("bench/client.mjs"))
        .env("KEYWARD_URL", format!("http://localhost:{port}"))
        .env(
            "KEYWARD_CHROMIUM",
            crate::setup::chromium_path().unwrap_or_else(|| "chromium".into()),
        )
        .current_dir(root())
        .output();
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    let output = output.map_err(|e| format!("node: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let number = |object: &str, field: &str| -> Option<f64> {
        let start = text.find(&format!("\"{object}\""))?;
        let rest = text.get(start..)?;
        let key = format!("\"{field}\":");
        let from = rest.find(&key)? + key.len();
        let tail = rest.get(from..)?;
        tail.get(..tail.find([',', '}'])?)?.parse().ok()
    };
    Ok(ClientFigures {
        cold_median_ms: number("cold_start_ms", "median").ok_or_else(|| {
            format!(
                "client bench: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?,
        cold_p95_ms: number("cold_start_ms", "p95").unwrap_or(0.0),
        floor_median_ms: number("floor_ms", "median").unwrap_or(0.0),
        floor_p95_ms: number("floor_ms", "p95").unwrap_or(0.0),
        token_median_us: number("get_access_token_us", "median").unwrap_or(0.0),
        token_p95_us: number("get_access_token_us", "p95").unwrap_or(0.0),
    })
}
