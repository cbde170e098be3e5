//! `WasmCloudHostConfig` (k8s.wasmcloud.dev/v1alpha1): how many wasmCloud hosts to run for a lattice and
//! how. Pure types: field names and defaults match the operator this project replaces, so its manifests
//! apply unchanged (see `deprecations` for the spellings that are accepted with a warning).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::schema;

/// Host image repository used when only `version` is given.
pub const DEFAULT_HOST_IMAGE_REPOSITORY: &str = "ghcr.io/wasmcloud/wasmcloud";
/// NATS leaf sidecar image used when `natsLeafImage` is not given.
pub const DEFAULT_NATS_LEAF_IMAGE: &str = "nats:2.10-alpine";

/// Desired state of a group of wasmCloud hosts that join one lattice.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "k8s.wasmcloud.dev",
    version = "v1alpha1",
    kind = "WasmCloudHostConfig",
    namespaced,
    shortname = "whc",
    category = "wasmcloud",
    status = "WasmCloudHostConfigStatus",
    printcolumn = r#"{"name":"Lattice","type":"string","jsonPath":".spec.lattice"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".status.workloadKind"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.readyHosts"}"#,
    printcolumn = r#"{"name":"Apps","type":"integer","jsonPath":".status.app_count"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.version) || has(self.image)",
        "message": "set spec.version (the wasmCloud host version, e.g. \"1.0.4\") or spec.image (a full host image)"
    },
    {
        "rule": "!has(self.daemonset) || !has(self.schedulingOptions) || !has(self.schedulingOptions.daemonset) || self.daemonset == self.schedulingOptions.daemonset",
        "message": "spec.daemonset and spec.schedulingOptions.daemonset disagree: set only spec.schedulingOptions.daemonset"
    },
    {
        "rule": "!has(self.policyService) || has(self.policyService.topic) || (!has(self.policyService.changesTopic) && !has(self.policyService.timeoutMs))",
        "message": "policyService.changesTopic and policyService.timeoutMs need policyService.topic"
    },
    // Settings a host version can't honour, refused here when the version is known at admission (spec.version
    // without an image); with an image the host-operator reports them on the object (NotSupportedByHost).
    {
        "rule": "has(self.image) || !has(self.version) || !self.version.matches('^v?1[.]0[.]') || (!has(self.secretsTopicPrefix) && !(has(self.observability) && has(self.observability.protocol)) && !(has(self.certificates) && has(self.certificates.authorities) && size(self.certificates.authorities) > 0))",
        "message": "secretsTopicPrefix, observability.protocol and certificates.authorities need wasmCloud host 1.1.0 or later, and spec.version is 1.0.x"
    },
    {
        "rule": "has(self.image) || !has(self.version) || !self.version.matches('^v?1[.][01][.]') || !has(self.maxLinearMemoryBytes)",
        "message": "maxLinearMemoryBytes needs wasmCloud host 1.2.0 or later, and spec.version is older"
    },
    {
        "rule": "has(self.image) || !has(self.version) || !self.version.matches('^v?1[.]([9]|[1-9][0-9]+)[.]') || !has(self.maxLinearMemoryBytes) || self.maxLinearMemoryBytes <= 4294967295",
        "message": "maxLinearMemoryBytes must be below 4 GiB (at most 4294967295) for wasmCloud host 1.9 and later, which reads it as a 32-bit number"
    }
]))]
pub struct WasmCloudHostConfigSpec {
    /// Number of host pods (Deployment replicas). Ignored when the hosts run as a DaemonSet.
    #[serde(default = "default_host_replicas")]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 0 && self <= 10000", "message": "hostReplicas must be between 0 and 10000"}
    ]))]
    pub host_replicas: u32,

    /// Deprecated and ignored: cluster issuers were removed in wasmCloud 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::string_list")]
    pub issuers: Option<Vec<String>>,

    /// The lattice the hosts join. Used in NATS subjects, so it must be one subject token.
    #[schemars(schema_with = "lattice_schema")]
    pub lattice: String,

    /// Labels each host advertises to the lattice (wadm spreads on them). Each one also becomes the pod
    /// label `host-label.k8s.wasmcloud.dev/<key>`, so keys and values must be valid label parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "host_labels_schema")]
    pub host_labels: Option<BTreeMap<String, String>>,

    /// wasmCloud host version; the image is `ghcr.io/wasmcloud/wasmcloud:<version>` unless `image` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 128, "pattern" = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"))]
    pub version: Option<String>,

    /// Full host image reference. When set, `version` does not choose the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 512, "pattern" = "^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"))]
    pub image: Option<String>,

    /// The wasmCloud version `image` runs, when its tag does not say (`latest`, a digest, a name of one's own),
    /// as `1.2.3`; the host container is written for it. Default: the newest 1.x this operator knows. A tag
    /// that is a version wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = "^v?[0-9]+[.][0-9]+[.][0-9]+([-+][A-Za-z0-9._-]*)?$", "maxLength" = 64))]
    pub image_version: Option<String>,

    /// NATS leaf sidecar image (default `nats:2.10-alpine`); include a tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 512, "pattern" = "^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"))]
    pub nats_leaf_image: Option<String>,

    /// Secret in this namespace whose `nats.creds` key holds the leaf's NATS credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::object_name")]
    pub secret_name: Option<String>,

    /// Structured (JSON) host logs. Unset means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_structured_logging: Option<bool>,

    /// `kubernetes.io/dockerconfigjson` Secret whose single registry the hosts pull OCI artifacts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::object_name")]
    pub registry_credentials_secret: Option<String>,

    /// Control-interface topic prefix of the hosts (the host's default is `wasmbus.ctl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 253))]
    pub control_topic_prefix: Option<String>,

    /// JetStream domain of each pod's NATS leaf sidecar.
    #[serde(default = "default_leaf_node_domain")]
    #[schemars(schema_with = "leaf_node_domain_schema")]
    pub leaf_node_domain: String,

    /// Make hosts ask a config service for their configuration at start.
    #[serde(default)]
    pub config_service_enabled: bool,

    /// Give the host pods a ServiceAccount token and a Role that manages Services in this namespace, as
    /// the old operator always did. The wasmCloud 1.x host never calls the Kubernetes API (its runtime has
    /// no Kubernetes client); only a provider that does (a Kubernetes applier, say) needs this.
    #[serde(default)]
    pub kubernetes_api_access: bool,

    /// The lattice's NATS cluster, e.g. `nats://nats.default.svc.cluster.local`. A port given here is used
    /// for the leaf connection; without one, `natsLeafnodePort` is appended.
    #[serde(default = "default_nats_address")]
    #[schemars(schema_with = "nats_address_schema")]
    pub nats_address: String,

    /// Client port of the NATS cluster (what the operators use to reach wadm).
    #[serde(default = "default_nats_client_port")]
    #[schemars(schema_with = "schema::port")]
    pub nats_client_port: u16,

    /// Leaf-node port of the NATS cluster.
    #[serde(default = "default_nats_leafnode_port")]
    #[schemars(schema_with = "schema::port")]
    pub nats_leafnode_port: u16,

    /// JetStream domain of the NATS cluster that the hosts use.
    #[serde(default = "default_jetstream_domain")]
    #[schemars(schema_with = "jetstream_domain_schema")]
    pub jetstream_domain: String,

    /// Let hosts run OCI artifacts tagged `latest`.
    #[serde(default)]
    pub allow_latest: bool,

    /// OCI registries the hosts may reach without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::string_list")]
    pub allowed_insecure: Option<Vec<String>>,

    /// Host log level: trace, debug, info, warn or error (any case).
    #[serde(default = "default_log_level")]
    #[schemars(schema_with = "log_level_schema")]
    pub log_level: String,

    /// Policy service the hosts consult before starting components and providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_service: Option<PolicyService>,

    /// How the host pods are scheduled and shaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_options: Option<KubernetesSchedulingOptions>,

    /// Same as `schedulingOptions.daemonset` (accepted here because the old operator's README wrote it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemonset: Option<bool>,

    /// OpenTelemetry export from the hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilityConfiguration>,

    /// Extra certificate authorities the hosts trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<WasmCloudHostCertificates>,

    /// Subject prefix the hosts use to ask for wasmCloud secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 253))]
    pub secrets_topic_prefix: Option<String>,

    /// Most linear memory, in bytes, one component may allocate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub max_linear_memory_bytes: Option<u64>,
}

