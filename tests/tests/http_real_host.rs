//! An HTTP request served end to end by real wasmCloud hosts on the real node: a WasmCloudHostConfig whose
//! pods run the real host runtime (the `wasmcloud-host` image: crates.io wasmcloud-host 0.27.1 behind the 1.9.x
//! command line) and the real leaf, ready through the host's own `/readyz`; an Application (put and deployed
//! by the app-status-bridge) that runs the wasi:http component and the host's built-in HTTP server; and the
//! service-syncer's Service, reached at its ClusterIP through kube-proxy. A daemon app gets a selector Service
//! over every host pod; a spread app gets EndpointSlices listing exactly the pods whose hosts run its server,
//! and every request through that Service and to each slice address is answered. Scaling the spread and the
//! host config changes which pods serve it; a deleted host pod leaves the slices before its replacement joins.
//! The pods run the leaf-link sidecar (the operator's image), as the chart sets it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use wasmcloud_operator_tests::http_apps::{lattice, wait_endpoint_pods, wait_service};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::pods::is_ready;
use wasmcloud_operator_tests::process::{http_get_at, start_in_namespace, start_in_namespace_with};
use wasmcloud_operator_tests::real_node::{NODE_TYPE, RealNode, TAINT};
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::{Application, ApplicationPhase, WasmCloudHostConfig};

const HOSTS: &str = "real-wasmcloud";
/// Host start (NATS, JetStream buckets) and component compilation take a few seconds each on 2 cores.
const TIMEOUT: Duration = Duration::from_secs(180);

/// An Application for `lattice`: the component on every host, the built-in HTTP server on `address` under
/// `scaler`.
fn hello_app(
    name: &str,
    lattice: &str,
    component: &str,
    scaler: &Value,
    address: &str,
) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": name, "annotations": {"k8s.wasmcloud.dev/lattice": lattice}},
        "spec": {"components": [
            {"name": "hello", "type": "component", "properties": {"image": component},
             "traits": [{"type": "daemonscaler", "properties": {"instances": 1}}]},
            {"name": "httpserver", "type": "capability",
             "properties": {"image": "wasmcloud+builtin://http-server"},
             "traits": [scaler, {"type": "link", "properties": {
                 "target": {"name": "hello"}, "namespace": "wasi", "package": "http",
                 "interfaces": ["incoming-handler"],
                 "source": {"config": [{"name": format!("{name}-http"), "properties": {"address": address}}]}}}]}
        ]}
    }))?)
}

