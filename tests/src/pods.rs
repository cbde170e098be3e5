//! Reading pods as the tests need them: readiness, a container's runtime ID, and a pod spec placed on the
//! real node. Pure.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::real_node::{NODE_TYPE, TAINT};

/// Ready and not terminating.
pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The runtime ID (`containerd://…`) of the container named `name`, once it has started.
pub fn container_id(pod: &Pod, name: &str) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)?
        .container_id
        .clone()
}

/// A pod named `name` with `containers`, placed on the real node (its node label and toleration).
pub fn on_real_node(name: &str, containers: &Value) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"type": NODE_TYPE},
            "tolerations": [{"key": TAINT, "operator": "Exists"}],
            "containers": containers,
        },
    }))?)
}
