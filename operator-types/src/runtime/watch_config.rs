//! The list/watch settings every watch of the three binaries starts from, and what is dropped from an
//! object before it is cached. Touches nothing.
//!
//! The initial LIST (and every re-list after a watch expires) comes in pages of [`PAGE_SIZE`] objects
//! instead of kube's default of 500: a page is held twice while it is decoded (the response body and
//! the objects), and a binary starts a dozen watches at once, so large pages set the start-up peak of
//! resident memory long after the pages themselves are gone. Smaller pages cost a few more LIST
//! requests at start and nothing at steady state.

use kube::Resource;
use kube::runtime::watcher;

/// kubectl's copy of the whole object as last applied client-side: never read here, often the largest
/// field of an object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a namespaced kind must be for the binaries' watch helpers (every kind they watch is namespaced).
pub trait NamespacedKind:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> NamespacedKind for K where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Objects per page of an initial LIST.
pub const PAGE_SIZE: u32 = 50;

/// Every object of the watched kind, listed in pages of [`PAGE_SIZE`].
pub fn all() -> watcher::Config {
    watcher::Config::default().page_size(PAGE_SIZE)
}

/// The objects carrying `label=value`, listed in pages of [`PAGE_SIZE`].
pub fn labelled(label: &str, value: &str) -> watcher::Config {
    all().labels(&format!("{label}={value}"))
}

/// Drops what no reconcile reads from an object about to be cached: its managed fields and kubectl's
/// last-applied copy of it.
pub fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selector_and_page_size_are_set() {
        let config = labelled("app.kubernetes.io/managed-by", "host-operator");
        assert_eq!(
            config.label_selector.as_deref(),
            Some("app.kubernetes.io/managed-by=host-operator")
        );
        assert_eq!(config.page_size, Some(PAGE_SIZE));
        assert_eq!(all().label_selector, None);
    }

    #[test]
    fn slim_drops_managed_fields_and_the_last_applied_copy_only() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
        let mut config_map = ConfigMap {
            metadata: ObjectMeta {
                name: Some("c".into()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                annotations: Some(
                    [
                        (LAST_APPLIED.to_string(), "{}".to_string()),
                        ("keep".to_string(), "me".to_string()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        slim(&mut config_map);
        assert_eq!(config_map.metadata.managed_fields, None);
        let annotations = config_map.metadata.annotations.expect("other annotations stay");
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["keep"], "me");
    }
}
