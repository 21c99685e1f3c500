//! Keyward's scenarios on one database: bare route, Bearer (and the bare route behind it),
//! permission, DPoP, WebSocket connections with connect tickets (asked for ahead, and asked for
//! each time) and without authentication, `me`, refresh, sign-in, and memory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Row;
use super::load::{parse_number, parse_result, refresh_pool, wrk};
use super::machine::{CpuTicks, steal_between};
use super::seed::seed_users;
use super::sink::Sink;
use crate::server::{SECRET, Server, http, json_field, sign_in, sign_up};
use crate::{Result, root};

/// Keyward's scenarios against one server; the memory figures (idle, 256 clients) in pass 1.
#[allow(clippy::too_many_arguments)]
pub(super) fn measure_keyward(
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
    // The steal over each scenario (from the end of the one before: its warm-up and window).
    let mut since = CpuTicks::now();
    let mut record = |scenario: &str, figures: (f64, f64, f64, u64)| {
        let ticks = CpuTicks::now();
        let steal = steal_between(since.as_ref(), ticks.as_ref());
        since = ticks;
        println!(
            "keyward {db} {scenario} (pass {pass}): {:.1} req/s (p50 {:.2} ms, p99 {:.2} ms, {} errors, steal {:.1} %)",
            figures.0,
            figures.1,
            figures.2,
            figures.3,
            steal.unwrap_or(0.0)
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
            late: 0,
            steal: steal.into_iter().collect(),
        });
    };
    // What keyward-bench made inside its measured window (proofs it signed, tickets it asked
    // for), by scenario: said in the report, as the figure then counts that work too.
    let mut made_late = Vec::new();
    let base = &server.base;
    let label = |s: &str| format!("{db}-{s}-{pass}");
    // A GET of `path` by 32 keep-alive connections, with `authorization` if any.
    let get = |tag: &str, path: &str, authorization: Option<&str>| {
        let headers: Vec<(&str, String)> = authorization
            .map(|value| ("AUTHORIZATION", value.to_owned()))
            .into_iter()
            .collect();
        let url = format!("{base}{path}");
        wrk(
            out,
            &label(tag),
            &url,
            "get.lua",
            &headers,
            32,
            warmup,
            duration,
        )
    };
    record("bare route", get("bare", "/api/hello", None)?);
    record(
        "protected route (Bearer)",
        get("bearer", "/api/whoami", Some(&bearer))?,
    );
    // The bare route's handler behind the same token: what verifying it costs, and nothing
    // else (the route above also builds a JSON answer).
    record(
        "bare route, signed in (Bearer)",
        get("bearer-bare", "/api/hello/signed-in", Some(&bearer))?,
    );
    // The bare route's handler behind a permission check: a token whose active organization's
    // role grants `todos:read`. Set against the row above, it is what an organization's token
    // costs (its role checked against the changes this process has heard of) and the
    // permission check.
    let team = format!("Bearer {}", org_token(port, "signin@bench.test")?);
    record(
        "bare route, permission check",
        get("permission", "/api/hello/permitted", Some(&team))?,
    );
    // keyward-bench's scenarios: DPoP (a fresh proof per request, which wrk cannot sign), then a
    // sync client's connection: with a ticket asked for ahead (the budget's), to a WebSocket
    // that needs none (the baseline), and the whole round of asking, then connecting.
    for (scenario, mode, path) in [
        ("protected route (DPoP)", "dpop", "/api/whoami"),
        ("WebSocket connect (ticket)", "ws-connect", "/ws"),
        ("WebSocket connect (no auth)", "ws-bare", "/ws/hello"),
        ("WebSocket ticket, then connect", "ws", "/ws"),
    ] {
        let (figures, late) = keyward_bench(
            release,
            out,
            &label(mode),
            mode,
            base,
            path,
            warmup,
            duration,
        )?;
        made_late.push((scenario, late));
        record(scenario, figures);
    }
    record("GET /auth/me", get("me", "/auth/me", Some(&bearer))?);
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
    // Sign-in is measured on both sides of the run with three webhook endpoints (A-B-A, as the
    // passes are around the peers), and recorded as the mean of the two: the budget compares the
    // webhooks' run with the sign-ins just before and after it, so the machine's drift over the
    // run's seconds cancels out rather than counting against (or for) the webhooks.
    let signing_in = |name: &str| {
        wrk(
            out,
            &label(name),
            &format!("{base}/auth/sign-in"),
            "signin.lua",
            &[],
            32,
            warmup,
            duration,
        )
    };
    let before = signing_in("sign-in")?;
    // Three webhook endpoints (an nginx answering 204): each sign-in writes three deliveries in
    // its transaction, and the server's sender posts them meanwhile, on the same cores. They are
    // removed afterwards.
    let sink = Sink::start(&out.join(label("webhook-sink")))?;
    let mut endpoints = Vec::new();
    for n in 1..=3 {
        let made = webhooks_cli(release, server, &["create", &sink.url(n)])?;
        let id = made
            .split_whitespace()
            .next()
            .ok_or("no endpoint id printed")?;
        endpoints.push(id.to_owned());
    }
    let with_webhooks = signing_in("sign-in-webhooks")?;
    for id in &endpoints {
        webhooks_cli(release, server, &["delete", id])?;
    }
    drop(sink);
    let after = signing_in("sign-in-again")?;
    record("sign-in", mean_of(before, after));
    record("sign-in (3 webhook endpoints)", with_webhooks);
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
    // An admin console searching 100,000 users by the start of an address or a name (one to
    // three letters), four at a time: the budget is on its p99.
    seed_users(&server.database_url, 100_000, out)?;
    let key = admin_key(release, server)?;
    record(
        "admin user search (100k users)",
        wrk(
            out,
            &label("admin-search"),
            &format!("{base}/auth/admin/users"),
            "admin-search.lua",
            &[("AUTHORIZATION", format!("Bearer {key}"))],
            4,
            warmup,
            duration,
        )?,
    );
    for (scenario, late) in made_late {
        let row = rows
            .iter_mut()
            .rev()
            .find(|r| r.db == db && r.scenario == scenario);
        if let Some(row) = row {
            row.late = late;
        }
    }

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

