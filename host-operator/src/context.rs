//! What every reconcile shares: the client, metrics, the Event recorder, the Application index and the
//! reconcile tracker. No I/O of its own.

use kube::Client;
use kube::runtime::events::Recorder;
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::runtime::metrics::Metrics;
use wasmcloud_operator_types::runtime::readiness::CacheGate;
use wasmcloud_operator_types::runtime::tracker::ReconcileTracker;

use crate::app_index::AppIndex;
use crate::confirmed::Confirmed;

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "wasmcloudhostconfig";

pub struct Context {
    pub client: Client,
    pub metrics: Metrics,
    /// `wasmcloud_host_operator_managed_objects`: WasmCloudHostConfigs this process reconciles.
    pub managed: prometheus::IntGauge,
    pub recorder: Recorder,
    pub apps: AppIndex,
    /// Outcomes of full reconciles that nothing has invalidated since.
    pub confirmed: Confirmed,
    pub tracker: ReconcileTracker<WasmCloudHostConfig>,
    /// The image of the host pods' leaf-link sidecar (`--leaf-link-image`); none: no sidecar.
    pub leaf_link_image: Option<String>,
    /// Open once the host configs and the Application index have listed: no status from a partial app list.
    pub listed: CacheGate,
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
        confirmed: Confirmed,
        leaf_link_image: Option<String>,
        listed: CacheGate,
    ) -> prometheus::Result<Self> {
        let managed = prometheus::IntGauge::new(
            "wasmcloud_host_operator_managed_objects",
            "WasmCloudHostConfigs this process reconciles.",
        )?;
        metrics.registry().register(Box::new(managed.clone()))?;
        let tracker = ReconcileTracker::new(CONTROLLER, metrics.clone());
        Ok(Self {
            client,
            metrics,
            managed,
            recorder,
            apps,
            confirmed,
            tracker,
            leaf_link_image,
            listed,
        })
    }
}
