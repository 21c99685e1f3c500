//! `cargo xtask bench`: Keyward and the two peers measured in one run, on the same machine, with
//! the same load tool (wrk, `-t1 -c32`, warm-up then a measured window), and the client measured
//! in headless Chromium. Keyward is measured before and after the peers (A-B-A) and each phase
//! starts with a fixed CPU probe, because this machine's speed drifts. Writes `BENCHMARKS.md`
//! (tables, ratios against every budget) and `bench/chart.svg`; raw output goes to
//! `target/bench/<time>/`. Exits non-zero only when the run itself breaks, never for a missed
//! budget.
//!
//! Knobs (environment): `DURATION` (10), `WARMUP` (5), `SKIP_PEERS=1`, `SKIP_CLIENT=1`.
//!
//! The parts: [`load`] (wrk and its output), [`machine`] (quiet waits, the CPU probe, steal),
//! [`keyward`] (Keyward's scenarios), [`peers`] (the peers' own scripts), [`client`] (sizes and
//! browser timings), [`report`] (BENCHMARKS.md and the chart); the server processes are
//! `crate::server`'s, shared with the fuzzing.

mod client;
mod keyward;
mod load;
mod machine;
mod peers;
mod report;
mod seed;
mod sink;
pub(crate) mod size;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::cmd::{self, cargo};
use crate::pg::{Durability, Postgres};
use crate::server::Server;
use crate::{Result, root, step};
use client::{client_figures, leptos_size};
use keyward::measure_keyward;
use load::ensure_wrk;
use machine::{machine, phase};
use peers::run_peer;
use report::{chart, report};

