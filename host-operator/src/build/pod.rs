//! The host pod: the `wasmcloud-host` container with every WASMCLOUD_* setting the spec implies, the
//! `nats-leaf` sidecar, their volumes, labels and the restricted security profile. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapProjection, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, ExecAction, HTTPGetAction, KeyToPath, Lifecycle, LifecycleHandler,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretProjection, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wasmcloud_operator_types::WasmCloudHostConfigSpec;
use wasmcloud_operator_types::contract::{annotations, host_labels, labels};

use super::host_cli::{self, HostVersion, since};
use super::leaf_config::{
    CA_BUNDLE_KEY, CA_BUNDLE_PATH, CONFIG_KEY, CONFIG_PATH, CREDS_PATH, LEAF_CLIENT_PORT, LEAF_MONITOR_PORT,
    RemoteFiles,
};
use super::merge;
use crate::errors::InputError;
use crate::inputs::{AuthoritySource, Inputs, NATS_CREDS_KEY};
use crate::leaf_link::LEAF_LINK_PORT;

pub const HOST_CONTAINER: &str = "wasmcloud-host";
pub const LEAF_CONTAINER: &str = "nats-leaf";
/// The native sidecar whose readiness is the leaf's link to the hub (see `leaf_link`).
pub const LEAF_LINK_CONTAINER: &str = "leaf-link";
/// Volumes the operator adds; a user volume with one of these names is a conflict.
pub const NATS_VOLUME: &str = "nats-config";
pub const NATS_DATA_VOLUME: &str = "nats-data";
pub const HOST_TMP_VOLUME: &str = "wasmcloud-tmp";
/// Where each certificate authority is mounted: `<CA_MOUNT_ROOT>/ca-<volume name>`.
pub const CA_MOUNT_ROOT: &str = "/wasmcloud/certificates";
/// Port of the host's own admin endpoint (`/livez`, `/readyz`; hosts from 1.5.0), its readiness probe.
pub const HOST_ADMIN_PORT: i32 = 8081;
/// The user and group the containers run as unless the user says otherwise.
pub const RUN_AS: i64 = 1000;

/// Labels on every host pod (the contract the service-syncer relies on).
pub fn pod_labels(name: &str, spec: &WasmCloudHostConfigSpec) -> BTreeMap<String, String> {
    let mut pod = selector_labels(name);
    pod.insert(
        labels::MANAGED_BY.into(),
        wasmcloud_operator_types::contract::binaries::HOST_OPERATOR.into(),
    );
    pod.insert(labels::LATTICE.into(), spec.lattice.clone());
    for (key, value) in spec.host_labels.iter().flatten() {
        pod.insert(labels::host_label(key), value.clone());
    }
    pod
}

/// The labels the workload selects its pods by (immutable once created).
pub fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_string(), labels::HOST_NAME_VALUE.to_string()),
        (labels::INSTANCE.to_string(), name.to_string()),
    ])
}

/// Name of the Secret the operator derives from `registryCredentialsSecret` (read through secretKeyRef).
pub fn registry_secret_name(name: &str) -> String {
    format!("{name}-registry-credentials")
}

