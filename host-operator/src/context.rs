//! What every reconcile shares: the client, metrics, the Event recorder, the Application index and the
//! per-object retry state. No I/O of its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::ObjectRef;
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::runtime::metrics::Metrics;

use crate::app_index::AppIndex;

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "wasmcloudhostconfig";

pub struct Context {
    pub client: Client,
    pub metrics: Metrics,
    /// `wasmcloud_host_operator_managed_objects`: WasmCloudHostConfigs this process reconciles.
    pub managed: prometheus::IntGauge,
    pub recorder: Recorder,
    pub apps: AppIndex,
    failures: Mutex<HashMap<ObjectRef<WasmCloudHostConfig>, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Metrics,
        recorder: Recorder,
        apps: AppIndex,
    ) -> prometheus::Result<Self> {
        let managed = prometheus::IntGauge::new(
            "wasmcloud_host_operator_managed_objects",
            "WasmCloudHostConfigs this process reconciles.",
        )?;
        metrics.registry().register(Box::new(managed.clone()))?;
        Ok(Self {
            client,
            metrics,
            managed,
            recorder,
            apps,
            failures: Mutex::default(),
        })
    }

    /// The delay before retrying an object that failed `failures` times in a row: 1 s doubling to 5 min.
    pub fn backoff(failures: u32) -> Duration {
        Duration::from_secs(1u64 << failures.min(8)).min(Duration::from_secs(300))
    }

    /// Records one more failure of `object`; returns how long to wait before the retry.
    pub fn failed(&self, object: ObjectRef<WasmCloudHostConfig>) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = failures.entry(object).or_insert(0);
        let delay = Self::backoff(*count);
        *count = count.saturating_add(1);
        delay
    }

    /// Forgets the failures of `object` after it reconciled.
    pub fn succeeded(&self, object: &ObjectRef<WasmCloudHostConfig>) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(object);
    }
}

#[cfg(test)]
mod tests {
    use super::Context;
    use std::time::Duration;

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes() {
        let delays: Vec<Duration> = (0..12).map(Context::backoff).collect();
        assert_eq!(delays[0], Duration::from_secs(1));
        assert_eq!(delays[1], Duration::from_secs(2));
        assert_eq!(delays[5], Duration::from_secs(32));
        assert_eq!(delays[11], Duration::from_secs(256));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(300)));
    }
}
