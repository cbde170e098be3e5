//! One reconcile of a WasmCloudHostConfig, top to bottom: gather (API reads) → resolve and build (pure)
//! → apply (only what differs) → status (pure computation, one write if it changed) → Events on
//! transitions. Touches the object's status and its children.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use wasmcloud_operator_types::contract::{condition_types, field_manager, reasons};
use wasmcloud_operator_types::runtime::announce;
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::{WasmCloudHostConfig, WasmCloudHostConfigStatus};

use crate::apply::{self, Applied};
use crate::build::{self, Desired, Workload};
use crate::context::Context;
use crate::errors::{Error, InputError};
use crate::inputs::Inputs;
use crate::status::{self, Outcome, WorkloadState};
use crate::{gather, inputs};

/// The safety-net resync; every real change arrives through a watch.
const RESYNC: Duration = Duration::from_secs(3600);

#[tracing::instrument(skip_all, fields(name = %whc.name_any(), namespace = whc.namespace().unwrap_or_default()))]
pub async fn reconcile(whc: Arc<WasmCloudHostConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = whc.namespace().ok_or(Error::Malformed("namespace"))?;
    let key = (namespace.clone(), whc.name_any());
    let uid = whc.uid().ok_or(Error::Malformed("uid"))?;
    let generation = whc.metadata.generation;
    let (outcome, written) = match ctx.confirmed.outcome(&key, &uid, generation) {
        // Nothing the children depend on changed since they were last found in line: only the app
        // list or our own status write brought us here.
        Some(outcome) => (outcome, Vec::new()),
        None => {
            let epoch = ctx.confirmed.epoch(&key);
            let (outcome, written) = match Box::pin(bring_children_in_line(&ctx, &whc, &namespace)).await {
                Ok(done) => done,
                Err(error) => {
                    report_partial_failure(&ctx, &whc, &namespace, &error).await;
                    return Err(error);
                }
            };
            // A conflict is not confirmed: the object in the way is not watched, so only a retry sees it go.
            if conflict(&outcome).is_none() {
                ctx.confirmed
                    .confirm(key, epoch, &uid, generation, outcome.clone());
            }
            (outcome, written)
        }
    };
    let apps = ctx.apps.on_lattice(&namespace, &whc.spec.lattice);

    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new_status = status::compute(whc.status.as_ref(), whc.metadata.generation, &outcome, apps, &now);
    if whc.status.as_ref() != Some(&new_status) {
        write_status(&ctx, &whc, &namespace, &new_status).await?;
    }
    publish_events(&ctx, &whc, &outcome, &new_status, &written).await;
    tracing::debug!(elapsed = ?started.elapsed(), written = written.len(), "reconciled");
    if let Some(problem) = conflict(&outcome) {
        // Reported above; the error makes the controller retry with this object's backoff.
        return Err(Error::NotOurs(problem.clone()));
    }
    Ok(Action::requeue(RESYNC))
}

/// A write that failed after earlier children were applied still shows on the object: Degraded says
/// which write failed (once; retries that fail the same way write nothing). The error goes on to the
/// error policy either way.
async fn report_partial_failure(ctx: &Context, whc: &WasmCloudHostConfig, namespace: &str, error: &Error) {
    let Some(what) = error.partial_failure() else {
        return;
    };
    let apps = ctx.apps.on_lattice(namespace, &whc.spec.lattice);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let failed = Outcome::Failed(what);
    let new_status = status::compute(whc.status.as_ref(), whc.metadata.generation, &failed, apps, &now);
    if whc.status.as_ref() != Some(&new_status)
        && let Err(status_error) = write_status(ctx, whc, namespace, &new_status).await
    {
        tracing::warn!(error = %status_error, "could not report the failed write on the status either");
    }
}

/// The child conflict `outcome` reports, if it is one.
fn conflict(outcome: &Outcome) -> Option<&InputError> {
    match outcome {
        Outcome::Invalid(problem @ InputError::ChildConflict { .. }) => Some(problem),
        _ => None,
    }
}

