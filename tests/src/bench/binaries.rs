//! The three binaries under test, run cluster-wide (no `--namespace`) with the admin kubeconfig: start
//! them while sampling their resident memory, wait until they are quiet, stop them with SIGTERM.
//! Touches only the processes it starts.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::measure::{self, delta, mib, rss_bytes};
use super::report::{RequestsByBinary, Startup};
use crate::env::TestEnv;
use crate::process::{OperatorProcess, http_get};

/// The binaries, in the order the report lists them.
pub const NAMES: [&str; 3] = [
    "wasmcloud-host-operator",
    "wasmcloud-service-syncer",
    "wasmcloud-app-status-bridge",
];

/// How long nothing may change before the binaries count as quiet.
const QUIET: Duration = Duration::from_secs(5);
/// RSS sampling period during start-up.
const SAMPLE: Duration = Duration::from_millis(20);

/// The three running binaries.
#[derive(Debug)]
pub struct Binaries {
    pub processes: Vec<OperatorProcess>,
}

impl Binaries {
    /// Starts all three and samples their RSS every 20 ms until they are ready and quiet (or `limit`).
    pub async fn start(env: &TestEnv, at: &str, limit: Duration) -> anyhow::Result<(Self, Startup)> {
        let started = Instant::now();
        let mut processes = Vec::new();
        for name in NAMES {
            processes.push(OperatorProcess::start(env, name, &env.kubeconfig, &[]).await?);
        }
        let binaries = Self { processes };
        let mut peak = BTreeMap::<String, u64>::new();
        let deadline = started + limit;
        let mut ready = false;
        let mut last_fingerprint = Vec::new();
        let mut quiet_since = Instant::now();
        let mut next_check = Instant::now();
        let settled = loop {
            for (name, rss) in binaries.rss_bytes() {
                let entry = peak.entry(name).or_insert(0);
                *entry = (*entry).max(rss);
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            if now >= next_check {
                next_check = now + Duration::from_millis(500);
                if ready {
                    let fingerprint = binaries.activity().await?;
                    if fingerprint != last_fingerprint {
                        last_fingerprint = fingerprint;
                        quiet_since = now;
                    } else if now - quiet_since >= QUIET {
                        break true;
                    }
                } else {
                    ready = binaries.all_ready().await?;
                    quiet_since = now;
                }
            }
            tokio::time::sleep(SAMPLE).await;
        };
        let startup = Startup {
            at: at.to_string(),
            settle_s: started.elapsed().as_secs_f64(),
            settled,
            peak_mib: peak.into_iter().map(|(name, bytes)| (name, mib(bytes))).collect(),
            steady_mib: binaries.rss_mib(),
            requests: binaries.requests_since(&BTreeMap::new()).await?,
        };
        Ok((binaries, startup))
    }

    async fn all_ready(&self) -> anyhow::Result<bool> {
        for process in &self.processes {
            if !matches!(http_get(process.probe_port, "/readyz").await, Ok((200, _))) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// API writes of every binary: when this stops changing, they are quiet. (Reconciles are not
    /// counted: a reconcile that finds nothing to do is quiet.)
    async fn activity(&self) -> anyhow::Result<Vec<u64>> {
        let mut fingerprint = Vec::new();
        for process in &self.processes {
            fingerprint.push(crate::process::write_requests(&process.metrics().await?));
        }
        Ok(fingerprint)
    }

    /// Waits until no binary has written for 5 s, for at most `limit`; returns how long it waited and
    /// whether they got quiet (a binary that never stops writing is a finding, not a reason to stop).
    pub async fn quiesce(&self, limit: Duration) -> anyhow::Result<(Duration, bool)> {
        let started = Instant::now();
        let mut last = self.activity().await?;
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < QUIET {
            if started.elapsed() > limit {
                return Ok((started.elapsed(), false));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.activity().await?;
            if now != last {
                last = now;
                quiet_since = Instant::now();
            }
        }
        Ok((started.elapsed(), true))
    }

    pub fn rss_bytes(&self) -> Vec<(String, u64)> {
        self.processes
            .iter()
            .map(|p| (p.name.clone(), p.child.id().map_or(0, rss_bytes)))
            .collect()
    }

    pub fn rss_mib(&self) -> BTreeMap<String, f64> {
        self.rss_bytes()
            .into_iter()
            .map(|(name, bytes)| (name, mib(bytes)))
            .collect()
    }

    /// Request counters by verb of every binary.
    pub async fn requests(&self) -> anyhow::Result<BTreeMap<String, BTreeMap<String, f64>>> {
        let mut all = BTreeMap::new();
        for process in &self.processes {
            all.insert(process.name.clone(), measure::requests_by_verb(process).await?);
        }
        Ok(all)
    }

    /// Requests since `before` (a [`Binaries::requests`] snapshot), by binary and verb.
    pub async fn requests_since(
        &self,
        before: &BTreeMap<String, BTreeMap<String, f64>>,
    ) -> anyhow::Result<RequestsByBinary> {
        let now = self.requests().await?;
        let empty = BTreeMap::new();
        Ok(now
            .iter()
            .map(|(name, after)| (name.clone(), delta(before.get(name).unwrap_or(&empty), after)))
            .collect())
    }

    /// SIGTERM to all three, then waits for them to exit (SIGKILL after 30 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for process in &self.processes {
            if let Some(pid) = process.child.id() {
                std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()?;
            }
        }
        for process in &mut self.processes {
            if tokio::time::timeout(Duration::from_secs(30), process.child.wait())
                .await
                .is_err()
            {
                process.child.kill().await?;
            }
        }
        Ok(())
    }
}
