//! Resilience: the API server goes away for a minute. The three binaries neither exit nor spin while it
//! is gone, changes made right after it returns are reconciled within 35 s, and afterwards the steady
//! state writes nothing. Its own test binary, because it stops the API server every test uses.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use wasmcloud_operator_tests::http_apps::{SETTLE, create_host_config, http_application, lattice};
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::pod_hosts::PodHosts;
use wasmcloud_operator_tests::process::{OperatorProcess, start_in_namespace, write_requests};
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::application::ApplicationPhase;
use wasmcloud_operator_types::conditions::is_true;
use wasmcloud_operator_types::contract::condition_types;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

/// How long the API server stays away: the scenario, not a wait for something.
const OUTAGE: Duration = Duration::from_secs(60);
/// What the operators promise after the API server returns.
const RECOVERY: Duration = Duration::from_secs(35);
/// How long kwok and kube-controller-manager may take to make the scaled hosts' pods ready after the
/// outage (their schedule, not the operators'; seen at about 40 s).
const KWOK_RECOVERY: Duration = Duration::from_secs(120);

/// CPU time the process has used, from /proc (the Prometheus process metric counts whole seconds).
fn cpu_seconds(process: &OperatorProcess) -> f64 {
    let stat = process
        .child
        .id()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// Every Kubernetes API request the process attempted, answered or not.
fn attempted_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("rest_client_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn the_operators_ride_out_an_api_server_outage_and_catch_up_within_35_seconds() {
    with_namespace("apiserver-outage", |ctx| async move {
        let mut binaries: Vec<OperatorProcess> = Vec::new();
        for name in [
            "wasmcloud-host-operator",
            "wasmcloud-app-status-bridge",
            "wasmcloud-service-syncer",
        ] {
            binaries.push(start_in_namespace(&ctx, name).await?);
        }
        let _simulated = PodHosts::start(ctx.client.clone(), ctx.env.nats().await?, Some(&ctx.namespace));
        let lattice = lattice("outage");
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        create_host_config(&ctx, "hosts", &lattice, 1, &json!({})).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
        apps.create(
            &PostParams::default(),
            &http_application("shop", &lattice, &daemon, "0.0.0.0:8080"),
        )
        .await?;
        let deployed = |app: Option<&Application>| {
            app.and_then(|a| a.status.as_ref())
                .is_some_and(|s| s.phase == Some(ApplicationPhase::Deployed))
        };
        let before = wait::for_object(&apps, "shop", SETTLE, deployed).await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        wait::for_object(&services, "shop", SETTLE, |s: Option<&Service>| s.is_some()).await?;

        let mut at_start = Vec::new();
        for binary in &binaries {
            at_start.push((binary.metrics().await?, cpu_seconds(binary)));
        }
        ctx.env.env_action("apiserver-stop")?;
        tokio::time::sleep_until(tokio::time::Instant::now() + OUTAGE).await;
        for (binary, (start, cpu_at_start)) in binaries.iter_mut().zip(&at_start) {
            assert!(
                binary.child.try_wait()?.is_none(),
                "{} exited during the outage",
                binary.name
            );
            let now = binary.metrics().await?;
            assert!(*cpu_at_start > 0.0, "no CPU time read for {}", binary.name);
            let cpu = cpu_seconds(binary) - cpu_at_start;
            let attempts = attempted_requests(&now) - attempted_requests(start);
            eprintln!(
                "{} during the outage: {cpu:.2} s CPU, {attempts} API requests attempted",
                binary.name
            );
            assert!(
                cpu < OUTAGE.as_secs_f64() * 0.1,
                "{} spun: {cpu} s of CPU in {OUTAGE:?}",
                binary.name
            );
            // Each watch retries at most every 5 s (about a dozen watches in the host-operator); a spin
            // would be thousands.
            assert!(
                attempts < 300.0,
                "{} hammered the API server: {attempts} requests",
                binary.name
            );
        }
        ctx.env.env_action("apiserver-start")?;

        // Changes made right after recovery are reconciled within the promise.
        let recovered = tokio::time::Instant::now();
        configs
            .patch(
                "hosts",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"hostReplicas": 2}})),
            )
            .await?;
        let mut edited = apps.get("shop").await?;
        edited.spec.components[0].traits.as_mut().expect("traits")[0].properties =
            Some(json!({"instances": 2}));
        apps.replace("shop", &PostParams::default(), &edited).await?;
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        wait::for_object(&deployments, "hosts", RECOVERY, |d: Option<&Deployment>| {
            d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas) == Some(2)
        })
        .await?;
        let first_version = before.status.and_then(|s| s.deployed_version);
        wait::for_object(
            &apps,
            "shop",
            RECOVERY.saturating_sub(recovered.elapsed()),
            move |a: Option<&Application>| {
                a.and_then(|a| a.status.as_ref())
                    .is_some_and(|s| s.deployed_version.is_some() && s.deployed_version != first_version)
            },
        )
        .await?;
        eprintln!("changes after recovery reconciled in {:?}", recovered.elapsed());

        // And then quiet: once the app is deployed and the host config's edit observed with every host
        // ready again (kube-controller-manager and kwok recover on their own, slower, schedule) and that
        // transition's own writes (the status, then its Event) are done — its condition a few seconds
        // old — a touch makes reconciles and not a single write, from any of the three.
        wait::for_object(&apps, "shop", SETTLE, deployed).await?;
        // kube-controller-manager can miss a pod turning ready while its own watches recover, and then
        // keeps the Deployment at 1/2 until its next resync (seen in a clean run): a label on each host
        // pod makes its ReplicaSet controller count them again. Not the operators' business.
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let nudge = json!({"metadata": {"labels": {"recount": "after-outage"}}});
        for pod in pods
            .list(&kube::api::ListParams::default().labels("app.kubernetes.io/instance=hosts"))
            .await?
        {
            let name = kube::ResourceExt::name_any(&pod);
            pods.patch(&name, &PatchParams::default(), &Patch::Merge(&nudge))
                .await?;
        }
        wait::for_object(
            &configs,
            "hosts",
            KWOK_RECOVERY,
            |w: Option<&WasmCloudHostConfig>| {
                w.is_some_and(|w| {
                    w.status.as_ref().is_some_and(|s| {
                        s.observed_generation == w.metadata.generation
                            && is_true(&s.conditions, condition_types::READY)
                            && s.ready_replicas.is_some()
                            && s.ready_replicas == s.replicas
                            && s.apps
                                .iter()
                                .any(|a| a.name == "shop" && a.phase.as_deref() == Some("Deployed"))
                    })
                })
            },
        )
        .await?;
        // The watch above fires on the transition's status write; its Event follows. A condition a few
        // seconds old (they have second resolution) has its writes behind it.
        wait::until("the Ready transition to be a few seconds old", SETTLE, || async {
            let whc = configs.get("hosts").await.map_err(|e| e.to_string())?;
            let since = whc
                .status
                .iter()
                .flat_map(|s| &s.conditions)
                .find(|c| c.type_ == condition_types::READY)
                .map(|c| k8s_openapi::jiff::Timestamp::now().duration_since(c.last_transition_time.0));
            match since {
                Some(age) if age.as_secs() >= 3 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await?;
        let mut writes = Vec::new();
        for binary in &binaries {
            writes.push(write_requests(&binary.metrics().await?));
        }
        let touch = json!({"metadata": {"labels": {"touched": "after-outage"}}});
        let reconciles = |m: &str| -> f64 {
            m.lines()
                .filter(|l| {
                    l.starts_with("controller_runtime_reconcile_total{") && l.contains("result=\"success\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let mut reconcile_counts = Vec::new();
        for binary in &binaries {
            reconcile_counts.push(reconciles(&binary.metrics().await?));
        }
        configs
            .patch("hosts", &PatchParams::default(), &Patch::Merge(&touch))
            .await?;
        for (binary, before) in binaries.iter().zip(&reconcile_counts) {
            wait::until(
                &format!("{} to reconcile the touch", binary.name),
                SETTLE,
                || async {
                    let now = reconciles(&binary.metrics().await.map_err(|e| e.to_string())?);
                    if now > *before {
                        Ok(())
                    } else {
                        Err(format!("{now}"))
                    }
                },
            )
            .await?;
        }
        for (binary, before) in binaries.iter().zip(&writes) {
            let wrote = write_requests(&binary.metrics().await?) - before;
            assert!(wrote == 0, "{} wrote {wrote} times at steady state", binary.name);
        }
        Ok(())
    })
    .await;
}