/// Waits for `count` Ready host pods, all on the real node; returns their names.
async fn ready_host_pods(
    ctx: &TestContext,
    node: &RealNode,
    count: usize,
) -> anyhow::Result<BTreeSet<String>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pods = &pods;
    wait::until("Ready real host pods on the real node", TIMEOUT, || async move {
        let list = pods
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={HOSTS}")))
            .await
            .map_err(|e| e.to_string())?;
        let ready: BTreeSet<String> = list
            .items
            .iter()
            .filter(|p| is_ready(p))
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.name.as_str()))
            .map(ResourceExt::name_any)
            .collect();
        if ready.len() == count && list.items.len() == count {
            Ok(ready)
        } else {
            Err(format!(
                "{} of {} Ready on the real node: {:?}",
                ready.len(),
                list.items.len(),
                list.items
                    .iter()
                    .map(|p| (p.name_any(), p.status.as_ref().map(|s| &s.container_statuses)))
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await
}

/// The ready addresses the Service's slices list: pod name → (IP, port).
async fn slice_addresses(
    ctx: &TestContext,
    service: &str,
) -> anyhow::Result<BTreeMap<String, (String, u16)>> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let slices = api
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await?;
    let mut addresses = BTreeMap::new();
    for slice in &slices.items {
        let port = slice
            .ports
            .iter()
            .flatten()
            .find_map(|p| p.port)
            .map(u16::try_from)
            .transpose()?
            .ok_or_else(|| anyhow::anyhow!("{} has no port", slice.name_any()))?;
        for endpoint in &slice.endpoints {
            if endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(true) {
                continue;
            }
            if let (Some(pod), Some(ip)) = (
                endpoint.target_ref.as_ref().and_then(|r| r.name.clone()),
                endpoint.addresses.first(),
            ) {
                addresses.insert(pod, (ip.clone(), port));
            }
        }
    }
    Ok(addresses)
}

/// Every ready address of the Service's slices answers with the component's reply.
async fn each_slice_address_serves(ctx: &TestContext, service: &str, path: &str) -> anyhow::Result<usize> {
    let want = format!("hello from wasmCloud: {path}\n");
    let addresses = slice_addresses(ctx, service).await?;
    for (pod, (ip, port)) in &addresses {
        let (code, body) = http_get_at(ip, *port, path).await?;
        anyhow::ensure!(
            code == 200 && body == want,
            "{pod} at {ip}:{port} answered {code} {body:?}"
        );
    }
    Ok(addresses.len())
}

/// Sets the spread app's server instances.
async fn spread_to(
    apps: &Api<Application>,
    lattice: &str,
    component: &str,
    instances: u32,
) -> anyhow::Result<()> {
    let spread = json!({"type": "spreadscaler", "properties": {"instances": instances}});
    let app = hello_app("hello-spread", lattice, component, &spread, "0.0.0.0:8090")?;
    apps.patch(
        "hello-spread",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": app.spec})),
    )
    .await?;
    Ok(())
}

/// Every state of the Service's ready slice endpoints (pod names), in the order the watch delivered them.
type EndpointStates = std::sync::Arc<std::sync::Mutex<Vec<BTreeSet<String>>>>;

/// Starts recording the Service's endpoint states; returns once the watch's initial list is recorded.
async fn record_endpoint_states(
    ctx: &TestContext,
    service: &str,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, EndpointStates)> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let config = watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    let states = EndpointStates::default();
    let recorded = states.clone();
    let (synced, is_synced) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let listed = |slices: &BTreeMap<String, EndpointSlice>| -> BTreeSet<String> {
            slices
                .values()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                .filter_map(|e| e.target_ref.as_ref().and_then(|r| r.name.clone()))
                .collect()
        };
        let (mut slices, mut initial) = (BTreeMap::new(), BTreeMap::new());
        let mut synced = Some(synced);
        let mut events = std::pin::pin!(watcher(api, config));
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Init) => initial.clear(),
                Ok(watcher::Event::InitApply(slice)) => {
                    initial.insert(slice.name_any(), slice);
                }
                Ok(watcher::Event::InitDone) => slices = std::mem::take(&mut initial),
                Ok(watcher::Event::Apply(slice)) => {
                    slices.insert(slice.name_any(), slice);
                }
                Ok(watcher::Event::Delete(slice)) => {
                    slices.remove(&slice.name_any());
                }
                Err(_) => continue,
            }
            if let Ok(mut states) = recorded.lock() {
                states.push(listed(&slices));
            }
            if let Some(synced) = synced.take_if(|_| !slices.is_empty()) {
                let _ = synced.send(());
            }
        }
    });
    tokio::time::timeout(TIMEOUT, is_synced)
        .await
        .map_err(|_| anyhow::anyhow!("the EndpointSlice watch did not list {service}'s slices"))??;
    Ok((task, states))
}