/// Policy service settings (all optional; `topic` turns policy checks on).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyService {
    /// Subject the hosts send policy requests to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 253))]
    pub topic: Option<String>,
    /// Milliseconds to wait for a policy decision (the host's default is 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub timeout_ms: Option<u32>,
    /// Subject on which earlier policy decisions are revised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 253))]
    pub changes_topic: Option<String>,
}

/// Scheduling and shape of the host pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesSchedulingOptions {
    /// Run one host per node (DaemonSet) instead of `hostReplicas` hosts (Deployment). Unset means false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemonset: Option<bool>,
    /// Resources of the two containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<WasmCloudHostConfigResources>,
    /// A PodSpec merged into the host pods (nodeSelector, tolerations, affinity, imagePullSecrets, volumes,
    /// ...). The operator owns `containers` and `serviceAccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "pod_template_additions_schema")]
    pub pod_template_additions: Option<PodSpec>,
    /// Container fields merged into the operator's two containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_template_additions: Option<ContainerTemplateAdditions>,
}

/// Resources of the NATS leaf and the wasmCloud host containers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.wasmcloud) || !has(self.wasmCloudHost)",
    "message": "resources.wasmCloudHost is the old spelling of resources.wasmcloud: set only resources.wasmcloud"
}]))]
pub struct WasmCloudHostConfigResources {
    /// Resources of the `nats-leaf` container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<ResourceRequirements>,
    /// Resources of the `wasmcloud-host` container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasmcloud: Option<ResourceRequirements>,
    /// Deprecated spelling of `wasmcloud` (used by the old operator's annotated example); accepted with a
    /// warning.
    #[serde(default, rename = "wasmCloudHost", skip_serializing_if = "Option::is_none")]
    pub wasm_cloud_host: Option<ResourceRequirements>,
}

