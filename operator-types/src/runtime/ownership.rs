//! Whose an object is, by its ownerReferences' UIDs (a label can be copied onto anything; an owner's UID
//! can't be guessed): the rules every binary checks before it writes or deletes a child, so none adopts,
//! rewrites or deletes an object it did not create. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The controller ownerReference of `meta`, if any.
pub fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Whether the object's controller is the owner with `owner_uid`.
pub fn controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller(meta).is_some_and(|r| r.uid == owner_uid)
}

/// Whether any ownerReference of the object (controller or not) is of `kind` in API group `group`.
pub fn owned_by_kind(meta: &ObjectMeta, group: &str, kind: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.kind == kind && r.api_version.split_once('/').map_or("", |(g, _)| g) == group)
}

/// Who holds the object, for a message that tells the user what is in the way.
pub fn holder(meta: &ObjectMeta) -> String {
    match controller(meta) {
        Some(owner) => format!(
            "is controlled by {} {} (uid {})",
            owner.kind, owner.name, owner.uid
        ),
        None if meta.owner_references.as_ref().is_some_and(|r| !r.is_empty()) => {
            "is owned by other objects and controlled by none".to_string()
        }
        None => "was not created by this owner (it has no owner)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(kind: &str, uid: &str, controller: bool) -> OwnerReference {
        OwnerReference {
            api_version: "k8s.wasmcloud.dev/v1alpha1".into(),
            kind: kind.into(),
            name: format!("{kind}-name"),
            uid: uid.into(),
            controller: Some(controller),
            block_owner_deletion: None,
        }
    }

    fn meta(references: Vec<OwnerReference>) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(references),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn control_is_the_controller_references_uid() {
        let ours = meta(vec![reference("WasmCloudHostConfig", "u1", true)]);
        assert!(controlled_by(&ours, "u1"));
        assert!(!controlled_by(&ours, "u2"), "same kind and name, another object");
        let owned_only = meta(vec![reference("WasmCloudHostConfig", "u1", false)]);
        assert!(
            !controlled_by(&owned_only, "u1"),
            "an owner that does not control"
        );
        assert!(!controlled_by(&ObjectMeta::default(), "u1"));
    }

    #[test]
    fn ownership_by_kind_checks_the_group() {
        let owned = meta(vec![reference("WasmCloudHostConfig", "u1", false)]);
        assert!(owned_by_kind(&owned, "k8s.wasmcloud.dev", "WasmCloudHostConfig"));
        assert!(!owned_by_kind(&owned, "example.com", "WasmCloudHostConfig"));
        assert!(!owned_by_kind(
            &ObjectMeta::default(),
            "k8s.wasmcloud.dev",
            "WasmCloudHostConfig"
        ));
    }

    #[test]
    fn the_holder_is_named() {
        let held = meta(vec![reference("Deployment", "u9", true)]);
        assert_eq!(
            holder(&held),
            "is controlled by Deployment Deployment-name (uid u9)"
        );
        assert!(holder(&ObjectMeta::default()).contains("no owner"));
        assert!(holder(&meta(vec![reference("X", "u", false)])).contains("controlled by none"));
    }
}
