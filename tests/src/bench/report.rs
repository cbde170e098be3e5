//! The bench's results: plain values (serialized as JSON) and the table printed from them. Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of latencies, and how many waits ran out of time (not included).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub timeouts: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(samples: &[Duration], timeouts: usize) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Self {
            count: ms.len(),
            timeouts,
            p50_ms: percentile(&ms, 50),
            p99_ms: percentile(&ms, 99),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Requests by verb, per binary.
pub type RequestsByBinary = BTreeMap<String, BTreeMap<String, u64>>;

/// Bulk creation of one kind until every object converged.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Convergence {
    pub what: String,
    pub objects: usize,
    pub latency: Latency,
    pub total_s: f64,
    /// The API server's own request rate over the same window (apiserver_request_total).
    pub apiserver_requests_per_s: f64,
    pub apiserver_writes_per_s: f64,
    pub requests: RequestsByBinary,
}

/// One kind of reaction, measured over repeated trials.
#[derive(Clone, Debug, Serialize)]
pub struct Reaction {
    pub what: String,
    pub latency: Latency,
}

/// Resident memory of each binary (MiB) at one point of the run.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryPoint {
    pub at: String,
    pub rss_mib: BTreeMap<String, f64>,
}

/// A (re)start of the three binaries: RSS sampled every 20 ms until they are ready and quiet.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Startup {
    pub at: String,
    pub settle_s: f64,
    pub settled: bool,
    pub peak_mib: BTreeMap<String, f64>,
    /// RSS the peak is compared with: after settling for a first start, and for a restart what the
    /// processes before it had settled at with the same objects.
    pub steady_mib: BTreeMap<String, f64>,
    pub requests: RequestsByBinary,
}

/// The idle window at steady state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Idle {
    pub secs: u64,
    pub quiesce_s: f64,
    /// Whether the binaries had stopped writing when the window began.
    pub quiet_before: bool,
    pub requests: RequestsByBinary,
    /// NATS connections each binary opened during the window.
    pub new_nats_connections: BTreeMap<String, usize>,
}

/// Machine the bench ran on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_mib: u64,
    pub profile: String,
}

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub config: BTreeMap<String, String>,
    pub wall_s: f64,
    pub convergence: Vec<Convergence>,
    pub reaction: Vec<Reaction>,
    pub startups: Vec<Startup>,
    pub idle: Idle,
    pub memory: Vec<MemoryPoint>,
    /// RSS per additional WasmCloudHostConfig, KiB.
    pub marginal_kib_per_host_config: BTreeMap<String, f64>,
    /// RSS growth after the unrelated Secrets and ConfigMaps, MiB.
    pub unrelated_growth_mib: BTreeMap<String, f64>,
    /// Open NATS connections per binary at the end.
    pub nats_connections: BTreeMap<String, usize>,
    /// Phases that failed, with why; their numbers are missing or partial.
    pub errors: Vec<String>,
    /// Points where the binaries had not stopped writing within the bench's limit.
    pub not_quiet: Vec<String>,
}

