//! Makes one namespace hold exactly the planned app Services and EndpointSlices of one lattice: applies
//! what drifted (compared with the caches, so a steady state writes nothing), deletes what no app wants
//! any more, and reports apps that can't get a Service. Touches the namespace's app Services and
//! EndpointSlices, and Events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use prometheus::IntGaugeVec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::contract::{binaries, field_manager, labels};
use wasmcloud_operator_types::runtime::apply::{self, Current};
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::runtime::metrics::Metrics;
use wasmcloud_operator_types::runtime::ownership;
use wasmcloud_operator_types::runtime::readiness::CacheGate;
use wasmcloud_operator_types::runtime::tracker::ReconcileTracker;

use crate::lattices::Lattices;
use crate::plan::{self, Plan, PlannedService, Problem};
use crate::slices::{
    self, ENDPOINTS_MANAGED_BY_LABEL, ENDPOINTS_MANAGER, MIRRORED_SLICE_MANAGER, SELECTOR_SLICE_MANAGER,
    SERVICE_NAME_LABEL, SLICE_MANAGED_BY_LABEL, SLICE_MANAGER,
};

/// The controller name in metrics.
pub const CONTROLLER: &str = "app-service";
/// Reason of a problem: a Service of that name exists and is someone else's.
pub const NAME_TAKEN: &str = "ServiceNameTaken";
/// A reconcile that found nothing to do looks again after this long (a safety net, not the mechanism).
const SAFETY_NET: Duration = Duration::from_secs(600);

/// A failure talking to the API server (retried with backoff): the shared apply helper's error.
pub use wasmcloud_operator_types::runtime::apply::ApplyError as Error;

/// The caches a reconcile reads.
#[derive(Clone, Debug)]
pub struct Caches {
    pub host_configs: Store<WasmCloudHostConfig>,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    /// Open once each of the stores above has listed: no reconcile plans from a half-filled view.
    pub listed: CacheGate,
}

/// (namespace, lattice)
type NamespaceLattice = (String, String);
/// (app, message)
type AppProblem = (String, String);

/// Everything a reconcile needs.
pub struct Context {
    pub client: Client,
    pub caches: Caches,
    pub lattices: Lattices,
    pub recorder: Recorder,
    pub tracker: ReconcileTracker<WasmCloudHostConfig>,
    /// Apps that can't get a Service, per lattice and reason.
    pub unserved_apps: IntGaugeVec,
    /// Problems already reported, so each is one Event, not one per reconcile.
    reported: Mutex<BTreeMap<NamespaceLattice, BTreeSet<AppProblem>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("lattices", &self.lattices)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: Client,
        caches: Caches,
        lattices: Lattices,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let unserved_apps = IntGaugeVec::new(
            prometheus::Opts::new(
                "wasmcloud_service_syncer_unserved_apps",
                "Deployed HTTP apps that get no Service, by lattice, namespace and reason",
            ),
            &["lattice", "namespace", "reason"],
        )?;
        metrics.registry().register(Box::new(unserved_apps.clone()))?;
        let reporter = runner::reporter(binaries::SERVICE_SYNCER);
        Ok(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            caches,
            lattices,
            tracker: ReconcileTracker::new(CONTROLLER, metrics.clone()),
            unserved_apps,
            reported: Mutex::default(),
        })
    }
}

/// Brings the namespace of `host_config` in line for its lattice.
pub async fn reconcile(host_config: Arc<WasmCloudHostConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let host_configs = ctx.caches.host_configs.state();
    let namespace = host_config.namespace().unwrap_or_default();
    let lattice = host_config.spec.lattice.clone();
    let mut owners: Vec<&WasmCloudHostConfig> = host_configs
        .iter()
        .map(AsRef::as_ref)
        .filter(|h| h.namespace().as_deref() == Some(namespace.as_str()) && h.spec.lattice == lattice)
        .filter(|h| h.meta().deletion_timestamp.is_none())
        .collect();
    owners.sort_by_key(|h| h.name_any());
    if owners.is_empty() {
        // The last host config of the lattice is going: garbage collection takes its Services along.
        return Ok(Action::await_change());
    }
    let pods: Vec<Arc<Pod>> = ctx
        .caches
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|p| p.labels().get(labels::LATTICE) == Some(&lattice))
        .collect();
    let now = std::time::Instant::now();
    let listed = listed_endpoints(&ctx.caches.slices, &namespace);
    let planned = ctx.lattices.with_view(&lattice, |view| {
        view.synced.then(|| {
            let plan = plan::plan(&lattice, view, &owners, &pods, &listed, now);
            (plan, view.hosts_settling(now))
        })
    });
    let Some(Some((plan, settling))) = planned else {
        // Not read from wadm yet (or wadm is away): leave what exists alone until the lattice is synced.
        return Ok(Action::await_change());
    };
    let mut problems = plan.problems.clone();
    problems.extend(apply_plan(&ctx.client, &ctx.caches, &namespace, &lattice, &plan).await?);
    report(&ctx, &namespace, &lattice, &owners, &problems).await;
    // While hosts are still being heard from, endpoints were only kept: look again once they all were.
    Ok(Action::requeue(
        settling.map_or(SAFETY_NET, |left| left + Duration::from_secs(1)),
    ))
}

