//! The plumbing every controller of the three binaries shares, written once: the typed error contract
//! (metric category, retry delay), the reconcile wrapper (cache gate, timing and outcome metrics), the
//! error policy (per-object backoff), draining the controller's result stream, the Event reporter, the
//! status writer and the 404-tolerant delete. Touches the API only through the `Api` it is handed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::readiness::CacheGate;
use super::tracker::ReconcileTracker;

/// What a reconcile error says about itself, so one error policy serves every controller.
pub trait ReconcileError: std::error::Error {
    /// A bounded label for `controller_runtime_reconcile_errors_total{reason}`.
    fn category(&self) -> &'static str;

    /// How long to wait before retrying, given the object's exponential `backoff` (a controller may wait
    /// less, e.g. while a dependency is known to be away).
    fn retry_after(&self, backoff: Duration) -> Duration {
        backoff
    }
}

/// Runs one reconcile of `object` once `gate` is open, and records its duration and outcome.
pub async fn timed<K, E>(
    object: &Arc<K>,
    tracker: &ReconcileTracker<K>,
    gate: &CacheGate,
    reconcile: impl Future<Output = Result<Action, E>>,
) -> Result<Action, E>
where
    K: Resource<DynamicType = ()>,
{
    gate.open().await;
    let started = Instant::now();
    let result = reconcile.await;
    tracker.finished(object, started.elapsed(), result.is_ok());
    result
}

/// The error policy: count the failure by category and retry the object after its backoff.
pub fn error_policy<K, E>(object: &K, error: &E, tracker: &ReconcileTracker<K>) -> Action
where
    K: Resource<DynamicType = ()>,
    E: ReconcileError,
{
    let delay = error.retry_after(tracker.failed(object, error.category()));
    tracing::warn!(name = %object.name_any(), namespace = object.namespace().unwrap_or_default(), %error,
        source = ?std::error::Error::source(error).map(ToString::to_string), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Drives a controller's result stream to its end; each failure was already logged by the error policy.
pub async fn drain<T, E: std::fmt::Display>(results: impl Stream<Item = Result<T, E>>) {
    results
        .for_each(|result| {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile failed");
            }
            futures::future::ready(())
        })
        .await;
}

/// The Event reporter of `binary`: its name and, in a pod, the pod's name.
pub fn reporter(binary: &str) -> Reporter {
    Reporter {
        controller: binary.to_string(),
        instance: std::env::var("POD_NAME").ok(),
    }
}

/// Server-side applies `status` alone (apiVersion, kind, name and status) under `field_manager`: the one
/// status writer; callers write only when the status changed.
pub async fn apply_status<K>(
    api: &Api<K>,
    name: &str,
    field_manager: &str,
    status: &impl serde::Serialize,
) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "status": status,
    });
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(name, &params, &Patch::Apply(&patch)).await
}

/// Deletes `name` in the background; one already gone is not an error. Ownership is the caller's check.
pub async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error),
    }
}
