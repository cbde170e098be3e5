//! The wadm manifest an Application stands for, and its version. Pure: an object in, JSON out.
//!
//! The version is the `version` annotation when the user gives one; otherwise it is derived from the
//! content (spec, labels and the other annotations), so applying the same object again is a no-op and any
//! edit is a new version.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::contract::annotations;

/// Prefix of derived versions, so they are easy to tell from a user's.
pub const DERIVED_PREFIX: &str = "k8s-";

/// Annotations that are Kubernetes' or this project's bookkeeping, not part of the wadm manifest.
fn is_bookkeeping(key: &str) -> bool {
    key.starts_with("kubectl.kubernetes.io/")
        || key.starts_with("argocd.argoproj.io/")
        || key == annotations::LATTICE
        || key == annotations::SKIP_WADM_CLEANUP
        || key == annotations::CONTENT_HASH
        || key == annotations::OWNER_UID
        || key == annotations::OWNER
        || key == annotations::ADOPT_MODEL
}

/// The manifest to put into wadm: the object as `wash app deploy` would have read it from its file, with
/// the version set and the bridge's owner mark (the object's UID and name; see `provenance`).
pub fn manifest(app: &Application) -> Value {
    let version = version(app);
    let mut kept: BTreeMap<String, String> = app
        .annotations()
        .iter()
        .filter(|(k, _)| !is_bookkeeping(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    kept.insert(annotations::WADM_VERSION.to_string(), version);
    kept.insert(annotations::CONTENT_HASH.to_string(), content_hash(app));
    if let Some(uid) = app.uid() {
        kept.insert(annotations::OWNER_UID.to_string(), uid);
        let owner = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
        kept.insert(annotations::OWNER.to_string(), owner);
    }
    let mut metadata = json!({"name": app.name_any(), "annotations": kept});
    if !app.labels().is_empty() {
        metadata["labels"] = json!(app.labels());
    }
    json!({
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": metadata,
        "spec": app.spec,
    })
}

/// The version: the user's annotation, or one derived from the content.
pub fn version(app: &Application) -> String {
    match app
        .annotations()
        .get(annotations::WADM_VERSION)
        .filter(|v| !v.is_empty())
    {
        Some(explicit) => explicit.clone(),
        None => format!("{DERIVED_PREFIX}{}", &content_hash(app)[..12]),
    }
}

/// A hash of what makes up the manifest: spec, labels and the annotations that are not bookkeeping.
pub fn content_hash(app: &Application) -> String {
    let content = json!({
        "spec": app.spec,
        "labels": app.labels(),
        "annotations": app
            .annotations()
            .iter()
            .filter(|(k, _)| !is_bookkeeping(k) && k.as_str() != annotations::WADM_VERSION)
            .collect::<BTreeMap<_, _>>(),
    });
    // serde_json writes maps in key order here (BTreeMap), so equal content hashes equally.
    format!("{:x}", Sha256::digest(content.to_string().as_bytes()))
}

/// Whether `stored` (a manifest wadm returned) has the same content as `ours`: by the content hash the
/// bridge records, or, for a manifest someone else put, by its spec.
pub fn same_content(stored: &Value, ours: &Value) -> bool {
    let hash = |m: &Value| {
        m.pointer("/metadata/annotations")
            .and_then(|a| a.get(annotations::CONTENT_HASH))
            .cloned()
    };
    match (hash(stored), hash(ours)) {
        (Some(stored), Some(ours)) => stored == ours,
        _ => stored.get("spec") == ours.get("spec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(annotations: &Value, spec: &Value) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "east", "annotations": annotations},
            "spec": spec
        }))
        .expect("app")
    }

    fn spec(instances: u32) -> Value {
        json!({"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"},
               "traits": [{"type": "spreadscaler", "properties": {"instances": instances}}]}]})
    }

    #[test]
    fn an_explicit_version_is_used_as_is() {
        assert_eq!(version(&app(&json!({"version": "v1.2.0"}), &spec(1))), "v1.2.0");
    }

    #[test]
    fn derived_versions_follow_the_content_only() {
        let one = version(&app(&json!({"description": "a shop"}), &spec(1)));
        assert!(one.starts_with("k8s-") && one.len() == 16, "{one}");
        assert_eq!(
            one,
            version(&app(&json!({"description": "a shop"}), &spec(1))),
            "same content, same version"
        );
        assert_ne!(
            one,
            version(&app(&json!({"description": "a shop"}), &spec(2))),
            "an edit is a new version"
        );
        let with_bookkeeping = app(
            &json!({"description": "a shop", "kubectl.kubernetes.io/last-applied-configuration": "{}"}),
            &spec(1),
        );
        assert_eq!(
            one,
            version(&with_bookkeeping),
            "kubectl's annotation is not content"
        );
    }

    #[test]
    fn the_manifest_is_the_file_wash_would_read_with_the_version_set() {
        let object = app(
            &json!({"description": "a shop", "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                "k8s.wasmcloud.dev/lattice": "blue"}),
            &spec(1),
        );
        let manifest = manifest(&object);
        assert_eq!(manifest["metadata"]["name"], "shop");
        assert_eq!(manifest["metadata"]["annotations"]["description"], "a shop");
        assert_eq!(
            manifest["metadata"]["annotations"]["version"],
            json!(version(&object))
        );
        assert!(
            manifest["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
        assert!(
            manifest["metadata"]["annotations"]
                .get("k8s.wasmcloud.dev/lattice")
                .is_none()
        );
        assert_eq!(manifest["spec"], spec(1));
        assert!(same_content(&manifest, &manifest));
        // wadm re-serializes what it stores; the recorded hash still matches.
        let mut normalized = manifest.clone();
        normalized["spec"]["components"][0]["traits"][0]["properties"]["extra"] = json!([]);
        assert!(same_content(&normalized, &manifest));
        let mut edited = manifest.clone();
        edited["metadata"]["annotations"]["k8s.wasmcloud.dev/content-hash"] = json!("other");
        assert!(!same_content(&edited, &manifest));
    }
}
