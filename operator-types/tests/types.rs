//! The CRD types against real manifests: the old operator's examples, wadm's example applications and
//! our own fixtures. Pure: no cluster.

use std::path::{Path, PathBuf};

use wasmcloud_operator_types::application::{ApplicationPhase, LatticeChoiceError, choose_lattice};
use wasmcloud_operator_types::host_config::WorkloadKind;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn load<T: serde::de::DeserializeOwned>(path: &str) -> T {
    let text = std::fs::read_to_string(fixture(path)).expect("fixture readable");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn raw(path: &str) -> serde_json::Value {
    load(path)
}

#[test]
fn quickstart_host_config_gets_the_old_operators_defaults() {
    let whc: WasmCloudHostConfig = load("old-operator/quickstart_wasmcloud-host.yaml");
    let spec = &whc.spec;
    assert_eq!(spec.lattice, "default");
    assert_eq!(spec.host_replicas, 1);
    assert_eq!(spec.nats_address, "nats://nats.default.svc.cluster.local");
    assert_eq!(spec.nats_client_port, 4222);
    assert_eq!(spec.nats_leafnode_port, 7422);
    assert_eq!(spec.leaf_node_domain, "leaf");
    assert_eq!(spec.jetstream_domain, "default");
    assert_eq!(spec.log_level, "INFO");
    assert!(!spec.allow_latest && !spec.config_service_enabled);
    assert!(spec.structured_logging(), "unset structured logging means on");
    assert_eq!(spec.host_image(), "ghcr.io/wasmcloud/wasmcloud:1.0.4");
    assert_eq!(spec.nats_leaf_image(), "nats:2.10-alpine");
    assert!(!spec.is_daemonset());
    assert!(spec.deprecations().is_empty());
}

#[test]
fn annotated_full_config_is_read_and_its_old_resources_spelling_is_flagged() {
    let whc: WasmCloudHostConfig = load("old-operator/full-config_wasmcloud-annotated.yaml");
    let spec = &whc.spec;
    assert_eq!(
        spec.host_image(),
        "registry/wasmcloud:tag",
        "image wins over version"
    );
    assert!(spec.is_daemonset());
    assert_eq!(
        spec.policy_service.as_ref().and_then(|p| p.timeout_ms),
        Some(10_000)
    );
    assert_eq!(spec.max_linear_memory_bytes, Some(20_000_000));
    let resources = spec
        .scheduling_options
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .expect("resources");
    assert!(
        resources.host().is_some(),
        "wasmCloudHost is read as the host's resources"
    );
    let deprecated: Vec<_> = spec.deprecations().into_iter().map(|d| d.field).collect();
    assert_eq!(deprecated, vec!["spec.schedulingOptions.resources.wasmCloudHost"]);
}

#[test]
fn annotated_full_config_keeps_the_misplaced_pod_spec_for_the_apiserver_to_reject() {
    // podTemplateAdditions.spec is not a PodSpec field. The CRD declares it only so its CEL rule can
    // reject it with advice (checked against a real API server in tests/); here: the rule is there.
    let crd = serde_json::to_string(&wasmcloud_operator_types::crds::all()[0].crd).expect("serializes");
    assert!(crd.contains("!has(self.spec)"));
    assert!(crd.contains("podTemplateAdditions is already a PodSpec"));
    let doc = raw("old-operator/full-config_wasmcloud-annotated.yaml");
    assert!(
        doc.pointer("/spec/schedulingOptions/podTemplateAdditions/spec/nodeSelector")
            .is_some()
    );
}

#[test]
fn every_field_of_our_fixture_lands_in_its_own_place_and_round_trips() {
    let original = raw("ours/east-hosts.yaml");
    let whc: WasmCloudHostConfig = serde_json::from_value(original.clone()).expect("parses");
    let spec = &whc.spec;
    assert_eq!((spec.lattice.as_str(), spec.host_replicas), ("blue", 3));
    assert_eq!((spec.nats_client_port, spec.nats_leafnode_port), (4333, 7433));
    assert_eq!(
        (spec.leaf_node_domain.as_str(), spec.jetstream_domain.as_str()),
        ("east-leaf", "hub")
    );
    assert_eq!(spec.secret_name.as_deref(), Some("east-nats-creds"));
    assert_eq!(spec.registry_credentials_secret.as_deref(), Some("east-registry"));
    assert!(spec.config_service_enabled && spec.kubernetes_api_access);
    assert_eq!(
        spec.max_linear_memory_bytes,
        Some(5_368_709_120),
        "more than the old u32 allowed"
    );
    assert!(!spec.structured_logging());
    let mut back = serde_json::to_value(&whc).expect("serializes");
    // k8s-openapi always writes the required fields of embedded types; the additions leave them empty
    // and the operator never writes a spec back, so these two are the only difference allowed.
    let options = &mut back["spec"]["schedulingOptions"];
    assert_eq!(
        options["podTemplateAdditions"]
            .as_object_mut()
            .and_then(|o| o.remove("containers")),
        Some(serde_json::json!([]))
    );
    assert_eq!(
        options["containerTemplateAdditions"]["wasmcloud"]
            .as_object_mut()
            .and_then(|o| o.remove("name")),
        Some(serde_json::json!(""))
    );
    assert_eq!(
        back["spec"], original["spec"],
        "spec survives a round trip unchanged"
    );
}

#[test]
fn daemonset_is_read_from_either_place() {
    let mut whc: WasmCloudHostConfig = load("ours/east-hosts.yaml");
    assert!(!whc.spec.is_daemonset());
    whc.spec.scheduling_options.as_mut().expect("options").daemonset = None;
    whc.spec.daemonset = Some(true);
    assert!(whc.spec.is_daemonset(), "README spelling spec.daemonset");
    assert_eq!(whc.spec.deprecations()[0].field, "spec.daemonset");
}

#[test]
fn every_wadm_example_is_an_application_that_reaches_wadm_unchanged() {
    let dir = fixture("wadm-oam");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !matches!(extension, "yaml" | "json") {
            continue;
        }
        let original = raw(&format!("wadm-oam/{name}"));
        let app: Application = serde_json::from_value(original.clone())
            .unwrap_or_else(|e| panic!("{name} is not an Application: {e}"));
        let back = serde_json::to_value(&app).expect("serializes");
        assert_eq!(
            back["spec"], original["spec"],
            "{name}: spec changed on the way through"
        );
        assert_eq!(
            back["metadata"]["annotations"], original["metadata"]["annotations"],
            "{name}: annotations"
        );
        seen += 1;
    }
    assert_eq!(seen, 9, "all nine wadm examples were checked");
}