/// The effect step: makes `namespace` hold exactly `plan`'s Services and slices of `lattice` (writing
/// only what drifted from the caches, never another's object), and returns the apps that found their
/// Service's or slice's name taken.
pub async fn apply_plan(
    client: &Client,
    caches: &Caches,
    namespace: &str,
    lattice: &str,
    plan: &Plan,
) -> Result<Vec<Problem>, Error> {
    let mut problems = Vec::new();
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let existing = ours(&caches.services, namespace, lattice);
    let mut kept = BTreeSet::new();
    for planned in &plan.services {
        let name = planned.service.name_any();
        let current = existing.iter().find(|s| s.name_any() == name).cloned();
        let service = match current {
            Some(current) => {
                // The drift check sees only the fields we send; a selector we no longer send is drift too
                // (server-side apply then removes it, since it was ours).
                let selector = |s: &Service| s.spec.as_ref().and_then(|spec| spec.selector.clone());
                let stale_selector = selector(&current).is_some() && selector(&planned.service).is_none();
                let known = (!stale_selector).then_some(current.as_ref());
                apply_if_drifted(&services, &planned.service, known).await?
            }
            None => match services.get_opt(&name).await.map_err(|source| Error::Read {
                what: format!("Service {namespace}/{name}"),
                source,
            })? {
                Some(taken)
                    if !is_ours(&taken)
                        || taken.labels().get(labels::LATTICE).map(String::as_str) != Some(lattice) =>
                {
                    let holder = match taken.labels().get(labels::LATTICE) {
                        Some(other) if is_ours(&taken) => {
                            format!("already serves the app of lattice {other}")
                        }
                        _ => format!(
                            "already exists and is not managed by {}",
                            binaries::SERVICE_SYNCER
                        ),
                    };
                    problems.push(Problem {
                        app: planned.app.app.clone(),
                        reason: NAME_TAKEN,
                        message: format!("Service {name} {holder}; rename the app or move one lattice's hosts to another namespace"),
                    });
                    continue;
                }
                found => apply_if_drifted(&services, &planned.service, found.as_ref()).await?,
            },
        };
        kept.insert(name);
        if let Some(problem) = sync_slices(client, caches, namespace, planned, &service).await? {
            problems.push(problem);
        }
    }
    for stale in existing.iter().filter(|s| !kept.contains(&s.name_any())) {
        tracing::info!(service = %stale.name_any(), %namespace, %lattice, "removing the Service of an app that no longer qualifies");
        delete(&services, &stale.name_any()).await?;
    }
    Ok(problems)
}

/// The pods our EndpointSlices in `namespace` list now, by Service name (from the cache).
fn listed_endpoints(slices: &Store<EndpointSlice>, namespace: &str) -> plan::Listed {
    let mut listed = plan::Listed::new();
    for slice in slices.state() {
        let ours = slice.labels().get(SLICE_MANAGED_BY_LABEL).map(String::as_str) == Some(SLICE_MANAGER);
        if !ours || slice.namespace().as_deref() != Some(namespace) {
            continue;
        }
        let Some(service) = slice.labels().get(SERVICE_NAME_LABEL) else {
            continue;
        };
        let pods = slice
            .endpoints
            .iter()
            .filter_map(|endpoint| endpoint.target_ref.as_ref())
            .filter(|target| target.kind.as_deref() == Some("Pod"))
            .filter_map(|target| target.name.clone());
        listed.entry(service.clone()).or_default().extend(pods);
    }
    listed
}

