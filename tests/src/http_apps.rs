//! Helpers for the service-syncer tests: wadm manifests of HTTP apps, host configs, and reading back an
//! app's Service and the pods its EndpointSlices list. Touches the test's namespace and wadm.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

use crate::namespace::TestContext;
use crate::wait;

/// How long the syncer gets to converge in tests.
pub const SETTLE: Duration = Duration::from_secs(60);

/// A wadm manifest of an HTTP app whose HTTP server provider uses `scaler` and listens on `address`.
pub fn http_app(name: &str, version: &str, scaler: &Value, address: &str) -> String {
    json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": name, "annotations": {"version": version}},
        "spec": {"components": [
            {"name": "web", "type": "component",
             "properties": {"image": "ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0"},
             "traits": [{"type": "spreadscaler", "properties": {"instances": 1}}]},
            {"name": "httpserver", "type": "capability",
             "properties": {"image": "ghcr.io/wasmcloud/http-server:0.23.0"},
             "traits": [scaler, {"type": "link", "properties": {
                 "target": {"name": "web"}, "namespace": "wasi", "package": "http",
                 "interfaces": ["incoming-handler"],
                 "source": {"config": [{"name": "default-http", "properties": {"address": address}}]}}}]}
        ]}
    })
    .to_string()
}

/// The same HTTP app as an Application object for `lattice` (the app-status-bridge puts it into wadm).
pub fn http_application(name: &str, lattice: &str, scaler: &Value, address: &str) -> Application {
    let mut manifest: Value =
        serde_json::from_str(&http_app(name, "unused", scaler, address)).expect("manifest");
    manifest["metadata"] = json!({"name": name, "annotations": {"k8s.wasmcloud.dev/lattice": lattice}});
    serde_json::from_value(manifest).expect("valid Application")
}

/// A host config for `lattice` with `replicas` hosts carrying `labels`.
pub fn host_config(name: &str, lattice: &str, replicas: u32, labels: &Value) -> WasmCloudHostConfig {
    serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": name},
        "spec": {"lattice": lattice, "version": "1.4.2", "hostReplicas": replicas, "hostLabels": labels}
    }))
    .expect("valid WasmCloudHostConfig")
}

/// Creates `host_config(name, lattice, replicas, labels)` in the test's namespace.
pub async fn create_host_config(
    ctx: &TestContext,
    name: &str,
    lattice: &str,
    replicas: u32,
    labels: &Value,
) -> anyhow::Result<WasmCloudHostConfig> {
    let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    Ok(configs
        .create(
            &kube::api::PostParams::default(),
            &host_config(name, lattice, replicas, labels),
        )
        .await?)
}

/// A fresh lattice name.
pub fn lattice(prefix: &str) -> String {
    format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Waits for the Service `name` to satisfy `check`.
pub async fn wait_service(
    ctx: &TestContext,
    name: &str,
    check: impl Fn(&Service) -> bool + Send + 'static,
) -> anyhow::Result<Service> {
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait::for_object(&api, name, SETTLE, move |s: Option<&Service>| {
        s.is_some_and(&check)
    })
    .await
}

/// The pods (by name) the Service's EndpointSlices list as ready.
pub async fn ready_endpoint_pods(ctx: &TestContext, service: &str) -> anyhow::Result<BTreeSet<String>> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let slices = api
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await?;
    Ok(slices
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .filter_map(|e| e.target_ref.as_ref().and_then(|r| r.name.clone()))
        .collect())
}

/// Waits until the Service's slices list exactly the pods `want` returns (given the namespace's pods).
pub async fn wait_endpoint_pods(
    ctx: &TestContext,
    service: &str,
    want: impl Fn(&BTreeSet<String>) -> bool,
) -> anyhow::Result<BTreeSet<String>> {
    let want = &want;
    wait::until(&format!("the endpoints of {service}"), SETTLE, || async move {
        let pods = ready_endpoint_pods(ctx, service)
            .await
            .map_err(|e| e.to_string())?;
        if want(&pods) {
            Ok(pods)
        } else {
            Err(format!("{pods:?}"))
        }
    })
    .await
}

/// The names of the running host pods of `host_config` that carry `label` (`key=value`), if given.
pub async fn host_pods(
    ctx: &TestContext,
    host_config: &str,
    label: Option<&str>,
) -> anyhow::Result<BTreeSet<String>> {
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut selector = format!("app.kubernetes.io/instance={host_config}");
    if let Some(label) = label {
        selector.push(',');
        selector.push_str(label);
    }
    let pods = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter_map(|p| p.metadata.name.clone())
        .collect())
}