#[test]
fn old_operators_quickstart_application_round_trips() {
    let original = raw("old-operator/quickstart_hello-world-application.yaml");
    let app: Application = serde_json::from_value(original.clone()).expect("parses");
    assert_eq!(
        serde_json::to_value(&app).expect("serializes")["spec"],
        original["spec"]
    );
}

#[test]
fn wadm_statuses_map_to_phases() {
    let table = [
        ("waiting", Some(ApplicationPhase::Waiting)),
        ("undeployed", Some(ApplicationPhase::Undeployed)),
        ("reconciling", Some(ApplicationPhase::Reconciling)),
        ("compensating", Some(ApplicationPhase::Reconciling)),
        ("deployed", Some(ApplicationPhase::Deployed)),
        ("ready", Some(ApplicationPhase::Deployed)),
        ("failed", Some(ApplicationPhase::Failed)),
        ("unhealthy", Some(ApplicationPhase::Unhealthy)),
        ("Deployed", Some(ApplicationPhase::Deployed)),
        ("exploded", None),
    ];
    for (wire, phase) in table {
        assert_eq!(ApplicationPhase::from_wadm(wire), phase, "{wire}");
    }
    assert_eq!(ApplicationPhase::ALL.len(), 6);
}

#[test]
fn lattice_choice_follows_the_contract() {
    assert_eq!(
        choose_lattice(Some("red"), &["blue"], Some("green")),
        Ok("red"),
        "annotation wins"
    );
    assert_eq!(
        choose_lattice(None, &["blue"], Some("green")),
        Ok("blue"),
        "the namespace's one lattice"
    );
    assert_eq!(
        choose_lattice(None, &["blue", "blue"], None),
        Ok("blue"),
        "two configs, one lattice"
    );
    assert_eq!(choose_lattice(None, &[], Some("green")), Ok("green"), "default");
    assert_eq!(
        choose_lattice(None, &["blue", "red"], Some("green")),
        Ok("green"),
        "ambiguous: default"
    );
    assert_eq!(
        choose_lattice(None, &["blue", "red"], None),
        Err(LatticeChoiceError::Ambiguous(2))
    );
    assert_eq!(choose_lattice(None, &[], None), Err(LatticeChoiceError::None));
    assert_eq!(
        choose_lattice(Some(""), &[], Some("green")),
        Ok("green"),
        "empty annotation is unset"
    );
}

#[test]
fn status_serializes_in_camel_case_with_workload_kind_and_the_old_operators_app_fields() {
    let status = wasmcloud_operator_types::WasmCloudHostConfigStatus {
        workload_kind: Some(WorkloadKind::DaemonSet),
        ready_hosts: Some("2/3".into()),
        app_count: 4,
        ..Default::default()
    };
    let json = serde_json::to_value(&status).expect("serializes");
    assert_eq!(json["workloadKind"], "DaemonSet");
    assert_eq!(json["readyHosts"], "2/3");
    assert_eq!(json["app_count"], 4, "spelled as in the old operator's v1alpha1");
    assert_eq!(json["apps"], serde_json::json!([]), "written even when empty");
}

/// The status as the wasmcloud-operator (0.5.x) reads it (reference/upstream-operator.md §1.4): snake_case,
/// `apps` and `app_count` required, each app a `name` and a `version` string. Its reconciles list every
/// host config, so one status it can't read fails all of them.
#[derive(serde::Deserialize, Debug)]
struct OldOperatorStatus {
    apps: Vec<OldOperatorApp>,
    app_count: u32,
}

#[derive(serde::Deserialize, Debug)]
struct OldOperatorApp {
    #[allow(dead_code)] // read to prove it is there
    name: String,
    #[allow(dead_code)]
    version: String,
}

#[test]
fn every_status_the_host_operator_writes_is_readable_by_the_old_operator() {
    use wasmcloud_operator_types::host_config::LatticeApp;
    let empty = wasmcloud_operator_types::WasmCloudHostConfigStatus::default();
    let listed = wasmcloud_operator_types::WasmCloudHostConfigStatus {
        apps: vec![
            LatticeApp {
                name: "shop".into(),
                namespace: Some("east".into()),
                version: "v1".into(),
                phase: Some("Deployed".into()),
            },
            LatticeApp {
                name: "new".into(),
                ..LatticeApp::default()
            },
        ],
        app_count: 2,
        ..Default::default()
    };
    for status in [empty, listed] {
        let json = serde_json::to_value(&status).expect("serializes");
        let old: OldOperatorStatus = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("the old operator can't read {json}: {e}"));
        assert_eq!(old.app_count, status.app_count);
        assert_eq!(old.apps.len(), status.apps.len());
    }
}
