//! The mock API tier: whole reconciles of the app-status-bridge against `runtime::fake_api::FakeApi` (the
//! API server) and `runtime::fake_wadm::FakeWadm` (wadm's model API), checking both request sequences:
//! a new Application is put and deployed once and a restart at steady state then writes nothing, to
//! either side; a model someone else put is never written or deleted; wadm being away is reported once,
//! not rewritten on every retry; moving to another lattice removes only the bridge's own model from the
//! old one. No cluster, no NATS.

use std::sync::Arc;

use kube::runtime::events::Recorder;
use serde_json::{Value, json};
use wasmcloud_app_status_bridge::reconcile::{Context, reconcile};
use wasmcloud_operator_types::contract::{APPLICATION_FINALIZER, annotations, condition_types, reasons};
use wasmcloud_operator_types::runtime::controller::{ReconcileError, reporter};
use wasmcloud_operator_types::runtime::fake_api::{FakeApi, Recorded, listed_store};
use wasmcloud_operator_types::runtime::fake_wadm::{FakeWadm, WadmRequest};
use wasmcloud_operator_types::runtime::metrics::Metrics;
use wasmcloud_operator_types::runtime::readiness::{CacheGate, Readiness};
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

/// The Application `shop` in namespace `east`: one component, one instance.
fn application() -> Application {
    serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "east", "uid": "uid-shop", "generation": 1},
        "spec": {"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"},
                 "traits": [{"type": "spreadscaler", "properties": {"instances": 1}}]}]}
    }))
    .expect("application")
}

/// A host config in `east` whose lattice decides the Application's.
fn host_config(lattice: &str) -> WasmCloudHostConfig {
    serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": "hosts", "namespace": "east", "uid": "uid-hosts"},
        "spec": {"lattice": lattice, "version": "1.4.2"},
    }))
    .expect("host config")
}

/// The environment of one bridge: the API server and wadm, and the lattice of the host config in `east`.
struct World {
    api: FakeApi,
    wadm: FakeWadm,
    lattice: String,
}

impl World {
    fn new(lattice: &str) -> Self {
        let api = FakeApi::new();
        api.insert(&application());
        Self {
            api,
            wadm: FakeWadm::new(),
            lattice: lattice.to_string(),
        }
    }

    fn stored(&self) -> Application {
        self.api
            .get::<Application>(Some("east"), "shop")
            .expect("stored application")
    }

    /// One reconcile of the stored Application by a freshly started bridge (its stores just listed).
    async fn reconcile_once(&self) -> Result<(), wasmcloud_app_status_bridge::reconcile::Error> {
        let client = self.api.client();
        let app = self.stored();
        let context = Context::new(
            client.clone(),
            self.wadm.wadm(),
            Metrics::new().expect("metrics"),
            Recorder::new(client, reporter("wasmcloud-app-status-bridge")),
            (
                listed_store(vec![app.clone()]),
                listed_store(vec![host_config(&self.lattice)]),
            ),
            None,
            CacheGate::new(&Readiness::default(), &[]),
        );
        reconcile(Arc::new(app), Arc::new(context)).await.map(drop)
    }

    /// Reconciles until the finalizer is on (the first reconcile only adds it), then once more.
    async fn converge(&self) -> Result<(), wasmcloud_app_status_bridge::reconcile::Error> {
        if !self
            .stored()
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&APPLICATION_FINALIZER.to_string())
        {
            self.reconcile_once().await?;
        }
        self.reconcile_once().await
    }

    fn forget_requests(&self) {
        self.api.clear_requests();
        self.wadm.clear_requests();
    }

    fn api_writes(&self) -> Vec<String> {
        self.api.writes().iter().map(Recorded::to_string).collect()
    }

    fn wadm_writes(&self) -> Vec<String> {
        self.wadm.writes().iter().map(WadmRequest::to_string).collect()
    }

    fn wadm_requests(&self) -> Vec<String> {
        self.wadm.requests().iter().map(WadmRequest::to_string).collect()
    }

    /// The Synced condition's status and reason.
    fn synced(&self) -> (String, String) {
        let app = self.stored();
        let condition = app
            .status
            .iter()
            .flat_map(|s| s.conditions.iter())
            .find(|c| c.type_ == condition_types::SYNCED)
            .expect("a Synced condition");
        (condition.status.clone(), condition.reason.clone())
    }

    /// Marks the stored Application deleted (its finalizer keeps it), as `kubectl delete` would.
    fn delete(&self) {
        let mut app = self.stored();
        app.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        self.api.insert(&app);
    }
}

/// A manifest for `shop` that another client put: no owner mark.
fn foreign_manifest() -> Value {
    json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
           "metadata": {"name": "shop", "annotations": {"version": "v1"}},
           "spec": {"components": []}})
}