/// Makes the Service's EndpointSlices list the planned pods, or removes ours when a selector does it. A
/// slice of the planned name that the Service does not control is left alone and returned as a problem.
async fn sync_slices(
    client: &Client,
    caches: &Caches,
    namespace: &str,
    planned: &PlannedService,
    service: &Service,
) -> Result<Option<Problem>, Error> {
    let service_uid = service.uid().unwrap_or_default();
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let name = service.name_any();
    let managed_by = |manager: &str| -> Vec<Arc<EndpointSlice>> {
        caches
            .slices
            .state()
            .into_iter()
            .filter(|s| s.namespace().as_deref() == Some(namespace))
            .filter(|s| s.labels().get(SERVICE_NAME_LABEL) == Some(&name))
            .filter(|s| s.labels().get(SLICE_MANAGED_BY_LABEL).map(String::as_str) == Some(manager))
            .collect()
    };
    let controlled = |slices: Vec<Arc<EndpointSlice>>| -> Vec<Arc<EndpointSlice>> {
        slices
            .into_iter()
            .filter(|s| ownership::controlled_by(s.meta(), &service_uid))
            .collect()
    };
    let existing = controlled(managed_by(SLICE_MANAGER));
    if planned.endpoint_pods.is_some() {
        // kube-controller-manager leaves what it made for a selector behind when the selector goes (an app
        // moved from a daemonscaler to a spreadscaler): its slices, and the Endpoints object that its
        // mirroring controller then copies into slices. Either would keep routing to every host.
        for leftover in controlled(managed_by(SELECTOR_SLICE_MANAGER)) {
            tracing::info!(slice = %leftover.name_any(), service = %name, %namespace, "removing the slice of a selector the Service no longer has");
            delete(&api, &leftover.name_any()).await?;
        }
        if !managed_by(MIRRORED_SLICE_MANAGER).is_empty() {
            remove_leftover_endpoints(client, namespace, &name).await?;
        }
    }
    let desired = match &planned.endpoint_pods {
        Some(pods) => {
            let pods: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
            slices::endpoint_slices(service, planned.app.port, &pods)
        }
        None => Vec::new(),
    };
    let mut problem = None;
    for slice in &desired {
        let current = existing.iter().find(|s| s.name_any() == slice.name_any());
        if current.is_none()
            && let Some(taken) = api
                .get_opt(&slice.name_any())
                .await
                .map_err(|source| Error::Read {
                    what: format!("EndpointSlice {namespace}/{}", slice.name_any()),
                    source,
                })?
            && !ownership::controlled_by(taken.meta(), &service_uid)
        {
            problem = Some(Problem {
                app: planned.app.app.clone(),
                reason: NAME_TAKEN,
                message: format!(
                    "EndpointSlice {} already exists and {}; it is left alone and the Service {name} gets no endpoints until it is deleted or renamed",
                    slice.name_any(),
                    ownership::holder(taken.meta())
                ),
            });
            continue;
        }
        apply_if_drifted(&api, slice, current.map(AsRef::as_ref)).await?;
    }
    for stale in existing
        .iter()
        .filter(|s| !desired.iter().any(|d| d.name_any() == s.name_any()))
    {
        delete(&api, &stale.name_any()).await?;
    }
    Ok(problem)
}

/// Deletes the Endpoints object `name` that kube-controller-manager's endpoints controller made for the
/// selector our Service had (its managed-by label, and our Service's labels it copied); any other
/// Endpoints of that name is left alone. Its mirrored slices go with it.
async fn remove_leftover_endpoints(client: &Client, namespace: &str, name: &str) -> Result<(), Error> {
    let api: Api<Endpoints> = Api::namespaced(client.clone(), namespace);
    let Some(endpoints) = api.get_opt(name).await.map_err(|source| Error::Read {
        what: format!("Endpoints {namespace}/{name}"),
        source,
    })?
    else {
        return Ok(());
    };
    let made_for_our_selector = endpoints
        .labels()
        .get(ENDPOINTS_MANAGED_BY_LABEL)
        .map(String::as_str)
        == Some(ENDPOINTS_MANAGER)
        && is_labelled_ours(&endpoints);
    if made_for_our_selector {
        tracing::info!(endpoints = %name, %namespace, "removing the Endpoints of a selector the Service no longer has");
        delete(&api, name).await?;
    }
    Ok(())
}

