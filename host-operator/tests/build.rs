//! The builders against YAML fixtures: each spec field lands where it should, the user's additions
//! merge in the documented order, every container meets the restricted profile. Pure: no cluster.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use kube::ResourceExt;
use wasmcloud_host_operator::build::{self, Desired, Workload};
use wasmcloud_host_operator::inputs::{Authority, AuthoritySource, Inputs, RegistryCredentials};
use wasmcloud_operator_types::WasmCloudHostConfig;

fn fixture(path: &str) -> WasmCloudHostConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../operator-types/tests/fixtures");
    let mut whc: WasmCloudHostConfig =
        serde_yaml::from_str(&std::fs::read_to_string(root.join(path)).expect("fixture")).expect("parses");
    whc.metadata.namespace.get_or_insert_with(|| "east".into());
    whc.metadata.uid = Some("5d1c7a57-0000-4000-8000-000000000001".into());
    whc
}

const LEAF_LINK_IMAGE: &str = "ghcr.io/wasmcloud/wasmcloud-host-operator:0.1.0";

fn east_inputs() -> Inputs {
    Inputs {
        nats_creds: true,
        registry: Some(RegistryCredentials {
            registry: "ghcr.io".into(),
            username: "octo".into(),
            password: "s3cret".into(),
        }),
        authorities: vec![Authority {
            volume: "corp-ca".into(),
            source: AuthoritySource::Secret("corp-ca".into()),
            crt_keys: vec!["ca.crt".into()],
        }],
        ca_bundle: "-----BEGIN CERTIFICATE-----\nY29ycC1jYQ==\n-----END CERTIFICATE-----\n".into(),
        checksum: "0123456789abcdef".into(),
        leaf_link_image: Some(LEAF_LINK_IMAGE.into()),
    }
}

fn pod(desired: &Desired) -> PodSpec {
    let template = match &desired.workload {
        Workload::Deployment(d) => d.spec.as_ref().map(|s| s.template.clone()),
        Workload::DaemonSet(d) => d.spec.as_ref().map(|s| s.template.clone()),
    };
    template.and_then(|t| t.spec).expect("pod spec")
}

fn container<'a>(pod: &'a PodSpec, name: &str) -> &'a Container {
    pod.containers.iter().find(|c| c.name == name).expect("container")
}

fn env(container: &Container) -> BTreeMap<String, EnvVar> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.clone()))
        .collect()
}

fn value(vars: &BTreeMap<String, EnvVar>, name: &str) -> Option<String> {
    vars.get(name).and_then(|e| e.value.clone())
}

#[test]
fn every_spec_field_reaches_the_env_var_it_sets() {
    let whc = fixture("ours/east-hosts.yaml");
    let desired = build::build(&whc, &east_inputs()).expect("builds");
    let pod = pod(&desired);
    let vars = env(container(&pod, "wasmcloud-host"));
    let table = [
        ("WASMCLOUD_STRUCTURED_LOGGING_ENABLED", "false"),
        ("WASMCLOUD_LOG_LEVEL", "debug"),
        ("WASMCLOUD_JS_DOMAIN", "hub"),
        ("WASMCLOUD_LATTICE", "blue"),
        ("WASMCLOUD_LATTICE_PREFIX", "blue"),
        ("WASMCLOUD_NATS_HOST", "127.0.0.1"),
        ("WASMCLOUD_NATS_PORT", "4222"),
        ("WASMCLOUD_RPC_TIMEOUT_MS", "4000"),
        ("WASMCLOUD_LABEL_kubernetes", "true"),
        ("WASMCLOUD_CTL_TOPIC_PREFIX", "ctl.blue"),
        ("WASMCLOUD_CONFIG_SERVICE", "true"),
        ("WASMCLOUD_OCI_ALLOW_LATEST", "true"),
        ("WASMCLOUD_OCI_ALLOWED_INSECURE", "registry.local:5000"),
        ("WASMCLOUD_POLICY_TOPIC", "policy.blue"),
        ("WASMCLOUD_POLICY_CHANGES_TOPIC", "policy.blue.changes"),
        ("WASMCLOUD_POLICY_TIMEOUT", "1500"),
        ("WASMCLOUD_LABEL_zone", "us-east-1"),
        ("WASMCLOUD_SECRETS_TOPIC", "secrets.blue"),
        ("WASMCLOUD_MAX_LINEAR_MEMORY", "5368709120"),
        ("WASMCLOUD_TRACES_ENABLED", "true"),
        ("WASMCLOUD_OBSERVABILITY_PROTOCOL", "grpc"),
        ("WASMCLOUD_OCI_REGISTRY", "ghcr.io"),
        ("EXTRA", "1"),
    ];
    for (name, expected) in table {
        assert_eq!(value(&vars, name).as_deref(), Some(expected), "{name}");
    }
    let pod_name = vars
        .get("WASMCLOUD_LABEL_kubernetes.pod.name")
        .and_then(|e| e.value_from.clone());
    assert_eq!(
        pod_name
            .and_then(|v| v.field_ref)
            .map(|f| f.field_path)
            .as_deref(),
        Some("metadata.name")
    );
}

