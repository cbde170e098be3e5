//! Resilience: the three binaries are SIGKILL-ed at random moments (200 kills by default;
//! RESILIENCE_KILLS changes it) while host configs and Applications are created, edited and deleted.
//! Once the churn stops and the binaries run undisturbed, everything converges: every host config has
//! its Deployment and is Ready, every Application is Deployed in wadm with its Service, nothing deleted
//! is left behind (children, wadm models, Services), no finalizer is stuck, nothing is duplicated.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rand::Rng;
use serde_json::json;
use wasmcloud_operator_tests::http_apps::{create_host_config, host_config, http_application, lattice};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::pod_hosts::PodHosts;
use wasmcloud_operator_tests::process::{OperatorProcess, start_in_namespace};
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::application::ApplicationPhase;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

const BINARIES: [&str; 3] = [
    "wasmcloud-host-operator",
    "wasmcloud-app-status-bridge",
    "wasmcloud-service-syncer",
];
const CONVERGE: Duration = Duration::from_secs(180);
/// Names the churn picks from.
const HOST_CONFIGS: [&str; 4] = ["churn-a", "churn-b", "churn-c", "churn-d"];
const APPS: [&str; 6] = ["app-a", "app-b", "app-c", "app-d", "app-e", "app-f"];

fn kills() -> usize {
    std::env::var("RESILIENCE_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(200)
}

async fn start(ctx: &TestContext, name: &str) -> anyhow::Result<OperatorProcess> {
    OperatorProcess::start(
        &ctx.env,
        name,
        &ctx.env.kubeconfig,
        &["--namespace", &ctx.namespace],
    )
    .await
}

/// One random create, edit or delete; failures (already exists, not found) are part of the churn.
async fn churn_once(ctx: &TestContext, lattice: &str, step: usize) {
    let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let (choice, pick, replicas, instances) = {
        let mut rng = rand::rng();
        (
            rng.random_range(0..6u8),
            rng.random_range(0..APPS.len()),
            rng.random_range(0..3u32),
            rng.random_range(1..4u32),
        )
    };
    let config = HOST_CONFIGS[pick % HOST_CONFIGS.len()];
    let app = APPS[pick];
    let daemon = json!({"type": "daemonscaler", "properties": {"instances": instances}});
    let _ = match choice {
        0 => configs
            .create(
                &PostParams::default(),
                &host_config(config, lattice, replicas, &json!({"step": step.to_string()})),
            )
            .await
            .map(drop),
        1 => configs
            .patch(
                config,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"hostReplicas": replicas}})),
            )
            .await
            .map(drop),
        2 => configs.delete(config, &DeleteParams::default()).await.map(drop),
        3 => apps
            .create(
                &PostParams::default(),
                &http_application(app, lattice, &daemon, "0.0.0.0:8080"),
            )
            .await
            .map(drop),
        4 => {
            let patch = json!({"spec": {"components": http_application(app, lattice, &daemon, &format!("0.0.0.0:{}", 8000 + step % 100)).spec.components}});
            apps.patch(app, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        }
        _ => apps.delete(app, &DeleteParams::default()).await.map(drop),
    };
}

#[tokio::test]
async fn random_kills_during_churn_leave_nothing_leaked_missing_or_stuck() {
    with_namespace("crash", |ctx| async move {
        let mut running = Vec::new();
        for name in BINARIES {
            running.push(start_in_namespace(&ctx, name).await?);
        }
        let _simulated = PodHosts::start(ctx.client.clone(), ctx.env.nats().await?, Some(&ctx.namespace));
        let lattice = lattice("crash");
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        // One host config is never touched, so the lattice always has a host to deploy to.
        create_host_config(&ctx, "steady", &lattice, 1, &json!({})).await?;

        let total = kills();
        for kill in 0..total {
            churn_once(&ctx, &lattice, kill).await;
            let (victim, pause) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..BINARIES.len()),
                    Duration::from_millis(rng.random_range(50..400)),
                )
            };
            tokio::time::sleep(pause).await;
            let _ = running[victim].child.start_kill();
            let _ = running[victim].child.wait().await;
            running[victim] = start(&ctx, BINARIES[victim]).await?;
        }
        eprintln!("{total} kills done; converging");
        for process in &mut running {
            process.wait_ready(Duration::from_secs(60)).await?;
        }

        // Every host config: Ready, with exactly its own Deployment, and no Deployment without one.
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let converged = wait::until("convergence after the kills", CONVERGE, || async {
            let err = |e: kube::Error| e.to_string();
            let whcs: BTreeSet<String> = configs
                .list(&ListParams::default())
                .await
                .map_err(err)?
                .items
                .iter()
                .filter(|w| w.metadata.deletion_timestamp.is_none())
                .map(ResourceExt::name_any)
                .collect();
            let not_ready: Vec<String> = configs
                .list(&ListParams::default())
                .await
                .map_err(err)?
                .items
                .iter()
                .filter(|w| {
                    !w.status.as_ref().is_some_and(|s| {
                        s.observed_generation == w.metadata.generation
                            && s.conditions
                                .iter()
                                .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                })
                .map(ResourceExt::name_any)
                .collect();
            let owned: BTreeSet<String> = deployments
                .list(&ListParams::default())
                .await
                .map_err(err)?
                .items
                .iter()
                .filter(|d| d.metadata.deletion_timestamp.is_none())
                .map(ResourceExt::name_any)
                .collect();
            let app_list = apps.list(&ListParams::default()).await.map_err(err)?.items;
            let stuck: Vec<String> = app_list
                .iter()
                .filter(|a| a.metadata.deletion_timestamp.is_some())
                .map(ResourceExt::name_any)
                .collect();
            let not_deployed: Vec<String> = app_list
                .iter()
                .filter(|a| {
                    !a.status.as_ref().is_some_and(|s| {
                        s.phase == Some(ApplicationPhase::Deployed)
                            && s.observed_generation == a.metadata.generation
                    })
                })
                .map(ResourceExt::name_any)
                .collect();
            let app_names: BTreeSet<String> = app_list.iter().map(ResourceExt::name_any).collect();
            let models: BTreeSet<String> = wadm.list().await.map_err(|e| e.to_string())?["models"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["name"].as_str().map(str::to_string))
                .collect();
            let served: BTreeSet<String> = services
                .list(&ListParams::default().labels("app.kubernetes.io/managed-by=wasmcloud-service-syncer"))
                .await
                .map_err(err)?
                .items
                .iter()
                .filter(|s| s.metadata.deletion_timestamp.is_none())
                .map(ResourceExt::name_any)
                .collect();
            let state = format!(
                "host configs {whcs:?} (not ready {not_ready:?}), deployments {owned:?}, apps {app_names:?} \
                (not deployed {not_deployed:?}, stuck {stuck:?}), wadm models {models:?}, services {served:?}"
            );
            if not_ready.is_empty()
                && owned == whcs
                && stuck.is_empty()
                && not_deployed.is_empty()
                && models == app_names
                && served == app_names
            {
                Ok(state)
            } else {
                Err(state)
            }
        })
        .await?;
        eprintln!("converged: {converged}");
        for process in &mut running {
            assert!(
                process.child.try_wait()?.is_none(),
                "{} exited after convergence",
                process.name
            );
        }
        Ok(())
    })
    .await;
}
