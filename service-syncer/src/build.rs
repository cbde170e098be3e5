//! The Service an HTTP application gets in one namespace. Pure: the decision from `qualify`, the
//! lattice and the namespace's WasmCloudHostConfigs for that lattice in, the object out.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use wasmcloud_operator_types::WasmCloudHostConfig;
use wasmcloud_operator_types::contract::{annotations, binaries, labels};

use crate::qualify::{HttpApp, Target, service_name};

/// The Service for `app` in the namespace of `owners` (the WasmCloudHostConfigs of the app's lattice
/// there, which own it so deleting them removes it). `None` without owners: no hosts, no Service.
pub fn service(app: &HttpApp, lattice: &str, owners: &[&WasmCloudHostConfig]) -> Option<Service> {
    let first = owners.first()?;
    let name = service_name(&app.app);
    let mut service_labels = BTreeMap::from([
        (
            labels::MANAGED_BY.to_string(),
            binaries::SERVICE_SYNCER.to_string(),
        ),
        (labels::APP.to_string(), name.clone()),
        (labels::LATTICE.to_string(), lattice.to_string()),
    ]);
    let mut service_annotations = BTreeMap::new();
    if name != app.app {
        // The original name may not be a valid label value; keep it where anything goes.
        service_annotations.insert(annotations::ORIGINAL_APP_NAME.to_string(), app.app.clone());
    }
    if service_labels.get(labels::APP).is_some_and(|v| v.len() > 63) {
        service_labels.remove(labels::APP);
    }
    let selector = match &app.target {
        Target::Lattice => Some(pod_selector(lattice, &BTreeMap::new())),
        Target::HostLabels(required) => Some(pod_selector(lattice, required)),
        Target::Endpoints => None,
    };
    Some(Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: first.namespace(),
            labels: Some(service_labels),
            annotations: (!service_annotations.is_empty()).then_some(service_annotations),
            owner_references: Some(owners.iter().filter_map(|o| owner(o)).collect()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector,
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(app.port),
                target_port: Some(IntOrString::Int(i32::from(app.port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// Host pods of `lattice` carrying every required host label (the host-operator's pod-label contract).
fn pod_selector(lattice: &str, required: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut selector = BTreeMap::from([
        (labels::NAME.to_string(), labels::HOST_NAME_VALUE.to_string()),
        (labels::LATTICE.to_string(), lattice.to_string()),
    ]);
    for (key, value) in required {
        selector.insert(labels::host_label(key), value.clone());
    }
    selector
}

/// A non-controller owner reference: several host configs may own one Service, and none of them controls it.
fn owner(whc: &WasmCloudHostConfig) -> Option<OwnerReference> {
    let mut reference = whc.controller_owner_ref(&())?;
    reference.controller = None;
    reference.block_owner_deletion = None;
    Some(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whc(name: &str) -> WasmCloudHostConfig {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
            "metadata": {"name": name, "namespace": "east", "uid": format!("uid-{name}")},
            "spec": {"lattice": "blue", "version": "1.4.2"}
        }))
        .expect("whc")
    }

    fn app(name: &str, target: Target) -> HttpApp {
        HttpApp {
            app: name.into(),
            provider: "httpserver".into(),
            image: "ghcr.io/wasmcloud/http-server:0.23.0".into(),
            port: 8080,
            target,
        }
    }

    #[test]
    fn a_lattice_wide_app_selects_every_host_pod_of_the_lattice() {
        let hosts = whc("east-hosts");
        let service = service(&app("shop", Target::Lattice), "blue", &[&hosts]).expect("service");
        let spec = service.spec.clone().expect("spec");
        let selector = spec.selector.expect("selector");
        assert_eq!(selector["app.kubernetes.io/name"], "wasmcloud-host");
        assert_eq!(selector["wasmcloud.dev/lattice"], "blue");
        let port = &spec.ports.expect("ports")[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
        assert_eq!(service.metadata.namespace.as_deref(), Some("east"));
        let labels = service.metadata.labels.expect("labels");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "wasmcloud-service-syncer");
        let owners = service.metadata.owner_references.expect("owners");
        assert_eq!(
            (owners[0].name.as_str(), owners[0].controller),
            ("east-hosts", None)
        );
    }

    #[test]
    fn requirements_become_host_label_selectors_and_endpoints_mean_no_selector() {
        let hosts = whc("east-hosts");
        let required = BTreeMap::from([("zone".to_string(), "east".to_string())]);
        let by_zone =
            service(&app("shop", Target::HostLabels(required)), "blue", &[&hosts]).expect("service");
        let selector = by_zone.spec.and_then(|s| s.selector).expect("selector");
        assert_eq!(selector["host-label.k8s.wasmcloud.dev/zone"], "east");
        let slices = service(&app("shop", Target::Endpoints), "blue", &[&hosts]).expect("service");
        assert!(slices.spec.and_then(|s| s.selector).is_none());
    }

    #[test]
    fn odd_names_are_mapped_and_kept_and_no_owner_means_no_service() {
        let hosts = whc("east-hosts");
        let service = service(&app("Shop_Front", Target::Lattice), "blue", &[&hosts]).expect("service");
        assert!(service.name_any().starts_with("shop-front-"));
        assert_eq!(service.annotations()["wasmcloud.dev/app-name"], "Shop_Front");
        assert!(super::service(&app("shop", Target::Lattice), "blue", &[]).is_none());
    }
}