/// One measured figure.
#[derive(Clone, Debug)]
struct Row {
    system: String,
    db: String,
    scenario: String,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Keyward's req/s in each pass (before and after the peers); `rps` is their mean. Empty
    /// for the peers, measured once.
    passes: Vec<f64>,
    /// What `keyward-bench` had to make inside the measured window, over both passes: proofs
    /// signed or tickets asked for when those made ahead ran out (0 for wrk's scenarios).
    late: u64,
    /// The hypervisor's steal over the scenario in each pass, in % (empty for the peers).
    steal: Vec<f64>,
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn run() -> Result {
    let started = Instant::now();
    crate::setup::run()?;
    ensure_wrk()?;
    let root = root();
    let stamp =
        cmd::output(Command::new("date").arg("+%Y%m%dT%H%M%S")).unwrap_or_else(|| "run".into());
    let out = root.join("target/bench").join(&stamp);
    std::fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let (warmup, duration) = (env_secs("WARMUP", 5), env_secs("DURATION", 10));

    step("build release binaries");
    cmd::run(
        cargo()
            .args([
                "build",
                "--release",
                "-p",
                "example-axum-api",
                "-p",
                "keyward-bench",
                "-p",
                "keyward-server",
            ])
            .current_dir(&root),
    )?;
    let release = root.join("target/release");

    // A-B-A: Keyward is measured before and after the peers and its figures are the mean of the
    // two passes. This machine's speed drifts by up to 25 % within minutes; a ratio whose two
    // sides bracket each other in time cancels a steady drift, where Keyward-then-peers does not.
    let with_peers = std::env::var("SKIP_PEERS").as_deref() != Ok("1");
    let mut phases = Vec::new();
    let (first, memory) = phase(&mut phases, &release, "Keyward, before the peers", || {
        keyward_pass(&release, &out, warmup, duration, 1)
    })?;
    let mut peer_rows = Vec::new();
    let mut second = None;
    if with_peers {
        for peer in ["better-auth", "better-auth-rs"] {
            step(&format!("peer: {peer}"));
            match phase(&mut phases, &release, &format!("peer: {peer}"), || {
                run_peer(peer, &out, warmup, duration)
            }) {
                Ok(rows) => peer_rows.extend(rows),
                Err(message) => eprintln!("xtask: the {peer} peer did not run: {message}"),
            }
        }
        second = Some(
            phase(&mut phases, &release, "Keyward, after the peers", || {
                keyward_pass(&release, &out, warmup, duration, 2)
            })?
            .0,
        );
    }
    let mut rows = mean_of_passes(first, second);
    rows.extend(peer_rows);

    step("client: package size, cold start, getAccessToken");
    let pkg = crate::npm::build()?;
    let package = size::measure(&pkg)?;
    let leptos = leptos_size(&root)?;
    let client = if std::env::var("SKIP_CLIENT").as_deref() == Ok("1") {
        None
    } else {
        Some(client_figures(&release.join("keyward"), &out)?)
    };

    step("report");
    let machine = machine();
    let report = report(
        &rows,
        &phases,
        &memory,
        &package,
        leptos,
        client.as_ref(),
        &machine,
        warmup,
        duration,
    );
    std::fs::write(root.join("BENCHMARKS.md"), &report)
        .map_err(|e| format!("write BENCHMARKS.md: {e}"))?;
    std::fs::write(root.join("bench/chart.svg"), chart(&rows))
        .map_err(|e| format!("write chart: {e}"))?;
    std::fs::write(out.join("BENCHMARKS.md"), &report).map_err(|e| format!("write report: {e}"))?;
    println!("{report}");
    println!(
        "bench took {:.1} min; raw results in {}",
        started.elapsed().as_secs_f64() / 60.0,
        out.display()
    );
    Ok(())
}

/// Server RSS per database, in MiB: (idle, with 256 clients).
type Memory = BTreeMap<String, (f64, f64)>;

/// One pass over Keyward's scenarios on SQLite, then on a fresh PostgreSQL. Memory is measured
/// in the first pass only. Returns the rows and, for the first pass, the memory per database.
fn keyward_pass(
    release: &Path,
    out: &Path,
    warmup: u64,
    duration: u64,
    pass: u8,
) -> Result<(Vec<Row>, Memory)> {
    let mut rows = Vec::new();
    let mut memory = BTreeMap::new();
    for db in ["sqlite", "postgres"] {
        step(&format!("Keyward on {db}, pass {pass}"));
        let pg = if db == "postgres" {
            Some(Postgres::start(Durability::Default)?)
        } else {
            None
        };
        let url = match &pg {
            Some(pg) => pg.url(),
            None => format!(
                "sqlite://{}",
                out.join(format!("keyward-bench-{pass}.db")).display()
            ),
        };
        // Private addresses allowed: the sign-in scenario with webhooks posts to a local sink.
        let server = Server::start(
            &release.join("example-axum-api"),
            &["--webhook-allow-private", "true"],
            &url,
            &out.join(format!("server-{db}-{pass}.log")),
        )?;
        let figures =
            measure_keyward(&server, db, pass, release, out, warmup, duration, &mut rows)?;
        if let Some(figures) = figures {
            memory.insert(db.to_owned(), figures);
        }
        drop(server);
        drop(pg);
    }
    Ok((rows, memory))
}

/// Keyward's rows from both passes as one row per scenario, with the mean of the two.
fn mean_of_passes(first: Vec<Row>, second: Option<Vec<Row>>) -> Vec<Row> {
    first
        .into_iter()
        .map(|mut row| {
            let again = second.as_ref().and_then(|rows| {
                rows.iter()
                    .find(|r| r.db == row.db && r.scenario == row.scenario)
            });
            row.passes = vec![row.rps];
            if let Some(again) = again {
                row.passes.push(again.rps);
                row.rps = (row.rps + again.rps) / 2.0;
                row.p50_ms = (row.p50_ms + again.p50_ms) / 2.0;
                row.p99_ms = (row.p99_ms + again.p99_ms) / 2.0;
                row.errors += again.errors;
                row.late += again.late;
                row.steal.extend(&again.steal);
            }
            row
        })
        .collect()
}
