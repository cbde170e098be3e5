//! The app-status-bridge with a real wadm and simulated hosts (a test double): an Application reaches
//! Deployed and Ready, edits deploy new versions, deletion removes the model from wadm, the phase follows
//! wadm when hosts go away, bad input is reported, steady state writes nothing, and a reconcile in flight
//! at SIGTERM finishes its wadm calls and its status write before the process exits; with
//! `--mirror-wadm-models`, models no Application owns show as read-only mirrors until taken over.

use std::time::Duration;

use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::lattice_sim::SimulatedLattice;
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::process::{sample, start_in_namespace, write_request_lines, write_requests};
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::application::ApplicationPhase;

const SETTLE: Duration = Duration::from_secs(60);

fn lattice() -> String {
    format!("apps-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// A wadm example as an Application in `lattice`.
fn example(file: &str, lattice: &str) -> anyhow::Result<Application> {
    let path = TestEnv::repo_root()
        .join("operator-types/tests/fixtures/wadm-oam")
        .join(file);
    let mut app: Value = serde_yaml::from_str(&std::fs::read_to_string(path)?)?;
    app["metadata"]["annotations"]["k8s.wasmcloud.dev/lattice"] = json!(lattice);
    Ok(serde_json::from_value(app)?)
}

fn condition(app: &Application, type_: &str) -> Option<(String, String, String)> {
    let c = app
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_phase(
    api: &Api<Application>,
    name: &str,
    phase: ApplicationPhase,
) -> anyhow::Result<Application> {
    wait::for_object(api, name, SETTLE, move |app: Option<&Application>| {
        app.and_then(|a| a.status.as_ref())
            .is_some_and(|s| s.phase == Some(phase))
    })
    .await
}

async fn wait_synced(
    api: &Api<Application>,
    name: &str,
    reason: &'static str,
) -> anyhow::Result<Application> {
    wait::for_object(api, name, SETTLE, move |app: Option<&Application>| {
        app.and_then(|a| condition(a, "Synced"))
            .is_some_and(|c| c.1 == reason)
    })
    .await
}

#[tokio::test]
async fn an_application_deploys_updates_follows_wadm_and_is_removed_from_wadm() {
    with_namespace("app-life", |ctx| async move {
        let bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let lattice = lattice();
        let nats = ctx.env.nats().await?;
        let simulated = SimulatedLattice::start(nats.clone(), &lattice).await?;
        let host = simulated.start_host("host-a", &[]).await?;
        let wadm = WadmApi::new(nats, &lattice);
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);

        let mut app = example("echo.yaml", &lattice)?;
        app.metadata.namespace = Some(ctx.namespace.clone());
        api.create(&PostParams::default(), &app).await?;
        let deployed = wait_phase(&api, "echo", ApplicationPhase::Deployed).await?;
        let status = deployed.status.clone().expect("status");
        let first_version = status.deployed_version.clone().expect("version");
        assert!(first_version.starts_with("k8s-"), "{first_version}");
        assert_eq!(status.lattice.as_deref(), Some(lattice.as_str()));
        assert_eq!(condition(&deployed, "Ready").map(|c| c.0).as_deref(), Some("True"));
        assert!(deployed.finalizers().iter().any(|f| f == "k8s.wasmcloud.dev/wadm-cleanup"));
        assert_eq!(wadm.status_type("echo").await?, "deployed");

        // `kubectl wait` works on the Ready condition.
        let waited = ctx.env.kubectl()
            .args(["wait", "--for=condition=Ready", "application/echo", "-n", &ctx.namespace, "--timeout=30s"])
            .output()?;
        assert!(waited.status.success(), "{}", String::from_utf8_lossy(&waited.stderr));
        let names: Vec<String> = status.components.iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["echo", "httpserver"], "per-component detail");

        // Undeployed behind the bridge's back: deployed again, with an Event.
        wadm.undeploy("echo").await?;
        wait::until("the DriftCorrected Event", SETTLE, || async {
            let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
            let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            if list.items.iter().any(|e| e.reason.as_deref() == Some("DriftCorrected")) { Ok(()) } else { Err("none".into()) }
        })
        .await?;
        wait_phase(&api, "echo", ApplicationPhase::Deployed).await?;
        wait::until("wadm to run echo again", SETTLE, || async {
            match wadm.status_type("echo").await {
                Ok(s) if s == "deployed" => Ok(()),
                Ok(s) => Err(s),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;

        // Steady state: a reconcile that finds nothing new writes nothing.
        let writes = write_requests(&bridge.metrics().await?);
        let reconciles = |m: &str| sample(m, "controller_runtime_reconcile_total{controller=\"application\",result=\"success\"}");
        let before = reconciles(&bridge.metrics().await?);
        api.patch("echo", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"labels": {"touched": "yes"}}}))).await?;
        wait::until("a reconcile after the touch", SETTLE, || async {
            let now = reconciles(&bridge.metrics().await.map_err(|e| e.to_string())?);
            if now > before { Ok(()) } else { Err(format!("{now}")) }
        })
        .await?;
        // A label is content of the manifest, so that touch deploys a new version; once wadm has settled
        // (every scaler deployed), touch again to see a reconcile that has nothing to do.
        let labelled_from = first_version.clone();
        wait::for_object(&api, "echo", SETTLE, move |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref()).is_some_and(|s| {
                s.deployed_version.as_deref().is_some_and(|v| v != labelled_from)
                    && s.phase == Some(ApplicationPhase::Deployed)
                    && !s.components.is_empty()
                    && s.components.iter().all(|c| c.traits.iter().all(|t| t.phase == ApplicationPhase::Deployed))
            })
        })
        .await?;
        let status_before = api.get("echo").await?.status;
        let metrics_before = bridge.metrics().await?;
        let writes_after_label = write_requests(&metrics_before);
        assert!(writes_after_label >= writes);
        let settled = reconciles(&bridge.metrics().await?);
        api.patch("echo", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}))).await?;
        wait::until("another reconcile", SETTLE, || async {
            let now = reconciles(&bridge.metrics().await.map_err(|e| e.to_string())?);
            if now > settled { Ok(()) } else { Err(format!("{now}")) }
        })
        .await?;
        let metrics_after = bridge.metrics().await?;
        assert_eq!(
            write_requests(&metrics_after),
            writes_after_label,
            "a steady-state reconcile wrote:\nbefore {:#?}\nafter {:#?}\nstatus before {}\nstatus after {}",
            write_request_lines(&metrics_before),
            write_request_lines(&metrics_after),
            serde_json::to_string(&status_before)?,
            serde_json::to_string(&api.get("echo").await?.status)?
        );

        // An edit is a new version, deployed.
        let mut edited = api.get("echo").await?;
        edited.spec.components[0].traits.as_mut().expect("traits")[0].properties = Some(json!({"instances": 2}));
        api.replace("echo", &PostParams::default(), &edited).await?;
        let updated = wait::for_object(&api, "echo", SETTLE, |a: Option<&Application>| {
            a.is_some_and(|a| {
                let s = a.status.as_ref();
                s.and_then(|s| s.observed_generation) == a.metadata.generation
                    && s.and_then(|s| s.phase) == Some(ApplicationPhase::Deployed)
            })
        })
        .await?;
        let second_version = updated.status.and_then(|s| s.deployed_version).expect("version");
        assert_ne!(second_version, first_version);

        // The hosts go away: the phase follows wadm.
        host.stop().await?;
        wait::for_object(&api, "echo", SETTLE, |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref()).is_some_and(|s| s.phase.is_some() && s.phase != Some(ApplicationPhase::Deployed))
        })
        .await?;

        // Deletion removes the model from wadm, then the object.
        api.delete("echo", &DeleteParams::default()).await?;
        wait::until_gone(&api, "echo", SETTLE).await?;
        let models = wadm.list().await?;
        let names: Vec<&str> = models["models"].as_array().into_iter().flatten().filter_map(|m| m["name"].as_str()).collect();
        assert!(!names.contains(&"echo"), "{models}");
        drop(simulated);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_changed_spec_under_the_same_explicit_version_is_reported_not_looped_on() {
    with_namespace("app-version", |ctx| async move {
        let _bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let lattice = lattice();
        let simulated = SimulatedLattice::start(ctx.env.nats().await?, &lattice).await?;
        let _host = simulated.start_host("host-a", &[]).await?;
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let mut app = example("echo.yaml", &lattice)?;
        app.metadata.namespace = Some(ctx.namespace.clone());
        app.annotations_mut().insert("version".into(), "v1.0.0".into());
        api.create(&PostParams::default(), &app).await?;
        let deployed = wait_phase(&api, "echo", ApplicationPhase::Deployed).await?;
        assert_eq!(
            deployed.status.and_then(|s| s.deployed_version).as_deref(),
            Some("v1.0.0")
        );

        let mut edited = api.get("echo").await?;
        edited.spec.components[0].traits.as_mut().expect("traits")[0].properties =
            Some(json!({"instances": 3}));
        api.replace("echo", &PostParams::default(), &edited).await?;
        let stuck = wait_synced(&api, "echo", "VersionNotBumped").await?;
        assert!(condition(&stuck, "Synced").is_some_and(|c| c.2.contains("change the `version` annotation")));
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(ctx.client.clone(), &ctx.namespace);
        wait::until("a Warning Event", SETTLE, || async {
            let list = events
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let found = list.items.iter().any(|e| {
                e.reason.as_deref() == Some("VersionNotBumped") && e.type_.as_deref() == Some("Warning")
            });
            if found {
                Ok(())
            } else {
                Err("none yet".to_string())
            }
        })
        .await?;

        // Bumping the version deploys the edit.
        let mut bumped = api.get("echo").await?;
        bumped.annotations_mut().insert("version".into(), "v1.1.0".into());
        api.replace("echo", &PostParams::default(), &bumped).await?;
        wait::for_object(&api, "echo", SETTLE, |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref())
                .and_then(|s| s.deployed_version.as_deref())
                == Some("v1.1.0")
        })
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_manifest_wadm_rejects_is_reported_and_an_unknown_lattice_too() {
    with_namespace("app-invalid", |ctx| async move {
        let _bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        // No annotation, no WasmCloudHostConfig in the namespace, no default: no lattice.
        let nowhere: Application = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "nowhere", "annotations": {"description": "x"}},
            "spec": {"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"}}]}}))?;
        api.create(&PostParams::default(), &nowhere).await?;
        let unknown = wait_synced(&api, "nowhere", "LatticeUnknown").await?;
        assert!(condition(&unknown, "Synced").is_some_and(|c| c.2.contains("k8s.wasmcloud.dev/lattice")));

        // A component type wadm doesn't know: the schema allows any word, wadm's validation says no.
        let broken: Application = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "broken", "annotations": {"k8s.wasmcloud.dev/lattice": lattice()}},
            "spec": {"components": [{"name": "web", "type": "gadget", "properties": {"image": "r/web:1"}}]}}))?;
        api.create(&PostParams::default(), &broken).await?;
        let rejected = wait_synced(&api, "broken", "InvalidSpec").await?;
        assert!(condition(&rejected, "Ready").is_some_and(|c| c.0 == "False"));
        assert!(condition(&rejected, "Synced").is_some_and(|c| c.2.contains("gadget")), "{:?}", condition(&rejected, "Synced"));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn every_wadm_example_reaches_deployed() {
    with_namespace("app-examples", |ctx| async move {
        let _bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let lattice = lattice();
        let simulated = SimulatedLattice::start(ctx.env.nats().await?, &lattice).await?;
        // Hosts that satisfy every spread requirement in the examples.
        let _hosts = [
            simulated
                .start_host("east-lights", &[("zone", "us-east-1"), ("ledenabled", "true")])
                .await?,
            simulated.start_host("east", &[("zone", "us-east-1")]).await?,
            simulated.start_host("west", &[("zone", "us-west-1")]).await?,
        ];
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let dir = TestEnv::repo_root().join("operator-types/tests/fixtures/wadm-oam");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(extension) = path
                .extension()
                .and_then(|e| e.to_str())
                .filter(|e| matches!(*e, "yaml" | "json"))
            else {
                continue;
            };
            let file = path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default()
                .to_string();
            let mut app = example(&file, &lattice)?;
            // Several examples share a model name; give each its own.
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let name = format!("{stem}-{extension}");
            app.metadata.name = Some(name.clone());
            app.metadata.namespace = Some(ctx.namespace.clone());
            api.create(&PostParams::default(), &app).await?;
            names.push(name);
        }
        assert_eq!(names.len(), 9);
        for name in &names {
            wait_phase(&api, name, ApplicationPhase::Deployed)
                .await
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_skip_annotation_releases_the_object_and_leaves_wadm_alone() {
    with_namespace("app-skip", |ctx| async move {
        let _bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let lattice = lattice();
        let nats = ctx.env.nats().await?;
        let simulated = SimulatedLattice::start(nats.clone(), &lattice).await?;
        let _host = simulated.start_host("host-a", &[]).await?;
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let mut app = example("hello.yaml", &lattice)?;
        app.metadata.namespace = Some(ctx.namespace.clone());
        api.create(&PostParams::default(), &app).await?;
        wait_phase(&api, "hello-world", ApplicationPhase::Deployed).await?;

        let skip = json!({"metadata": {"annotations": {"k8s.wasmcloud.dev/skip-wadm-cleanup": "true"}}});
        api.patch("hello-world", &PatchParams::default(), &Patch::Merge(&skip))
            .await?;
        api.delete("hello-world", &DeleteParams::default()).await?;
        wait::until_gone(&api, "hello-world", SETTLE).await?;
        let wadm = WadmApi::new(nats, &lattice);
        assert_eq!(
            wadm.status_type("hello-world").await?,
            "deployed",
            "wadm keeps running it"
        );
        Ok(())
    })
    .await;
}

/// The stored versions of `name` in the lattice of `wadm` (empty when wadm doesn't know it).
async fn stored_versions(wadm: &WadmApi, name: &str) -> anyhow::Result<Vec<Value>> {
    let reply = wadm.call("versions", Some(name), Vec::new()).await?;
    Ok(reply["versions"].as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn models_it_did_not_put_are_left_alone_unless_adopted_and_a_moved_app_leaves_its_old_lattice() {
    with_namespace("app-owner", |ctx| async move {
        let _bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let (first, second) = (lattice(), lattice());
        let nats = ctx.env.nats().await?;
        let simulated = SimulatedLattice::start(nats.clone(), &first).await?;
        let _host = simulated.start_host("host-a", &[]).await?;
        let wadm = WadmApi::new(nats.clone(), &first);
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);

        // `wash app put`: the model is someone else's.
        let fixture = TestEnv::repo_root().join("operator-types/tests/fixtures/wadm-oam/echo.yaml");
        let put = wadm.put(&std::fs::read_to_string(fixture)?).await?;
        anyhow::ensure!(put["result"] == "created", "{put}");
        let before = stored_versions(&wadm, "echo").await?;

        api.create(&PostParams::default(), &example("echo.yaml", &first)?)
            .await?;
        let refused = wait_synced(&api, "echo", "Conflict").await?;
        let (_, _, message) = condition(&refused, "Synced").expect("Synced");
        assert!(
            message.contains("k8s.wasmcloud.dev/adopt-model"),
            "says how to take it over: {message}"
        );
        assert_eq!(
            stored_versions(&wadm, "echo").await?,
            before,
            "nothing put, nothing deployed"
        );
        api.delete("echo", &DeleteParams::default()).await?;
        wait::until_gone(&api, "echo", SETTLE).await?;
        assert_eq!(
            stored_versions(&wadm, "echo").await?,
            before,
            "deleting the object leaves the model in wadm"
        );

        // Adopted on request: the bridge puts its version (with its mark) and deploys it.
        let mut adopting = example("echo.yaml", &first)?;
        adopting
            .annotations_mut()
            .insert("k8s.wasmcloud.dev/adopt-model".into(), "true".into());
        let created = api.create(&PostParams::default(), &adopting).await?;
        wait_phase(&api, "echo", ApplicationPhase::Deployed).await?;
        let versions = stored_versions(&wadm, "echo").await?;
        let newest = versions
            .last()
            .and_then(|v| v["version"].as_str())
            .unwrap_or_default()
            .to_string();
        let stored = wadm
            .call(
                "get",
                Some("echo"),
                serde_json::to_vec(&json!({"version": newest}))?,
            )
            .await?;
        assert_eq!(
            stored
                .pointer("/manifest/metadata/annotations/k8s.wasmcloud.dev~1owner-uid")
                .and_then(Value::as_str),
            created.uid().as_deref(),
            "{stored}"
        );

        // Moved to another lattice: the model follows, the first lattice no longer has it.
        let moved = json!({"metadata": {"annotations": {"k8s.wasmcloud.dev/lattice": second}}});
        api.patch("echo", &PatchParams::default(), &Patch::Merge(&moved))
            .await?;
        wait::for_object(&api, "echo", SETTLE, |app: Option<&Application>| {
            app.and_then(|a| a.status.as_ref())
                .and_then(|s| s.lattice.as_deref())
                == Some(second.as_str())
        })
        .await?;
        let wadm_first = &wadm;
        wait::until("the model to leave the first lattice", SETTLE, || async move {
            match stored_versions(wadm_first, "echo").await {
                Ok(v) if v.is_empty() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await?;
        let wadm_second = WadmApi::new(nats.clone(), &second);
        assert!(
            !stored_versions(&wadm_second, "echo").await?.is_empty(),
            "put into the new lattice"
        );

        // A lattice wadm's subjects can't carry (a dotted name is refused at admission already): refused
        // before anything is put, and deletion is not held up.
        let mut dotted = example("echo.yaml", "blue.east")?;
        dotted.metadata.name = Some("echo-dotted".into());
        api.create(&PostParams::default(), &dotted).await?;
        let refused = wait_synced(&api, "echo-dotted", "InvalidSpec").await?;
        assert!(condition(&refused, "Synced").is_some_and(|c| c.2.contains("'.'")));
        api.delete("echo-dotted", &DeleteParams::default()).await?;
        wait::until_gone(&api, "echo-dotted", SETTLE).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_reconcile_in_flight_at_sigterm_finishes_its_wadm_calls_and_status_write_before_exit() {
    use wasmcloud_operator_tests::stall_proxy::StallProxy;
    const EXIT_BOUND: Duration = Duration::from_secs(5);
    const HELD_ACROSS_SIGTERM: Duration = Duration::from_secs(1);
    with_namespace("app-sigterm", |ctx| async move {
        // The bridge reaches NATS through a relay the test can hold: its wadm calls wait there.
        let upstream = ctx.env.nats_url.trim_start_matches("nats://").to_string();
        let relay = StallProxy::start(upstream).await?;
        let nats_url = format!("nats://127.0.0.1:{}", relay.port);
        let mut bridge = wasmcloud_operator_tests::process::start_in_namespace_with(
            &ctx,
            "wasmcloud-app-status-bridge",
            &["--nats-url", &nats_url],
        )
        .await?;
        let lattice = lattice();
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);

        relay.hold();
        api.create(&PostParams::default(), &example("echo.yaml", &lattice)?)
            .await?;
        // The finalizer goes through the API server; the apply after it asks wadm and waits at the relay.
        wait::until(
            "the finalizer, then a wadm request waiting at the relay",
            SETTLE,
            || async {
                let finalizers = api
                    .get("echo")
                    .await
                    .map_err(|e| e.to_string())?
                    .finalizers()
                    .len();
                match (finalizers, relay.holding()) {
                    (0, _) => Err("no finalizer yet".to_string()),
                    (_, 0) => Err("nothing held".to_string()),
                    (_, _) => Ok(()),
                }
            },
        )
        .await?;
        let untouched = api.get("echo").await?;
        assert!(
            untouched.status.is_none(),
            "nothing written yet: {:?}",
            untouched.status
        );

        let stopped = tokio::time::Instant::now();
        bridge.signal("TERM")?;
        // The reconcile stays held across the signal, then gets its answers.
        tokio::time::sleep(HELD_ACROSS_SIGTERM).await;
        relay.release();
        let exited = tokio::time::timeout(EXIT_BOUND, bridge.child.wait()).await;
        anyhow::ensure!(
            exited.is_ok(),
            "the bridge took longer than {EXIT_BOUND:?} to exit on SIGTERM"
        );
        eprintln!("exited {:?} after SIGTERM", stopped.elapsed());

        let finished = api.get("echo").await?;
        let status = finished.status.clone().unwrap_or_default();
        assert_eq!(
            condition(&finished, "Synced").map(|c| (c.0, c.1)),
            Some(("True".to_string(), "Deployed".to_string())),
            "the reconcile cut by SIGTERM finished its status write: {status:?}\n{}",
            bridge.log_text()
        );
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let versions = stored_versions(&wadm, "echo").await?;
        assert!(
            versions.iter().any(|v| v["deployed"] == json!(true)
                && v["version"].as_str() == status.deployed_version.as_deref()),
            "wadm holds and deploys what the status says: {versions:?} vs {status:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn wadm_models_no_application_owns_show_as_read_only_mirrors_until_someone_takes_them_over() {
    use wasmcloud_operator_tests::events::{regards, wait_for_event};
    use wasmcloud_operator_types::WasmCloudHostConfig;
    with_namespace("app-mirror", |ctx| async move {
        let lattice = lattice();
        // A host config names the lattice: its namespace is where the lattice's mirrors live.
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        configs
            .create(&PostParams::default(), &serde_json::from_value(json!({
                "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
                "metadata": {"name": "hosts"}, "spec": {"lattice": lattice, "version": "1.4.2"}}))?)
            .await?;
        let _bridge = wasmcloud_operator_tests::process::start_in_namespace_with(
            &ctx,
            "wasmcloud-app-status-bridge",
            &["--mirror-wadm-models"],
        )
        .await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);

        // `wash app put` and `wash app deploy`: a model no Application owns.
        let fixture = std::fs::read_to_string(TestEnv::repo_root().join("operator-types/tests/fixtures/wadm-oam/echo.yaml"))?;
        wadm.put(&fixture).await?;
        wadm.deploy("echo", None).await?;
        let shown = |app: Option<&Application>| {
            app.and_then(|a| a.status.as_ref()).is_some_and(|s| s.deployed_version.is_some())
        };
        let mirror = wait::for_object(&api, "echo", SETTLE, shown).await?;
        assert_eq!(mirror.labels().get("k8s.wasmcloud.dev/mirror").map(String::as_str), Some("true"));
        let notes = mirror.annotations();
        assert_eq!(notes.get("k8s.wasmcloud.dev/mirror-of"), Some(&format!("{lattice}/echo")));
        assert_eq!(notes.get("argocd.argoproj.io/compare-options").map(String::as_str), Some("IgnoreExtraneous"));
        assert!(mirror.finalizers().is_empty(), "a mirror has no finalizer: deleting it can't touch wadm");
        let status = mirror.status.clone().expect("status");
        assert_eq!(status.lattice.as_deref(), Some(lattice.as_str()));
        assert_eq!(condition(&mirror, "Synced").map(|c| c.1).as_deref(), Some("Deployed"));
        let listed = ctx.env.kubectl().args(["get", "applications", "-A"]).output()?;
        let listed = String::from_utf8_lossy(&listed.stdout).to_string();
        assert!(
            listed.lines().any(|l| l.contains(&ctx.namespace) && l.contains("echo") && l.contains(&lattice)),
            "kubectl get applications -A shows it with its lattice: {listed}"
        );
        let before = stored_versions(&wadm, "echo").await?;
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let early = events.list(&ListParams::default()).await?;
        assert!(
            !early.items.iter().any(|e| e.reason.as_deref() == Some("MirrorReadOnly")),
            "an unedited mirror is never set back (the model's spec is what it holds)"
        );

        // Edited: set back to the model, with a Warning Event; nothing reaches wadm.
        let edit = json!({"spec": {"components": [{"name": "other", "type": "component", "properties": {"image": "x"}}]}});
        api.patch("echo", &PatchParams::default(), &Patch::Merge(&edit)).await?;
        let original = mirror.spec.clone();
        wait::for_object(&api, "echo", SETTLE, move |app: Option<&Application>| {
            app.is_some_and(|a| a.spec == original && a.metadata.generation > mirror.metadata.generation)
        })
        .await?;
        let event = wait_for_event(&ctx, "MirrorReadOnly", |e| regards(e, "echo")).await?;
        assert!(event.note.unwrap_or_default().contains("adopt-model"), "says how to take it over");
        assert_eq!(stored_versions(&wadm, "echo").await?, before, "nothing put");

        // Deleted: it comes back while the model exists; wadm keeps running it.
        let first_uid = api.get("echo").await?.uid();
        api.delete("echo", &DeleteParams::default()).await?;
        wait::for_object(&api, "echo", SETTLE, |app: Option<&Application>| {
            app.is_some_and(|a| a.uid() != first_uid && shown(Some(a)))
        })
        .await?;
        assert_eq!(stored_versions(&wadm, "echo").await?, before, "deleting a mirror leaves wadm alone");

        // Taken over: without the mirror label and with adopt-model it is an Application like any other.
        let take = json!({"metadata": {"labels": {"k8s.wasmcloud.dev/mirror": null},
            "annotations": {"k8s.wasmcloud.dev/adopt-model": "true", "k8s.wasmcloud.dev/mirror-of": null}}});
        api.patch("echo", &PatchParams::default(), &Patch::Merge(&take)).await?;
        let adopted = wait::for_object(&api, "echo", SETTLE, |app: Option<&Application>| {
            app.is_some_and(|a| a.finalizers().iter().any(|f| f == "k8s.wasmcloud.dev/wadm-cleanup"))
        })
        .await?;
        wait_synced(&api, "echo", "Deployed").await?;
        let versions = stored_versions(&wadm, "echo").await?;
        let newest = versions.last().and_then(|v| v["version"].as_str()).unwrap_or_default().to_string();
        let stored = wadm.call("get", Some("echo"), serde_json::to_vec(&json!({"version": newest}))?).await?;
        assert_eq!(
            stored.pointer("/manifest/metadata/annotations/k8s.wasmcloud.dev~1owner-uid").and_then(Value::as_str),
            adopted.uid().as_deref(),
            "the bridge put its own version: {stored}"
        );

        // A model that leaves wadm takes its mirror with it.
        let mut other = serde_yaml::from_str::<Value>(&fixture)?;
        other["metadata"]["name"] = json!("echo-two");
        wadm.put(&serde_json::to_string(&other)?).await?;
        wait::for_object(&api, "echo-two", SETTLE, |app: Option<&Application>| app.is_some()).await?;
        wadm.delete("echo-two").await?;
        wait::until_gone(&api, "echo-two", SETTLE).await?;
        Ok(())
    })
    .await;
}
