//! How the user's `containerTemplateAdditions` and `podTemplateAdditions` combine with what the operator
//! builds. Pure. The order, for each container:
//!
//! 1. the operator's container (name, image, command, args, env, mounts, ports, probes, security);
//! 2. `schedulingOptions.resources.<container>` sets resources;
//! 3. the user's additions: env, envFrom, volumeMounts and ports are appended; resources apply when step 2
//!    set none; securityContext fields override the operator's one by one; every other field the user
//!    sets (probes, lifecycle, imagePullPolicy, workingDir, ...) replaces the operator's.
//!
//! Anything that would collide with what the operator sets is a conflict reported on the object, never
//! an invalid pod: image, command or args; an env var name; a mount path; a port. For the pod: the user's
//! PodSpec is the base, the operator sets `containers` and `serviceAccountName`, its volumes come first
//! (a user volume with the same name is a conflict), and the pod securityContext merges like a
//! container's.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errors::InputError;

fn conflict(field: String, problem: impl Into<String>) -> InputError {
    InputError::Conflict {
        field,
        problem: problem.into(),
    }
}

/// Merges the user's container additions into the operator's container.
pub fn container(
    mut ours: Container,
    theirs: Option<&Container>,
    which: &str,
) -> Result<Container, InputError> {
    let Some(theirs) = theirs else { return Ok(ours) };
    let field = |name: &str| format!("schedulingOptions.containerTemplateAdditions.{which}.{name}");
    if theirs.image.is_some() {
        return Err(conflict(
            field("image"),
            "the operator sets the image: use spec.image or spec.natsLeafImage",
        ));
    }
    if theirs.command.is_some() || theirs.args.is_some() {
        return Err(conflict(
            field("args"),
            "the operator sets command and args from the spec",
        ));
    }

    let mut env = ours.env.take().unwrap_or_default();
    for var in theirs.env.iter().flatten() {
        if env.iter().any(|e| e.name == var.name) {
            return Err(conflict(
                field("env"),
                format!("{} is set by the operator from the spec", var.name),
            ));
        }
        env.push(var.clone());
    }
    ours.env = Some(env);

    let mut mounts = ours.volume_mounts.take().unwrap_or_default();
    for mount in theirs.volume_mounts.iter().flatten() {
        if mounts.iter().any(|m| m.mount_path == mount.mount_path) {
            return Err(conflict(
                field("volumeMounts"),
                format!("{} is mounted by the operator", mount.mount_path),
            ));
        }
        mounts.push(mount.clone());
    }
    ours.volume_mounts = Some(mounts);

    let mut ports = ours.ports.take().unwrap_or_default();
    for port in theirs.ports.iter().flatten() {
        let same_name = port.name.is_some() && ports.iter().any(|p| p.name == port.name);
        if same_name || ports.iter().any(|p| p.container_port == port.container_port) {
            return Err(conflict(
                field("ports"),
                format!("port {} is the operator's", port.container_port),
            ));
        }
        ports.push(port.clone());
    }
    ours.ports = (!ports.is_empty()).then_some(ports);

    if let Some(extra) = &theirs.env_from {
        ours.env_from
            .get_or_insert_with(Vec::new)
            .extend(extra.iter().cloned());
    }
    if ours.resources.is_none() {
        ours.resources.clone_from(&theirs.resources);
    }
    ours.security_context = overlay(ours.security_context.take(), theirs.security_context.as_ref());

    macro_rules! theirs_if_set {
        ($($f:ident),*) => { $( if theirs.$f.is_some() { ours.$f.clone_from(&theirs.$f); } )* };
    }
    theirs_if_set!(
        liveness_probe,
        readiness_probe,
        startup_probe,
        lifecycle,
        image_pull_policy,
        working_dir,
        termination_message_path,
        termination_message_policy,
        stdin,
        stdin_once,
        tty,
        volume_devices,
        resize_policy,
        restart_policy
    );
    Ok(ours)
}

/// Merges the operator's pod into the user's `podTemplateAdditions`.
pub fn pod(ours: PodSpec, theirs: Option<&PodSpec>) -> Result<PodSpec, InputError> {
    let Some(theirs) = theirs else { return Ok(ours) };
    let mut pod = theirs.clone();
    pod.volumes = Some(ours_then_theirs(
        ours.volumes.unwrap_or_default(),
        theirs.volumes.as_deref(),
        |v| &v.name,
        ("volumes", "volume"),
    )?);
    // Ours first: the leaf-link sidecar starts before any of the user's init containers.
    let init_containers = ours_then_theirs(
        ours.init_containers.unwrap_or_default(),
        theirs.init_containers.as_deref(),
        |c| &c.name,
        ("initContainers", "init container"),
    )?;
    pod.init_containers = Some(init_containers).filter(|c| !c.is_empty());
    pod.containers = ours.containers;
    pod.service_account_name = ours.service_account_name;
    // The user's explicit choice stands; otherwise ours (a token only with kubernetesApiAccess).
    if pod.automount_service_account_token.is_none() {
        pod.automount_service_account_token = ours.automount_service_account_token;
    }
    pod.service_account = None;
    pod.security_context = overlay(ours.security_context, theirs.security_context.as_ref());
    if pod.termination_grace_period_seconds.is_none() {
        pod.termination_grace_period_seconds = ours.termination_grace_period_seconds;
    }
    Ok(pod)
}