/// Waits until the lattice has heard a heartbeat from a real host in each of `pods`, labelled (from the
/// pod's env) with its pod's name and namespace: what wadm and the service-syncer know the hosts by.
async fn hosts_label_their_pods(
    mut heartbeats: async_nats::Subscriber,
    pods: &BTreeSet<String>,
    namespace: &str,
) -> anyhow::Result<()> {
    let mut unheard = pods.clone();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(message) = heartbeats.next().await {
            // A CloudEvent; the heartbeat is its data.
            let event: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
            let labels = &event["data"]["labels"];
            if labels["kubernetes.pod.namespace"] == namespace
                && let Some(pod) = labels["kubernetes.pod.name"].as_str()
            {
                unheard.remove(pod);
            }
            if unheard.is_empty() {
                break;
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no heartbeat labelled with the pods {unheard:?} within {TIMEOUT:?}"))?;
    anyhow::ensure!(
        unheard.is_empty(),
        "the heartbeat subscription ended before {unheard:?} were heard"
    );
    Ok(())
}

/// Waits for the Application's phase to be `Deployed` (the bridge mirrors wadm's status).
async fn deployed(ctx: &TestContext, name: &str) -> anyhow::Result<()> {
    let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait::for_object(&api, name, TIMEOUT, |app: Option<&Application>| {
        app.and_then(|a| a.status.as_ref()).and_then(|s| s.phase) == Some(ApplicationPhase::Deployed)
    })
    .await
    .map(drop)
}

/// The Service's ClusterIP and first port.
fn cluster_address(service: &Service) -> anyhow::Result<(String, u16)> {
    let spec = service.spec.as_ref().ok_or_else(|| anyhow::anyhow!("no spec"))?;
    let ip = spec
        .cluster_ip
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no ClusterIP"))?;
    let port = spec
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .map(|p| u16::try_from(p.port))
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("no port"))?;
    Ok((ip, port))
}

/// Waits until `GET path` through `service`'s ClusterIP is answered by the component, then asks `more`
/// times more; every answer must be the component's.
async fn served_through(service: &Service, path: &str, more: usize) -> anyhow::Result<()> {
    let (ip, port) = cluster_address(service)?;
    let want = format!("hello from wasmCloud: {path}\n");
    let (ip, want) = (&ip, &want);
    wait::until(
        &format!("GET {ip}:{port}{path} to be served"),
        TIMEOUT,
        || async move {
            match http_get_at(ip, port, path).await {
                Ok((200, body)) if body == *want => Ok(()),
                Ok((code, body)) => Err(format!("{code}: {body}")),
                Err(error) => Err(error.to_string()),
            }
        },
    )
    .await?;
    for attempt in 0..more {
        let (code, body) = http_get_at(ip, port, path).await?;
        anyhow::ensure!(
            code == 200 && body == *want,
            "request {attempt} through {ip}:{port}: {code} {body:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn real_hosts_serve_http_through_the_service_syncers_services() {
    with_namespace("http-real", |ctx| async move { Box::pin(run(&ctx)).await }).await;
}

async fn run(ctx: &TestContext) -> anyhow::Result<()> {
    let node = RealNode::get(&ctx.env)?;
    let host_image = RealNode::wasmcloud_host_image()?;
    let component = RealNode::http_component()?;
    ctx.enforce_restricted().await?;
    // The pods get the leaf-link sidecar from the operator's image, as the chart configures it.
    let leaf_link_image = node
        .operator_images("test-a")?
        .into_iter()
        .find(|image| image.contains("wasmcloud-host-operator"))
        .ok_or_else(|| anyhow::anyhow!("no host-operator image"))?;
    let _hosts = start_in_namespace_with(
        ctx,
        "wasmcloud-host-operator",
        &["--leaf-link-image", &leaf_link_image],
    )
    .await?;
    let _bridge = start_in_namespace(ctx, "wasmcloud-app-status-bridge").await?;
    let _syncer = start_in_namespace(ctx, "wasmcloud-service-syncer").await?;

    let lattice = lattice("http");
    let config: WasmCloudHostConfig = serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": HOSTS},
        "spec": {
            "lattice": lattice, "hostReplicas": 2, "image": host_image,
            "natsLeafImage": RealNode::nats_leaf_image()?,
            "schedulingOptions": {
                "podTemplateAdditions": {
                    "nodeSelector": {"type": NODE_TYPE},
                    "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}],
                },
                // What a user of the built-in HTTP server and of file:// components sets on the host.
                "containerTemplateAdditions": {"wasmcloud": {"name": "wasmcloud-host", "env": [
                    {"name": "WASMCLOUD_EXPERIMENTAL_FEATURES", "value": "builtin-http-server"},
                    {"name": "WASMCLOUD_ALLOW_FILE_LOAD", "value": "true"},
                    // Heartbeats every 5 s (30 s by default), so the test sees the apps stay Deployed across them.
                    {"name": "WASMCLOUD_HEARTBEAT_INTERVAL", "value": "5"},
                ]}},
            },
        },
    }))?;
    let hub = ctx.env.nats().await?;
    let heartbeats = hub
        .subscribe(format!("wasmbus.evt.{lattice}.host_heartbeat"))
        .await?;
    let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    configs.create(&PostParams::default(), &config).await?;
    let pods = ready_host_pods(ctx, &node, 2).await?;
    hosts_label_their_pods(heartbeats, &pods, &ctx.namespace).await?;

    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    // Daemon: the server on every host, so the Service selects every host pod of the lattice.
    let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
    apps.create(
        &PostParams::default(),
        &hello_app("hello-daemon", &lattice, &component, &daemon, "0.0.0.0:8080")?,
    )
    .await?;
    deployed(ctx, "hello-daemon").await?;
    let service = wait_service(ctx, "hello-daemon", |s| {
        s.spec.as_ref().and_then(|s| s.selector.as_ref()).is_some()
    })
    .await?;
    served_through(&service, "/daemon", 10).await?;

    // Spread of one: the server on one host only; the Service's slices list exactly that host's pod, and
    // every request through it is answered (a slice listing the other pod would be refused there).
    let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
    apps.create(
        &PostParams::default(),
        &hello_app("hello-spread", &lattice, &component, &spread, "0.0.0.0:8090")?,
    )
    .await?;
    deployed(ctx, "hello-spread").await?;
    let service = wait_service(ctx, "hello-spread", |s| {
        s.spec.as_ref().is_some_and(|s| s.selector.is_none())
    })
    .await?;
    let serving = wait_endpoint_pods(ctx, "hello-spread", |listed| listed.len() == 1).await?;
    anyhow::ensure!(
        serving.is_subset(&pods),
        "the slice lists {serving:?}, not one of the host pods {pods:?}"
    );
    served_through(&service, "/spread", 20).await?;
    anyhow::ensure!(each_slice_address_serves(ctx, "hello-spread", "/spread").await? == 1);

    // Spread of two on two hosts: both pods listed, each answering at its own address.
    spread_to(&apps, &lattice, &component, 2).await?;
    wait_endpoint_pods(ctx, "hello-spread", |listed| *listed == pods).await?;
    anyhow::ensure!(each_slice_address_serves(ctx, "hello-spread", "/spread").await? == 2);

    // Three hosts and a spread of three: the new pod joins the slices once its host runs the server.
    configs
        .patch(
            HOSTS,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"hostReplicas": 3}})),
        )
        .await?;
    let pods = ready_host_pods(ctx, &node, 3).await?;
    spread_to(&apps, &lattice, &component, 3).await?;
    wait_endpoint_pods(ctx, "hello-spread", |listed| *listed == pods).await?;
    anyhow::ensure!(each_slice_address_serves(ctx, "hello-spread", "/spread").await? == 3);

    // A deleted host pod leaves the slices before its replacement joins them.
    let (watch_task, endpoint_states) = record_endpoint_states(ctx, "hello-spread").await?;
    let gone = pods
        .iter()
        .next()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no pod"))?;
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    pod_api.delete(&gone, &DeleteParams::default()).await?;
    let after = ready_host_pods(ctx, &node, 3).await?;
    let replacement = after
        .difference(&pods)
        .next()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no replacement pod: {after:?}"))?;
    let now = wait_endpoint_pods(ctx, "hello-spread", |listed| *listed == after).await?;
    watch_task.abort();
    let seen = endpoint_states
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    anyhow::ensure!(
        seen.iter().any(|s| s.contains(&gone)) && seen.iter().any(|s| s.contains(&replacement)),
        "the watch saw the slices before and after: {seen:?}"
    );
    for listed in &seen {
        anyhow::ensure!(
            !(listed.contains(&gone) && listed.contains(&replacement)),
            "the slices listed the deleted pod {gone} and its replacement {replacement} together: {seen:?}"
        );
    }
    anyhow::ensure!(!now.contains(&gone) && now.len() == 3, "{now:?}");
    anyhow::ensure!(each_slice_address_serves(ctx, "hello-spread", "/spread").await? == 3);

    // Hosts' heartbeats (their inventory) must not unsettle wadm: both apps stay Deployed and served.
    let settle_until = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < settle_until {
        for name in ["hello-daemon", "hello-spread"] {
            let status = apps.get(name).await?.status.unwrap_or_default();
            anyhow::ensure!(
                status.phase == Some(ApplicationPhase::Deployed),
                "{name} left Deployed after the hosts' heartbeats: {:?} {:?}",
                status.phase,
                status.message
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    served_through(&service, "/spread", 5).await?;
    Ok(())
}
