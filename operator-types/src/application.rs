//! `Application` (core.oam.dev/v1beta1): a wadm application manifest as a Kubernetes object, so the file
//! given to `wash app deploy` can be `kubectl apply`-ed as is. Pure types plus the pure rules of the
//! contract about applications (which lattice, which phase).

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;

/// A wadm application manifest: components (Wasm components and capability providers) with their traits
/// (scalers, links, ...) and policies. Properties are free-form and reach wadm unchanged.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "core.oam.dev",
    version = "v1beta1",
    kind = "Application",
    namespaced,
    shortname = "app",
    category = "wasmcloud",
    status = "ApplicationStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Deployed Version","type":"string","jsonPath":".status.deployedVersion"}"#,
    printcolumn = r#"{"name":"Lattice","type":"string","jsonPath":".status.lattice"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ApplicationSpec {
    /// The components and capability providers of the application.
    #[schemars(extend("maxItems" = 512))]
    pub components: Vec<Component>,
    /// Policies that components and traits refer to by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = 128))]
    pub policies: Option<Vec<Policy>>,
}

/// One component or capability provider.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Component {
    /// Name, unique within the application.
    #[schemars(extend("minLength" = 1, "maxLength" = 253))]
    pub name: String,
    /// `component` or `capability` (`actor` is wadm's older word for component).
    #[serde(rename = "type")]
    #[schemars(extend("minLength" = 1, "maxLength" = 63))]
    pub type_: String,
    /// Image, id, config, secrets, ...: given to wadm as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub properties: Option<serde_json::Value>,
    /// Scalers, links and other traits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxItems" = 128))]
    pub traits: Option<Vec<Trait>>,
}

/// A trait attached to a component (`spreadscaler`, `daemonscaler`, `link`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Trait {
    /// Trait type.
    #[serde(rename = "type")]
    #[schemars(extend("minLength" = 1, "maxLength" = 63))]
    pub type_: String,
    /// Trait properties, given to wadm as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub properties: Option<serde_json::Value>,
}

/// A named policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Policy {
    /// Name components refer to.
    #[schemars(extend("minLength" = 1, "maxLength" = 253))]
    pub name: String,
    /// Policy type.
    #[serde(rename = "type")]
    #[schemars(extend("minLength" = 1, "maxLength" = 63))]
    pub type_: String,
    /// Policy properties, given to wadm as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub properties: Option<serde_json::Value>,
}

/// wadm's status of an application (all six of wadm's statuses).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ApplicationPhase {
    Waiting,
    Undeployed,
    Reconciling,
    Deployed,
    Failed,
    Unhealthy,
}

impl ApplicationPhase {
    /// Every phase, in a stable order (for metrics and tables).
    pub const ALL: [ApplicationPhase; 6] = [
        Self::Waiting,
        Self::Undeployed,
        Self::Reconciling,
        Self::Deployed,
        Self::Failed,
        Self::Unhealthy,
    ];

    /// The phase for one of wadm's wire status values (including its aliases), or `None` if unknown.
    pub fn from_wadm(status: &str) -> Option<Self> {
        match status.to_ascii_lowercase().as_str() {
            "waiting" => Some(Self::Waiting),
            "undeployed" => Some(Self::Undeployed),
            "reconciling" | "compensating" => Some(Self::Reconciling),
            "deployed" | "ready" => Some(Self::Deployed),
            "failed" => Some(Self::Failed),
            "unhealthy" => Some(Self::Unhealthy),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Undeployed => "Undeployed",
            Self::Reconciling => "Reconciling",
            Self::Deployed => "Deployed",
            Self::Failed => "Failed",
            Self::Unhealthy => "Unhealthy",
        }
    }
}

impl fmt::Display for ApplicationPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state, written only by the app-status-bridge.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// wadm's status of the deployed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ApplicationPhase>,
    /// wadm's message for that status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The wadm version that is deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_version: Option<String>,
    /// The lattice the application is deployed into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lattice: Option<String>,
    /// Status of each component and its traits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 512))]
    pub components: Vec<ComponentStatus>,
    /// Ready and Synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Status of one component.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Component name, as in the spec.
    pub name: String,
    /// `component` or `capability`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// wadm's status of this component.
    pub phase: ApplicationPhase,
    /// wadm's message for that status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Status of each of the component's traits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 128))]
    pub traits: Vec<TraitStatus>,
}

/// Status of one trait.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraitStatus {
    /// Trait type (`spreadscaler`, `link`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// wadm's status of this trait.
    pub phase: ApplicationPhase,
    /// wadm's message for that status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why no lattice could be chosen for an Application.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LatticeChoiceError {
    #[error(
        "the WasmCloudHostConfigs in this namespace name {0} different lattices and no default lattice is configured: set the annotation k8s.wasmcloud.dev/lattice"
    )]
    Ambiguous(usize),
    #[error(
        "no lattice: set the annotation k8s.wasmcloud.dev/lattice or create a WasmCloudHostConfig in this namespace"
    )]
    None,
}

/// The contract's rule for an Application's lattice: its `k8s.wasmcloud.dev/lattice` annotation; else the
/// lattice of the namespace's WasmCloudHostConfigs when they name exactly one; else the configured default.
pub fn choose_lattice<'a>(
    annotation: Option<&'a str>,
    namespace_lattices: &[&'a str],
    default: Option<&'a str>,
) -> Result<&'a str, LatticeChoiceError> {
    if let Some(lattice) = annotation.filter(|l| !l.is_empty()) {
        return Ok(lattice);
    }
    let mut distinct: Vec<&str> = namespace_lattices.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct.as_slice() {
        [only] => Ok(only),
        [] => default.ok_or(LatticeChoiceError::None),
        many => default.ok_or(LatticeChoiceError::Ambiguous(many.len())),
    }
}
