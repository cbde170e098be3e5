//! TEST DOUBLE — simulated wasmCloud hosts that follow the host pods kwok runs. Reads host pods from the
//! API server; touches only NATS (through `lattice_sim`).
//!
//! For every Running host pod with an address (label `app.kubernetes.io/name=wasmcloud-host`), one
//! simulated host joins the pod's lattice with the host labels the pod's spec gives the wasmCloud
//! container (`WASMCLOUD_LABEL_*`, with the pod's name and namespace from the downward API resolved),
//! and it stops when the pod goes or starts terminating. So scaling a WasmCloudHostConfig changes the
//! lattice the way real hosts would, and hosts and pods agree. Pods on the real node (`REAL_NODE_NAME`)
//! are left out: they run their own host.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::task::JoinHandle;
use wasmcloud_operator_types::contract::labels;
use wasmcloud_operator_types::runtime::backoff::watch_backoff;

use crate::lattice_sim::{SimulatedHost, SimulatedLattice};

const LABEL_ENV_PREFIX: &str = "WASMCLOUD_LABEL_";

/// Simulated hosts, one per running host pod; dropping it makes them vanish.
pub struct PodHosts {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    lattices: BTreeMap<String, SimulatedLattice>,
    /// (namespace, pod name) -> its host.
    hosts: BTreeMap<(String, String), SimulatedHost>,
}

impl std::fmt::Debug for PodHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodHosts")
            .field("hosts", &self.pods())
            .finish_non_exhaustive()
    }
}

impl PodHosts {
    /// Follows the host pods of `namespace` (all namespaces when `None`).
    pub fn start(client: Client, nats: async_nats::Client, namespace: Option<&str>) -> Self {
        let api: Api<Pod> = match namespace {
            Some(namespace) => Api::namespaced(client, namespace),
            None => Api::all(client),
        };
        let config =
            watcher::Config::default().labels(&format!("{}={}", labels::NAME, labels::HOST_NAME_VALUE));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut pods = watcher(api, config)
                .backoff(watch_backoff())
                .touched_objects()
                .boxed();
            while let Some(pod) = pods.next().await {
                let Ok(pod) = pod else { continue };
                if let Err(error) = follow(&shared, &nats, &pod).await {
                    tracing::warn!(%error, pod = %pod.name_any(), "simulated pod host failed");
                }
            }
        });
        Self { state, task }
    }

    /// The pods that have a simulated host, as `namespace/name`.
    pub fn pods(&self) -> Vec<String> {
        lock(&self.state)
            .hosts
            .keys()
            .map(|(namespace, name)| format!("{namespace}/{name}"))
            .collect()
    }

    /// The pods (names) whose host runs a provider whose id starts with `provider_prefix` (wadm names
    /// providers `<app>-<component>`, with `-` in the app name turned into `_`).
    pub fn pods_running(&self, provider_prefix: &str) -> std::collections::BTreeSet<String> {
        lock(&self.state)
            .hosts
            .iter()
            .filter(|(_, host)| host.running().1.iter().any(|id| id.starts_with(provider_prefix)))
            .map(|((_, name), _)| name.clone())
            .collect()
    }

    /// Stops every host the way real hosts shut down.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.task.abort();
        let taken = std::mem::take(&mut lock(&self.state).hosts);
        let hosts: Vec<SimulatedHost> = taken.into_values().collect();
        for host in hosts {
            host.stop().await?;
        }
        Ok(())
    }
}

impl Drop for PodHosts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts or stops the host of one pod after a change to it.
async fn follow(state: &Arc<Mutex<State>>, nats: &async_nats::Client, pod: &Pod) -> anyhow::Result<()> {
    let key = (pod.namespace().unwrap_or_default(), pod.name_any());
    let should_run = is_serving(pod) && !on_real_node(pod);
    let running = lock(state).hosts.contains_key(&key);
    if should_run == running {
        return Ok(());
    }
    if !should_run {
        let host = lock(state).hosts.remove(&key);
        if let Some(host) = host {
            host.stop().await?;
        }
        return Ok(());
    }
    let Some(lattice) = pod.labels().get(labels::LATTICE).cloned() else {
        return Ok(());
    };
    let known = lock(state).lattices.get(&lattice).map(SimulatedLattice::handle);
    let handle = match known {
        Some(handle) => handle,
        None => {
            let simulated = SimulatedLattice::start(nats.clone(), &lattice).await?;
            let handle = simulated.handle();
            lock(state).lattices.insert(lattice.clone(), simulated);
            handle
        }
    };
    let host_labels = host_labels(pod);
    let pairs: Vec<(&str, &str)> = host_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let host = handle.start_host(&key.1, &pairs).await?;
    lock(state).hosts.insert(key, host);
    Ok(())
}

/// Running, with an address, and not terminating: a real host would be up.
fn is_serving(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    pod.metadata.deletion_timestamp.is_none()
        && status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.pod_ip.as_deref())
            .is_some_and(|ip| !ip.is_empty())
}

/// Scheduled to the real node, where the pod runs a host of its own.
fn on_real_node(pod: &Pod) -> bool {
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    std::env::var("REAL_NODE_NAME").is_ok_and(|real| node == Some(real.as_str()))
}

/// The host labels the pod's spec gives its wasmCloud container, downward-API values resolved.
pub fn host_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    for env in containers.iter().flat_map(|c| c.env.iter().flatten()) {
        let Some(key) = env.name.strip_prefix(LABEL_ENV_PREFIX) else {
            continue;
        };
        let field = env
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        let value = match (env.value.as_deref(), field) {
            (Some(value), _) => Some(value.to_string()),
            (None, Some("metadata.name")) => Some(pod.name_any()),
            (None, Some("metadata.namespace")) => pod.namespace(),
            _ => None,
        };
        if let Some(value) = value {
            found.insert(key.to_string(), value);
        }
    }
    found
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