#[test]
fn registry_credentials_arrive_through_secret_key_refs_never_as_values() {
    let whc = fixture("ours/east-hosts.yaml");
    let desired = build::build(&whc, &east_inputs()).expect("builds");
    let vars = env(container(&pod(&desired), "wasmcloud-host"));
    for (name, key) in [
        ("WASMCLOUD_OCI_REGISTRY_USER", "username"),
        ("WASMCLOUD_OCI_REGISTRY_PASSWORD", "password"),
    ] {
        let var = &vars[name];
        assert!(var.value.is_none(), "{name} must not be a plain value");
        let selector = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.clone())
            .expect("secretKeyRef");
        assert_eq!(
            (selector.name.as_str(), selector.key.as_str()),
            ("east-hosts-registry-credentials", key)
        );
    }
    let secret = desired.registry_secret.expect("derived secret");
    assert_eq!(secret.name_any(), "east-hosts-registry-credentials");
    let serialized =
        serde_json::to_string(&pod(&build::build(&whc, &east_inputs()).expect("builds"))).expect("json");
    assert!(
        !serialized.contains("s3cret"),
        "the password appears nowhere in the pod"
    );
}

#[test]
fn the_workload_carries_replicas_labels_checksum_and_the_leaf() {
    let whc = fixture("ours/east-hosts.yaml");
    let desired = build::build(&whc, &east_inputs()).expect("builds");
    let Workload::Deployment(deployment) = &desired.workload else {
        panic!("a Deployment")
    };
    let spec = deployment.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    let meta = spec.template.metadata.as_ref().expect("template metadata");
    let labels = meta.labels.as_ref().expect("labels");
    assert_eq!(labels["app.kubernetes.io/name"], "wasmcloud-host");
    assert_eq!(labels["app.kubernetes.io/instance"], "east-hosts");
    assert_eq!(labels["wasmcloud.dev/lattice"], "blue");
    assert_eq!(labels["host-label.k8s.wasmcloud.dev/zone"], "us-east-1");
    assert_eq!(
        meta.annotations.as_ref().expect("annotations")["k8s.wasmcloud.dev/config-checksum"],
        "0123456789abcdef"
    );

    let pod = pod(&desired);
    assert_eq!(pod.service_account_name.as_deref(), Some("east-hosts"));
    assert_eq!(
        pod.node_selector.as_ref().map(|n| n["kubernetes.io/os"].as_str()),
        Some("linux"),
        "podTemplateAdditions"
    );
    let leaf = container(&pod, "nats-leaf");
    assert_eq!(leaf.image.as_deref(), Some("nats:2.11-alpine"));
    assert_eq!(
        leaf.args.as_deref(),
        Some(&["-js".to_string(), "--config".into(), "/nats/nats.conf".into()][..])
    );
    assert!(leaf.readiness_probe.is_some());
    assert!(
        leaf.volume_mounts.iter().flatten().all(|m| m.sub_path.is_none()),
        "no subPath: rotation reaches pods"
    );
    let host = container(&pod, "wasmcloud-host");
    assert_eq!(host.image.as_deref(), Some("ghcr.io/wasmcloud/wasmcloud:1.4.2"));
    let args = host.args.clone().unwrap_or_default().join(" ");
    assert!(
        args.contains("--override-traces-endpoint=traces.blue.svc"),
        "{args}"
    );
    assert!(
        args.contains("--tls-ca-path=/wasmcloud/certificates/ca-corp-ca/ca.crt"),
        "{args}"
    );
    let memory = host
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .map(|l| l["memory"].0.clone());
    assert_eq!(memory.as_deref(), Some("1Gi"));
    let projected = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "nats-config")
        .and_then(|v| v.projected.clone());
    let sources = projected.and_then(|p| p.sources).unwrap_or_default();
    assert_eq!(sources.len(), 2, "nats.conf and nats.creds in one directory");
}