/// The pod template, with the user's additions merged in (see `merge` for the order).
pub fn pod_template(
    name: &str,
    spec: &WasmCloudHostConfigSpec,
    inputs: &Inputs,
) -> Result<PodTemplateSpec, InputError> {
    let options = spec.scheduling_options.clone().unwrap_or_default();
    let resources = options.resources.clone().unwrap_or_default();
    let additions = options.container_template_additions.clone().unwrap_or_default();

    let mut host = host_container(name, spec, inputs)?;
    host.resources = resources.host().cloned();
    let host = merge::container(host, additions.wasmcloud.as_ref(), "wasmcloud")?;
    let mut leaf = leaf_container(spec, inputs);
    leaf.resources.clone_from(&resources.nats);
    let leaf = merge::container(leaf, additions.nats.as_ref(), "nats")?;

    let ours = PodSpec {
        init_containers: inputs
            .leaf_link_image
            .as_deref()
            .map(|image| vec![leaf_link_container(image)]),
        containers: vec![leaf, host],
        service_account_name: Some(name.to_string()),
        // The hosts and the leaf never call the Kubernetes API: no token unless asked for.
        automount_service_account_token: Some(spec.kubernetes_api_access),
        volumes: Some(volumes(name, spec, inputs)),
        security_context: Some(pod_security()),
        // The leaf's preStop hook waits 10 s so the host can announce that it stops; leave room for it.
        termination_grace_period_seconds: Some(30),
        ..PodSpec::default()
    };
    let pod = merge::pod(ours, options.pod_template_additions.as_ref())?;
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels(name, spec)),
            annotations: Some(BTreeMap::from([(
                annotations::CONFIG_CHECKSUM.to_string(),
                inputs.checksum.clone(),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(pod),
    })
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn env_from(name: &str, source: EnvVarSource) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(source),
    }
}

fn field_ref(path: &str) -> EnvVarSource {
    EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            field_path: path.to_string(),
            api_version: None,
        }),
        ..EnvVarSource::default()
    }
}

/// `problem` refused for `field`: the pods' host version can't honour it.
fn not_supported(field: &str, problem: impl Into<String>, version: HostVersion) -> InputError {
    InputError::NotSupportedByHost {
        field: field.to_string(),
        problem: problem.into(),
        version: version.to_string(),
    }
}

/// Fails unless the pods' host is at least `minimum` (for a setting that older hosts don't know).
fn require(version: HostVersion, minimum: HostVersion, field: &str) -> Result<(), InputError> {
    if version.at_least(minimum) {
        Ok(())
    } else {
        Err(not_supported(
            field,
            format!("needs wasmCloud host {minimum} or later"),
            version,
        ))
    }
}