/// Our Services of `lattice` in `namespace`, from the cache.
fn ours(services: &Store<Service>, namespace: &str, lattice: &str) -> Vec<Arc<Service>> {
    services
        .state()
        .into_iter()
        .filter(|s| s.namespace().as_deref() == Some(namespace))
        .filter(|s| s.labels().get(labels::LATTICE).map(String::as_str) == Some(lattice))
        .filter(|s| is_ours(s.as_ref()))
        .collect()
}

/// Ours: our managed-by label (which anyone can copy) and owned by WasmCloudHostConfigs, as every Service
/// the syncer makes is; a Service with the label alone is someone else's and is never written or deleted.
fn is_ours<K: Resource>(object: &K) -> bool {
    is_labelled_ours(object)
        && ownership::owned_by_kind(
            object.meta(),
            WasmCloudHostConfig::group(&()).as_ref(),
            "WasmCloudHostConfig",
        )
}

/// Carries our managed-by label (ours, or copied from one of our Services).
fn is_labelled_ours<K: Resource>(object: &K) -> bool {
    object
        .meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED_BY))
        .map(String::as_str)
        == Some(binaries::SERVICE_SYNCER)
}

/// Applies `desired` unless `current` (from the caches, or read when the caches don't have it) already
/// carries every field of it; returns the object as it is.
async fn apply_if_drifted<K>(api: &Api<K>, desired: &K, current: Option<&K>) -> Result<K, Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    apply::apply_if_drifted(
        api,
        desired,
        Current::Known(current),
        field_manager::SERVICE_SYNCER,
    )
    .await
    .map(|(object, _)| object)
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    runner::delete_if_present(api, name)
        .await
        .map(drop)
        .map_err(|source| Error::Delete {
            what: format!("{} {name}", K::kind(&K::DynamicType::default())),
            source,
        })
}

/// Sets the unserved-apps gauge and publishes one Warning per new problem, on the app's Service if it
/// has one, otherwise on the host config that owns the namespace's Services.
async fn report(
    ctx: &Context,
    namespace: &str,
    lattice: &str,
    owners: &[&WasmCloudHostConfig],
    problems: &[Problem],
) {
    let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
    for reason in [plan::INVALID_ADDRESS, plan::NAME_COLLISION, NAME_TAKEN] {
        by_reason.insert(reason, 0);
    }
    for problem in problems {
        *by_reason.entry(problem.reason).or_default() += 1;
    }
    for (reason, count) in by_reason {
        ctx.unserved_apps
            .with_label_values(&[lattice, namespace, reason])
            .set(count);
    }
    let current: BTreeSet<(String, String)> = problems
        .iter()
        .map(|p| (p.app.clone(), p.message.clone()))
        .collect();
    let new: Vec<&Problem> = {
        let mut reported = ctx
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (namespace.to_string(), lattice.to_string());
        let before = reported.remove(&key).unwrap_or_default();
        let new = problems
            .iter()
            .filter(|p| !before.contains(&(p.app.clone(), p.message.clone())))
            .collect();
        if !current.is_empty() {
            reported.insert(key, current);
        }
        new
    };
    for problem in new {
        tracing::warn!(app = %problem.app, %lattice, %namespace, reason = problem.reason, message = %problem.message,
            "app gets no Service");
        let service_name = crate::qualify::service_name(&problem.app);
        let regarding = match ctx.caches.services.state().into_iter().find(|s| {
            s.namespace().as_deref() == Some(namespace) && s.name_any() == service_name && is_ours(s.as_ref())
        }) {
            Some(service) => service.object_ref(&()),
            None => owners[0].object_ref(&()),
        };
        // Related to the application by name, so each app's problem is its own Event and not one series.
        let application = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("core.oam.dev/v1beta1".into()),
            kind: Some("Application".into()),
            name: Some(problem.app.clone()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        };
        let event = Event {
            type_: EventType::Warning,
            reason: problem.reason.to_string(),
            note: Some(format!("app {}: {}", problem.app, problem.message)),
            action: "SyncService".into(),
            secondary: Some(application),
        };
        if let Err(error) = ctx.recorder.publish(&event, &regarding).await {
            tracing::warn!(%error, "failed to publish an Event");
        }
    }
}
