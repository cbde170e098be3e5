//! Wires the WasmCloudHostConfig controller: what it watches (its objects, its children by label, the
//! Secrets and ConfigMaps they refer to as metadata only, Applications for the app list) and how
//! results and errors are counted. Touches the API through watches only.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use wasmcloud_operator_types::contract::{binaries, labels};
use wasmcloud_operator_types::runtime::backoff::{log_errors, watch_backoff};
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::runtime::readiness::{CacheGate, ReadinessCheck};
use wasmcloud_operator_types::runtime::watch_config::{self, NamespacedKind};
use wasmcloud_operator_types::runtime::{app, readiness};
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

use crate::app_index::AppIndex;
use crate::confirmed::{Confirmed, Key};
use crate::context::Context;
use crate::errors::Error;
use crate::gather::referenced_names;
use crate::reconcile::reconcile;

/// Runs the controller until the stream ends (it doesn't, short of a shutdown).
/// Runs the controller; `leaf_link_image` is the image of the pods' leaf-link sidecar (none: no sidecar).
pub async fn run(shared: app::Context, leaf_link_image: Option<String>) -> anyhow::Result<()> {
    let client = shared.client.clone();
    let caches = shared.readiness.register("caches");
    let applications_listed = shared.readiness.register("applications");
    let apps = AppIndex::default();
    let confirmed = Confirmed::default();
    let reporter = runner::reporter(binaries::HOST_OPERATOR);
    let context = Arc::new(Context::new(
        client.clone(),
        shared.metrics.clone(),
        Recorder::new(client.clone(), reporter),
        apps.clone(),
        confirmed.clone(),
        leaf_link_image,
        CacheGate::new(&shared.readiness, &["caches", "applications"]),
    )?);

    let ours = watch_config::labelled(labels::MANAGED_BY, binaries::HOST_OPERATOR);
    let (store, writer) = reflector::store();
    let host_configs = reflector::reflector(
        writer,
        watcher(shared.api::<WasmCloudHostConfig>(), watch_config::all())
            .backoff(watch_backoff())
            .modify(watch_config::slim)
            .inspect(forget_deleted(confirmed.clone())),
    )
    .applied_objects();
    let controller = shared.graceful(
        Controller::for_stream(log_errors(host_configs, "WasmCloudHostConfigs"), store.clone()),
        16,
    );

    // Children: metadata only, selected by our label (never every Deployment in the cluster). A change
    // to one also drops its owner's confirmation, so the reconcile it triggers reads the cluster.
    let controller = controller
        .owns_stream(child_changes::<Deployment>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<DaemonSet>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<ConfigMap>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<Secret>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<Service>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<ServiceAccount>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<Role>(&shared, &ours, &confirmed))
        .owns_stream(child_changes::<RoleBinding>(&shared, &ours, &confirmed));

    // Referenced Secrets and ConfigMaps: a metadata-only watch with no cache, mapped through the spec.
    let everything = watch_config::all();
    let (secret_refs, config_map_refs) = (store.clone(), store.clone());
    let (secrets_changed, config_maps_changed) = (confirmed.clone(), confirmed.clone());
    let controller = controller
        .watches_stream(metadata_changes::<Secret>(&shared, &everything), move |secret| {
            referencing(
                &secret_refs,
                &secrets_changed,
                secret.namespace().as_deref(),
                &secret.name_any(),
                true,
            )
        })
        .watches_stream(
            metadata_changes::<ConfigMap>(&shared, &everything),
            move |config_map| {
                referencing(
                    &config_map_refs,
                    &config_maps_changed,
                    config_map.namespace().as_deref(),
                    &config_map.name_any(),
                    false,
                )
            },
        )
        .reconcile_on(application_triggers(
            shared.api::<Application>(),
            (apps, applications_listed),
            store.clone(),
        ));

    tokio::spawn(readiness::when_store_ready(store.clone(), caches));

    let managed = context.managed.clone();
    runner::drain(
        controller
            .run(timed_reconcile, error_policy, context)
            .inspect(move |_| managed.set(i64::try_from(store.state().len()).unwrap_or(i64::MAX))),
    )
    .await;
    Ok(())
}

