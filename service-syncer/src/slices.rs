//! The EndpointSlices of a selector-less app Service: one per IP family, listing the given host pods
//! with Kubernetes' endpoint conditions. Pure: the Service and the pods in, the slices out.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use wasmcloud_operator_types::contract::{binaries, labels};

/// The label that ties a slice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label that says which controller manages a slice.
pub const SLICE_MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// Its value for ours (the built-in controller uses `endpointslice-controller.k8s.io`).
pub const SLICE_MANAGER: &str = "service-syncer.k8s.wasmcloud.dev";
/// kube-controller-manager's value of [`SLICE_MANAGED_BY_LABEL`], on the slices of a selector Service.
pub const SELECTOR_SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";
/// kube-controller-manager's value of [`SLICE_MANAGED_BY_LABEL`] on slices it mirrors from an Endpoints
/// object of a Service without a selector.
pub const MIRRORED_SLICE_MANAGER: &str = "endpointslicemirroring-controller.k8s.io";
/// The label kube-controller-manager's endpoints controller puts on the Endpoints it manages.
pub const ENDPOINTS_MANAGED_BY_LABEL: &str = "endpoints.kubernetes.io/managed-by";
/// Its value.
pub const ENDPOINTS_MANAGER: &str = "endpoint-controller";

/// The slices for `service` (which must carry its name, namespace and uid) over `pods`: always an IPv4
/// slice (empty when no pod qualifies, so stale addresses are cleared), and an IPv6 one when a pod has an
/// IPv6 address.
pub fn endpoint_slices(service: &Service, port: u16, pods: &[&Pod]) -> Vec<EndpointSlice> {
    let mut by_family: BTreeMap<&'static str, Vec<Endpoint>> = BTreeMap::from([("IPv4", Vec::new())]);
    let mut ordered: Vec<&&Pod> = pods.iter().collect();
    ordered.sort_by_key(|pod| pod.name_any());
    for pod in ordered {
        let Some(conditions) = conditions(pod) else {
            continue;
        };
        for ip in pod_ips(pod) {
            let family = if ip.contains(':') { "IPv6" } else { "IPv4" };
            by_family.entry(family).or_default().push(Endpoint {
                addresses: vec![ip],
                conditions: Some(conditions.clone()),
                node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    name: Some(pod.name_any()),
                    namespace: pod.namespace(),
                    uid: pod.uid(),
                    ..ObjectReference::default()
                }),
                ..Endpoint::default()
            });
        }
    }
    by_family
        .into_iter()
        .map(|(family, endpoints)| slice(service, port, family, endpoints))
        .collect()
}

/// The name of a Service's slice for one address family.
pub fn slice_name(service: &str, family: &str) -> String {
    format!("{service}-{}", family.to_ascii_lowercase())
}

fn slice(service: &Service, port: u16, family: &str, endpoints: Vec<Endpoint>) -> EndpointSlice {
    let name = service.name_any();
    let mut slice_labels: BTreeMap<String, String> = service.labels().clone();
    slice_labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
    slice_labels.insert(SLICE_MANAGED_BY_LABEL.into(), SLICE_MANAGER.into());
    slice_labels.insert(labels::MANAGED_BY.into(), binaries::SERVICE_SYNCER.into());
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(slice_name(&name, family)),
            namespace: service.namespace(),
            labels: Some(slice_labels),
            owner_references: service.controller_owner_ref(&()).map(|owner| vec![owner]),
            ..ObjectMeta::default()
        },
        address_type: family.to_string(),
        endpoints,
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(i32::from(port)),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }]),
    }
}

/// The endpoint conditions of a running pod; `None` for a pod that has no place in a slice (not
/// running, or not yet given an address).
fn conditions(pod: &Pod) -> Option<EndpointConditions> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") || pod_ips(pod).is_empty() {
        return None;
    }
    let pod_ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let terminating = pod.meta().deletion_timestamp.is_some();
    Some(EndpointConditions {
        ready: Some(pod_ready && !terminating),
        serving: Some(pod_ready),
        terminating: Some(terminating),
    })
}

