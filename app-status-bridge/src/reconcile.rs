//! One reconcile of an Application: choose its lattice (the contract's rule), refuse a model name another
//! namespace already owns, put the manifest at its version, deploy it, read wadm's status and write it
//! only if it changed. Deletion (behind a finalizer) removes the model from wadm. Touches the object,
//! its status and wadm.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::Value;
use wasmcloud_operator_types::application::choose_lattice;
use wasmcloud_operator_types::contract::{
    APPLICATION_FINALIZER, annotations, condition_types, field_manager, reasons,
};
use wasmcloud_operator_types::runtime::announce;
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::runtime::metrics::Metrics;
use wasmcloud_operator_types::runtime::readiness::CacheGate;
use wasmcloud_operator_types::runtime::tracker::ReconcileTracker;
use wasmcloud_operator_types::{Application, ApplicationStatus, WasmCloudHostConfig};

use crate::provenance::{self, Provenance};
use crate::status::{self, Sync};
use crate::wadm::{ModelVersion, Wadm, WadmError};
use crate::{manifest, mirror};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "application";

/// The safety-net resync; wadm's status stream and the watches bring every real change.
const RESYNC: Duration = Duration::from_secs(3600);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub wadm: Wadm,
    pub recorder: Recorder,
    pub apps: Store<Application>,
    pub host_configs: Store<WasmCloudHostConfig>,
    pub default_lattice: Option<String>,
    pub tracker: ReconcileTracker<Application>,
    /// Open once the Application and WasmCloudHostConfig stores have listed: a lattice is never chosen
    /// from a half-filled view (which would pick the default lattice on restart).
    pub listed: CacheGate,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("default_lattice", &self.default_lattice)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: Client,
        wadm: Wadm,
        metrics: Metrics,
        recorder: Recorder,
        stores: (Store<Application>, Store<WasmCloudHostConfig>),
        default_lattice: Option<String>,
        listed: CacheGate,
    ) -> Self {
        let (apps, host_configs) = stores;
        Self {
            client,
            wadm,
            recorder,
            apps,
            host_configs,
            default_lattice,
            tracker: ReconcileTracker::new(CONTROLLER, metrics),
            listed,
        }
    }
}

/// A failure that is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Wadm(#[from] WadmError),
    #[error("failed to write the status")]
    Status(#[source] kube::Error),
    #[error("object has no namespace")]
    NoNamespace,
}

/// The reconcile's error, as kube's finalizer helper wraps it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] pub finalizer::Error<StepError>);

impl runner::ReconcileError for Error {
    /// How long to wait before retrying, given the usual backoff `delay` (shorter while wadm is away).
    fn retry_after(&self, delay: Duration) -> Duration {
        match &self.0 {
            finalizer::Error::ApplyFailed(StepError::Wadm(e))
            | finalizer::Error::CleanupFailed(StepError::Wadm(e)) => e.retry_after(delay),
            _ => delay,
        }
    }

    /// A bounded label for metrics.
    fn category(&self) -> &'static str {
        match &self.0 {
            finalizer::Error::ApplyFailed(StepError::Wadm(e))
            | finalizer::Error::CleanupFailed(StepError::Wadm(e)) => e.category(),
            finalizer::Error::ApplyFailed(_) | finalizer::Error::CleanupFailed(_) => "status",
            finalizer::Error::AddFinalizer(_) | finalizer::Error::RemoveFinalizer(_) => "finalizer",
            _ => "other",
        }
    }
}

#[tracing::instrument(skip_all, fields(name = %app.name_any(), namespace = app.namespace().unwrap_or_default()))]
pub async fn reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, Error> {
    if mirror::is_mirror(&app) {
        // A mirror has no finalizer and never reaches wadm: deleting it leaves the model alone.
        return observe_mirror(&app, &ctx)
            .await
            .map_err(|e| Error(finalizer::Error::ApplyFailed(e)));
    }
    let namespace = app.namespace().unwrap_or_default();
    let api: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    let outcome = finalizer(&api, APPLICATION_FINALIZER, app, |event| async {
        match event {
            finalizer::Event::Apply(app) => apply(&app, &ctx).await,
            finalizer::Event::Cleanup(app) => cleanup(&app, &ctx).await,
        }
    })
    .await?;
    Ok(outcome)
}

