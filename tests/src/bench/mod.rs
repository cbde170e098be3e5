//! The scale benchmark (`make bench`): the three binaries at once against the local environment, with
//! simulated hosts (a test double) for the application lattices. Prints numbers and never asserts on
//! them. Writes only objects labelled `bench.k8s.wasmcloud.dev/run` in `bench-*` namespaces.
//!
//! Phases, in order: start-up on an empty cluster; bulk WasmCloudHostConfigs (each size in
//! `BENCH_HOST_CONFIGS`); Applications across lattices; reaction trials; an idle window at steady state;
//! unrelated Secrets and ConfigMaps; a restart at scale.

pub mod binaries;
pub mod measure;
pub mod objects;
pub mod reaction;
pub mod report;
pub mod scenarios;
pub mod tracker;

use std::collections::BTreeMap;
use std::time::Duration;

/// Sizes and windows, from `BENCH_*` environment variables.
#[derive(Clone, Debug)]
pub struct Config {
    /// Cumulative WasmCloudHostConfig counts to converge and measure at (`BENCH_HOST_CONFIGS=100,1000`).
    pub host_configs: Vec<usize>,
    /// Namespaces the host configs are spread across.
    pub host_namespaces: usize,
    /// Applications (`BENCH_APPS`), across `lattices` lattices.
    pub apps: usize,
    pub lattices: usize,
    /// Host pods (and so simulated hosts) per application lattice.
    pub hosts_per_lattice: u32,
    /// Trials per reaction.
    pub trials: usize,
    /// The idle measurement window.
    pub idle: Duration,
    /// Unrelated Secrets plus ConfigMaps.
    pub unrelated: usize,
    /// Create requests in flight during bulk creation.
    pub in_flight: usize,
    /// Deadline of each convergence phase.
    pub phase_limit: Duration,
}

impl Config {
    /// Reads the `BENCH_*` variables; unset ones take the defaults (about 10–15 minutes on 2 cores).
    pub fn from_env() -> anyhow::Result<Self> {
        fn number(name: &str, default: usize) -> anyhow::Result<usize> {
            match std::env::var(name) {
                Ok(value) => value
                    .trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{name}={value}: {e}")),
                Err(_) => Ok(default),
            }
        }
        let host_configs = match std::env::var("BENCH_HOST_CONFIGS") {
            Ok(value) => value
                .split(',')
                .map(|n| {
                    n.trim()
                        .parse::<usize>()
                        .map_err(|e| anyhow::anyhow!("BENCH_HOST_CONFIGS={value}: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
            Err(_) => vec![50, 200],
        };
        anyhow::ensure!(
            host_configs.windows(2).all(|w| w[0] < w[1]),
            "BENCH_HOST_CONFIGS must increase (each size adds to the previous)"
        );
        Ok(Self {
            host_configs,
            host_namespaces: number("BENCH_HOST_NAMESPACES", 4)?.max(1),
            apps: number("BENCH_APPS", 200)?,
            lattices: number("BENCH_LATTICES", 10)?.max(1),
            hosts_per_lattice: u32::try_from(number("BENCH_HOSTS_PER_LATTICE", 2)?)?,
            trials: number("BENCH_TRIALS", 20)?,
            idle: Duration::from_secs(u64::try_from(number("BENCH_IDLE_SECS", 60)?)?),
            unrelated: number("BENCH_UNRELATED", 5000)?,
            in_flight: number("BENCH_IN_FLIGHT", 16)?,
            phase_limit: Duration::from_secs(u64::try_from(number("BENCH_PHASE_LIMIT_SECS", 900)?)?),
        })
    }

    /// The sizes, as the report shows them.
    pub fn describe(&self) -> BTreeMap<String, String> {
        let sizes: Vec<String> = self.host_configs.iter().map(ToString::to_string).collect();
        BTreeMap::from([
            ("BENCH_HOST_CONFIGS".into(), sizes.join(",")),
            ("BENCH_APPS".into(), self.apps.to_string()),
            ("BENCH_LATTICES".into(), self.lattices.to_string()),
            (
                "BENCH_HOSTS_PER_LATTICE".into(),
                self.hosts_per_lattice.to_string(),
            ),
            ("BENCH_TRIALS".into(), self.trials.to_string()),
            ("BENCH_IDLE_SECS".into(), self.idle.as_secs().to_string()),
            ("BENCH_UNRELATED".into(), self.unrelated.to_string()),
        ])
    }
}