impl WasmCloudHostConfigResources {
    /// The host container's resources, from `wasmcloud` or its deprecated spelling.
    pub fn host(&self) -> Option<&ResourceRequirements> {
        self.wasmcloud.as_ref().or(self.wasm_cloud_host.as_ref())
    }
}

/// Container fields merged into the two operator-built containers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ContainerTemplateAdditions {
    /// Merged into the `nats-leaf` container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "container_additions_schema")]
    pub nats: Option<Container>,
    /// Merged into the `wasmcloud-host` container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "container_additions_schema")]
    pub wasmcloud: Option<Container>,
}

/// OpenTelemetry settings of the hosts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilityConfiguration {
    /// Turn on all three signals.
    #[serde(default)]
    pub enable: bool,
    /// OTLP collector endpoint for every signal.
    #[schemars(extend("minLength" = 1, "maxLength" = 1024))]
    pub endpoint: String,
    /// OTLP protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<OtelProtocol>,
    /// Log export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<OtelSignalConfiguration>,
    /// Metric export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<OtelSignalConfiguration>,
    /// Trace export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<OtelSignalConfiguration>,
}

/// OTLP transport.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OtelProtocol {
    Grpc,
    Http,
}

/// One OpenTelemetry signal.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OtelSignalConfiguration {
    /// Export this signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Collector endpoint for this signal only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1, "maxLength" = 1024))]
    pub endpoint: Option<String>,
}

/// Certificate authorities for the hosts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WasmCloudHostCertificates {
    /// Volumes naming a Secret (`secret.secretName`) or a ConfigMap (`configMap.name`); every `*.crt` key
    /// in it is trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "authorities_schema")]
    pub authorities: Option<Vec<Volume>>,
}

/// Kind of workload that runs the hosts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    DaemonSet,
}

/// Observed state, written only by the host-operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WasmCloudHostConfigStatus {
    /// Ready, Progressing and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Deployment or DaemonSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_kind: Option<WorkloadKind>,
    /// Hosts wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Hosts whose pods are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Hosts running the current pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// `ready/desired`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_hosts: Option<String>,
    /// Applications deployed to this lattice (from the Application objects in the cluster). Always
    /// written, empty or not: the wasmcloud-operator's v1alpha1 (same group, version and kind) requires
    /// it, so a rolled-back old operator can still read every object.
    #[serde(default)]
    #[schemars(extend("maxItems" = 10000))]
    pub apps: Vec<LatticeApp>,
    /// Number of Applications on the lattice (`apps` lists at most 100). Spelled `app_count`, as the
    /// wasmcloud-operator's v1alpha1 had it: a field keeps its name within an API version, and the old
    /// operator (and scripts written for it) read it by that name.
    #[serde(default, rename = "app_count")]
    pub app_count: u32,
}

/// One application on the lattice.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatticeApp {
    /// wadm model name.
    pub name: String,
    /// Namespace of the Application object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Deployed version; empty while none is. Always written: the old operator's v1alpha1 requires it.
    #[serde(default)]
    pub version: String,
    /// wadm status phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// A field spelled the old operator's way that still works, with what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecation {
    pub field: &'static str,
    pub advice: &'static str,
}