/// A mirror's reconcile: its spec set back if edited, wadm's status shown; nothing written to wadm.
async fn observe_mirror(app: &Application, ctx: &Context) -> Result<Action, StepError> {
    match mirror::observe(app, &ctx.wadm, &ctx.client, &ctx.recorder).await? {
        Some((lattice, sync, wadm_status)) => {
            write_status(app, ctx, Some(&lattice), &sync, &wadm_status).await?;
            Ok(Action::requeue(RESYNC))
        }
        // The model is gone: the mirror task removes the object.
        None => Ok(Action::await_change()),
    }
}

/// The lattice of `app` under the contract's rule.
fn lattice_of(app: &Application, ctx: &Context) -> Result<String, String> {
    let namespace = app.namespace();
    let configs = ctx.host_configs.state();
    let lattices: Vec<&str> = configs
        .iter()
        .filter(|c| c.namespace() == namespace)
        .map(|c| c.spec.lattice.as_str())
        .collect();
    let annotation = app.annotations().get(annotations::LATTICE).map(String::as_str);
    choose_lattice(annotation, &lattices, ctx.default_lattice.as_deref())
        .map(str::to_string)
        .map_err(|e| e.to_string())
}

/// Another Application that claimed the same model name in the same lattice first.
fn earlier_claim(app: &Application, lattice: &str, ctx: &Context) -> Option<String> {
    let mine = (app.creation_timestamp(), app.namespace());
    ctx.apps
        .state()
        .iter()
        .filter(|other| other.name_any() == app.name_any() && other.namespace() != app.namespace())
        .filter(|other| !mirror::is_mirror(other))
        .filter(|other| other.status.as_ref().and_then(|s| s.lattice.as_deref()) == Some(lattice))
        .filter(|other| (other.creation_timestamp(), other.namespace()) < mine)
        .map(|other| format!("{}/{}", other.namespace().unwrap_or_default(), other.name_any()))
        .next()
}

/// One apply, as a pipeline: decide what and where from the caches (no wadm), one effect step against
/// wadm, one status write, then the Events the effect warrants.
async fn apply(app: &Application, ctx: &Context) -> Result<Action, StepError> {
    let (lattice, effected, action) = match decide(app, ctx).await {
        Err(Refusal { lattice, sync }) => (lattice, Effected::refused(sync), Action::await_change()),
        Ok(target) => {
            let effected = effect(app, ctx, &target).await;
            (Some(target.lattice), effected, Action::requeue(RESYNC))
        }
    };
    write_status(
        app,
        ctx,
        lattice.as_deref(),
        &effected.sync,
        &effected.wadm_status,
    )
    .await?;
    for (type_, reason, note) in effected.events {
        publish(ctx, app, type_, reason, note).await;
    }
    match effected.retry {
        Some(error) => Err(error.into()),
        None => Ok(action),
    }
}

/// Where and what an Application deploys, once every check that needs no wadm has passed.
struct Target {
    lattice: String,
    name: String,
    version: String,
    manifest: Value,
    uid: String,
}

/// Why an Application can't go to wadm as it is: the status to show, and the lattice to record (none
/// when nothing can reach wadm, so deletion has nothing to clean up).
struct Refusal {
    lattice: Option<String>,
    sync: Sync,
}

