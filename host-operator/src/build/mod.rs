//! Everything the host-operator creates for one WasmCloudHostConfig, as desired objects. Pure: spec and
//! resolved inputs in, objects out; it never reads the world.

pub mod host_cli;
pub mod leaf_config;
pub mod merge;
pub mod pod;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::{Resource, ResourceExt};
use wasmcloud_operator_types::contract::{binaries, labels};
use wasmcloud_operator_types::{WasmCloudHostConfig, WasmCloudHostConfigSpec};

use crate::errors::InputError;
use crate::inputs::Inputs;

/// The children of one WasmCloudHostConfig.
#[derive(Debug, Clone)]
pub struct Desired {
    pub config_map: ConfigMap,
    pub service_account: ServiceAccount,
    /// The hosts' Role and its binding: only with `kubernetesApiAccess` (the host itself needs neither).
    pub role: Option<Role>,
    pub role_binding: Option<RoleBinding>,
    /// The registry credentials the hosts read through secretKeyRef (only with `registryCredentialsSecret`).
    pub registry_secret: Option<Secret>,
    pub workload: Workload,
}

/// The workload that runs the hosts.
#[derive(Debug, Clone)]
pub enum Workload {
    Deployment(Deployment),
    DaemonSet(DaemonSet),
}

/// Builds every child. Fails only on settings that collide with the operator's own.
pub fn build(whc: &WasmCloudHostConfig, inputs: &Inputs) -> Result<Desired, InputError> {
    let name = whc.name_any();
    let spec = &whc.spec;
    let meta = || child_meta(whc, &name);
    let access = spec.kubernetes_api_access;
    let template = pod::pod_template(&name, spec, inputs)?;
    let selector = LabelSelector {
        match_labels: Some(pod::selector_labels(&name)),
        ..LabelSelector::default()
    };
    let workload = if spec.is_daemonset() {
        Workload::DaemonSet(DaemonSet {
            metadata: meta(),
            spec: Some(DaemonSetSpec {
                selector,
                template,
                ..DaemonSetSpec::default()
            }),
            status: None,
        })
    } else {
        Workload::Deployment(Deployment {
            metadata: meta(),
            spec: Some(DeploymentSpec {
                replicas: Some(i32::try_from(spec.host_replicas).unwrap_or(i32::MAX)),
                selector,
                template,
                ..DeploymentSpec::default()
            }),
            status: None,
        })
    };
    let registry_secret = inputs.registry.as_ref().map(|registry| Secret {
        metadata: ObjectMeta {
            name: Some(pod::registry_secret_name(&name)),
            ..meta()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([
            (
                "registry".to_string(),
                ByteString(registry.registry.clone().into_bytes()),
            ),
            (
                "username".to_string(),
                ByteString(registry.username.clone().into_bytes()),
            ),
            (
                "password".to_string(),
                ByteString(registry.password.clone().into_bytes()),
            ),
        ])),
        ..Secret::default()
    });
    Ok(Desired {
        config_map: ConfigMap {
            metadata: meta(),
            data: Some(config_map_data(spec, inputs)),
            ..ConfigMap::default()
        },
        service_account: ServiceAccount {
            metadata: meta(),
            // No token unless a provider on the hosts calls the Kubernetes API.
            automount_service_account_token: Some(access),
            ..ServiceAccount::default()
        },
        role: access.then(|| Role {
            metadata: meta(),
            // What the old operator granted hosts: managing Services in their namespace.
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["services".into()]),
                verbs: ["get", "list", "create", "update", "patch", "delete"]
                    .map(String::from)
                    .to_vec(),
                ..PolicyRule::default()
            }]),
        }),
        role_binding: access.then(|| RoleBinding {
            metadata: meta(),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: name.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: name.clone(),
                namespace: whc.namespace(),
                api_group: None,
            }]),
        }),
        registry_secret,
        workload,
    })
}

/// The leaf's `nats.conf`, and the authorities' bundle when its remote uses TLS.
fn config_map_data(spec: &WasmCloudHostConfigSpec, inputs: &Inputs) -> BTreeMap<String, String> {
    let files = leaf_config::RemoteFiles::of(spec, inputs);
    let mut data = BTreeMap::from([(
        leaf_config::CONFIG_KEY.to_string(),
        leaf_config::nats_conf(spec, files),
    )]);
    if files.ca_bundle {
        data.insert(leaf_config::CA_BUNDLE_KEY.to_string(), inputs.ca_bundle.clone());
    }
    data
}

/// Name, namespace, labels and the controller owner reference every child carries.
fn child_meta(whc: &WasmCloudHostConfig, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: whc.namespace(),
        labels: Some(BTreeMap::from([
            (
                labels::MANAGED_BY.to_string(),
                binaries::HOST_OPERATOR.to_string(),
            ),
            (labels::NAME.to_string(), labels::HOST_NAME_VALUE.to_string()),
            (labels::INSTANCE.to_string(), name.to_string()),
        ])),
        owner_references: whc.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}