/// The host's environment, in the old operator's order, then what this operator adds; each setting in the
/// form the pods' host version reads (see `host_cli`), or an error naming what that version can't honour.
pub fn host_env(
    name: &str,
    spec: &WasmCloudHostConfigSpec,
    inputs: &Inputs,
    version: HostVersion,
) -> Result<Vec<EnvVar>, InputError> {
    let mut vars = vec![
        env(
            "WASMCLOUD_STRUCTURED_LOGGING_ENABLED",
            spec.structured_logging().to_string(),
        ),
        env("WASMCLOUD_LOG_LEVEL", spec.log_level.clone()),
        env("WASMCLOUD_JS_DOMAIN", spec.jetstream_domain.clone()),
        env("WASMCLOUD_LATTICE", spec.lattice.clone()),
        // Read by hosts before 1.0; kept so older host images keep working.
        env("WASMCLOUD_LATTICE_PREFIX", spec.lattice.clone()),
        env("WASMCLOUD_NATS_HOST", "127.0.0.1"),
        env("WASMCLOUD_NATS_PORT", LEAF_CLIENT_PORT.to_string()),
        env("WASMCLOUD_RPC_TIMEOUT_MS", "4000"),
        env(&format!("WASMCLOUD_LABEL_{}", host_labels::KUBERNETES), "true"),
    ];
    if let Some(prefix) = &spec.control_topic_prefix {
        vars.push(env("WASMCLOUD_CTL_TOPIC_PREFIX", prefix.clone()));
    }
    if spec.config_service_enabled {
        vars.push(env("WASMCLOUD_CONFIG_SERVICE", "true"));
    }
    if spec.allow_latest {
        vars.push(env("WASMCLOUD_OCI_ALLOW_LATEST", "true"));
    }
    if let Some(insecure) = spec.allowed_insecure.as_ref().filter(|i| !i.is_empty()) {
        vars.push(env("WASMCLOUD_OCI_ALLOWED_INSECURE", insecure.join(",")));
    }
    if let Some(policy) = &spec.policy_service {
        if let Some(topic) = &policy.topic {
            vars.push(env("WASMCLOUD_POLICY_TOPIC", topic.clone()));
        }
        if let Some(topic) = &policy.changes_topic {
            vars.push(env("WASMCLOUD_POLICY_CHANGES_TOPIC", topic.clone()));
        }
        if let Some(timeout) = policy.timeout_ms {
            vars.push(env("WASMCLOUD_POLICY_TIMEOUT", timeout.to_string()));
        }
    }
    for (key, value) in spec.host_labels.iter().flatten() {
        vars.push(env(&format!("WASMCLOUD_LABEL_{key}"), value.clone()));
    }
    if let Some(topic) = &spec.secrets_topic_prefix {
        require(version, since::V1_1_0, "spec.secretsTopicPrefix")?;
        vars.push(env("WASMCLOUD_SECRETS_TOPIC", topic.clone()));
    }
    if let Some(bytes) = spec.max_linear_memory_bytes {
        let field = "spec.maxLinearMemoryBytes";
        require(version, since::V1_2_0, field)?;
        let limit = host_cli::max_linear_memory_limit(version);
        if bytes > limit {
            return Err(not_supported(
                field,
                format!("{bytes} is more than the host accepts ({limit})"),
                version,
            ));
        }
        vars.push(env("WASMCLOUD_MAX_LINEAR_MEMORY", bytes.to_string()));
    }
    vars.extend(observability_env(spec, version)?);
    if version.at_least(since::V1_5_0) {
        // On every interface: the kubelet probes it on the pod IP. It serves health only.
        vars.push(env("WASMCLOUD_HTTP_ADMIN", format!("0.0.0.0:{HOST_ADMIN_PORT}")));
    }
    if let Some(registry) = &inputs.registry {
        let secret = registry_secret_name(name);
        let key_ref = |key: &str| EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.clone(),
                key: key.to_string(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        };
        vars.push(env_from("WASMCLOUD_OCI_REGISTRY_USER", key_ref("username")));
        vars.push(env_from("WASMCLOUD_OCI_REGISTRY_PASSWORD", key_ref("password")));
        vars.push(env("WASMCLOUD_OCI_REGISTRY", registry.registry.clone()));
    }
    // So a lattice host maps back to its pod.
    vars.push(env_from(
        &format!("WASMCLOUD_LABEL_{}", host_labels::POD_NAME),
        field_ref("metadata.name"),
    ));
    vars.push(env_from(
        &format!("WASMCLOUD_LABEL_{}", host_labels::POD_NAMESPACE),
        field_ref("metadata.namespace"),
    ));
    Ok(vars)
}

/// Which signals the host exports, as env variables: all three through WASMCLOUD_OBSERVABILITY_ENABLED, or
/// each on its own (the host rejects the two kinds together); a signal's own `enable` overrides the
/// overall one. And the OTLP protocol, which 1.0.x hosts don't know.
fn observability_env(
    spec: &WasmCloudHostConfigSpec,
    version: HostVersion,
) -> Result<Vec<EnvVar>, InputError> {
    let mut vars = Vec::new();
    let Some(o) = &spec.observability else {
        return Ok(vars);
    };
    let signals = [("TRACES", &o.traces), ("METRICS", &o.metrics), ("LOGS", &o.logs)];
    let wanted: Vec<(&str, bool)> = signals
        .iter()
        .map(|(signal, config)| {
            (
                *signal,
                config.as_ref().and_then(|c| c.enable).unwrap_or(o.enable),
            )
        })
        .collect();
    if o.enable && wanted.iter().all(|(_, on)| *on) {
        vars.push(env("WASMCLOUD_OBSERVABILITY_ENABLED", "true"));
    } else {
        for (signal, _) in wanted.iter().filter(|(_, on)| *on) {
            vars.push(env(&format!("WASMCLOUD_{signal}_ENABLED"), "true"));
        }
    }
    if let Some(protocol) = o.protocol {
        require(version, since::V1_1_0, "spec.observability.protocol")?;
        let protocol = serde_json::to_value(protocol)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        vars.push(env("WASMCLOUD_OBSERVABILITY_PROTOCOL", protocol));
    }
    Ok(vars)
}

