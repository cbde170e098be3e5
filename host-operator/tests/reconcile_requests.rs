//! The mock API tier: whole reconciles of the host-operator against `runtime::fake_api::FakeApi` (an
//! in-memory stand-in for the API server that records requests), checking the request sequence: a
//! restart at steady state writes nothing, switching the workload kind is one apply and one delete, a
//! foreign object in a child's place is never written, and a write that fails part way still shows on
//! the status (without the API server's message). No cluster.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::events::Recorder;
use wasmcloud_host_operator::app_index::AppIndex;
use wasmcloud_host_operator::confirmed::Confirmed;
use wasmcloud_host_operator::context::Context;
use wasmcloud_host_operator::reconcile::reconcile;
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::runtime::controller::reporter;
use wasmcloud_operator_types::runtime::fake_api::{FakeApi, Recorded};
use wasmcloud_operator_types::runtime::metrics::Metrics;
use wasmcloud_operator_types::runtime::readiness::{CacheGate, Readiness};

/// A plain host config: one host of 1.4.2 on the default lattice.
fn host_config() -> WasmCloudHostConfig {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": "blue", "namespace": "east", "uid": "uid-blue", "generation": 1},
        "spec": {"lattice": "default", "version": "1.4.2"},
    }))
    .expect("host config")
}

/// One reconcile by a freshly started operator (nothing confirmed, nothing cached) of the stored object.
async fn reconcile_once(fake: &FakeApi) -> Result<(), wasmcloud_host_operator::errors::Error> {
    let client = fake.client();
    let whc = fake
        .get::<WasmCloudHostConfig>(Some("east"), "blue")
        .expect("stored host config");
    let context = Context::new(
        client.clone(),
        Metrics::new().expect("metrics"),
        Recorder::new(client, reporter("wasmcloud-host-operator")),
        AppIndex::default(),
        Confirmed::default(),
        None,
        CacheGate::new(&Readiness::default(), &[]),
    )
    .expect("context");
    reconcile(Arc::new(whc), Arc::new(context)).await.map(drop)
}

/// The writes to children: not the status, not Events.
fn child_writes(fake: &FakeApi) -> Vec<String> {
    fake.writes()
        .iter()
        .filter(|w| !w.resource.ends_with("/status") && w.resource != "events")
        .map(Recorded::to_string)
        .collect()
}

fn all(fake: &FakeApi) -> Vec<String> {
    fake.requests().iter().map(Recorded::to_string).collect()
}

#[tokio::test]
async fn a_restart_at_steady_state_writes_nothing() {
    let fake = FakeApi::new();
    fake.insert(&host_config());
    reconcile_once(&fake).await.expect("first reconcile");
    assert!(
        child_writes(&fake).iter().any(|w| w == "patch deployments/blue"),
        "the first reconcile creates the hosts: {:?}",
        all(&fake)
    );
    fake.clear_requests();
    reconcile_once(&fake).await.expect("second reconcile");
    let requests = all(&fake);
    assert!(
        requests.iter().any(|r| r == "get deployments/blue"),
        "a fresh process compares with the cluster: {requests:?}"
    );
    assert_eq!(fake.writes(), [], "steady state: {requests:?}");
}

#[tokio::test]
async fn switching_to_a_daemonset_is_one_apply_and_one_delete() {
    let fake = FakeApi::new();
    fake.insert(&host_config());
    reconcile_once(&fake).await.expect("first reconcile");
    let mut whc = fake
        .get::<WasmCloudHostConfig>(Some("east"), "blue")
        .expect("stored");
    whc.spec
        .scheduling_options
        .get_or_insert_with(Default::default)
        .daemonset = Some(true);
    whc.metadata.generation = Some(2);
    fake.insert(&whc);
    fake.clear_requests();
    reconcile_once(&fake).await.expect("reconcile after the switch");
    assert_eq!(
        child_writes(&fake),
        ["patch daemonsets/blue", "delete deployments/blue"],
        "{:?}",
        all(&fake)
    );
}

#[tokio::test]
async fn a_foreign_object_in_a_childs_place_is_never_written() {
    let fake = FakeApi::new();
    fake.insert(&host_config());
    let foreign: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "blue", "namespace": "east", "uid": "uid-theirs"},
        "data": {"theirs": "yes"},
    }))
    .expect("config map");
    fake.insert(&foreign);
    let result = reconcile_once(&fake).await;
    assert!(result.is_err(), "a conflict is retried with backoff");
    let written = child_writes(&fake);
    assert!(
        !written.iter().any(|w| w.ends_with("configmaps/blue")),
        "{written:?}"
    );
    let kept = fake.get::<ConfigMap>(Some("east"), "blue").expect("still there");
    assert_eq!(
        kept.data.and_then(|d| d.get("theirs").cloned()).as_deref(),
        Some("yes")
    );
    let whc = fake
        .get::<WasmCloudHostConfig>(Some("east"), "blue")
        .expect("stored");
    let conditions = whc.status.map(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions.iter().any(|c| c.message.contains("ConfigMap blue")),
        "the status names the object in the way: {conditions:?}"
    );
}

#[tokio::test]
async fn a_write_that_fails_half_way_is_on_the_status_without_the_servers_message() {
    let fake = FakeApi::new();
    fake.insert(&host_config());
    fake.refuse("patch", "deployments", 422);
    let result = reconcile_once(&fake).await;
    assert!(result.is_err(), "retried with backoff");
    assert!(
        child_writes(&fake).iter().any(|w| w == "patch configmaps/blue"),
        "children before the Deployment were applied: {:?}",
        all(&fake)
    );
    let whc = fake
        .get::<WasmCloudHostConfig>(Some("east"), "blue")
        .expect("stored");
    let status = whc.status.expect("a status");
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "ApplyFailed")
    );
    assert!(
        degraded.message.contains("Deployment blue") && degraded.message.contains("422"),
        "{}",
        degraded.message
    );
    let text = serde_json::to_string(&status.conditions).expect("json");
    assert!(
        !text.contains("s3cret"),
        "the API server's message stays out: {text}"
    );
    assert_eq!(
        status.observed_generation, None,
        "the generation was not brought in line"
    );

    // The same failure again writes nothing new.
    fake.clear_requests();
    assert!(reconcile_once(&fake).await.is_err());
    assert!(
        !fake.writes().iter().any(|w| w.resource.ends_with("/status")),
        "{:?}",
        all(&fake)
    );
}