/// An Event to publish after the status write: type, reason, note.
type Note = (EventType, &'static str, String);

/// What the effect step came to.
struct Effected {
    sync: Sync,
    /// wadm's status object for the app (null when unknown).
    wadm_status: Value,
    events: Vec<Note>,
    /// A failure to retry with backoff, after the status says so.
    retry: Option<WadmError>,
}

impl Effected {
    fn refused(sync: Sync) -> Self {
        Self {
            sync,
            wadm_status: Value::Null,
            events: Vec::new(),
            retry: None,
        }
    }
}

/// Decides from the caches alone where the Application deploys and what: its lattice, names wadm can
/// take, no earlier claim on the model, a manifest wadm's own validation accepts.
async fn decide(app: &Application, ctx: &Context) -> Result<Target, Refusal> {
    let failed = |lattice: Option<&str>, reason, message| Refusal {
        lattice: lattice.map(str::to_string),
        sync: Sync::Failed { reason, message },
    };
    let lattice = lattice_of(app, ctx).map_err(|message| failed(None, reasons::LATTICE_UNKNOWN, message))?;
    let name = app.name_any();
    let invalid_token = provenance::subject_token_problem("name", &name)
        .or_else(|| provenance::subject_token_problem("lattice", &lattice));
    if let Some(message) = invalid_token {
        return Err(failed(None, reasons::INVALID_SPEC, message));
    }
    if let Some(owner) = earlier_claim(app, &lattice, ctx) {
        let message = format!("{owner} already deploys model {name} in lattice {lattice}");
        return Err(failed(Some(&lattice), reasons::CONFLICT, message));
    }
    let manifest = manifest::manifest(app);
    if let Some(problems) = invalid(&manifest).await {
        return Err(failed(Some(&lattice), reasons::INVALID_SPEC, problems));
    }
    Ok(Target {
        version: manifest::version(app),
        uid: app.uid().unwrap_or_default(),
        lattice,
        name,
        manifest,
    })
}

/// What wadm needs to hold `target`, judged from what it holds. Pure.
#[derive(Debug, PartialEq, Eq)]
enum WadmStep {
    /// Someone else's model, or the same version with other content: leave wadm alone.
    Refuse(&'static str, String),
    /// Put the version (if wadm lacks it) and deploy it (if it isn't the deployed one).
    Bring { put: bool, deploy: bool },
}

fn wadm_step(
    app: &Application,
    target: &Target,
    versions: &[ModelVersion],
    stored: Option<&Value>,
) -> WadmStep {
    let Target {
        lattice,
        name,
        version,
        ..
    } = target;
    if let Some(whose) = stored.map(|stored| Provenance::of(stored, &target.uid))
        && whose != Provenance::Ours
        && !provenance::adopts(app)
    {
        let message = format!(
            "model {name} in lattice {lattice} is already in wadm and {}; the bridge leaves it alone. To take it over \
             with this Application, set the annotation {}=\"true\"",
            whose.describe(),
            annotations::ADOPT_MODEL
        );
        return WadmStep::Refuse(reasons::CONFLICT, message);
    }
    let stored_version = versions.iter().any(|v| &v.version == version);
    if stored_version && stored.is_some_and(|stored| !manifest::same_content(stored, &target.manifest)) {
        let message = format!(
            "the spec changed but wadm already holds version {version} with other content: change the `version` \
             annotation (or remove it to let the bridge derive one)"
        );
        return WadmStep::Refuse(reasons::VERSION_NOT_BUMPED, message);
    }
    let deployed = versions.iter().find(|v| v.deployed).map(|v| v.version.as_str());
    WadmStep::Bring {
        put: !stored_version,
        deploy: deployed != Some(version.as_str()),
    }
}

/// The effect step: everything the bridge does in wadm for one apply, and the status it comes to.
async fn effect(app: &Application, ctx: &Context, target: &Target) -> Effected {
    let mut events = Vec::new();
    match bring_into_wadm(app, ctx, target, &mut events).await {
        Ok((sync, wadm_status)) => Effected {
            sync,
            wadm_status,
            events,
            retry: None,
        },
        Err(WadmError::Rejected(message)) => Effected {
            sync: Sync::Failed {
                reason: reasons::WADM_REJECTED,
                message,
            },
            wadm_status: Value::Null,
            events,
            retry: None,
        },
        Err(error) => Effected {
            sync: Sync::Failed {
                reason: reasons::WADM_UNREACHABLE,
                message: "wadm does not answer; retrying".into(),
            },
            wadm_status: Value::Null,
            events,
            retry: Some(error),
        },
    }
}

async fn bring_into_wadm(
    app: &Application,
    ctx: &Context,
    target: &Target,
    events: &mut Vec<Note>,
) -> Result<(Sync, Value), WadmError> {
    let wadm = &ctx.wadm;
    let Target {
        lattice,
        name,
        version,
        ..
    } = target;
    events.extend(leave_previous_lattice(app, ctx, lattice, &target.uid).await?);
    let versions = wadm.versions(lattice, name).await?;
    // Whose the model is: the version we would deploy if stored, else the newest one.
    let probe = match versions.iter().find(|v| &v.version == version) {
        Some(ours) => Some(ours.version.as_str()),
        None => versions.last().map(|v| v.version.as_str()),
    };
    let stored = match probe {
        Some(probe) => wadm.manifest(lattice, name, probe).await?,
        None => None,
    };
    match wadm_step(app, target, &versions, stored.as_ref()) {
        WadmStep::Refuse(reason, message) => return Ok((Sync::Failed { reason, message }, Value::Null)),
        WadmStep::Bring { put, deploy } => {
            if put {
                wadm.put(lattice, &target.manifest).await?;
            }
            if deploy {
                wadm.deploy(lattice, name, version).await?;
                let ours_before =
                    app.status.as_ref().and_then(|s| s.deployed_version.as_deref()) == Some(version.as_str());
                if ours_before {
                    let had = versions
                        .iter()
                        .find(|v| v.deployed)
                        .map_or("nothing deployed", |v| v.version.as_str());
                    let note = format!("wadm had {had} instead of version {version}; deployed it again");
                    events.push((EventType::Normal, reasons::DRIFT_CORRECTED, note));
                }
            }
        }
    }
    let wadm_status = wadm.status(lattice, name).await?;
    Ok((
        Sync::Deployed {
            version: version.clone(),
        },
        wadm_status,
    ))
}

/// Whose the model `name` in `lattice` is, by its newest stored version; `None` when wadm has none.
async fn provenance_in(
    ctx: &Context,
    lattice: &str,
    name: &str,
    uid: &str,
) -> Result<Option<Provenance>, WadmError> {
    let versions = ctx.wadm.versions(lattice, name).await?;
    let Some(newest) = versions.last() else {
        return Ok(None);
    };
    let stored = ctx.wadm.manifest(lattice, name, &newest.version).await?;
    Ok(stored.map(|stored| Provenance::of(&stored, uid)))
}

/// When the Application moved to another lattice, removes its model from the one the status recorded, if
/// the model there is ours: an object deploys into one lattice at a time. Returns the Event to publish.
async fn leave_previous_lattice(
    app: &Application,
    ctx: &Context,
    lattice: &str,
    uid: &str,
) -> Result<Option<Note>, WadmError> {
    let Some(previous) = app
        .status
        .as_ref()
        .and_then(|s| s.lattice.as_deref())
        .filter(|previous| *previous != lattice)
    else {
        return Ok(None);
    };
    let name = app.name_any();
    if provenance_in(ctx, previous, &name, uid).await? != Some(Provenance::Ours) {
        return Ok(None);
    }
    ctx.wadm.delete(previous, &name).await?;
    let note =
        format!("removed model {name} from lattice {previous}: the Application now deploys into {lattice}");
    Ok(Some((EventType::Normal, reasons::LATTICE_CHANGED, note)))
}

/// wadm's own validation (wadm-types), run before anything reaches wadm; `None` when the manifest is fine.
async fn invalid(manifest: &Value) -> Option<String> {
    use wadm_types::validation::{ValidationFailureLevel, validate_manifest_bytes};
    let bytes = serde_json::to_vec(manifest).ok()?;
    match validate_manifest_bytes(&bytes).await {
        Err(error) => Some(format!("wadm cannot read this manifest: {error:#}")),
        Ok((_, failures)) => {
            let errors: Vec<String> = failures
                .into_iter()
                .filter(|f| matches!(f.level, ValidationFailureLevel::Error))
                .map(|f| f.msg)
                .collect();
            (!errors.is_empty()).then(|| errors.join("; "))
        }
    }
}

async fn cleanup(app: &Application, ctx: &Context) -> Result<Action, StepError> {
    let skip = app
        .annotations()
        .get(annotations::SKIP_WADM_CLEANUP)
        .is_some_and(|v| v == "true");
    let status = app.status.as_ref();
    let conflicted = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == condition_types::SYNCED))
        .is_some_and(|c| c.reason == reasons::CONFLICT);
    let lattice = status.and_then(|s| s.lattice.clone());
    let (false, false, Some(lattice)) = (skip, conflicted, lattice) else {
        // Skipped on request, never ours, or never reached wadm: nothing to remove.
        return Ok(Action::await_change());
    };
    let name = app.name_any();
    let whose = match provenance_in(ctx, &lattice, &name, &app.uid().unwrap_or_default()).await {
        Ok(whose) => whose,
        Err(error) => return cleanup_failed(app, ctx, &lattice, error).await,
    };
    match whose {
        None => return Ok(Action::await_change()),
        Some(Provenance::Ours) => {}
        Some(other) => {
            // Someone else's model (or one that was taken over since): it stays in wadm.
            let note = format!(
                "left model {name} in lattice {lattice} alone: it {}",
                other.describe()
            );
            publish(ctx, app, EventType::Normal, reasons::CONFLICT, note).await;
            return Ok(Action::await_change());
        }
    }
    if let Err(error) = ctx.wadm.delete(&lattice, &name).await {
        return cleanup_failed(app, ctx, &lattice, error).await;
    }
    Ok(Action::await_change())
}

