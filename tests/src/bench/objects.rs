//! The objects the bench creates, and bulk creation with a bounded number of requests in flight.
//! Builders are pure; `create_all` and `ensure_namespace` write to the API server.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

/// Label on everything the bench creates.
pub const BENCH_LABEL: &str = "bench.k8s.wasmcloud.dev/run";

/// A WasmCloudHostConfig for `lattice` with `replicas` hosts.
pub fn host_config(namespace: &str, name: &str, lattice: &str, replicas: u32) -> WasmCloudHostConfig {
    serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": name, "namespace": namespace, "labels": {BENCH_LABEL: "1"}},
        "spec": {"lattice": lattice, "version": "1.4.2", "hostReplicas": replicas}
    }))
    .expect("valid WasmCloudHostConfig")
}

/// What an application exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// HTTP server provider on every host (a daemonscaler): a Service with a selector.
    HttpDaemon,
    /// HTTP server provider on some hosts (a spreadscaler): a Service with EndpointSlices.
    HttpSpread,
    /// HTTP server provider on every host, placed by a `hostcore.*` requirement no selector can say:
    /// EndpointSlices that list every host pod.
    HttpDaemonSlices,
    /// One component, no HTTP: no Service.
    Plain,
}

impl AppKind {
    /// The kinds in the mix of the convergence scenario, by index.
    pub fn of(index: usize) -> Self {
        match index % 4 {
            0 => Self::HttpDaemon,
            2 => Self::HttpSpread,
            _ => Self::Plain,
        }
    }

    pub fn has_service(self) -> bool {
        self != Self::Plain
    }

    pub fn has_slices(self) -> bool {
        matches!(self, Self::HttpSpread | Self::HttpDaemonSlices)
    }
}

/// An Application of `kind`; with `lattice` it carries the lattice annotation, without it the lattice
/// comes from the namespace's WasmCloudHostConfig.
pub fn application(namespace: &str, name: &str, kind: AppKind, lattice: Option<&str>) -> Application {
    let component = json!({"name": "web", "type": "component",
        "properties": {"image": "ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0"},
        "traits": [{"type": "spreadscaler", "properties": {"instances": 1}}]});
    let scaler = match kind {
        AppKind::HttpDaemon => json!({"type": "daemonscaler", "properties": {"instances": 1}}),
        AppKind::HttpSpread | AppKind::Plain => {
            json!({"type": "spreadscaler", "properties": {"instances": 1}})
        }
        AppKind::HttpDaemonSlices => json!({"type": "daemonscaler", "properties": {"instances": 1,
            "spread": [{"name": "linux", "requirements": {"hostcore.os": "linux"}}]}}),
    };
    let server = json!({"name": "httpserver", "type": "capability",
        "properties": {"image": "ghcr.io/wasmcloud/http-server:0.23.0"},
        "traits": [scaler, {"type": "link", "properties": {
            "target": {"name": "web"}, "namespace": "wasi", "package": "http",
            "interfaces": ["incoming-handler"],
            "source": {"config": [{"name": "default-http", "properties": {"address": "0.0.0.0:8080"}}]}}}]});
    let components = if kind == AppKind::Plain {
        vec![component]
    } else {
        vec![component, server]
    };
    let mut metadata = json!({"name": name, "namespace": namespace, "labels": {BENCH_LABEL: "1"}});
    if let Some(lattice) = lattice {
        metadata["annotations"] = json!({"k8s.wasmcloud.dev/lattice": lattice});
    }
    serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": metadata, "spec": {"components": components}
    }))
    .expect("valid Application")
}

/// An object of kind `K` from JSON (for Secrets and ConfigMaps).
pub fn from_json<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).expect("valid object")
}

/// Creates the namespace unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &namespace).await?;
    Ok(())
}

/// Creates every object, `in_flight` requests at a time (retrying transient failures for up to a
/// minute); returns for each (in order) `namespace/name` and the moment its create request was sent.
pub async fn create_all<K>(
    client: &Client,
    objects: Vec<K>,
    in_flight: usize,
) -> anyhow::Result<Vec<(String, Instant)>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let results: Vec<anyhow::Result<(String, Instant)>> = futures::stream::iter(objects)
        .map(|object| {
            let client = client.clone();
            async move {
                let namespace = object.meta().namespace.clone().unwrap_or_default();
                let name = object.meta().name.clone().unwrap_or_default();
                let api: Api<K> = Api::namespaced(client, &namespace);
                let sent = Instant::now();
                let deadline = sent + Duration::from_secs(60);
                loop {
                    match api.create(&PostParams::default(), &object).await {
                        Ok(_) => return Ok((format!("{namespace}/{name}"), sent)),
                        Err(error) if Instant::now() < deadline && is_transient(&error) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(error) => return Err(anyhow::anyhow!("create {namespace}/{name}: {error}")),
                    }
                }
            }
        })
        .buffered(in_flight.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 503 | 504),
        _ => true,
    }
}