impl WasmCloudHostConfig {
    /// Drops all but the object's identity (name, namespace, uid, labels, owners) and its lattice: the
    /// spec falls back to its defaults, status and annotations go. For binaries that cache host configs
    /// only to know which lattices live in which namespaces.
    pub fn keep_identity_and_lattice(&mut self) {
        self.metadata.managed_fields = None;
        self.metadata.annotations = None;
        self.status = None;
        // Every other field has a default (tested below); a required field added later keeps the spec whole.
        if let Ok(spec) = serde_json::from_value(serde_json::json!({"lattice": self.spec.lattice})) {
            self.spec = spec;
        }
    }
}

impl WasmCloudHostConfigSpec {
    /// Whether the hosts run as a DaemonSet (either spelling).
    pub fn is_daemonset(&self) -> bool {
        self.scheduling_options
            .as_ref()
            .and_then(|s| s.daemonset)
            .or(self.daemonset)
            .unwrap_or(false)
    }

    /// The host container image.
    pub fn host_image(&self) -> String {
        match (&self.image, &self.version) {
            (Some(image), _) => image.clone(),
            (None, Some(version)) => format!("{DEFAULT_HOST_IMAGE_REPOSITORY}:{version}"),
            // The schema requires one of the two; this keeps the function total.
            (None, None) => format!("{DEFAULT_HOST_IMAGE_REPOSITORY}:latest"),
        }
    }

    /// The NATS leaf sidecar image.
    pub fn nats_leaf_image(&self) -> &str {
        self.nats_leaf_image.as_deref().unwrap_or(DEFAULT_NATS_LEAF_IMAGE)
    }

    /// Structured logging, on unless turned off.
    pub fn structured_logging(&self) -> bool {
        self.enable_structured_logging.unwrap_or(true)
    }

    /// Old spellings in use, each with what to write instead. The host-operator reports them as a Warning.
    pub fn deprecations(&self) -> Vec<Deprecation> {
        let mut found = Vec::new();
        if self.daemonset.is_some() {
            found.push(Deprecation {
                field: "spec.daemonset",
                advice: "move it to spec.schedulingOptions.daemonset",
            });
        }
        let resources = self
            .scheduling_options
            .as_ref()
            .and_then(|s| s.resources.as_ref());
        if resources.is_some_and(|r| r.wasm_cloud_host.is_some()) {
            found.push(Deprecation {
                field: "spec.schedulingOptions.resources.wasmCloudHost",
                advice: "rename it to spec.schedulingOptions.resources.wasmcloud",
            });
        }
        if self.issuers.is_some() {
            found.push(Deprecation {
                field: "spec.issuers",
                advice: "remove it: wasmCloud 1.0 and later ignore cluster issuers",
            });
        }
        found
    }
}

fn default_host_replicas() -> u32 {
    1
}
fn default_leaf_node_domain() -> String {
    "leaf".into()
}
fn default_nats_address() -> String {
    "nats://nats.default.svc.cluster.local".into()
}
fn default_nats_client_port() -> u16 {
    4222
}
fn default_nats_leafnode_port() -> u16 {
    7422
}
fn default_jetstream_domain() -> String {
    "default".into()
}
fn default_log_level() -> String {
    "INFO".into()
}

fn lattice_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "The lattice the hosts join. Used in NATS subjects, so it must be one subject token.",
        "maxLength": 63,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?$')",
            "message": "lattice must be 1 to 63 letters, digits, '-' and '_', starting and ending with a letter or digit: it is a NATS subject token (no dots, spaces or wildcards) and the wasmcloud.dev/lattice label value of the host pods and Services"
        }]
    })
}

/// A JetStream domain: one NATS subject token (nats-server refuses to start with `.`, `*`, `>` or whitespace).
fn domain_schema(field: &str, default: &str, description: &str) -> Schema {
    json_schema!({
        "type": "string",
        "description": description,
        "default": default,
        "minLength": 1,
        "maxLength": 253,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^[^.*>[:space:]]+$')",
            "message": format!("{field} is a JetStream domain: it may not contain '.', '*', '>' or whitespace")
        }]
    })
}

fn leaf_node_domain_schema(_: &mut SchemaGenerator) -> Schema {
    domain_schema(
        "leafNodeDomain",
        "leaf",
        "JetStream domain of each pod's NATS leaf sidecar.",
    )
}

fn jetstream_domain_schema(_: &mut SchemaGenerator) -> Schema {
    domain_schema(
        "jetstreamDomain",
        "default",
        "JetStream domain of the NATS cluster that the hosts use.",
    )
}