#[test]
fn the_leaf_link_sidecar_probes_the_leafs_hub_connection() {
    let whc = fixture("ours/east-hosts.yaml");
    let pod = pod(&build::build(&whc, &east_inputs()).expect("builds"));
    let init = pod.init_containers.clone().unwrap_or_default();
    let link = init.first().expect("the sidecar comes first");
    assert_eq!(link.name, "leaf-link");
    assert_eq!(link.image.as_deref(), Some(LEAF_LINK_IMAGE));
    assert_eq!(link.restart_policy.as_deref(), Some("Always"), "a native sidecar");
    assert_eq!(
        link.args.clone().unwrap_or_default().join(" "),
        "leaf-link --listen 0.0.0.0:8223 --monitor 127.0.0.1:8222"
    );
    let probe = link
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("HTTP readiness");
    assert_eq!(probe.path.as_deref(), Some("/readyz"));
    let port = link
        .ports
        .iter()
        .flatten()
        .find(|p| p.container_port == 8223)
        .expect("its port");
    assert_eq!(port.name.as_deref(), Some("leaf-link"));

    // Without an image (the operator run without --leaf-link-image) there is no sidecar.
    let bare = pod_of(&whc, &Inputs::default());
    assert!(bare.init_containers.is_none());

    // A user's init container runs after ours; one that takes our name is refused.
    let mut with_init = whc.clone();
    let additions = with_init
        .spec
        .scheduling_options
        .get_or_insert_with(Default::default)
        .pod_template_additions
        .get_or_insert_with(Default::default);
    additions.init_containers = Some(vec![Container {
        name: "migrate".into(),
        image: Some("busybox".into()),
        ..Container::default()
    }]);
    let names: Vec<String> = pod_of(&with_init, &east_inputs())
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["leaf-link", "migrate"]);
    if let Some(additions) = with_init
        .spec
        .scheduling_options
        .as_mut()
        .and_then(|o| o.pod_template_additions.as_mut())
    {
        additions.init_containers = Some(vec![Container {
            name: "leaf-link".into(),
            ..Container::default()
        }]);
    }
    let refused = build::build(&with_init, &east_inputs()).expect_err("a name conflict");
    assert!(refused.to_string().contains("initContainers"), "{refused}");
}

fn pod_of(whc: &WasmCloudHostConfig, inputs: &Inputs) -> PodSpec {
    pod(&build::build(whc, inputs).expect("builds"))
}

#[test]
fn every_container_meets_the_restricted_profile() {
    for path in [
        "ours/east-hosts.yaml",
        "old-operator/quickstart_wasmcloud-host.yaml",
    ] {
        let inputs = Inputs {
            leaf_link_image: Some(LEAF_LINK_IMAGE.into()),
            ..Inputs::default()
        };
        let desired = build::build(&fixture(path), &inputs).expect("builds");
        let pod = pod(&desired);
        let pod_security = pod.security_context.clone().expect("pod security");
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(
            pod_security.seccomp_profile.map(|s| s.type_).as_deref(),
            Some("RuntimeDefault")
        );
        assert_eq!(
            pod.init_containers.iter().flatten().count(),
            1,
            "the leaf-link sidecar"
        );
        for c in pod.containers.iter().chain(pod.init_containers.iter().flatten()) {
            let security = c.security_context.clone().expect("container security");
            assert_eq!(
                security.allow_privilege_escalation,
                Some(false),
                "{path} {}",
                c.name
            );
            assert_eq!(
                security.capabilities.and_then(|c| c.drop),
                Some(vec!["ALL".to_string()])
            );
            assert_eq!(security.read_only_root_filesystem, Some(true));
            assert_eq!(security.run_as_non_root, Some(true));
        }
    }
}