/// Changed objects of kind `K`, as metadata only (no cache is kept).
fn metadata_changes<K>(
    shared: &app::Context,
    config: &watcher::Config,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: NamespacedKind,
{
    let changes = watcher(shared.api::<PartialObjectMeta<K>>(), config.clone())
        .backoff(watch_backoff())
        .touched_objects();
    log_errors(changes, std::any::type_name::<K>())
}

/// The WasmCloudHostConfigs in `namespace` that refer to the named Secret (or ConfigMap); their
/// confirmations are dropped.
fn referencing(
    store: &Store<WasmCloudHostConfig>,
    confirmed: &Confirmed,
    namespace: Option<&str>,
    name: &str,
    secret: bool,
) -> Vec<ObjectRef<WasmCloudHostConfig>> {
    store
        .state()
        .iter()
        .filter(|whc| whc.namespace().as_deref() == namespace)
        .filter(|whc| {
            let (secrets, config_maps) = referenced_names(&whc.spec);
            if secret {
                secrets.iter().any(|s| s == name)
            } else {
                config_maps.iter().any(|c| c == name)
            }
        })
        .map(|whc| {
            confirmed.changed(key_of(whc.as_ref()));
            ObjectRef::from_obj(whc.as_ref())
        })
        .collect()
}

/// Changed children of kind `K` (metadata only), each dropping the confirmation of the host config that
/// controls it.
fn child_changes<K>(
    shared: &app::Context,
    config: &watcher::Config,
    confirmed: &Confirmed,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: NamespacedKind,
{
    let confirmed = confirmed.clone();
    metadata_changes::<K>(shared, config).inspect(move |change| {
        let Ok(child) = change else { return };
        let owner = child
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|owner| owner.controller == Some(true) && owner.kind == WasmCloudHostConfig::kind(&()));
        if let (Some(owner), Some(namespace)) = (owner, &child.metadata.namespace) {
            confirmed.changed((namespace.clone(), owner.name.clone()));
        }
    })
}

/// Drops what was confirmed about a deleted host config.
fn forget_deleted(
    confirmed: Confirmed,
) -> impl FnMut(&Result<watcher::Event<WasmCloudHostConfig>, watcher::Error>) {
    move |event| {
        if let Ok(watcher::Event::Delete(whc)) = event {
            confirmed.forget(&key_of(whc));
        }
    }
}

fn key_of(whc: &WasmCloudHostConfig) -> Key {
    (whc.namespace().unwrap_or_default(), whc.name_any())
}

/// Keeps the Application index current and yields the WasmCloudHostConfigs whose lattice's app list
/// changed.
fn application_triggers(
    api: Api<Application>,
    (apps, listed): (AppIndex, ReadinessCheck),
    store: Store<WasmCloudHostConfig>,
) -> impl futures::Stream<Item = ObjectRef<WasmCloudHostConfig>> + Send + 'static {
    watcher(api, watch_config::all())
        .backoff(watch_backoff())
        .map(move |event| {
            let lattices: BTreeSet<String> = match event {
                Ok(watcher::Event::Apply(app) | watcher::Event::InitApply(app)) => apps.apply(&app),
                Ok(watcher::Event::Delete(app)) => apps.delete(&app),
                Ok(watcher::Event::Init) => {
                    apps.begin_resync();
                    BTreeSet::new()
                }
                Ok(watcher::Event::InitDone) => {
                    listed.set(true);
                    apps.end_resync()
                }
                Err(error) => {
                    tracing::warn!(%error, "watching Applications failed; retrying");
                    BTreeSet::new()
                }
            };
            let targets: Vec<ObjectRef<WasmCloudHostConfig>> = store
                .state()
                .iter()
                .filter(|whc| lattices.contains(&whc.spec.lattice))
                .map(|whc| ObjectRef::from_obj(whc.as_ref()))
                .collect();
            stream::iter(targets)
        })
        .flatten()
}

/// The reconcile, recorded by the tracker once the caches have listed.
async fn timed_reconcile(whc: Arc<WasmCloudHostConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    runner::timed(
        &whc,
        &ctx.tracker,
        &ctx.listed,
        Box::pin(reconcile(whc.clone(), ctx.clone())),
    )
    .await
}

/// Transient failures back off exponentially per object (bad input never gets here: it is reported on
/// the object and waits for a change; a child conflict is reported first, then retried).
#[allow(clippy::needless_pass_by_value)] // the signature is kube's `Controller::run`
fn error_policy(whc: Arc<WasmCloudHostConfig>, error: &Error, ctx: Arc<Context>) -> Action {
    runner::error_policy(whc.as_ref(), error, &ctx.tracker)
}