/// The host's arguments: the collector endpoints (flags in every 1.x; their env variables only from 1.3),
/// then one `--tls-ca-path` per trusted certificate (from 1.1.0).
pub fn host_args(
    spec: &WasmCloudHostConfigSpec,
    inputs: &Inputs,
    version: HostVersion,
) -> Result<Vec<String>, InputError> {
    let mut args = Vec::new();
    if let Some(o) = &spec.observability {
        if !o.endpoint.is_empty() {
            args.push(format!("--override-observability-endpoint={}", o.endpoint));
        }
        for (signal, config) in [("traces", &o.traces), ("metrics", &o.metrics), ("logs", &o.logs)] {
            if let Some(endpoint) = config.as_ref().and_then(|c| c.endpoint.as_ref()) {
                args.push(format!("--override-{signal}-endpoint={endpoint}"));
            }
        }
    }
    if inputs.authorities.iter().any(|a| !a.crt_keys.is_empty()) {
        require(version, since::V1_1_0, "spec.certificates.authorities")?;
    }
    for authority in &inputs.authorities {
        for key in &authority.crt_keys {
            args.push(format!(
                "--tls-ca-path={CA_MOUNT_ROOT}/ca-{}/{key}",
                authority.volume
            ));
        }
    }
    Ok(args)
}

