//! The load: wrk (installed from Debian when missing), its output parsed, and the pool of
//! refresh tokens its refresh script spends.

use std::path::Path;
use std::process::Command;

use super::machine::wait_quiet;
use crate::cmd::{self, which};
use crate::server::{sign_in, sign_up};
use crate::{Result, root};

pub(super) fn ensure_wrk() -> Result {
    if which("wrk").is_some() {
        return Ok(());
    }
    if !cmd::is_root() {
        return Err("wrk is missing: install the Debian package `wrk`".into());
    }
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Refresh tokens of `count` fresh sessions, written one per line.
pub(super) fn refresh_pool(port: u16, count: usize, file: &Path, tag: &str) -> Result {
    let mut lines = String::new();
    for i in 0..count {
        // 40 sessions per user stays under the per-user limit (50).
        let email = format!("pool-{tag}-{}@bench.test", i / 40);
        sign_up(port, &email)?;
        let (_, refresh) = sign_in(port, &email)?;
        lines.push_str(&refresh);
        lines.push('\n');
    }
    std::fs::write(file, lines).map_err(|e| format!("write {}: {e}", file.display()))
}

/// The number after `"name":` in a one-line JSON object.
pub(super) fn parse_number(line: &str, name: &str) -> Option<f64> {
    let key = format!("\"{name}\":");
    let start = line.find(&key)? + key.len();
    let rest = line.get(start..)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest.get(..end)?.trim().parse().ok()
}

pub(super) fn parse_result(output: &str) -> Option<(f64, f64, f64, u64)> {
    let line = output.lines().find_map(|l| l.strip_prefix("RESULT "))?;
    let number = |name: &str| parse_number(line, name);
    let errors = [
        "err_connect",
        "err_read",
        "err_write",
        "err_status",
        "err_timeout",
    ]
    .iter()
    .filter_map(|k| number(k))
    .sum::<f64>() as u64;
    Some((number("rps")?, number("p50_ms")?, number("p99_ms")?, errors))
}

/// One wrk scenario: a warm-up run, then a measured one.
#[allow(clippy::too_many_arguments)]
pub(super) fn wrk(
    out: &Path,
    label: &str,
    url: &str,
    script: &str,
    env: &[(&str, String)],
    connections: u32,
    warmup: u64,
    duration: u64,
) -> Result<(f64, f64, f64, u64)> {
    let bench_dir = root().join("bench/wrk");
    let run = |seconds: u64, tag: &str| -> Result<String> {
        let mut command = Command::new("wrk");
        command
            .args([
                "-t1",
                &format!("-c{connections}"),
                &format!("-d{seconds}s"),
                "--timeout",
                "30s",
                "--latency",
            ])
            .arg("-s")
            .arg(bench_dir.join(script))
            .arg(url)
            .env("BENCH_DIR", &bench_dir)
            .env("BENCH_TAG", tag);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().map_err(|e| format!("wrk: {e}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr))
    };
    if warmup > 0 {
        run(warmup, &format!("w{label}{}", std::process::id()))?;
    }
    wait_quiet();
    let text = run(duration, &format!("m{label}{}", std::process::id()))?;
    std::fs::write(out.join(format!("{label}.txt")), &text).map_err(|e| e.to_string())?;
    parse_result(&text).ok_or_else(|| format!("wrk printed no result for {label}:\n{text}"))
}
