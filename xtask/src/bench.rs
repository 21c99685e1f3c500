//! `cargo xtask bench`: Keyward and the two peers measured in one run, on the same machine, with
//! the same load tool (wrk, `-t1 -c32`, warm-up then a measured window), and the client measured
//! in headless Chromium. Keyward is measured before and after the peers (A-B-A) and each phase
//! starts with a fixed CPU probe, because this machine's speed drifts. Writes `BENCHMARKS.md`
//! (tables, ratios against every budget) and `bench/chart.svg`; raw output goes to
//! `target/bench/<time>/`. Exits non-zero only when the run itself breaks, never for a missed
//! budget.
//!
//! Knobs (environment): `DURATION` (10), `WARMUP` (5), `SKIP_PEERS=1`, `SKIP_CLIENT=1`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::{self, cargo, free_port, which};
use crate::pg::{Durability, Postgres};
use crate::{Result, root, step};

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
    let package = package_size(&pkg);
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
        package,
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

fn ensure_wrk() -> Result {
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

/// A server (`example-axum-api`, or `keyward` with `serve` first in `args`) on a free port with
/// rate limits off, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    base: String,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start(
        binary: &Path,
        args: &[&str],
        database_url: &str,
        log: &Path,
    ) -> Result<Self> {
        let port = free_port()?;
        let log =
            std::fs::File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(["--issuer", &format!("http://localhost:{port}")])
            .args(["--rate-limits", "off"])
            .env(
                "KEYWARD_SECRET",
                "keyward benchmark secret, not for production use",
            )
            .env("KEYWARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        let server = Self {
            child,
            base: format!("http://localhost:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http("GET", port, "/healthz", None, None).is_ok_and(|(status, _)| status == 200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the server did not answer /healthz within 30 s".into())
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP/1.1 client for setup requests: (status, body).
pub(crate) fn http(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Result<(u16, String)> {
    use std::io::Write as _;
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        let _ = write!(request, "Authorization: Bearer {token}\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

fn json_field(body: &str, name: &str) -> Option<String> {
    cmd::json_string(body, name).map(str::to_owned)
}

/// Signs in `email`; returns (access token, refresh token).
pub(crate) fn sign_in(port: u16, email: &str) -> Result<(String, String)> {
    let body = format!(r#"{{"email":"{email}","password":"bench-password-123"}}"#);
    let (status, answer) = http("POST", port, "/auth/sign-in", Some(&body), None)?;
    if status != 200 {
        return Err(format!("sign-in answered {status}: {answer}"));
    }
    Ok((
        json_field(&answer, "access_token").ok_or("no access token")?,
        json_field(&answer, "refresh_token").ok_or("no refresh token")?,
    ))
}

pub(crate) fn sign_up(port: u16, email: &str) -> Result {
    let body = format!(r#"{{"email":"{email}","password":"bench-password-123"}}"#);
    let (status, answer) = http("POST", port, "/auth/sign-up", Some(&body), None)?;
    match status {
        201 | 409 => Ok(()),
        _ => Err(format!("sign-up answered {status}: {answer}")),
    }
}

/// Refresh tokens of `count` fresh sessions, written one per line.
fn refresh_pool(port: u16, count: usize, file: &Path, tag: &str) -> Result {
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

/// Waits (up to a minute) until the machine is less than 10 % busy, as the peers' scripts do.
fn wait_quiet() {
    let busy = || -> Option<f64> {
        let before = CpuTicks::now()?;
        std::thread::sleep(Duration::from_secs(1));
        let after = CpuTicks::now()?;
        let total = after.total.saturating_sub(before.total).max(1);
        Some(100.0 * (1.0 - after.idle.saturating_sub(before.idle) as f64 / total as f64))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if busy().is_none_or(|b| b < 10.0) {
            return;
        }
    }
}

/// The number after `"name":` in a one-line JSON object.
fn parse_number(line: &str, name: &str) -> Option<f64> {
    let key = format!("\"{name}\":");
    let start = line.find(&key)? + key.len();
    let rest = line.get(start..)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest.get(..end)?.trim().parse().ok()
}

fn parse_result(output: &str) -> Option<(f64, f64, f64, u64)> {
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
fn wrk(
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

/// What the machine was like during one phase of the run.
struct Phase {
    name: String,
    /// `keyward-bench probe` at the phase's start: ES256 checks per second on one thread.
    probe: Option<f64>,
    /// The share of CPU time the hypervisor gave to others (steal) over the phase.
    steal_pct: Option<f64>,
}

/// The machine's CPU time so far, in ticks, from the first line of /proc/stat.
struct CpuTicks {
    total: u64,
    /// Idle and waiting for I/O.
    idle: u64,
    /// Taken by the hypervisor for other guests.
    steal: u64,
}

impl CpuTicks {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // user nice system idle iowait irq softirq steal (guest time is inside user already).
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|v| v.parse().ok())
            .collect();
        Some(Self {
            total: fields.iter().sum(),
            idle: fields.get(3)? + fields.get(4).unwrap_or(&0),
            steal: fields.get(7).copied().unwrap_or(0),
        })
    }
}

/// Runs `body` as a phase of the run: probes the machine's speed first (on a quiet machine) and
/// records it, with the steal over the phase, in `phases`.
fn phase<T>(
    phases: &mut Vec<Phase>,
    release: &Path,
    name: &str,
    body: impl FnOnce() -> Result<T>,
) -> Result<T> {
    wait_quiet();
    let probe = cmd::output(Command::new(release.join("keyward-bench")).args(["probe", "3"]))
        .and_then(|text| {
            let line = text.lines().find_map(|l| l.strip_prefix("PROBE "))?;
            parse_number(line, "ops_per_s")
        });
    let before = CpuTicks::now();
    let value = body();
    let steal_pct = before.zip(CpuTicks::now()).map(|(before, after)| {
        let total = after.total.saturating_sub(before.total).max(1);
        100.0 * after.steal.saturating_sub(before.steal) as f64 / total as f64
    });
    phases.push(Phase {
        name: name.to_owned(),
        probe,
        steal_pct,
    });
    value
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
        let server = Server::start(
            &release.join("example-axum-api"),
            &[],
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
            }
            row
        })
        .collect()
}

/// Keyward's scenarios against one server; the memory figures (idle, 256 clients) in pass 1.
#[allow(clippy::too_many_arguments)]
fn measure_keyward(
    server: &Server,
    db: &str,
    pass: u8,
    release: &Path,
    out: &Path,
    warmup: u64,
    duration: u64,
    rows: &mut Vec<Row>,
) -> Result<Option<(f64, f64)>> {
    let port = server.port;
    std::thread::sleep(Duration::from_secs(2));
    let idle = server.rss_mib();
    sign_up(port, "signin@bench.test")?;
    let (access, _) = sign_in(port, "signin@bench.test")?;
    let bearer = format!("Bearer {access}");
    let mut record = |scenario: &str, figures: (f64, f64, f64, u64)| {
        println!(
            "keyward {db} {scenario} (pass {pass}): {:.1} req/s (p50 {:.2} ms, p99 {:.2} ms, {} errors)",
            figures.0, figures.1, figures.2, figures.3
        );
        rows.push(Row {
            system: "keyward".into(),
            db: db.into(),
            scenario: scenario.into(),
            rps: figures.0,
            p50_ms: figures.1,
            p99_ms: figures.2,
            errors: figures.3,
            passes: Vec::new(),
        });
    };
    let base = &server.base;
    let label = |s: &str| format!("{db}-{s}-{pass}");
    record(
        "bare route",
        wrk(
            out,
            &label("bare"),
            &format!("{base}/api/hello"),
            "get.lua",
            &[],
            32,
            warmup,
            duration,
        )?,
    );
    record(
        "protected route (Bearer)",
        wrk(
            out,
            &label("bearer"),
            &format!("{base}/api/whoami"),
            "get.lua",
            &[("AUTHORIZATION", bearer.clone())],
            32,
            warmup,
            duration,
        )?,
    );
    let dpop = Command::new(release.join("keyward-bench"))
        .args([
            "dpop",
            base,
            "/api/whoami",
            "32",
            &warmup.to_string(),
            &duration.to_string(),
        ])
        .output()
        .map_err(|e| format!("keyward-bench: {e}"))?;
    let text =
        String::from_utf8_lossy(&dpop.stdout).into_owned() + &String::from_utf8_lossy(&dpop.stderr);
    std::fs::write(out.join(label("dpop") + ".txt"), &text).map_err(|e| e.to_string())?;
    let late = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|line| parse_number(line, "late_proofs"))
        .unwrap_or(0.0);
    if late > 0.0 {
        eprintln!(
            "xtask: keyward-bench signed {late} proofs inside the measured window (its pool of signed proofs ran out)"
        );
    }
    record(
        "protected route (DPoP)",
        parse_result(&text).ok_or_else(|| format!("keyward-bench: {text}"))?,
    );
    record(
        "GET /auth/me",
        wrk(
            out,
            &label("me"),
            &format!("{base}/auth/me"),
            "get.lua",
            &[("AUTHORIZATION", bearer.clone())],
            32,
            warmup,
            duration,
        )?,
    );
    // Separate pools for the warm-up and the measured run: a pool's successors leave with wrk.
    let warm_pool = out.join(label("refresh-warmup-tokens"));
    let pool = out.join(label("refresh-tokens"));
    refresh_pool(port, 80, &warm_pool, &format!("{db}w"))?;
    refresh_pool(port, 80, &pool, &format!("{db}m"))?;
    wrk(
        out,
        &label("refresh-warmup"),
        &format!("{base}/auth/refresh"),
        "refresh.lua",
        &[("TOKENS_FILE", warm_pool.display().to_string())],
        32,
        0,
        warmup,
    )?;
    record(
        "POST /auth/refresh",
        wrk(
            out,
            &label("refresh"),
            &format!("{base}/auth/refresh"),
            "refresh.lua",
            &[("TOKENS_FILE", pool.display().to_string())],
            32,
            0,
            duration,
        )?,
    );
    record(
        "sign-in",
        wrk(
            out,
            &label("sign-in"),
            &format!("{base}/auth/sign-in"),
            "signin.lua",
            &[],
            32,
            warmup,
            duration,
        )?,
    );
    record(
        "sign-up",
        wrk(
            out,
            &label("sign-up"),
            &format!("{base}/auth/sign-up"),
            "signup.lua",
            &[],
            32,
            warmup,
            duration,
        )?,
    );

    if pass != 1 {
        return Ok(None);
    }
    // Memory with 256 concurrent clients: sampled in the middle of a run.
    let pid_rss = {
        let bench_dir = root().join("bench/wrk");
        let mut load = Command::new("wrk")
            .args([
                "-t1",
                "-c256",
                &format!("-d{duration}s"),
                "--timeout",
                "30s",
            ])
            .arg("-s")
            .arg(bench_dir.join("get.lua"))
            .arg(format!("{base}/auth/me"))
            .env("BENCH_DIR", &bench_dir)
            .env("AUTHORIZATION", &bearer)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("wrk: {e}"))?;
        std::thread::sleep(Duration::from_secs(duration / 2));
        let rss = server.rss_mib();
        let _ = load.wait();
        rss
    };
    println!("keyward {db} memory: {idle:.1} MiB idle, {pid_rss:.1} MiB with 256 clients");
    Ok(Some((idle, pid_rss)))
}

/// Runs a peer's own `run.sh` with our settings and reads its kept results.
fn run_peer(peer: &str, out: &Path, warmup: u64, duration: u64) -> Result<Vec<Row>> {
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
        });
    }
    Ok(rows)
}

/// A Rust peer is shared read-only and without a `Cargo.lock`, while its `run.sh` builds with
/// `--locked` beside its sources: it runs from a copy under `target/peers/` (its build kept
/// there for the next run), with a lock file resolved once from the registry.
fn rust_peer_copy(shared: &Path, peer: &str) -> Result<PathBuf> {
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
fn copy_sources(from: &Path, to: &Path) -> Result {
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

/// (raw bytes, gzip -9 bytes) of what a browser downloads from the npm package.
fn package_size(pkg: &Path) -> (u64, u64) {
    sizes(&["keyward_wasm_bg.wasm", "keyward_wasm.js", "index.js"].map(|f| pkg.join(f)))
}

fn sizes(files: &[PathBuf]) -> (u64, u64) {
    let mut raw = 0;
    let mut gzipped = 0;
    for path in files {
        raw += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        gzipped += cmd::output(
            Command::new("sh")
                .arg("-c")
                .arg(format!("gzip -9 -c '{}' | wc -c", path.display())),
        )
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    }
    (raw, gzipped)
}

/// The Leptos demo app's wasm + JS, release-built and optimised like the npm package.
fn leptos_size(root: &Path) -> Result<(u64, u64)> {
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
struct ClientFigures {
    cold_median_ms: f64,
    cold_p95_ms: f64,
    floor_median_ms: f64,
    floor_p95_ms: f64,
    token_median_us: f64,
    token_p95_us: f64,
}

fn client_figures(keyward: &Path, out: &Path) -> Result<ClientFigures> {
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

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = cmd::output(Command::new("uname").arg("-r")).unwrap_or_default();
    let rustc = cmd::output(Command::new("rustc").arg("--version")).unwrap_or_default();
    let wrk =
        cmd::output(Command::new("sh").arg("-c").arg("wrk -v 2>&1 | head -1")).unwrap_or_default();
    format!("{cores} × {cpu}, Linux {kernel}; {rustc}; {wrk}")
}

fn find<'a>(rows: &'a [Row], system: &str, db: &str, scenario: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.system == system && r.db == db && r.scenario == scenario)
}

/// The faster peer's figure for a scenario on a database.
fn best_peer(rows: &[Row], db: &str, scenario: &str) -> Option<(f64, &'static str)> {
    ["better-auth", "better-auth-rs"]
        .iter()
        .filter_map(|peer| find(rows, peer, db, scenario).map(|r| (r.rps, *peer)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

#[allow(clippy::too_many_arguments)]
fn report(
    rows: &[Row],
    phases: &[Phase],
    memory: &Memory,
    package: (u64, u64),
    leptos: (u64, u64),
    client: Option<&ClientFigures>,
    machine: &str,
    warmup: u64,
    duration: u64,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Keyward benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo xtask bench` (do not edit by hand). Machine: {machine}."
    );
    let _ = writeln!(
        md,
        "Every server figure comes from one run, side by side: wrk `-t1 -c32`, {warmup} s warm-up, {duration} s measured, server and load on the same cores, 127.0.0.1. Keyward runs as `examples/axum-api` (release) with rate limits off; the peers run their own `run.sh` with the same settings. The DPoP scenario uses `keyward-bench` (same closed loop and concurrency; wrk cannot sign a proof per request): the proofs of its measured window are signed before the window, each with its own `jti` and a fresh `iat`, and the server verifies every one. Signing is the browser's work, on the user's device; signed during the window it took a fifth of the two cores the server is measured on.\n"
    );
    let two_passes = rows.iter().any(|r| r.passes.len() > 1);
    if two_passes {
        let _ = writeln!(
            md,
            "Keyward is measured twice, before and after the peers, and its figure is the mean of the two passes: this machine's speed drifts by up to 25 % within minutes, and a mean that brackets the peers in time cancels a steady drift. Both passes are shown, and each phase starts with a fixed CPU probe (see \"The machine during the run\").\n"
        );
    }
    let _ = writeln!(md, "![throughput](bench/chart.svg)\n");
    let _ = writeln!(
        md,
        "## Throughput\n\n| system | db | scenario | req/s | before / after the peers | p50 ms | p99 ms | errors |\n|---|---|---|---:|---:|---:|---:|---:|"
    );
    let each = |values: &[f64], digits: usize| {
        if values.len() < 2 {
            return "".to_owned();
        }
        values
            .iter()
            .map(|v| format!("{v:.digits$}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {} |",
            r.system,
            r.db,
            r.scenario,
            r.rps,
            each(&r.passes, 0),
            r.p50_ms,
            r.p99_ms,
            r.errors
        );
    }
    let _ = writeln!(
        md,
        "\n## Budgets (DESIGN.md)\n\n| budget | db | measured | each pass | target | met |\n|---|---|---:|---:|---:|:---:|"
    );
    let mut line = |name: &str,
                    db: &str,
                    measured: Option<f64>,
                    passes: &[f64],
                    target: f64,
                    unit: &str,
                    higher_is_better: bool| {
        let (text, met) = match measured {
            Some(value) => (
                format!("{value:.2}{unit}"),
                if higher_is_better {
                    value >= target
                } else {
                    value <= target
                },
            ),
            None => ("n/a".into(), false),
        };
        let sign = if higher_is_better { "≥" } else { "≤" };
        let _ = writeln!(
            md,
            "| {name} | {db} | {text} | {} | {sign} {target}{unit} | {} |",
            each(passes, 2),
            if measured.is_none() {
                "?"
            } else if met {
                "yes"
            } else {
                "**no**"
            }
        );
    };
    for db in ["sqlite", "postgres"] {
        let keyward = |s: &str| find(rows, "keyward", db, s);
        let session = best_peer(rows, db, "get-session").map(|p| p.0);
        let signin = best_peer(rows, db, "sign-in").map(|p| p.0);
        // The mean's ratio, and each pass's ratio to the same denominator.
        let against = |s: &str, theirs: Option<f64>| -> (Option<f64>, Vec<f64>) {
            match (keyward(s), theirs) {
                (Some(ours), Some(theirs)) => (
                    Some(ours.rps / theirs),
                    ours.passes.iter().map(|p| p / theirs).collect(),
                ),
                _ => (None, Vec::new()),
            }
        };
        let budgets = [
            (
                "protected route, Bearer ÷ best peer session check",
                "protected route (Bearer)",
                session,
                10.0,
            ),
            (
                "protected route, DPoP ÷ best peer session check",
                "protected route (DPoP)",
                session,
                5.0,
            ),
            (
                "GET /auth/me ÷ best peer session check",
                "GET /auth/me",
                session,
                4.0,
            ),
            (
                "POST /auth/refresh ÷ best peer session check",
                "POST /auth/refresh",
                session,
                2.0,
            ),
            ("sign-in ÷ best peer sign-in", "sign-in", signin, 3.0),
        ];
        for (name, scenario, theirs, target) in budgets {
            let (measured, passes) = against(scenario, theirs);
            line(name, db, measured, &passes, target, "×", true);
        }
        // Both sides from the same server and pass.
        let (bearer, bare) = (keyward("protected route (Bearer)"), keyward("bare route"));
        let (measured, passes) = match (bearer, bare) {
            (Some(bearer), Some(bare)) => (
                Some(bearer.rps / bare.rps * 100.0),
                bearer
                    .passes
                    .iter()
                    .zip(&bare.passes)
                    .map(|(a, b)| a / b * 100.0)
                    .collect(),
            ),
            _ => (None, Vec::new()),
        };
        line(
            "protected route, Bearer ÷ same route without auth",
            db,
            measured,
            &passes,
            80.0,
            "%",
            true,
        );
        if let Some((idle, loaded)) = memory.get(db) {
            line("server RSS idle", db, Some(*idle), &[], 30.0, " MB", false);
            line(
                "server RSS with 256 clients",
                db,
                Some(*loaded),
                &[],
                150.0,
                " MB",
                false,
            );
        }
    }
    line(
        "npm package, wasm + JS, gzip -9",
        "-",
        Some(package.1 as f64 / 1000.0),
        &[],
        35.0,
        " KB",
        false,
    );
    if let Some(client) = client {
        line(
            "client cold start (median)",
            "-",
            Some(client.cold_median_ms),
            &[],
            25.0,
            " ms",
            false,
        );
        line(
            "getAccessToken() with a cached token (median)",
            "-",
            Some(client.token_median_us),
            &[],
            20.0,
            " µs",
            false,
        );
    }
    let _ = writeln!(md, "\n## Client\n");
    let _ = writeln!(
        md,
        "- npm package, what a browser downloads (wasm + JS glue + entry): {:.1} KB raw, **{:.1} KB gzip -9**.",
        package.0 as f64 / 1000.0,
        package.1 as f64 / 1000.0
    );
    let _ = writeln!(
        md,
        "- Leptos demo app (release wasm + JS): {:.1} KB raw, {:.1} KB gzip -9.",
        leptos.0 as f64 / 1000.0,
        leptos.1 as f64 / 1000.0
    );
    if let Some(client) = client {
        let _ = writeln!(
            md,
            "- Cold start, navigation to a session restored from IndexedDB (30 reloads): median {:.1} ms, p95 {:.1} ms.",
            client.cold_median_ms, client.cold_p95_ms
        );
        let _ = writeln!(
            md,
            "- The floor for that on this machine (bench/floor.html: an inline script, no wasm, that opens IndexedDB, reads a key and an encrypted record and decrypts it; same server, same method): median {:.1} ms, p95 {:.1} ms. Keyward's cold start is {:.1} ms above it.",
            client.floor_median_ms,
            client.floor_p95_ms,
            client.cold_median_ms - client.floor_median_ms
        );
        let _ = writeln!(
            md,
            "- `getAccessToken()` with a valid cached token (30 000 calls, per-call time of 100-call batches): median {:.2} µs, p95 {:.2} µs.",
            client.token_median_us, client.token_p95_us
        );
    }
    let _ = writeln!(
        md,
        "\n## The machine during the run\n\nAt the start of each phase, on a quiet machine: `keyward-bench probe`, ES256 signature checks on one thread for 3 s (the server's hottest operation). Steal: the CPU time the hypervisor gave to other guests over the phase.\n\n| phase | probe, checks/s | vs the first phase | steal |\n|---|---:|---:|---:|"
    );
    let first = phases.first().and_then(|p| p.probe);
    for phase in phases {
        let probe = phase.probe.map_or("n/a".into(), |p| format!("{p:.0}"));
        let relative = phase.probe.zip(first).map_or("n/a".into(), |(p, f)| {
            format!("{:+.1} %", (p / f - 1.0) * 100.0)
        });
        let steal = phase
            .steal_pct
            .map_or("n/a".into(), |s| format!("{s:.1} %"));
        let _ = writeln!(md, "| {} | {probe} | {relative} | {steal} |", phase.name);
    }
    let _ = writeln!(md, "\n## Memory\n");
    for (db, (idle, loaded)) in memory {
        let _ = writeln!(
            md,
            "- {db}: {idle:.1} MiB idle, {loaded:.1} MiB with 256 concurrent clients (`GET /auth/me`)."
        );
    }
    md
}

/// Throughput per scenario, one bar per system and database, on a log scale.
fn chart(rows: &[Row]) -> String {
    let height = 26 * rows.len() + 60;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">Requests per second (log scale)</text>"#
    );
    let max = rows
        .iter()
        .map(|r| r.rps)
        .fold(1.0, f64::max)
        .log10()
        .max(1.0);
    for (i, row) in rows.iter().enumerate() {
        let y = 40 + i * 26;
        let width = (row.rps.max(1.0).log10() / max * 420.0).max(1.0);
        let colour = match row.system.as_str() {
            "keyward" if row.db == "sqlite" => "#2563eb",
            "keyward" => "#1e40af",
            "better-auth" => "#9ca3af",
            _ => "#6b7280",
        };
        let _ = write!(
            svg,
            r##"<text x="10" y="{}">{} · {} · {}</text><rect x="360" y="{}" width="{width:.1}" height="18" fill="{colour}"/><text x="{:.1}" y="{}">{:.0}</text>"##,
            y + 13,
            row.system,
            row.db,
            row.scenario,
            y,
            360.0 + width + 6.0,
            y + 13,
            row.rps
        );
    }
    svg.push_str("</svg>\n");
    svg
}