fn pod_ips(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let listed: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if listed.is_empty() {
        status
            .pod_ip
            .clone()
            .into_iter()
            .filter(|ip| !ip.is_empty())
            .collect()
    } else {
        listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> Service {
        serde_json::from_value(json!({"metadata": {"name": "shop", "namespace": "east", "uid": "svc-uid",
            "labels": {"app.kubernetes.io/managed-by": "wasmcloud-service-syncer", "wasmcloud.dev/lattice": "blue"}}}))
        .expect("service")
    }

    fn pod(name: &str, ips: &[&str], ready: bool, terminating: bool) -> Pod {
        let mut pod = json!({"metadata": {"name": name, "namespace": "east", "uid": format!("uid-{name}")},
            "spec": {"nodeName": "kwok-node-0", "containers": []},
            "status": {"phase": "Running", "podIP": ips.first(),
                "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if terminating {
            pod["metadata"]["deletionTimestamp"] = json!("2026-11-27T10:00:00Z");
        }
        serde_json::from_value(pod).expect("pod")
    }

    #[test]
    fn conditions_follow_pod_readiness_and_termination() {
        let (a, b, c) = (
            pod("a", &["10.0.0.1"], true, false),
            pod("b", &["10.0.0.2"], false, false),
            pod("c", &["10.0.0.3"], true, true),
        );
        let slices = endpoint_slices(&service(), 8080, &[&c, &b, &a]);
        assert_eq!(slices.len(), 1);
        let slice = &slices[0];
        assert_eq!(
            (slice.metadata.name.as_deref(), slice.address_type.as_str()),
            (Some("shop-ipv4"), "IPv4")
        );
        let seen: Vec<(String, bool, bool, bool)> = slice
            .endpoints
            .iter()
            .map(|e| {
                let c = e.conditions.clone().expect("conditions");
                (
                    e.addresses[0].clone(),
                    c.ready == Some(true),
                    c.serving == Some(true),
                    c.terminating == Some(true),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("10.0.0.1".into(), true, true, false),
                ("10.0.0.2".into(), false, false, false),
                ("10.0.0.3".into(), false, true, true)
            ]
        );
        let labels = slice.metadata.labels.clone().expect("labels");
        assert_eq!(labels[SERVICE_NAME_LABEL], "shop");
        assert_eq!(labels[SLICE_MANAGED_BY_LABEL], SLICE_MANAGER);
        assert_eq!(labels["wasmcloud.dev/lattice"], "blue");
        let owner = &slice.metadata.owner_references.clone().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("Service", "svc-uid", Some(true))
        );
        assert_eq!(
            slice.endpoints[0]
                .target_ref
                .as_ref()
                .and_then(|r| r.name.as_deref()),
            Some("a")
        );
    }

    #[test]
    fn each_address_family_gets_its_own_slice_and_no_pods_means_an_empty_one() {
        let dual = pod("dual", &["10.0.0.1", "fd00::1"], true, false);
        let slices = endpoint_slices(&service(), 8080, &[&dual]);
        let families: Vec<(&str, usize)> = slices
            .iter()
            .map(|s| (s.address_type.as_str(), s.endpoints.len()))
            .collect();
        assert_eq!(families, [("IPv4", 1), ("IPv6", 1)]);
        let empty = endpoint_slices(&service(), 8080, &[]);
        assert_eq!((empty.len(), empty[0].endpoints.len()), (1, 0));
    }

    #[test]
    fn pods_without_an_address_or_not_running_are_left_out() {
        let pending: Pod =
            serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}}))
                .expect("pod");
        let no_ip = pod("n", &[], true, false);
        assert!(
            endpoint_slices(&service(), 8080, &[&pending, &no_ip])[0]
                .endpoints
                .is_empty()
        );
    }
}
