//! The CustomResourceDefinitions generated from the types, and the files they are written to.
//! Pure: no client.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{Application, WasmCloudHostConfig};

/// One generated CRD and the file name it is checked in under (in deploy/crds/ and the owning chart).
#[derive(Debug)]
pub struct GeneratedCrd {
    pub file_name: &'static str,
    pub crd: CustomResourceDefinition,
}

/// Every CRD the project defines.
pub fn all() -> Vec<GeneratedCrd> {
    vec![
        GeneratedCrd {
            file_name: "wasmcloudhostconfigs.k8s.wasmcloud.dev.yaml",
            crd: labelled(with_name_rule(
                without_unknown_formats(WasmCloudHostConfig::crd()),
                HOST_CONFIG_NAME_RULE,
            )),
        },
        GeneratedCrd {
            file_name: "applications.core.oam.dev.yaml",
            crd: labelled(with_name_rule(
                without_unknown_formats(Application::crd()),
                APPLICATION_NAME_RULE,
            )),
        },
    ]
}

/// The name of the CRD that defines `K` (what `kubectl get crd` shows).
pub fn name_of<K: CustomResourceExt>() -> String {
    K::crd_name().to_string()
}

/// Formats the API server knows; schemars also writes `uint32` and the like, which the API server warns
/// about on every apply. Dropping them loses nothing: the ranges are in `minimum`/`maximum`.
pub const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "binary",
    "date",
    "date-time",
    "password",
    "int-or-string",
];

/// Label on our CRDs, so a binary can tell them from another project's CRD of the same name (KubeVela
/// also defines applications.core.oam.dev).
pub const OWNER_LABEL: (&str, &str) = ("app.kubernetes.io/part-of", "wasmcloud-operator");

fn labelled(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    crd.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(OWNER_LABEL.0.to_string(), OWNER_LABEL.1.to_string());
    crd
}

/// A host config's name names its children (Deployment, ConfigMap, ServiceAccount, Role) and is their pods'
/// `app.kubernetes.io/instance` label value: a DNS label, checked when the object is created rather than
/// discovered half-way through an apply.
pub const HOST_CONFIG_NAME_RULE: (&str, &str) = (
    "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
    "a WasmCloudHostConfig name must be a DNS label (at most 63 lowercase letters, digits and '-', no dots): it names the hosts' Deployment, ConfigMap, ServiceAccount and Role and labels their pods",
);
/// An Application's name is its wadm model's name, a token of wadm's NATS subjects.
pub const APPLICATION_NAME_RULE: (&str, &str) = (
    "!self.metadata.name.contains('.')",
    "an Application name can't contain '.': it is the wadm model's name, a token of wadm's NATS subjects",
);

/// Adds a root-level CEL rule on `metadata.name` (the only part of metadata CEL may read) to every version.
fn with_name_rule(
    mut crd: CustomResourceDefinition,
    (rule, message): (&str, &str),
) -> CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::ValidationRule;
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            schema
                .x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .push(ValidationRule {
                    rule: rule.to_string(),
                    message: Some(message.to_string()),
                    ..ValidationRule::default()
                });
        }
    }
    crd
}

fn without_unknown_formats(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                let unknown = map
                    .get("format")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|f| !KNOWN_FORMATS.contains(&f));
                if unknown {
                    map.remove("format");
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            let mut value = serde_json::to_value(&*schema).unwrap_or_default();
            walk(&mut value);
            if let Ok(cleaned) = serde_json::from_value(value) {
                *schema = cleaned;
            }
        }
    }
    crd
}