/// One run of `keyward-bench <mode>` (32 clients), its output kept as `<label>.txt`: its figures,
/// and how many proofs or tickets it had to make inside the measured window.
#[allow(clippy::too_many_arguments)]
fn keyward_bench(
    release: &Path,
    out: &Path,
    label: &str,
    mode: &str,
    base: &str,
    path: &str,
    warmup: u64,
    duration: u64,
) -> Result<((f64, f64, f64, u64), u64)> {
    let run = Command::new(release.join("keyward-bench"))
        .args([
            mode,
            base,
            path,
            "32",
            &warmup.to_string(),
            &duration.to_string(),
        ])
        .output()
        .map_err(|e| format!("keyward-bench: {e}"))?;
    let text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    std::fs::write(out.join(format!("{label}.txt")), &text).map_err(|e| e.to_string())?;
    let result = text.lines().find_map(|l| l.strip_prefix("RESULT "));
    let late = |field| {
        result
            .and_then(|line| parse_number(line, field))
            .unwrap_or(0.0)
    };
    let (proofs, tickets, stale) = (
        late("late_proofs"),
        late("late_tickets"),
        late("stale_tickets"),
    );
    if proofs > 0.0 {
        eprintln!(
            "xtask: keyward-bench {mode} signed {proofs} proofs inside the measured window (its pool of signed proofs ran out)"
        );
    }
    if tickets > 0.0 {
        eprintln!(
            "xtask: keyward-bench {mode} asked for {tickets} tickets inside the measured window (the tickets asked for ahead ran out; {stale} of them were too old to use)"
        );
    }
    let figures = parse_result(&text).ok_or_else(|| format!("keyward-bench {mode}: {text}"))?;
    Ok((figures, (proofs + tickets) as u64))
}

/// An access token of `email` acting for a new organization it owns: made, activated, refreshed.
fn org_token(port: u16, email: &str) -> Result<String> {
    let (access, refresh) = sign_in(port, email)?;
    let (status, made) = http(
        "POST",
        port,
        "/auth/orgs",
        Some(r#"{"name":"Bench"}"#),
        Some(&access),
    )?;
    let id = json_field(&made, "id").filter(|_| status == 201);
    let id = id.ok_or_else(|| format!("making an organization answered {status}: {made}"))?;
    let path = format!("/auth/orgs/{id}/activate");
    let (status, answer) = http("POST", port, &path, None, Some(&access))?;
    if status != 200 {
        return Err(format!("activate answered {status}: {answer}"));
    }
    let body = format!(r#"{{"refresh_token":"{refresh}"}}"#);
    let (status, answer) = http("POST", port, "/auth/refresh", Some(&body), None)?;
    json_field(&answer, "access_token")
        .filter(|_| status == 200)
        .ok_or_else(|| format!("refresh answered {status}: {answer}"))
}

/// A new admin key for `server`'s database (`keyward admin-keys create`).
fn admin_key(release: &Path, server: &Server) -> Result<String> {
    let made = keyward_cli(
        release,
        server,
        &["admin-keys", "create", "--name", "bench"],
    )?;
    made.lines()
        .find(|line| line.starts_with("kwa_"))
        .map(str::to_owned)
        .ok_or_else(|| format!("no admin key printed: {made}"))
}

/// The mean of two wrk runs' figures (req/s, p50, p99) and their errors together.
fn mean_of(a: (f64, f64, f64, u64), b: (f64, f64, f64, u64)) -> (f64, f64, f64, u64) {
    (
        f64::midpoint(a.0, b.0),
        f64::midpoint(a.1, b.1),
        f64::midpoint(a.2, b.2),
        a.3 + b.3,
    )
}

/// `keyward webhooks <args>` on `server`'s database: what it printed.
fn webhooks_cli(release: &Path, server: &Server, args: &[&str]) -> Result<String> {
    let args: Vec<&str> = ["webhooks"].iter().chain(args).copied().collect();
    keyward_cli(release, server, &args)
}

/// `keyward <args>` on `server`'s database: what it printed.
fn keyward_cli(release: &Path, server: &Server, args: &[&str]) -> Result<String> {
    let output = Command::new(release.join("keyward"))
        .args(args)
        .args(["--database-url", &server.database_url])
        .args(["--webhook-allow-private", "true"])
        .env("KEYWARD_SECRET", SECRET)
        .env("KEYWARD_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("keyward {args:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!("keyward {args:?} failed"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
