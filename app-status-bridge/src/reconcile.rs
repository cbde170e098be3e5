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

use crate::manifest;
use crate::provenance::{self, Provenance};
use crate::status::{self, Sync};
use crate::wadm::{Wadm, WadmError};

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
        .filter(|other| other.status.as_ref().and_then(|s| s.lattice.as_deref()) == Some(lattice))
        .filter(|other| (other.creation_timestamp(), other.namespace()) < mine)
        .map(|other| format!("{}/{}", other.namespace().unwrap_or_default(), other.name_any()))
        .next()
}

async fn apply(app: &Application, ctx: &Context) -> Result<Action, StepError> {
    let lattice = match lattice_of(app, ctx) {
        Ok(lattice) => lattice,
        Err(message) => {
            let sync = Sync::Failed {
                reason: reasons::LATTICE_UNKNOWN,
                message,
            };
            write_status(app, ctx, None, &sync, &Value::Null).await?;
            return Ok(Action::await_change());
        }
    };
    let name = app.name_any();
    let invalid_token = provenance::subject_token_problem("name", &name)
        .or_else(|| provenance::subject_token_problem("lattice", &lattice));
    if let Some(message) = invalid_token {
        // Nothing can reach wadm, so no lattice is recorded: deletion has nothing to clean up.
        let sync = Sync::Failed {
            reason: reasons::INVALID_SPEC,
            message,
        };
        write_status(app, ctx, None, &sync, &Value::Null).await?;
        return Ok(Action::await_change());
    }
    if let Some(owner) = earlier_claim(app, &lattice, ctx) {
        let message = format!(
            "{owner} already deploys model {} in lattice {lattice}",
            app.name_any()
        );
        let sync = Sync::Failed {
            reason: reasons::CONFLICT,
            message,
        };
        write_status(app, ctx, Some(&lattice), &sync, &Value::Null).await?;
        return Ok(Action::await_change());
    }

    let wadm = &ctx.wadm;
    let uid = app.uid().unwrap_or_default();
    leave_previous_lattice(app, ctx, &lattice, &uid).await?;
    let manifest = manifest::manifest(app);
    let version = manifest::version(app);
    if let Some(problems) = invalid(&manifest).await {
        let sync = Sync::Failed {
            reason: reasons::INVALID_SPEC,
            message: problems,
        };
        write_status(app, ctx, Some(&lattice), &sync, &Value::Null).await?;
        return Ok(Action::await_change());
    }
    let result = async {
        let versions = wadm.versions(&lattice, &name).await?;
        let stored_version = versions.iter().any(|v| v.version == version);
        // Whose the model is: the version we would deploy if stored, else the newest one.
        let probe = if stored_version { Some(version.as_str()) } else { versions.last().map(|v| v.version.as_str()) };
        let stored = match probe {
            Some(probe) => wadm.manifest(&lattice, &name, probe).await?,
            None => None,
        };
        if let Some(whose) = stored.as_ref().map(|stored| Provenance::of(stored, &uid))
            && whose != Provenance::Ours
            && !provenance::adopts(app)
        {
            return Ok(Some(Sync::Failed {
                reason: reasons::CONFLICT,
                message: format!(
                    "model {name} in lattice {lattice} is already in wadm and {}; the bridge leaves it alone. To take it over \
                     with this Application, set the annotation {}=\"true\"",
                    whose.describe(),
                    annotations::ADOPT_MODEL
                ),
            }));
        }
        if stored_version {
            if stored.is_some_and(|stored| !manifest::same_content(&stored, &manifest)) {
                return Ok(Some(Sync::Failed {
                    reason: reasons::VERSION_NOT_BUMPED,
                    message: format!(
                        "the spec changed but wadm already holds version {version} with other content: change the \
                         `version` annotation (or remove it to let the bridge derive one)"
                    ),
                }));
            }
        } else {
            wadm.put(&lattice, &manifest).await?;
        }
        let deployed = versions.iter().find(|v| v.deployed).map(|v| v.version.clone());
        if deployed.as_deref() != Some(version.as_str()) {
            wadm.deploy(&lattice, &name, &version).await?;
            let we_deployed_it_before = app.status.as_ref().and_then(|s| s.deployed_version.as_deref()) == Some(version.as_str());
            if we_deployed_it_before {
                let note = format!("wadm had {} instead of version {version}; deployed it again", deployed.as_deref().unwrap_or("nothing deployed"));
                publish(ctx, app, EventType::Normal, reasons::DRIFT_CORRECTED, note).await;
            }
        }
        Ok::<_, WadmError>(None)
    }
    .await;
    let sync = match result {
        Ok(Some(failed)) => failed,
        Ok(None) => Sync::Deployed { version },
        Err(WadmError::Rejected(message)) => Sync::Failed {
            reason: reasons::WADM_REJECTED,
            message,
        },
        Err(error) => {
            let sync = Sync::Failed {
                reason: reasons::WADM_UNREACHABLE,
                message: "wadm does not answer; retrying".into(),
            };
            write_status(app, ctx, Some(&lattice), &sync, &Value::Null).await?;
            return Err(error.into());
        }
    };
    let wadm_status = match &sync {
        Sync::Deployed { .. } => wadm.status(&lattice, &name).await?,
        Sync::Failed { .. } => Value::Null,
    };
    write_status(app, ctx, Some(&lattice), &sync, &wadm_status).await?;
    Ok(Action::requeue(RESYNC))
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
/// the model there is ours: an object deploys into one lattice at a time.
async fn leave_previous_lattice(
    app: &Application,
    ctx: &Context,
    lattice: &str,
    uid: &str,
) -> Result<(), StepError> {
    let Some(previous) = app
        .status
        .as_ref()
        .and_then(|s| s.lattice.as_deref())
        .filter(|previous| *previous != lattice)
    else {
        return Ok(());
    };
    let name = app.name_any();
    if provenance_in(ctx, previous, &name, uid).await? == Some(Provenance::Ours) {
        ctx.wadm.delete(previous, &name).await?;
        let note = format!(
            "removed model {name} from lattice {previous}: the Application now deploys into {lattice}"
        );
        publish(ctx, app, EventType::Normal, reasons::LATTICE_CHANGED, note).await;
    }
    Ok(())
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