#[tokio::test]
async fn a_new_application_is_put_and_deployed_once_and_a_restart_then_writes_nothing() {
    let world = World::new("blue");
    world.reconcile_once().await.expect("first reconcile");
    assert_eq!(
        world.api_writes(),
        ["patch applications/shop"],
        "the first reconcile only adds the finalizer"
    );
    assert_eq!(world.wadm_requests(), Vec::<String>::new());

    world.forget_requests();
    world.reconcile_once().await.expect("second reconcile");
    let version = world
        .stored()
        .status
        .and_then(|s| s.deployed_version)
        .expect("a deployed version on the status");
    assert_eq!(
        world.wadm_writes(),
        ["put blue/shop", "deploy blue/shop"],
        "{:?}",
        world.wadm_requests()
    );
    assert_eq!(world.wadm.deployed("blue", "shop"), Some(version));
    let writes = world.api_writes();
    assert_eq!(
        writes
            .iter()
            .filter(|w| *w == "patch applications/status/shop")
            .count(),
        1,
        "one status write: {writes:?}"
    );
    assert_eq!(
        world.synced(),
        ("True".to_string(), reasons::DEPLOYED.to_string())
    );

    // A restarted bridge at steady state reads wadm and writes nothing anywhere.
    world.forget_requests();
    world.reconcile_once().await.expect("steady reconcile");
    assert_eq!(world.api_writes(), Vec::<String>::new());
    assert_eq!(
        world.wadm_writes(),
        Vec::<String>::new(),
        "{:?}",
        world.wadm_requests()
    );
}

#[tokio::test]
async fn a_model_someone_else_put_is_never_written_nor_deleted() {
    let world = World::new("blue");
    world.wadm.insert("blue", &foreign_manifest(), true);
    world.converge().await.expect("reconcile");
    assert_eq!(
        world.wadm_writes(),
        Vec::<String>::new(),
        "{:?}",
        world.wadm_requests()
    );
    assert_eq!(
        world.synced(),
        ("False".to_string(), reasons::CONFLICT.to_string())
    );
    assert!(
        world.api_writes().iter().any(|w| w == "create events/"),
        "a Warning Event names the conflict: {:?}",
        world.api_writes()
    );

    // Deleting the Application leaves the model where it is and lets the object go.
    world.forget_requests();
    world.delete();
    world.reconcile_once().await.expect("cleanup");
    assert_eq!(
        world.wadm_writes(),
        Vec::<String>::new(),
        "{:?}",
        world.wadm_requests()
    );
    assert_eq!(world.wadm.deployed("blue", "shop"), Some("v1".to_string()));
    assert!(
        world.stored().metadata.finalizers.unwrap_or_default().is_empty(),
        "the finalizer is removed"
    );
}

#[tokio::test]
async fn adopting_a_foreign_model_takes_it_over_explicitly() {
    let world = World::new("blue");
    world.wadm.insert("blue", &foreign_manifest(), true);
    let mut app = world.stored();
    app.metadata
        .annotations
        .get_or_insert_default()
        .insert(annotations::ADOPT_MODEL.to_string(), "true".to_string());
    world.api.insert(&app);
    world.converge().await.expect("reconcile");
    assert_eq!(
        world.wadm_writes(),
        ["put blue/shop", "deploy blue/shop"],
        "{:?}",
        world.wadm_requests()
    );
    assert_eq!(
        world.synced(),
        ("True".to_string(), reasons::DEPLOYED.to_string())
    );
}

#[tokio::test]
async fn wadm_away_is_reported_once_and_not_rewritten_on_every_retry() {
    let world = World::new("blue");
    world.wadm.set_away(true);
    let error = world.converge().await.expect_err("wadm is away");
    assert_eq!(error.category(), "wadm-unreachable");
    assert_eq!(
        world.synced(),
        ("False".to_string(), reasons::WADM_UNREACHABLE.to_string())
    );

    world.forget_requests();
    let error = world.reconcile_once().await.expect_err("still away");
    assert_eq!(error.category(), "wadm-unreachable");
    assert_eq!(
        world.api_writes(),
        Vec::<String>::new(),
        "the retry finds the status already saying so"
    );

    world.wadm.set_away(false);
    world.reconcile_once().await.expect("wadm is back");
    assert_eq!(
        world.synced(),
        ("True".to_string(), reasons::DEPLOYED.to_string())
    );
}

#[tokio::test]
async fn moving_to_another_lattice_removes_only_the_bridges_own_model() {
    let mut world = World::new("blue");
    world.converge().await.expect("deploy into blue");
    world.lattice = "green".into();
    world.forget_requests();
    world.reconcile_once().await.expect("move to green");
    assert_eq!(
        world.wadm_writes(),
        ["del blue/shop", "put green/shop", "deploy green/shop"],
        "{:?}",
        world.wadm_requests()
    );
    assert_eq!(
        world.stored().status.and_then(|s| s.lattice),
        Some("green".into())
    );

    // Someone else's model of the same name in the lattice the object leaves stays there.
    world.wadm.insert("red", &foreign_manifest(), true);
    world.lattice = "red".into();
    world.forget_requests();
    world.reconcile_once().await.expect("move to red");
    assert_eq!(
        world.synced(),
        ("False".to_string(), reasons::CONFLICT.to_string())
    );
    world.lattice = "blue".into();
    world.reconcile_once().await.expect("back to blue");
    assert!(world.wadm.holds("red", "shop"), "{:?}", world.wadm_requests());
    assert!(
        !world.wadm_writes().iter().any(|w| w.contains("red/")),
        "{:?}",
        world.wadm_requests()
    );
}