fn host_labels_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "description": "Labels each host advertises to the lattice. Each also becomes the pod label host-label.k8s.wasmcloud.dev/<key>.",
        "maxProperties": 64,
        "additionalProperties": {"type": "string", "maxLength": 63},
        "x-kubernetes-validations": [
            {
                "rule": "self.all(k, k.size() <= 63 && k.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'))",
                "message": "hostLabels keys must be valid label names: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            },
            {
                "rule": "self.all(k, self[k] == '' || self[k].matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'))",
                "message": "hostLabels values must be valid label values: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            },
            {
                "rule": "!('kubernetes' in self)",
                "message": "hostLabels must not set 'kubernetes': the operator sets it to \"true\" on every host"
            }
        ]
    })
}

fn nats_address_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "The lattice's NATS cluster, e.g. nats://nats.default.svc.cluster.local; a port given here is used for the leaf connection, otherwise natsLeafnodePort is appended.",
        "default": "nats://nats.default.svc.cluster.local",
        "maxLength": 512,
        "x-kubernetes-validations": [{
            "rule": "self.matches('^((nats|tls|nats-leaf|ws|wss)://)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$')",
            "message": "natsAddress must be [scheme://]host[:port] with scheme nats, tls, nats-leaf, ws or wss and a port from 1 to 65535, e.g. nats://nats.default.svc.cluster.local or nats://nats:7422"
        }]
    })
}

fn log_level_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "Host log level: trace, debug, info, warn or error (any case).",
        "default": "INFO",
        "maxLength": 16,
        "x-kubernetes-validations": [{
            "rule": "self.lowerAscii() in ['trace', 'debug', 'info', 'warn', 'error']",
            "message": "logLevel must be one of trace, debug, info, warn, error (any case)"
        }]
    })
}

fn pod_template_additions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = PodSpec::json_schema(generator);
    schema::drop_required(&mut schema);
    schema::strip_nested_descriptions(&mut schema);
    if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        // Declared only so the rule below can see it: the apiserver would otherwise prune it silently.
        properties.insert(
            "spec".into(),
            serde_json::json!({
                "type": "object",
                "description": "Not a field: podTemplateAdditions is itself a PodSpec.",
                "x-kubernetes-preserve-unknown-fields": true
            }),
        );
    }
    schema.insert(
        "x-kubernetes-validations".into(),
        serde_json::json!([{
            "rule": "!has(self.spec)",
            "message": "podTemplateAdditions is already a PodSpec: move the fields under podTemplateAdditions.spec up one level (e.g. podTemplateAdditions.nodeSelector)"
        }, {
            "rule": "!has(self.containers) || size(self.containers) == 0",
            "message": "podTemplateAdditions.containers is managed by the operator: use schedulingOptions.containerTemplateAdditions to change the host or leaf container"
        }]),
    );
    schema
}

fn container_additions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = Container::json_schema(generator);
    schema::drop_required(&mut schema);
    schema::strip_nested_descriptions(&mut schema);
    schema
}

fn authorities_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut volume = Volume::json_schema(generator);
    schema::strip_nested_descriptions(&mut volume);
    json_schema!({
        "type": "array",
        "maxItems": 16,
        "items": volume,
        "x-kubernetes-validations": [
            {
                "rule": "self.all(v, has(v.secret) != has(v.configMap))",
                "message": "each certificates.authorities entry needs exactly one of secret or configMap"
            },
            {
                "rule": "self.all(v, !has(v.secret) || has(v.secret.secretName))",
                "message": "certificates.authorities[].secret needs secretName"
            },
            {
                "rule": "self.all(v, !has(v.configMap) || has(v.configMap.name))",
                "message": "certificates.authorities[].configMap needs name"
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeping_identity_and_lattice_drops_the_rest() {
        let mut whc: WasmCloudHostConfig = serde_json::from_value(serde_json::json!({
            "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
            "metadata": {"name": "hosts", "namespace": "ns", "uid": "u1", "labels": {"team": "a"},
                         "annotations": {"note": "big"}},
            "spec": {"lattice": "blue", "version": "1.4.2", "hostReplicas": 3, "hostLabels": {"zone": "east"}},
            "status": {"app_count": 2}
        }))
        .expect("a valid host config");
        whc.keep_identity_and_lattice();
        assert_eq!(whc.spec.lattice, "blue");
        assert_eq!(whc.spec.version, None);
        assert_eq!(whc.spec.host_labels, None);
        assert!(whc.status.is_none());
        assert!(whc.metadata.annotations.is_none());
        assert_eq!(
            (
                whc.metadata.name.as_deref(),
                whc.metadata.namespace.as_deref(),
                whc.metadata.uid.as_deref()
            ),
            (Some("hosts"), Some("ns"), Some("u1"))
        );
        assert_eq!(whc.metadata.labels.expect("labels kept")["team"], "a");
    }
}
