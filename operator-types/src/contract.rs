//! The contract between the three binaries: every name they share through the Kubernetes API.
//! Pure constants; a rename here is a compile error everywhere instead of a silent mismatch.

/// Server-side-apply field managers, one per binary.
pub mod field_manager {
    pub const HOST_OPERATOR: &str = "wasmcloud-host-operator";
    pub const SERVICE_SYNCER: &str = "wasmcloud-service-syncer";
    pub const APP_STATUS_BRIDGE: &str = "wasmcloud-app-status-bridge";
}

/// Labels that carry meaning between binaries.
pub mod labels {
    /// `app.kubernetes.io/managed-by`: the binary that created the object (its field manager name).
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// `app.kubernetes.io/name`; host pods carry [`HOST_NAME_VALUE`].
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `app.kubernetes.io/instance`; host pods carry their WasmCloudHostConfig's name.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `app.kubernetes.io/component`.
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// Value of [`NAME`] on every host pod.
    pub const HOST_NAME_VALUE: &str = "wasmcloud-host";
    /// The lattice a host pod or an app Service belongs to.
    pub const LATTICE: &str = "wasmcloud.dev/lattice";
    /// The wadm application an app Service serves.
    pub const APP: &str = "wasmcloud.dev/app";
    /// `"true"` on an Application the app-status-bridge created to show a wadm model no Application owns
    /// (`--mirror-wadm-models`): read-only, never written to wadm.
    pub const MIRROR: &str = "k8s.wasmcloud.dev/mirror";
    /// Prefix of the pod label that mirrors each `hostLabels` entry: `host-label.k8s.wasmcloud.dev/<key>`.
    pub const HOST_LABEL_PREFIX: &str = "host-label.k8s.wasmcloud.dev/";

    /// The pod label that carries a host label, e.g. `zone` → `host-label.k8s.wasmcloud.dev/zone`.
    pub fn host_label(key: &str) -> String {
        format!("{HOST_LABEL_PREFIX}{key}")
    }
}

/// wasmCloud host labels every host pod advertises (through the downward API), so a lattice host maps
/// back to the pod that runs it. They reach the host as `WASMCLOUD_LABEL_<key>` environment variables,
/// so the keys avoid `/`, which older API servers reject in variable names.
pub mod host_labels {
    pub const POD_NAME: &str = "kubernetes.pod.name";
    pub const POD_NAMESPACE: &str = "kubernetes.pod.namespace";
    /// Always `true` on hosts run by the host-operator (the old operator's `WASMCLOUD_LABEL_kubernetes`).
    pub const KUBERNETES: &str = "kubernetes";
}

/// Annotations users and binaries set.
pub mod annotations {
    /// On an Application: the lattice it deploys into (overrides the namespace's WasmCloudHostConfig).
    pub const LATTICE: &str = "k8s.wasmcloud.dev/lattice";
    /// On an Application: `"true"` deletes the object without undeploying it from wadm.
    pub const SKIP_WADM_CLEANUP: &str = "k8s.wasmcloud.dev/skip-wadm-cleanup";
    /// On an Application: the wadm manifest version (wadm's own annotation name).
    pub const WADM_VERSION: &str = "version";
    /// In a manifest the bridge puts into wadm: the hash of the Application's content, so a stored
    /// version can be compared without depending on how wadm re-serializes the manifest.
    pub const CONTENT_HASH: &str = "k8s.wasmcloud.dev/content-hash";
    /// In a manifest the bridge puts into wadm: the UID of the Application it came from. The bridge puts,
    /// deploys and deletes only models whose newest version carries its object's UID.
    pub const OWNER_UID: &str = "k8s.wasmcloud.dev/owner-uid";
    /// In a manifest the bridge puts into wadm: `<namespace>/<name>` of that Application, for people.
    pub const OWNER: &str = "k8s.wasmcloud.dev/owner";
    /// On an Application: `"true"` takes over a model of the same name that wadm holds without this
    /// object's mark (put by `wash`, another cluster or another object); without it such a model is a conflict.
    pub const ADOPT_MODEL: &str = "k8s.wasmcloud.dev/adopt-model";
    /// On a mirror Application: `<lattice>/<model>`, the wadm model it shows.
    pub const MIRROR_OF: &str = "k8s.wasmcloud.dev/mirror-of";
    /// On a mirror Application: what it is and how to take ownership, for people.
    pub const MIRROR_NOTE: &str = "k8s.wasmcloud.dev/mirror-note";
    /// Argo CD's per-object comparison options; `IgnoreExtraneous` on a mirror keeps it from making an
    /// Argo CD application OutOfSync.
    pub const ARGOCD_COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";
    /// On a Service created for an app whose name is not a valid Service name: the original name.
    pub const ORIGINAL_APP_NAME: &str = "wasmcloud.dev/app-name";
    /// On host pod templates: the checksum of every Secret and ConfigMap the hosts read, so a change rolls them.
    pub const CONFIG_CHECKSUM: &str = "k8s.wasmcloud.dev/config-checksum";
}