/// Reports that the model could not be removed; the error retries the cleanup.
async fn cleanup_failed(
    app: &Application,
    ctx: &Context,
    lattice: &str,
    error: WadmError,
) -> Result<Action, StepError> {
    let message = format!(
        "cannot remove the model from wadm ({error}); the object stays until it can, or set the annotation {}=true",
        annotations::SKIP_WADM_CLEANUP
    );
    let sync = Sync::Failed {
        reason: reasons::WADM_UNREACHABLE,
        message,
    };
    write_status(app, ctx, Some(lattice), &sync, &Value::Null).await?;
    Err(error.into())
}

/// Computes the status and writes it only when it changed; publishes an Event when Synced flips.
async fn write_status(
    app: &Application,
    ctx: &Context,
    lattice: Option<&str>,
    sync: &Sync,
    wadm_status: &Value,
) -> Result<(), StepError> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status::compute(
        &app.name_any(),
        app.status.as_ref(),
        app.metadata.generation,
        lattice,
        sync,
        wadm_status,
        &now,
    );
    if app.status.as_ref() == Some(&new) {
        return Ok(());
    }
    let namespace = app.namespace().ok_or(StepError::NoNamespace)?;
    let api: Api<Application> = Api::namespaced(ctx.client.clone(), &namespace);
    runner::apply_status(&api, &app.name_any(), field_manager::APP_STATUS_BRIDGE, &new)
        .await
        .map_err(StepError::Status)?;
    announce(ctx, app, app.status.as_ref(), &new).await;
    Ok(())
}

