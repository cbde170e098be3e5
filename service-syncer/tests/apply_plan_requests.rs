//! The mock API tier for the service-syncer: its effect step (`reconcile::apply_plan`) against
//! `runtime::fake_api::FakeApi` (an in-memory stand-in for the API server that records requests), with
//! caches filled the way the watches fill them. A restarted syncer at steady state writes nothing, and a
//! Service of the app's name that isn't ours is never written. No cluster, no NATS.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::runtime::fake_api::{FakeApi, Recorded};
use wasmcloud_operator_types::runtime::readiness::{CacheGate, Readiness};
use wasmcloud_service_syncer::inventory::{APP_ANNOTATION, LatticeView, decide, host_of_inventory};
use wasmcloud_service_syncer::plan::{self, Listed, Plan};
use wasmcloud_service_syncer::reconcile::{Caches, NAME_TAKEN, apply_plan};

const IMAGE: &str = "ghcr.io/wasmcloud/http-server:0.23.0";

fn store_of<K>(objects: impl IntoIterator<Item = K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, mut writer) = reflector::store();
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }
    store
}

fn caches(services: Vec<Service>, slices: Vec<EndpointSlice>) -> Caches {
    Caches {
        host_configs: store_of(Vec::<WasmCloudHostConfig>::new()),
        pods: store_of(Vec::<Pod>::new()),
        services: store_of(services),
        slices: store_of(slices),
        listed: CacheGate::new(&Readiness::default(), &[]),
    }
}

/// One spread app, `shop`, served by the host in pod `hosts-0` of host config `hosts`.
fn shop_plan() -> Plan {
    let owner: WasmCloudHostConfig = serde_json::from_value(json!({
        "metadata": {"name": "hosts", "namespace": "east", "uid": "uid-hosts"},
        "spec": {"lattice": "blue", "version": "1.4.2"}}))
    .expect("host config");
    let manifest = json!({"metadata": {"name": "shop"}, "spec": {"components": [
        {"name": "httpserver", "type": "capability", "properties": {"image": IMAGE}, "traits": [
            {"type": "spreadscaler", "properties": {"instances": 1}},
            {"type": "link", "properties": {"namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"],
             "source": {"config": [{"name": "c", "properties": {"address": "0.0.0.0:8080"}}]}}}]}]}});
    let mut view = LatticeView::default();
    let decision = decide(&manifest, &["ghcr.io/wasmcloud/http-server".to_string()]).expect("an HTTP app");
    view.apps.insert("shop".into(), decision);
    let host = json!({"labels": {"kubernetes.pod.name": "hosts-0", "kubernetes.pod.namespace": "east"},
        "providers": [{"id": "shop-httpserver", "image_ref": IMAGE, "annotations": {APP_ANNOTATION: "shop"}}]});
    view.hosts
        .insert("H0".into(), host_of_inventory(&host, Instant::now()));
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "hosts-0", "namespace": "east", "uid": "uid-pod"},
        "spec": {"nodeName": "n1", "containers": []},
        "status": {"podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
                   "conditions": [{"type": "Ready", "status": "True"}]}}))
    .expect("pod");
    plan::plan(
        "blue",
        &view,
        &[&owner],
        &[Arc::new(pod)],
        &Listed::new(),
        Instant::now(),
    )
}

fn all(fake: &FakeApi) -> Vec<String> {
    fake.requests().iter().map(Recorded::to_string).collect()
}

#[tokio::test]
async fn a_restarted_syncer_at_steady_state_writes_nothing() {
    let fake = FakeApi::new();
    let client = fake.client();
    let plan = shop_plan();
    let problems = apply_plan(&client, &caches(Vec::new(), Vec::new()), "east", "blue", &plan)
        .await
        .expect("first apply");
    assert!(problems.is_empty(), "{problems:?}");
    let writes: Vec<String> = fake.writes().iter().map(Recorded::to_string).collect();
    assert!(
        writes.iter().any(|w| w == "patch services/shop"),
        "{:?}",
        all(&fake)
    );
    assert!(
        writes.iter().any(|w| w.starts_with("patch endpointslices/")),
        "{:?}",
        all(&fake)
    );

    // Restarted: the watches deliver what is in the cluster, and nothing differs.
    let service = fake.get::<Service>(Some("east"), "shop").expect("stored Service");
    let slices: Vec<EndpointSlice> = fake
        .writes()
        .iter()
        .filter(|w| w.resource == "endpointslices")
        .filter_map(|w| fake.get::<EndpointSlice>(Some("east"), w.name.as_deref()?))
        .collect();
    fake.clear_requests();
    let problems = apply_plan(&client, &caches(vec![service], slices), "east", "blue", &plan)
        .await
        .expect("second apply");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(fake.requests(), [], "steady state: not a read, not a write");
}

#[tokio::test]
async fn a_service_of_the_apps_name_that_is_not_ours_is_never_written() {
    let fake = FakeApi::new();
    let theirs: Service = serde_json::from_value(json!({
        "metadata": {"name": "shop", "namespace": "east", "labels": {"app.kubernetes.io/managed-by": "wasmcloud-service-syncer"}},
        "spec": {"ports": [{"port": 9999}]}}))
    .expect("service");
    fake.insert(&theirs);
    let problems = apply_plan(
        &fake.client(),
        &caches(Vec::new(), Vec::new()),
        "east",
        "blue",
        &shop_plan(),
    )
    .await
    .expect("apply");
    assert!(
        fake.writes().is_empty(),
        "a copied label is not ownership: {:?}",
        all(&fake)
    );
    assert!(problems.iter().any(|p| p.reason == NAME_TAKEN), "{problems:?}");
    let kept: Value =
        serde_json::to_value(fake.get::<Service>(Some("east"), "shop").expect("kept")).expect("json");
    assert_eq!(kept["spec"]["ports"][0]["port"], 9999);
}