fn verbs(by_verb: &BTreeMap<String, u64>) -> String {
    if by_verb.is_empty() {
        return "-".into();
    }
    by_verb
        .iter()
        .map(|(verb, n)| format!("{verb} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(binary: &str) -> &str {
    binary.strip_prefix("wasmcloud-").unwrap_or(binary)
}

/// The report as a Markdown-friendly text table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "machine: {} cores (nproc), {} MiB RAM, binaries: {} build; run took {:.0} s",
        m.nproc, m.mem_total_mib, m.profile, report.wall_s
    );
    let config: Vec<String> = report.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "sizes: {}\n", config.join(" "));

    let _ = writeln!(
        out,
        "| convergence | objects | p50 ms | p99 ms | total s | apiserver req/s (writes/s) | timeouts |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for c in &report.convergence {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.1} | {:.0} ({:.0}) | {} |",
            c.what,
            c.objects,
            c.latency.p50_ms,
            c.latency.p99_ms,
            c.total_s,
            c.apiserver_requests_per_s,
            c.apiserver_writes_per_s,
            c.latency.timeouts
        );
    }
    let _ = writeln!(
        out,
        "\n| reaction | trials | p50 ms | p99 ms | max ms | timeouts |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for r in &report.reaction {
        let l = &r.latency;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} |",
            r.what, l.count, l.p50_ms, l.p99_ms, l.max_ms, l.timeouts
        );
    }

    let _ = writeln!(out, "\n| API requests by binary | phase | by verb |");
    let _ = writeln!(out, "|---|---|---|");
    for c in &report.convergence {
        for (binary, by_verb) in &c.requests {
            let _ = writeln!(
                out,
                "| {} | converge {} | {} |",
                short(binary),
                c.what,
                verbs(by_verb)
            );
        }
    }
    let idle = &report.idle;
    for (binary, by_verb) in &idle.requests {
        let _ = writeln!(
            out,
            "| {} | idle {} s | {} |",
            short(binary),
            idle.secs,
            verbs(by_verb)
        );
    }
    for startup in &report.startups {
        for (binary, by_verb) in &startup.requests {
            let _ = writeln!(
                out,
                "| {} | start ({}) | {} |",
                short(binary),
                startup.at,
                verbs(by_verb)
            );
        }
    }

    let binaries: Vec<&String> = report
        .memory
        .first()
        .map(|p| p.rss_mib.keys().collect())
        .unwrap_or_default();
    let header: Vec<&str> = binaries.iter().map(|b| short(b)).collect();
    let _ = writeln!(out, "\n| RSS MiB | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(binaries.len()));
    let row = |label: &str, values: &BTreeMap<String, f64>, unit: &str| {
        let cells: Vec<String> = binaries
            .iter()
            .map(|b| values.get(*b).map_or("-".into(), |v| format!("{v:.1}{unit}")))
            .collect();
        format!("| {label} | {} |\n", cells.join(" | "))
    };
    for point in &report.memory {
        out.push_str(&row(&point.at, &point.rss_mib, ""));
    }
    out.push_str(&row(
        "per extra host config (KiB)",
        &report.marginal_kib_per_host_config,
        "",
    ));
    out.push_str(&row(
        "growth from unrelated Secrets/ConfigMaps",
        &report.unrelated_growth_mib,
        "",
    ));
    for startup in &report.startups {
        let ratio: BTreeMap<String, f64> = startup
            .peak_mib
            .iter()
            .filter_map(|(b, peak)| {
                startup
                    .steady_mib
                    .get(b)
                    .filter(|s| **s > 0.0)
                    .map(|s| (b.clone(), peak / s))
            })
            .collect();
        out.push_str(&row(
            &format!("start-up peak ({})", startup.at),
            &startup.peak_mib,
            "",
        ));
        out.push_str(&row(&format!("peak / steady ({})", startup.at), &ratio, "x"));
    }

    let _ = writeln!(out, "\n| NATS connections | open at end | opened during idle |");
    let _ = writeln!(out, "|---|---:|---:|");
    for (binary, open) in &report.nats_connections {
        let new = idle.new_nats_connections.get(binary).copied().unwrap_or(0);
        let _ = writeln!(out, "| {} | {open} | {new} |", short(binary));
    }
    let _ = writeln!(
        out,
        "\nidle window: {} s, began after {:.0} s of waiting for quiet ({})",
        idle.secs,
        idle.quiesce_s,
        if idle.quiet_before {
            "quiet"
        } else {
            "still writing"
        }
    );
    for startup in &report.startups {
        let _ = writeln!(
            out,
            "start-up ({}): {:.1} s to ready and quiet{}",
            startup.at,
            startup.settle_s,
            if startup.settled {
                ""
            } else {
                " (still writing at the limit)"
            }
        );
    }
    for note in &report.not_quiet {
        let _ = writeln!(out, "not quiet: {note}");
    }
    for error in &report.errors {
        let _ = writeln!(out, "\nphase failed: {error}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&values, 50) - 50.0).abs() < f64::EPSILON);
        assert!((percentile(&values, 99) - 99.0).abs() < f64::EPSILON);
        assert!((percentile(&[7.0], 99) - 7.0).abs() < f64::EPSILON);
        assert!(percentile(&[], 50).abs() < f64::EPSILON);
    }

    #[test]
    fn latency_counts_samples_and_timeouts_apart() {
        let samples = [
            Duration::from_millis(30),
            Duration::from_millis(10),
            Duration::from_millis(20),
        ];
        let latency = Latency::of(&samples, 2);
        assert_eq!((latency.count, latency.timeouts), (3, 2));
        assert!((latency.p50_ms - 20.0).abs() < 1e-9);
        assert!((latency.max_ms - 30.0).abs() < 1e-9);
    }
}