/// Reads what the spec refers to, builds the children and applies those that differ from the cluster.
async fn bring_children_in_line(
    ctx: &Context,
    whc: &WasmCloudHostConfig,
    namespace: &str,
) -> Result<(Outcome, Vec<&'static str>), Error> {
    let referenced = gather::referenced(&ctx.client, namespace, &whc.spec).await?;
    let resolved = inputs::resolve(&whc.spec, &referenced).map(|inputs| Inputs {
        leaf_link_image: ctx.leaf_link_image.clone(),
        ..inputs
    });
    match resolved.and_then(|inputs| build::build(whc, &inputs)) {
        Err(problem) => withdraw_stale_copy(ctx, whc, namespace, problem).await,
        Ok(desired) => match Box::pin(apply_children(ctx, namespace, &uid_of(whc)?, desired)).await {
            Ok((state, written)) => Ok((Outcome::Applied(state), written)),
            // Children before it may have been applied; the status says which one is in the way.
            Err(Error::NotOurs(problem)) => Ok((Outcome::Invalid(problem), Vec::new())),
            Err(error) => Err(error),
        },
    }
}

/// A problem with the registry credentials' source Secret (gone, or no longer valid) removes the hosts'
/// copy of them, if this host config made one: the copy follows its source. Nothing else changes.
async fn withdraw_stale_copy(
    ctx: &Context,
    whc: &WasmCloudHostConfig,
    namespace: &str,
    problem: InputError,
) -> Result<(Outcome, Vec<&'static str>), Error> {
    if whc.spec.registry_credentials_secret.is_none()
        || problem.secret() != whc.spec.registry_credentials_secret.as_deref()
    {
        return Ok((Outcome::Invalid(problem), Vec::new()));
    }
    let copy = build::pod::registry_secret_name(&whc.name_any());
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), namespace);
    if apply::remove_if_ours(&secrets, &copy, &uid_of(whc)?).await? {
        let problem = InputError::CopyWithdrawn {
            problem: Box::new(problem),
            copy,
        };
        return Ok((Outcome::Invalid(problem), vec!["Secret"]));
    }
    Ok((Outcome::Invalid(problem), Vec::new()))
}

fn uid_of(whc: &WasmCloudHostConfig) -> Result<String, Error> {
    whc.uid().ok_or(Error::Malformed("uid"))
}