/// The app-status-bridge's finalizer on `Application` (undeploy and delete the model in wadm).
pub const APPLICATION_FINALIZER: &str = "k8s.wasmcloud.dev/wadm-cleanup";

/// Condition types. Each binary owns distinct types; `Ready` is what `kubectl wait` uses on both kinds.
pub mod condition_types {
    /// Both kinds: everything asked for works.
    pub const READY: &str = "Ready";
    /// WasmCloudHostConfig (host-operator): a rollout is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// WasmCloudHostConfig (host-operator): hosts are missing or failing.
    pub const DEGRADED: &str = "Degraded";
    /// Application (app-status-bridge): the spec is stored and deployed in wadm as written.
    pub const SYNCED: &str = "Synced";
}

/// Condition reasons (CamelCase, bounded: they double as Event reasons and metric labels).
pub mod reasons {
    pub const RECONCILED: &str = "Reconciled";
    pub const ROLLING_OUT: &str = "RollingOut";
    pub const HOSTS_READY: &str = "HostsReady";
    pub const HOSTS_UNAVAILABLE: &str = "HostsUnavailable";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const DEPRECATED_FIELD: &str = "DeprecatedField";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const SECRET_INVALID: &str = "SecretInvalid";
    pub const CONFIG_MAP_NOT_FOUND: &str = "ConfigMapNotFound";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const DEPLOYED: &str = "Deployed";
    pub const NOT_DEPLOYED: &str = "NotDeployed";
    pub const WADM_UNREACHABLE: &str = "WadmUnreachable";
    pub const WADM_REJECTED: &str = "WadmRejected";
    pub const VERSION_NOT_BUMPED: &str = "VersionNotBumped";
    pub const CONFLICT: &str = "Conflict";
    /// An object with a child's name exists and its would-be owner does not control it: left untouched.
    pub const CHILD_CONFLICT: &str = "ChildConflict";
    pub const DRIFT_CORRECTED: &str = "DriftCorrected";
    pub const LATTICE_UNKNOWN: &str = "LatticeUnknown";
    /// An Application moved to another lattice; its model left the previous one.
    pub const LATTICE_CHANGED: &str = "LatticeChanged";
    /// A mirror Application's spec was edited; it was set back to the model's.
    pub const MIRROR_READ_ONLY: &str = "MirrorReadOnly";
}

/// The names of the three binaries (also their managed-by label values and leader-election lease names).
pub mod binaries {
    pub const HOST_OPERATOR: &str = "wasmcloud-host-operator";
    pub const SERVICE_SYNCER: &str = "wasmcloud-service-syncer";
    pub const APP_STATUS_BRIDGE: &str = "wasmcloud-app-status-bridge";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_binary_manages_what_it_applies_under_its_own_name() {
        assert_eq!(field_manager::HOST_OPERATOR, binaries::HOST_OPERATOR);
        assert_eq!(field_manager::SERVICE_SYNCER, binaries::SERVICE_SYNCER);
        assert_eq!(field_manager::APP_STATUS_BRIDGE, binaries::APP_STATUS_BRIDGE);
    }

    #[test]
    fn host_label_keys_land_under_the_shared_prefix() {
        assert_eq!(labels::host_label("zone"), "host-label.k8s.wasmcloud.dev/zone");
    }
}
