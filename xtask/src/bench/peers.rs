//! The peers (Better Auth on Node, its Rust port on axum), each run by its own `run.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Row;
use super::load::parse_result;
use crate::cmd;
use crate::server::json_field;
use crate::{Result, root};

/// Runs a peer's own `run.sh` with our settings and reads its kept results.
pub(super) fn run_peer(peer: &str, out: &Path, warmup: u64, duration: u64) -> Result<Vec<Row>> {
    let shared = root().join("..").join("shared/peers").join(peer);
    let shared =
        std::fs::canonicalize(&shared).map_err(|e| format!("{}: {e}", shared.display()))?;
    let dir = if shared.join("Cargo.toml").exists() {
        rust_peer_copy(&shared, peer)?
    } else {
        shared
    };
    let peer_out = out.join(peer);
    // One retry: a peer's run.sh can fail on its own (Better Auth's restarts its server on the
    // same port between databases, and once met EADDRINUSE).
    let mut attempt = 1;
    loop {
        let log_path = out.join(format!("{peer}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let status = Command::new("bash")
            .arg("run.sh")
            .current_dir(&dir)
            .env("DURATION", duration.to_string())
            .env("WARMUP", warmup.to_string())
            .env("CONC", "32")
            .env("THREADS", "1")
            .env("OUT", &peer_out)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .status()
            .map_err(|e| format!("run.sh: {e}"))?;
        if status.success() {
            break;
        }
        let failed = format!("run.sh failed ({status}); see {}", log_path.display());
        if attempt == 2 {
            return Err(failed);
        }
        eprintln!("xtask: the {peer} peer's {failed}; running it once more");
        // Kept aside, so the retry's results.jsonl (which run.sh appends to) starts empty.
        let aside = |name: &str| out.join(format!("{name}-attempt{attempt}"));
        let _ = std::fs::rename(&log_path, aside(&format!("{peer}.log")));
        let _ = std::fs::rename(&peer_out, aside(peer));
        attempt += 1;
    }
    let lines = std::fs::read_to_string(peer_out.join("results.jsonl"))
        .map_err(|e| format!("results.jsonl: {e}"))?;
    let mut rows = Vec::new();
    for line in lines
        .lines()
        .filter(|l| l.contains("\"kept\": true") || l.contains("\"kept\":true"))
    {
        let text = |name: &str| {
            json_field(line, name).or_else(|| json_field(&line.replace(": \"", ":\""), name))
        };
        let Some((rps, p50, p99, errors)) =
            parse_result(&format!("RESULT {}", line.replace(": ", ":")))
        else {
            continue;
        };
        let (Some(db), Some(scenario)) = (text("db"), text("scenario")) else {
            continue;
        };
        rows.push(Row {
            system: peer.to_owned(),
            db,
            scenario,
            rps,
            p50_ms: p50,
            p99_ms: p99,
            errors,
            passes: Vec::new(),
            late: 0,
            steal: Vec::new(),
        });
    }
    Ok(rows)
}

/// A Rust peer is shared read-only and without a `Cargo.lock`, while its `run.sh` builds with
/// `--locked` beside its sources: it runs from a copy under `target/peers/` (its build kept
/// there for the next run), with a lock file resolved once from the registry.
pub(super) fn rust_peer_copy(shared: &Path, peer: &str) -> Result<PathBuf> {
    let copy = root().join("target/peers").join(peer);
    copy_sources(shared, &copy)?;
    if !copy.join("Cargo.lock").exists() {
        cmd::run(
            Command::new("cargo")
                .arg("generate-lockfile")
                .current_dir(&copy),
        )?;
    }
    Ok(copy)
}

/// Copies the files of `from` into `to` (made writable), skipping build output.
pub(super) fn copy_sources(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("create {}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let (source, name) = (entry.path(), entry.file_name());
        let target = to.join(&name);
        if name == "target" || name == "results" {
            continue;
        }
        if source.is_dir() {
            copy_sources(&source, &target)?;
        } else {
            // An unchanged file is left alone: a new mtime would make cargo rebuild the peer.
            if std::fs::read(&target).ok() == std::fs::read(&source).ok() {
                continue;
            }
            let _ = std::fs::remove_file(&target);
            std::fs::copy(&source, &target)
                .map_err(|e| format!("copy {}: {e}", source.display()))?;
            let mut permissions = std::fs::metadata(&target)
                .map_err(|e| e.to_string())?
                .permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&target, permissions).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