/// Applies every child that differs from the cluster; returns the workload's state and what was written.
/// Objects that the host config with `uid` does not control are neither written nor deleted.
async fn apply_children(
    ctx: &Context,
    namespace: &str,
    uid: &str,
    desired: Desired,
) -> Result<(WorkloadState, Vec<&'static str>), Error> {
    let client = &ctx.client;
    let mut written = Vec::new();
    let mut note = |kind: &'static str, applied: Applied| {
        if applied == Applied::Written {
            written.push(kind);
        }
    };
    let name = desired.config_map.name_any();
    note(
        "ConfigMap",
        apply::ensure(
            &Api::<ConfigMap>::namespaced(client.clone(), namespace),
            &desired.config_map,
        )
        .await?
        .1,
    );
    let secrets = Api::<Secret>::namespaced(client.clone(), namespace);
    match &desired.registry_secret {
        Some(secret) => note("Secret", apply::ensure(&secrets, secret).await?.1),
        None => {
            if apply::remove_if_ours(&secrets, &build::pod::registry_secret_name(&name), uid).await? {
                note("Secret", Applied::Written);
            }
        }
    }
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), namespace);
    note(
        "ServiceAccount",
        apply::ensure(&sa, &desired.service_account).await?.1,
    );
    // The hosts' Role and binding exist only with kubernetesApiAccess; ours go when it is turned off.
    let roles = Api::<Role>::namespaced(client.clone(), namespace);
    let bindings = Api::<RoleBinding>::namespaced(client.clone(), namespace);
    match (&desired.role, &desired.role_binding) {
        (Some(role), Some(binding)) => {
            note("Role", apply::ensure(&roles, role).await?.1);
            note("RoleBinding", apply::ensure(&bindings, binding).await?.1);
        }
        _ => {
            if apply::remove_if_ours(&bindings, &name, uid).await? {
                note("RoleBinding", Applied::Written);
            }
            if apply::remove_if_ours(&roles, &name, uid).await? {
                note("Role", Applied::Written);
            }
        }
    }
    // The leaf Service (port 4222) earlier versions made, as the old operator did: the leaf now listens
    // inside the pod only, so the Service would reach nothing. Only one this host config controls goes.
    let services = Api::<Service>::namespaced(client.clone(), namespace);
    if apply::remove_if_ours(&services, &name, uid).await? {
        note("Service", Applied::Written);
    }

    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace);
    let daemon_sets = Api::<DaemonSet>::namespaced(client.clone(), namespace);
    let state = match &desired.workload {
        Workload::Deployment(deployment) => {
            let (current, applied) = apply::ensure(&deployments, deployment).await?;
            note("Deployment", applied);
            if apply::remove_if_ours(&daemon_sets, &name, uid).await? {
                note("DaemonSet", Applied::Written);
            }
            WorkloadState::of_deployment(&current)
        }
        Workload::DaemonSet(daemon_set) => {
            let (current, applied) = apply::ensure(&daemon_sets, daemon_set).await?;
            note("DaemonSet", applied);
            if apply::remove_if_ours(&deployments, &name, uid).await? {
                note("Deployment", Applied::Written);
            }
            WorkloadState::of_daemon_set(&current)
        }
    };
    Ok((state, written))
}

/// Server-side applies the status alone (apiVersion, kind, name, status).
async fn write_status(
    ctx: &Context,
    whc: &WasmCloudHostConfig,
    namespace: &str,
    status: &WasmCloudHostConfigStatus,
) -> Result<(), Error> {
    let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), namespace);
    runner::apply_status(&api, &whc.name_any(), field_manager::HOST_OPERATOR, status)
        .await
        .map_err(|source| Error::Status { source })?;
    Ok(())
}

/// Events for what a person should know: bad input, hosts becoming ready or unavailable, old spellings,
/// and children repaired after someone changed them.
async fn publish_events(
    ctx: &Context,
    whc: &WasmCloudHostConfig,
    outcome: &Outcome,
    new_status: &WasmCloudHostConfigStatus,
    written: &[&'static str],
) {
    let mut events = Vec::new();
    let before = whc.status.as_ref().map(|s| s.conditions.as_slice());
    if let Some(ready) = announce::flipped(before, &new_status.conditions, condition_types::READY) {
        let type_ = match outcome {
            Outcome::Invalid(_) | Outcome::Failed(_) => EventType::Warning,
            Outcome::Applied(_) if ready.status == "True" => EventType::Normal,
            Outcome::Applied(s) if s.stalled => EventType::Warning,
            Outcome::Applied(_) => EventType::Normal,
        };
        events.push((type_, ready.reason.clone(), ready.message.clone()));
    }
    let new_generation = whc.status.as_ref().and_then(|s| s.observed_generation) != whc.metadata.generation;
    if new_generation {
        for deprecation in whc.spec.deprecations() {
            let note = format!("{} is an old spelling: {}", deprecation.field, deprecation.advice);
            events.push((EventType::Warning, reasons::DEPRECATED_FIELD.to_string(), note));
        }
    } else if !written.is_empty() {
        let note = format!(
            "brought {} back in line with the spec and the objects it references",
            written.join(", ")
        );
        events.push((EventType::Normal, reasons::DRIFT_CORRECTED.to_string(), note));
    }
    let reference = whc.object_ref(&());
    for (type_, reason, note) in events {
        announce::publish(&ctx.recorder, &reference, type_, &reason, note, "Reconcile").await;
    }
}
