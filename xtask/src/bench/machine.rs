//! The machine during the run: waiting for a quiet machine, the fixed CPU probe at the start of
//! each phase, the hypervisor's steal over it, and the machine's description for the report.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::load::parse_number;
use crate::Result;
use crate::cmd;

/// Waits (up to a minute) until the machine is less than 10 % busy, as the peers' scripts do.
pub(super) fn wait_quiet() {
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

/// What the machine was like during one phase of the run.
pub(super) struct Phase {
    pub(super) name: String,
    /// `keyward-bench probe` at the phase's start: ES256 checks per second on one thread.
    pub(super) probe: Option<f64>,
    /// The share of CPU time the hypervisor gave to others (steal) over the phase.
    pub(super) steal_pct: Option<f64>,
}

/// The machine's CPU time so far, in ticks, from the first line of /proc/stat.
pub(super) struct CpuTicks {
    total: u64,
    /// Idle and waiting for I/O.
    idle: u64,
    /// Taken by the hypervisor for other guests.
    steal: u64,
}

impl CpuTicks {
    pub(super) fn now() -> Option<Self> {
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
pub(super) fn phase<T>(
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
    let steal_pct = steal_between(before.as_ref(), CpuTicks::now().as_ref());
    phases.push(Phase {
        name: name.to_owned(),
        probe,
        steal_pct,
    });
    value
}

/// The share of CPU time the hypervisor gave to other guests between `before` and `after`, in %.
pub(super) fn steal_between(before: Option<&CpuTicks>, after: Option<&CpuTicks>) -> Option<f64> {
    before.zip(after).map(|(before, after)| {
        let total = after.total.saturating_sub(before.total).max(1);
        100.0 * after.steal.saturating_sub(before.steal) as f64 / total as f64
    })
}

pub(super) fn machine() -> String {
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