/// The operator's named items followed by the user's; a user item with one of ours' names is a conflict
/// (`field` names the additions' list, `what` one item of it).
fn ours_then_theirs<T: Clone>(
    mut ours: Vec<T>,
    theirs: Option<&[T]>,
    name: impl Fn(&T) -> &String,
    (field, what): (&str, &str),
) -> Result<Vec<T>, InputError> {
    for item in theirs.into_iter().flatten() {
        if ours.iter().any(|o| name(o) == name(item)) {
            return Err(conflict(
                format!("schedulingOptions.podTemplateAdditions.{field}"),
                format!(
                    "the {what} name {} is used by the operator: rename it",
                    name(item)
                ),
            ));
        }
        ours.push(item.clone());
    }
    Ok(ours)
}

/// `base` with every top-level field `top` sets replaced by `top`'s.
fn overlay<T: Serialize + DeserializeOwned>(base: Option<T>, top: Option<&T>) -> Option<T> {
    let Some(top) = top else { return base };
    let (Ok(serde_json::Value::Object(mut merged)), Ok(serde_json::Value::Object(top_fields))) =
        (serde_json::to_value(&base), serde_json::to_value(top))
    else {
        return serde_json::to_value(top)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok());
    };
    merged.extend(top_fields);
    serde_json::from_value(serde_json::Value::Object(merged))
        .ok()
        .or(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVar, SecurityContext, Volume};

    fn parse<T: DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("parses")
    }

    fn ours() -> Container {
        parse(serde_json::json!({
            "name": "wasmcloud-host", "image": "host:1",
            "env": [{"name": "WASMCLOUD_LATTICE", "value": "blue"}],
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true},
            "resources": {"limits": {"memory": "1Gi"}}
        }))
    }

    #[test]
    fn user_env_mounts_and_probes_are_added_after_ours() {
        let theirs: Container = parse(serde_json::json!({
            "env": [{"name": "EXTRA", "value": "1"}],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            "readinessProbe": {"exec": {"command": ["true"]}},
            "securityContext": {"readOnlyRootFilesystem": false},
            "resources": {"limits": {"memory": "9Gi"}}
        }));
        let merged = container(ours(), Some(&theirs), "wasmcloud").expect("merges");
        let env: Vec<&str> = merged
            .env
            .iter()
            .flatten()
            .map(|e: &EnvVar| e.name.as_str())
            .collect();
        assert_eq!(env, ["WASMCLOUD_LATTICE", "EXTRA"]);
        assert_eq!(merged.volume_mounts.as_ref().map(Vec::len), Some(2));
        assert!(merged.readiness_probe.is_some());
        let security: &SecurityContext = merged.security_context.as_ref().expect("security");
        assert_eq!(
            (security.run_as_non_root, security.read_only_root_filesystem),
            (Some(true), Some(false))
        );
        let memory = merged
            .resources
            .and_then(|r| r.limits)
            .and_then(|l| l.get("memory").cloned());
        assert_eq!(
            memory.map(|q| q.0),
            Some("1Gi".to_string()),
            "schedulingOptions.resources wins"
        );
    }

    #[test]
    fn collisions_with_the_operator_are_conflicts() {
        let table = [
            (
                serde_json::json!({"env": [{"name": "WASMCLOUD_LATTICE", "value": "red"}]}),
                "WASMCLOUD_LATTICE is set by the operator",
            ),
            (serde_json::json!({"image": "mine:1"}), "sets the image"),
            (serde_json::json!({"args": ["--x"]}), "command and args"),
            (
                serde_json::json!({"volumeMounts": [{"name": "x", "mountPath": "/tmp"}]}),
                "/tmp is mounted",
            ),
        ];
        for (theirs, expected) in table {
            let error = container(ours(), Some(&parse(theirs)), "wasmcloud").expect_err(expected);
            assert!(error.to_string().contains(expected), "{error}");
            assert!(
                error
                    .to_string()
                    .starts_with("schedulingOptions.containerTemplateAdditions.wasmcloud.")
            );
        }
    }

    #[test]
    fn the_users_pod_spec_is_the_base_and_ours_goes_on_top() {
        let ours: PodSpec = parse(serde_json::json!({
            "containers": [{"name": "nats-leaf"}],
            "serviceAccountName": "east-hosts",
            "volumes": [{"name": "nats-config", "emptyDir": {}}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000}
        }));
        let theirs: PodSpec = parse(serde_json::json!({
            "containers": [],
            "serviceAccountName": "someone-else",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "securityContext": {"runAsUser": 2000}
        }));
        let merged = pod(ours.clone(), Some(&theirs)).expect("merges");
        assert_eq!(merged.service_account_name.as_deref(), Some("east-hosts"));
        assert_eq!(merged.containers.len(), 1);
        assert!(merged.node_selector.is_some());
        let names: Vec<&str> = merged
            .volumes
            .iter()
            .flatten()
            .map(|v: &Volume| v.name.as_str())
            .collect();
        assert_eq!(names, ["nats-config", "cache"]);
        let security = merged.security_context.expect("security");
        assert_eq!(
            (security.run_as_non_root, security.run_as_user),
            (Some(true), Some(2000))
        );

        let clash: PodSpec = parse(
            serde_json::json!({"containers": [], "volumes": [{"name": "nats-config", "emptyDir": {}}]}),
        );
        let error = pod(ours, Some(&clash)).expect_err("clash");
        assert!(
            error.to_string().contains("nats-config is used by the operator"),
            "{error}"
        );
    }
}
