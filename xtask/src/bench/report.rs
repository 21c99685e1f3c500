//! BENCHMARKS.md and bench/chart.svg from the rows.

use std::fmt::Write as _;

use super::client::ClientFigures;
use super::machine::Phase;
use super::{Memory, Row};

pub(super) fn find<'a>(rows: &'a [Row], system: &str, db: &str, scenario: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.system == system && r.db == db && r.scenario == scenario)
}

/// The faster peer's figure for a scenario on a database.
pub(super) fn best_peer(rows: &[Row], db: &str, scenario: &str) -> Option<(f64, &'static str)> {
    ["better-auth", "better-auth-rs"]
        .iter()
        .filter_map(|peer| find(rows, peer, db, scenario).map(|r| (r.rps, *peer)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn report(
    rows: &[Row],
    phases: &[Phase],
    memory: &Memory,
    package: &super::size::PackageSizes,
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
        "Every server figure comes from one run, side by side: wrk `-t1 -c32`, {warmup} s warm-up, {duration} s measured, server and load on the same cores, 127.0.0.1. Keyward runs as `examples/axum-api` (release) with rate limits off; the peers run their own `run.sh` with the same settings. Keyward's \"bare route\" is a handler answering `hello` (`/api/hello`); \"bare route, signed in (Bearer)\" is the same handler behind the extractor that verifies the access token, and \"bare route, permission check\" behind the one that also checks the token's organization role for a permission: set against each other, they are what verifying a token and checking a role cost. \"protected route (Bearer)\" (`/api/whoami`) also builds a JSON answer from the token. The DPoP scenario uses `keyward-bench` (same closed loop and concurrency; wrk cannot sign a proof per request): the proofs of its measured window are signed before the window, each with its own `jti` and a fresh `iat`, and the server verifies every one. Signing is the browser's work, on the user's device; signed during the window it took a fifth of the two cores the server is measured on. The WebSocket scenarios are `keyward-bench` too. `keyward-bench` runs on two threads and looks the server's address up once, as wrk does: on one thread, and looking the name up for each new connection, it was what limited the WebSocket scenarios (the server stood idle a sixth of the time). In \"WebSocket connect (ticket)\", the budget's, each of 32 clients in turn opens a new TCP connection and WebSocket to the example API's `/ws` with a connect ticket, which the server redeems (one use, its session live, its device noted) before it upgrades, and waits for the server's first message; the tickets were asked for in the 25 s before the window (a ticket lives 30 s) and are used in the order they were asked for, so none is used older than 27 s, as the proofs are signed before it: asking for one is a DPoP-authenticated request of its own, like the DPoP scenario's, and what the budget sets against the peers' session check is the connection's own authentication. \"WebSocket connect (no auth)\" is the same connection to `/ws/hello`, which needs no ticket: what authentication costs is the difference. \"WebSocket ticket, then connect\" is the whole round a reconnecting client makes, asking for the ticket (DPoP-bound token and proof, on a keep-alive connection) and then connecting; it has no budget.\n"
    );
    let passes = rows.iter().map(|r| r.passes.len()).max().unwrap_or(0);
    if passes > 1 {
        let _ = writeln!(
            md,
            "Keyward is measured {passes} times, around and between the peers, and each of its figures is the median of its passes: this machine's speed drifts by up to 25 % within minutes, and passes set around the peers in time bracket the drift. Its hypervisor also takes, at times, a quarter or more of the CPU for a minute or two (the steal column): a pass it hit fell to half of the others. One disturbed Keyward pass moves a median at most to the nearer of the other passes; the peers are measured once, so a disturbed peer phase still moves a ratio against that peer (see \"The machine during the run\"). Every pass is shown, and each phase starts with a fixed CPU probe.\n"
        );
    }
    let _ = writeln!(md, "![throughput](bench/chart.svg)\n");
    let _ = writeln!(
        md,
        "## Throughput\n\nSteal is the CPU time the hypervisor gave to other guests over each pass of a scenario (its warm-up and window): a pass far below the others with high steal was measured on a machine partly taken away.\n\n| system | db | scenario | req/s | each pass | p50 ms | p99 ms | errors | steal % |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
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
    let each_or_one = |values: &[f64]| match values {
        [one] => format!("{one:.1}"),
        _ => each(values, 1),
    };
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {} | {} |",
            r.system,
            r.db,
            r.scenario,
            r.rps,
            each(&r.passes, 0),
            r.p50_ms,
            r.p99_ms,
            r.errors,
            each_or_one(&r.steal),
        );
    }
    for r in rows.iter().filter(|r| r.late > 0) {
        let _ = writeln!(
            md,
            "\n**{} on {}: not a clean figure.** keyward-bench ran out of what it prepares before the window and made {} proofs or tickets inside it (over its passes), so the figure of a pass that did also counts that work.",
            r.scenario, r.db, r.late
        );
    }
    let _ = writeln!(
        md,
        "\n## Budgets (DESIGN.md)\n\nA ratio against a peer is Keyward's median over the peer's one figure. A ratio within Keyward (Bearer ÷ bare route, webhooks ÷ sign-in, permission ÷ Bearer) is the median of each pass's own ratio, shown beside it, not the ratio of the two medians in the throughput table, which may come from different passes.\n\n| budget | db | measured | each pass | target | met |\n|---|---|---:|---:|---:|:---:|"
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
        // The median's ratio, and each pass's ratio to the same denominator.
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
                6.0,
            ),
            (
                "WebSocket connections with a connect ticket ÷ best peer session check",
                "WebSocket connect (ticket)",
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
                2.5,
            ),
            ("sign-in ÷ best peer sign-in", "sign-in", signin, 3.0),
        ];
        for (name, scenario, theirs, target) in budgets {
            let (measured, passes) = against(scenario, theirs);
            line(name, db, measured, &passes, target, "×", true);
        }
        // Both sides from the same server and pass, in %: the median of each pass's ratio (the
        // two medians may come from different passes, whose ratio no pass measured).
        let within = |ours: &str, base: &str| -> (Option<f64>, Vec<f64>) {
            match (keyward(ours), keyward(base)) {
                (Some(ours), Some(base)) => {
                    let passes: Vec<f64> = ours
                        .passes
                        .iter()
                        .zip(&base.passes)
                        .map(|(a, b)| a / b * 100.0)
                        .collect();
                    let measured = if passes.is_empty() {
                        ours.rps / base.rps * 100.0
                    } else {
                        super::median(passes.iter().copied())
                    };
                    (Some(measured), passes)
                }
                _ => (None, Vec::new()),
            }
        };
        // The same handler, with and without the extractor (`/api/hello/signed-in` and
        // `/api/hello`): the Bearer scenario's `/api/whoami` also builds a JSON answer.
        let (measured, passes) = within("bare route, signed in (Bearer)", "bare route");
        line(
            "protected route, Bearer ÷ same route without auth",
            db,
            measured,
            &passes,
            90.0,
            "%",
            true,
        );
        let (measured, passes) = within("sign-in (3 webhook endpoints)", "sign-in");
        line(
            "sign-in with three webhook endpoints ÷ sign-in",
            db,
            measured,
            &passes,
            95.0,
            "%",
            true,
        );
        // The same handler again, behind the permission check and behind the token alone.
        let (measured, passes) = within(
            "bare route, permission check",
            "bare route, signed in (Bearer)",
        );
        line(
            "permission check ÷ Bearer, same handler",
            db,
            measured,
            &passes,
            95.0,
            "%",
            true,
        );
        if let Some(search) = keyward("admin user search (100k users)") {
            line(
                "admin user search over 100,000 users, p99",
                db,
                Some(search.p99_ms),
                &[],
                20.0,
                " ms",
                false,
            );
        }
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
        "npm package core (bundled, minified), gzip -9",
        "-",
        Some(package.core as f64 / 1000.0),
        &[],
        35.0,
        " KB",
        false,
    );
    for (module, added) in &package.modules {
        let budget = if *module == "keyward/react" { 1.5 } else { 2.0 };
        line(
            &format!("{module}, added to the core"),
            "-",
            Some(*added as f64 / 1000.0),
            &[],
            budget,
            " KB",
            false,
        );
    }
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
        "- npm package core (`createAuthClient` + sign-in + `fetch`, its wasm inlined), bundled and minified by esbuild as an app's bundler would: **{:.1} KB gzip -9** ({:.1} KB for the package's files as shipped, unminified).",
        package.core as f64 / 1000.0,
        package.files as f64 / 1000.0
    );
    for (module, added) in &package.modules {
        let _ = writeln!(
            md,
            "- `{module}` adds {:.2} KB gzip -9.",
            *added as f64 / 1000.0
        );
    }
    if !package.breakdown.is_empty() {
        let _ = writeln!(
            md,
            "\nWhere the core's wasm goes (bytes after wasm-opt, before gzip; twiggy):\n\n| part | bytes |\n|---|---:|"
        );
        for (part, bytes) in package.breakdown.iter().take(16) {
            let _ = writeln!(md, "| `{part}` | {bytes} |");
        }
        let rest: u64 = package.breakdown.iter().skip(16).map(|(_, b)| b).sum();
        let _ = writeln!(md, "| the rest | {rest} |\n");
    }
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
pub(super) fn chart(rows: &[Row]) -> String {
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