#[test]
fn daemonset_mode_builds_a_daemon_set_and_children_carry_owner_and_labels() {
    let mut whc = fixture("old-operator/quickstart_wasmcloud-host.yaml");
    whc.spec.daemonset = Some(true);
    let desired = build::build(&whc, &Inputs::default()).expect("builds");
    assert!(matches!(desired.workload, Workload::DaemonSet(_)));
    assert!(desired.registry_secret.is_none());
    let config = &desired.config_map.data.as_ref().expect("data")["nats.conf"];
    assert!(
        config.contains("nats://nats.default.svc.cluster.local:7422"),
        "{config}"
    );
    assert!(!config.contains("credentials"));
    // No Role and no token for the hosts unless kubernetesApiAccess asks for them.
    assert!(desired.role.is_none() && desired.role_binding.is_none());
    assert_eq!(
        desired.service_account.automount_service_account_token,
        Some(false)
    );
    let mut with_access = whc.clone();
    with_access.spec.kubernetes_api_access = true;
    let granted = build::build(&with_access, &Inputs::default()).expect("builds");
    let role = granted.role.expect("a Role with kubernetesApiAccess");
    assert!(granted.role_binding.is_some());
    assert_eq!(
        granted.service_account.automount_service_account_token,
        Some(true)
    );
    for meta in [
        &desired.config_map.metadata,
        &desired.service_account.metadata,
        &role.metadata,
    ] {
        assert_eq!(
            meta.labels
                .as_ref()
                .map(|l| l["app.kubernetes.io/managed-by"].as_str()),
            Some("wasmcloud-host-operator")
        );
        let owner = meta
            .owner_references
            .as_ref()
            .and_then(|o| o.first())
            .expect("owner");
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("WasmCloudHostConfig", Some(true))
        );
    }
    assert!(config.contains("listen: \"127.0.0.1:4222\""), "{config}");
    let pod = pod(&desired);
    let leaf = container(&pod, "nats-leaf");
    assert!(
        leaf.ports.iter().flatten().all(|p| p.container_port != 4222),
        "the leaf's client port is not published: {:?}",
        leaf.ports
    );
}

#[test]
fn a_tls_hub_gets_the_authorities_as_the_leafs_ca_bundle() {
    let mut whc = fixture("old-operator/quickstart_wasmcloud-host.yaml");
    whc.spec.version = Some("1.9.2".into()); // CA paths for the host need 1.1.0 or later
    let inputs = east_inputs();
    let plain = build::build(&whc, &inputs).expect("builds");
    let data = plain.config_map.data.as_ref().expect("data");
    assert!(!data.contains_key("ca.pem"), "a nats:// hub needs no bundle");

    whc.spec.nats_address = "tls://hub.example.com".into();
    let desired = build::build(&whc, &inputs).expect("builds");
    let data = desired.config_map.data.as_ref().expect("data");
    assert_eq!(data["ca.pem"], inputs.ca_bundle);
    assert!(
        data["nats.conf"].contains("tls { ca_file: \"/nats/ca.pem\" }"),
        "{}",
        data["nats.conf"]
    );
    let projected: Vec<String> = pod(&desired)
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| p.sources.iter().flatten())
        .filter_map(|s| s.config_map.as_ref())
        .flat_map(|c| c.items.iter().flatten().map(|i| i.path.clone()))
        .collect();
    assert_eq!(
        projected,
        ["nats.conf", "ca.pem"],
        "the leaf gets both files from the ConfigMap"
    );
}

#[test]
fn every_old_operator_example_builds() {
    // The annotated example as the API server accepts it: podTemplateAdditions.spec moved up a level.
    let mut annotated = fixture("old-operator/full-config_wasmcloud-annotated.yaml");
    let desired = build::build(&annotated, &Inputs::default()).expect("annotated builds");
    assert!(
        matches!(desired.workload, Workload::DaemonSet(_)),
        "schedulingOptions.daemonset: true"
    );
    let host = container(&pod(&desired), "wasmcloud-host").clone();
    let cpu = host
        .resources
        .and_then(|r| r.requests)
        .map(|r| r["cpu"].0.clone());
    assert_eq!(
        cpu.as_deref(),
        Some("1"),
        "wasmCloudHost is read as the host's resources"
    );
    annotated.spec.scheduling_options = None;
    build::build(&annotated, &Inputs::default()).expect("builds without scheduling options");
    build::build(
        &fixture("old-operator/quickstart_wasmcloud-host.yaml"),
        &Inputs::default(),
    )
    .expect("quickstart builds");
}