async fn announce(
    ctx: &Context,
    app: &Application,
    before: Option<&ApplicationStatus>,
    after: &ApplicationStatus,
) {
    let before = before.map(|s| s.conditions.as_slice());
    if let Some(synced) = announce::flipped(before, &after.conditions, condition_types::SYNCED) {
        let type_ = if synced.status == "True" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        publish(ctx, app, type_, &synced.reason, synced.message.clone()).await;
    }
}

async fn publish(ctx: &Context, app: &Application, type_: EventType, reason: &str, note: String) {
    announce::publish(&ctx.recorder, &app.object_ref(&()), type_, reason, note, "Sync").await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(annotations: &Value, instances: u32) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "east", "uid": "uid-shop", "annotations": annotations},
            "spec": {"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"},
                     "traits": [{"type": "spreadscaler", "properties": {"instances": instances}}]}]}
        }))
        .expect("app")
    }

    fn target(app: &Application) -> Target {
        Target {
            lattice: "blue".into(),
            name: app.name_any(),
            version: manifest::version(app),
            manifest: manifest::manifest(app),
            uid: app.uid().unwrap_or_default(),
        }
    }

    fn held(version: &str, deployed: bool) -> Vec<ModelVersion> {
        vec![ModelVersion {
            version: version.into(),
            deployed,
        }]
    }

    #[test]
    fn wadm_gets_only_what_it_lacks() {
        let shop = app(&json!({}), 1);
        let target = target(&shop);
        assert_eq!(
            wadm_step(&shop, &target, &[], None),
            WadmStep::Bring {
                put: true,
                deploy: true
            },
            "a new model is put and deployed"
        );
        let ours = Some(&target.manifest);
        assert_eq!(
            wadm_step(&shop, &target, &held(&target.version, true), ours),
            WadmStep::Bring {
                put: false,
                deploy: false
            },
            "in line: nothing to do"
        );
        assert_eq!(
            wadm_step(&shop, &target, &held(&target.version, false), ours),
            WadmStep::Bring {
                put: false,
                deploy: true
            },
            "stored but undeployed (by someone): deployed again"
        );
    }

    #[test]
    fn someone_elses_model_or_an_unbumped_version_is_left_alone() {
        let shop = app(&json!({}), 1);
        let target = target(&shop);
        let theirs =
            json!({"metadata": {"name": "shop", "annotations": {"version": target.version}}, "spec": {}});
        let step = wadm_step(&shop, &target, &held(&target.version, true), Some(&theirs));
        assert!(
            matches!(step, WadmStep::Refuse(reason, _) if reason == reasons::CONFLICT),
            "{step:?}"
        );

        let adopting = app(&json!({annotations::ADOPT_MODEL: "true"}), 1);
        let step = wadm_step(&adopting, &self::target(&adopting), &[], Some(&theirs));
        assert!(
            matches!(step, WadmStep::Bring { .. }),
            "adopt-model takes it over: {step:?}"
        );

        // Same version annotation, other content: wadm would keep the old content under that version.
        let pinned = |instances| app(&json!({"version": "v1"}), instances);
        let (before, after) = (pinned(1), pinned(3));
        let stored = manifest::manifest(&before);
        let step = wadm_step(&after, &self::target(&after), &held("v1", true), Some(&stored));
        assert!(
            matches!(step, WadmStep::Refuse(reason, _) if reason == reasons::VERSION_NOT_BUMPED),
            "{step:?}"
        );
    }
}
