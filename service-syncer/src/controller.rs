//! Wires the app-Service controller: one reconcile per WasmCloudHostConfig (its namespace and lattice),
//! triggered by host configs, host pods, our Services and EndpointSlices, and lattice changes seen on
//! NATS. Touches the API through label-selected watches.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::contract::{binaries, labels};
use wasmcloud_operator_types::runtime::backoff::{log_errors, watch_backoff};
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::runtime::nats::Nats;
use wasmcloud_operator_types::runtime::readiness::CacheGate;
use wasmcloud_operator_types::runtime::watch_config::{self, NamespacedKind};
use wasmcloud_operator_types::runtime::{app, readiness};

use crate::lattices::Lattices;
use crate::reconcile::{Caches, Context, Error, reconcile};

/// Runs the controller until the stream ends.
pub async fn run(
    shared: app::Context,
    nats: Nats,
    image_patterns: Vec<String>,
    ping_window: Duration,
) -> anyhow::Result<()> {
    let (lattices, lattice_changes) = Lattices::new(
        nats,
        ping_window,
        image_patterns,
        shared.readiness.register("wadm"),
    );
    let (host_configs, writer) = reflector::store();
    // The lattices followed on NATS are those the host configs name: updated as host configs come and go,
    // outside any reconcile.
    let (following, named) = (lattices.clone(), host_configs.clone());
    let host_config_changes = reflector::reflector(
        writer,
        watcher(shared.api::<WasmCloudHostConfig>(), watch_config::all())
            .backoff(watch_backoff())
            .modify(WasmCloudHostConfig::keep_identity_and_lattice),
    )
    .inspect(move |event| {
        if let Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) = event {
            following.follow_lattices_of(named.state().iter().map(AsRef::as_ref));
        }
    })
    .applied_objects();
    let controller = shared.graceful(
        Controller::for_stream(
            log_errors(host_config_changes, "WasmCloudHostConfigs"),
            host_configs.clone(),
        ),
        8,
    );

    let host_pods = watch_config::labelled(labels::NAME, labels::HOST_NAME_VALUE);
    let (pods, pod_changes) = cached(shared.api::<Pod>(), host_pods, slim_pod);
    let ours = watch_config::labelled(labels::MANAGED_BY, binaries::SERVICE_SYNCER);
    let (services, service_changes) = cached(shared.api::<Service>(), ours, watch_config::slim);
    // The slices of our Services: ours, and kube-controller-manager's for a selector we set (it copies the
    // Service's labels, our managed-by label included). The reconcile writes only ours and removes
    // kube-controller-manager's once the Service no longer has the selector they were made for.
    let our_services_slices = watch_config::labelled(labels::MANAGED_BY, binaries::SERVICE_SYNCER);
    let (slices, slice_changes) = cached(
        shared.api::<EndpointSlice>(),
        our_services_slices,
        watch_config::slim,
    );

    let ready = |name| shared.readiness.register(name);
    tokio::spawn(readiness::when_store_ready(
        host_configs.clone(),
        ready("host-configs"),
    ));
    tokio::spawn(readiness::when_store_ready(pods.clone(), ready("pods")));
    tokio::spawn(readiness::when_store_ready(services.clone(), ready("services")));
    tokio::spawn(readiness::when_store_ready(
        slices.clone(),
        ready("endpointslices"),
    ));
    let context = Arc::new(Context::new(
        shared.client.clone(),
        Caches {
            host_configs: host_configs.clone(),
            pods,
            services,
            slices,
            listed: CacheGate::new(
                &shared.readiness,
                &["host-configs", "pods", "services", "endpointslices"],
            ),
        },
        lattices,
        &shared.metrics,
    )?);

    let by_pod = host_configs.clone();
    let by_service = host_configs.clone();
    let by_slice = host_configs.clone();
    let by_lattice = host_configs.clone();
    let results = controller
        .watches_stream(pod_changes, move |pod| group_of(&by_pod, &pod))
        .watches_stream(service_changes, move |service| group_of(&by_service, &service))
        .watches_stream(slice_changes, move |slice| group_of(&by_slice, &slice))
        .reconcile_on(
            stream::unfold(lattice_changes, |mut changes| async move {
                changes.recv().await.map(|lattice| (lattice, changes))
            })
            .flat_map(move |lattice| stream::iter(in_lattice(&by_lattice, &lattice))),
        )
        .run(timed_reconcile, error_policy, context);
    runner::drain(results).await;
    Ok(())
}

/// A label-selected cache of `K` and the stream of objects that changed in it (including deleted ones).
fn cached<K>(
    api: kube::Api<K>,
    config: watcher::Config,
    slim: impl FnMut(&mut K) + Send + 'static,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: NamespacedKind,
{
    let (store, writer) = reflector::store();
    let changes = reflector::reflector(writer, watcher(api, config).backoff(watch_backoff()).modify(slim))
        .touched_objects();
    (store, log_errors(changes, std::any::type_name::<K>()))
}

/// Keeps of a host pod only what slices need: metadata without managed fields or annotations, the node,
/// and of the status the phase, the addresses and the Ready condition.
fn slim_pod(pod: &mut Pod) {
    watch_config::slim(pod);
    pod.metadata.annotations = None;
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    pod.spec = Some(PodSpec {
        node_name,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        phase: status.phase,
        pod_ip: status.pod_ip,
        pod_ips: status.pod_ips,
        conditions: status
            .conditions
            .map(|conditions| conditions.into_iter().filter(|c| c.type_ == "Ready").collect()),
        ..PodStatus::default()
    });
}

/// The host configs of the object's namespace and lattice label.
fn group_of<K: Resource>(
    host_configs: &Store<WasmCloudHostConfig>,
    object: &K,
) -> Vec<ObjectRef<WasmCloudHostConfig>> {
    let meta = object.meta();
    let lattice = meta.labels.as_ref().and_then(|l| l.get(labels::LATTICE));
    host_configs
        .state()
        .iter()
        .filter(|h| h.namespace() == meta.namespace && Some(&h.spec.lattice) == lattice)
        .map(|h| ObjectRef::from_obj(h.as_ref()))
        .collect()
}

/// Every host config of `lattice`, in any namespace.
fn in_lattice(
    host_configs: &Store<WasmCloudHostConfig>,
    lattice: &str,
) -> Vec<ObjectRef<WasmCloudHostConfig>> {
    host_configs
        .state()
        .iter()
        .filter(|h| h.spec.lattice == lattice)
        .map(|h| ObjectRef::from_obj(h.as_ref()))
        .collect()
}

/// The reconcile, recorded by the tracker once the caches have listed.
async fn timed_reconcile(host_config: Arc<WasmCloudHostConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    runner::timed(
        &host_config,
        &ctx.tracker,
        &ctx.caches.listed,
        Box::pin(reconcile(host_config.clone(), ctx.clone())),
    )
    .await
}

#[allow(clippy::needless_pass_by_value)] // the signature is kube's `Controller::run`
fn error_policy(host_config: Arc<WasmCloudHostConfig>, error: &Error, ctx: Arc<Context>) -> Action {
    runner::error_policy(host_config.as_ref(), error, &ctx.tracker)
}