fn host_container(
    name: &str,
    spec: &WasmCloudHostConfigSpec,
    inputs: &Inputs,
) -> Result<Container, InputError> {
    let mut mounts = vec![VolumeMount {
        name: HOST_TMP_VOLUME.into(),
        mount_path: "/tmp".into(),
        ..VolumeMount::default()
    }];
    for authority in &inputs.authorities {
        mounts.push(VolumeMount {
            name: format!("ca-{}", authority.volume),
            mount_path: format!("{CA_MOUNT_ROOT}/ca-{}", authority.volume),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    // Read once: every setting below is written for this version (see `host_cli`).
    let version = HostVersion::of(spec);
    // Hosts from 1.5.0 say themselves when they are ready (connected to the lattice, started).
    let admin = version.at_least(since::V1_5_0);
    Ok(Container {
        name: HOST_CONTAINER.into(),
        image: Some(spec.host_image()),
        command: Some(vec!["wasmcloud".into()]),
        args: Some(host_args(spec, inputs, version)?).filter(|args| !args.is_empty()),
        env: Some(host_env(name, spec, inputs, version)?),
        ports: admin.then(|| {
            vec![ContainerPort {
                name: Some("admin".into()),
                container_port: HOST_ADMIN_PORT,
                ..ContainerPort::default()
            }]
        }),
        readiness_probe: admin.then(|| Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/readyz".into()),
                port: IntOrString::String("admin".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        volume_mounts: Some(mounts),
        security_context: Some(container_security()),
        ..Container::default()
    })
}

fn leaf_container(spec: &WasmCloudHostConfigSpec, _inputs: &Inputs) -> Container {
    Container {
        name: LEAF_CONTAINER.into(),
        image: Some(spec.nats_leaf_image().to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec!["-js".into(), "--config".into(), CONFIG_PATH.into()]),
        // Only the monitor port: the client port listens on 127.0.0.1 (see `leaf_config`).
        ports: Some(vec![ContainerPort {
            name: Some("monitor".into()),
            container_port: LEAF_MONITOR_PORT,
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: NATS_VOLUME.into(),
                mount_path: "/nats".into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: NATS_DATA_VOLUME.into(),
                mount_path: "/data".into(),
                ..VolumeMount::default()
            },
        ]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz?js-enabled-only=true".into()),
                port: IntOrString::String("monitor".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        // Keeps the leaf up for a moment after the pod is told to stop, so the host's "stopped" event
        // still reaches the lattice.
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(vec!["sleep".into(), "10".into()]),
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        }),
        security_context: Some(container_security()),
        ..Container::default()
    }
}

/// The leaf-link sidecar: `image` is the operator's own, whose `leaf-link` command answers `/readyz` only
/// while the leaf holds its connection to the hub. A native sidecar (an init container that keeps running),
/// so it starts before the leaf and its readiness counts towards the pod's.
fn leaf_link_container(image: &str) -> Container {
    Container {
        name: LEAF_LINK_CONTAINER.into(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec![
            "leaf-link".into(),
            "--listen".into(),
            format!("0.0.0.0:{LEAF_LINK_PORT}"),
            "--monitor".into(),
            format!("127.0.0.1:{LEAF_MONITOR_PORT}"),
        ]),
        restart_policy: Some("Always".into()),
        ports: Some(vec![ContainerPort {
            name: Some(LEAF_LINK_CONTAINER.into()),
            container_port: LEAF_LINK_PORT,
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(http_probe("/readyz", LEAF_LINK_CONTAINER, 5)),
        liveness_probe: Some(http_probe("/livez", LEAF_LINK_CONTAINER, 10)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("5m".into())),
                ("memory".to_string(), Quantity("8Mi".into())),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), Quantity("32Mi".into()))])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(container_security()),
        ..Container::default()
    }
}

/// An HTTP GET probe of `path` on the named port, every `period` seconds, given 3 s to answer.
fn http_probe(path: &str, port: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(port.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        ..Probe::default()
    }
}

fn volumes(name: &str, spec: &WasmCloudHostConfigSpec, inputs: &Inputs) -> Vec<Volume> {
    // One projected volume gives the leaf both files at the old operator's paths, without subPath, so
    // a rotated credentials Secret reaches running pods.
    let mut sources = vec![VolumeProjection {
        config_map: Some(ConfigMapProjection {
            name: name.to_string(),
            items: Some(config_map_items(spec, inputs)),
            optional: Some(false),
        }),
        ..VolumeProjection::default()
    }];
    if let (true, Some(secret)) = (inputs.nats_creds, &spec.secret_name) {
        sources.push(VolumeProjection {
            secret: Some(SecretProjection {
                name: secret.clone(),
                items: Some(vec![KeyToPath {
                    key: NATS_CREDS_KEY.into(),
                    path: file_name(CREDS_PATH),
                    mode: None,
                }]),
                optional: Some(false),
            }),
            ..VolumeProjection::default()
        });
    }
    let mut volumes = vec![
        Volume {
            name: NATS_VOLUME.into(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(sources),
                default_mode: None,
            }),
            ..Volume::default()
        },
        Volume {
            name: NATS_DATA_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: HOST_TMP_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    for authority in &inputs.authorities {
        let mut volume = Volume {
            name: format!("ca-{}", authority.volume),
            ..Volume::default()
        };
        match &authority.source {
            AuthoritySource::Secret(secret) => {
                volume.secret = Some(SecretVolumeSource {
                    secret_name: Some(secret.clone()),
                    ..SecretVolumeSource::default()
                });
            }
            AuthoritySource::ConfigMap(config_map) => {
                volume.config_map = Some(ConfigMapVolumeSource {
                    name: config_map.clone(),
                    ..ConfigMapVolumeSource::default()
                });
            }
        }
        volumes.push(volume);
    }
    volumes
}

/// The leaf's files from the host config's ConfigMap: the config, and the CA bundle of a TLS remote.
fn config_map_items(spec: &WasmCloudHostConfigSpec, inputs: &Inputs) -> Vec<KeyToPath> {
    let mut items = vec![KeyToPath {
        key: CONFIG_KEY.into(),
        path: file_name(CONFIG_PATH),
        mode: None,
    }];
    if RemoteFiles::of(spec, inputs).ca_bundle {
        items.push(KeyToPath {
            key: CA_BUNDLE_KEY.into(),
            path: file_name(CA_BUNDLE_PATH),
            mode: None,
        });
    }
    items
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Pod-level part of the Pod Security "restricted" profile.
pub fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

/// Container-level part of the Pod Security "restricted" profile.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}
