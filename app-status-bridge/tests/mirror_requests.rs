//! The mock API tier for the mirror of wadm models (`--mirror-wadm-models`): the mirror task and a
//! mirror's reconcile against `FakeApi` and `FakeWadm`, checking their request sequences: a model no
//! Application owns gets one create, an owned one none, a model that leaves wadm takes its mirror with
//! it (a delete with the mirror's uid as precondition), an edited mirror is set back, and nothing is ever
//! written to wadm. No cluster, no NATS.

use kube::ResourceExt;
use kube::runtime::events::Recorder;
use serde_json::{Value, json};
use wasmcloud_app_status_bridge::mirror::{self, Mirror};
use wasmcloud_operator_types::runtime::controller::reporter;
use wasmcloud_operator_types::runtime::fake_api::{FakeApi, Recorded, listed_store};
use wasmcloud_operator_types::runtime::fake_wadm::{FakeWadm, WadmRequest};
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

fn host_config() -> WasmCloudHostConfig {
    serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": "hosts", "namespace": "east", "uid": "uid-hosts"},
        "spec": {"lattice": "blue", "version": "1.4.2"},
    }))
    .expect("host config")
}

/// A model put by another client: no owner mark.
fn manifest(name: &str, instances: u32) -> Value {
    json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
           "metadata": {"name": name, "annotations": {"version": "v1"}},
           "spec": {"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"},
                    "traits": [{"type": "spreadscaler", "properties": {"instances": instances}}]}]}})
}

/// Runs the mirror task for lattice `blue` once, with `apps` as the Applications it knows.
async fn sync_blue(api: &FakeApi, wadm: &FakeWadm, apps: Vec<Application>) {
    let client = api.client();
    let task = Mirror {
        client: client.clone(),
        wadm: wadm.wadm(),
        recorder: Recorder::new(client, reporter("wasmcloud-app-status-bridge")),
        apps: listed_store(apps),
        host_configs: listed_store(vec![host_config()]),
        namespace: None,
    };
    let (trigger, triggers) = tokio::sync::mpsc::unbounded_channel();
    trigger.send(Some("blue".to_string())).expect("send");
    drop(trigger);
    task.run(triggers).await;
}

fn api_writes(api: &FakeApi) -> Vec<String> {
    api.writes().iter().map(Recorded::to_string).collect()
}

fn wadm_writes(wadm: &FakeWadm) -> Vec<String> {
    wadm.writes().iter().map(WadmRequest::to_string).collect()
}

#[tokio::test]
async fn a_model_nobody_owns_gets_one_create_and_leaves_with_its_model() {
    let (api, wadm) = (FakeApi::new(), FakeWadm::new());
    wadm.insert("blue", &manifest("echo", 1), true);
    sync_blue(&api, &wadm, Vec::new()).await;
    assert_eq!(api_writes(&api), ["create applications/"]);
    let created = api.get::<Application>(Some("east"), "echo").expect("the mirror");
    assert!(mirror::is_mirror(&created), "{:?}", created.metadata);
    assert!(created.finalizers().is_empty());
    assert_eq!(
        created
            .annotations()
            .get("argocd.argoproj.io/compare-options")
            .map(String::as_str),
        Some("IgnoreExtraneous")
    );

    // In line: nothing to do.
    api.clear_requests();
    sync_blue(&api, &wadm, vec![created.clone()]).await;
    assert_eq!(api_writes(&api), Vec::<String>::new());

    // The model leaves wadm: its mirror goes.
    let gone = FakeWadm::new();
    api.clear_requests();
    sync_blue(&api, &gone, vec![created]).await;
    assert_eq!(api_writes(&api), ["delete applications/echo"]);
    assert_eq!(wadm_writes(&wadm), Vec::<String>::new());
    assert_eq!(wadm_writes(&gone), Vec::<String>::new());
}

#[tokio::test]
async fn an_owned_model_or_a_taken_name_gets_no_mirror() {
    let (api, wadm) = (FakeApi::new(), FakeWadm::new());
    wadm.insert("blue", &manifest("shop", 1), true);
    wadm.insert("blue", &manifest("cart", 1), true);
    wadm.insert("blue", &manifest("Not_A_Name", 1), true);
    let owner: Application = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "west", "uid": "uid-shop"},
        "spec": {"components": []}, "status": {"lattice": "blue"}}))
    .expect("owner");
    let bystander: Application = serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": "cart", "namespace": "east", "uid": "uid-cart"},
        "spec": {"components": []}}))
    .expect("bystander");
    sync_blue(&api, &wadm, vec![owner, bystander]).await;
    assert_eq!(api_writes(&api), Vec::<String>::new());
    assert_eq!(wadm_writes(&wadm), Vec::<String>::new());
}

#[tokio::test]
async fn an_edited_mirror_is_set_back_and_wadm_is_only_read() {
    let (api, wadm) = (FakeApi::new(), FakeWadm::new());
    wadm.insert("blue", &manifest("echo", 1), true);
    sync_blue(&api, &wadm, Vec::new()).await;
    let mut edited = api.get::<Application>(Some("east"), "echo").expect("the mirror");
    let original = edited.spec.clone();
    edited.spec.components.clear();
    api.insert(&edited);
    api.clear_requests();

    let client = api.client();
    let recorder = Recorder::new(client.clone(), reporter("wasmcloud-app-status-bridge"));
    let observed = mirror::observe(&edited, &wadm.wadm(), &client, &recorder)
        .await
        .expect("wadm answers");
    let (lattice, _, _) = observed.expect("the model is there");
    assert_eq!(lattice, "blue");
    assert_eq!(
        api_writes(&api),
        ["patch applications/echo", "create events/"],
        "set back, with a Warning Event"
    );
    assert_eq!(
        api.get::<Application>(Some("east"), "echo")
            .expect("the mirror")
            .spec,
        original
    );
    assert_eq!(wadm_writes(&wadm), Vec::<String>::new());

    // Unedited: read only.
    api.clear_requests();
    let unedited = api.get::<Application>(Some("east"), "echo").expect("the mirror");
    mirror::observe(&unedited, &wadm.wadm(), &client, &recorder)
        .await
        .expect("wadm answers");
    assert_eq!(api_writes(&api), Vec::<String>::new());
}
