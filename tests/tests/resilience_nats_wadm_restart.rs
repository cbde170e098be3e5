//! Resilience: NATS and wadm both go away while applications are deployed and undeployed. Readiness is
//! false while they are gone; once they are back, Application status, Services and wadm converge within
//! 10 s, with nothing lost (a create, an edit and a delete made during the outage all land). Its own
//! test binary, because it stops the NATS and wadm every other test uses.

use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use wasmcloud_operator_tests::http_apps::{SETTLE, create_host_config, http_application, lattice};
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::pod_hosts::PodHosts;
use wasmcloud_operator_tests::process::start_in_namespace;
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::application::ApplicationPhase;

/// What the operators promise once NATS and wadm are back.
const CONVERGE: Duration = Duration::from_secs(10);

fn deployed(app: Option<&Application>) -> bool {
    app.and_then(|a| a.status.as_ref()).is_some_and(|s| {
        s.phase == Some(ApplicationPhase::Deployed)
            && s.observed_generation == app.and_then(|a| a.metadata.generation)
    })
}

#[tokio::test]
async fn everything_converges_within_10_seconds_of_nats_and_wadm_returning() {
    with_namespace("nats-wadm", |ctx| async move {
        let _hosts = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let mut bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let mut syncer = start_in_namespace(&ctx, "wasmcloud-service-syncer").await?;
        let hosts_nats = ctx.env.nats().await?;
        let _simulated = PodHosts::start(ctx.client.clone(), hosts_nats.clone(), Some(&ctx.namespace));
        let lattice = lattice("restart");
        create_host_config(&ctx, "hosts", &lattice, 1, &json!({})).await?;
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        for name in ["kept", "edited", "removed"] {
            apps.create(
                &PostParams::default(),
                &http_application(name, &lattice, &spread, "0.0.0.0:8080"),
            )
            .await?;
        }
        for name in ["kept", "edited", "removed"] {
            wait::for_object(&apps, name, SETTLE, deployed).await?;
            wait::for_object(&services, name, SETTLE, |s: Option<&Service>| s.is_some()).await?;
        }
        let edited_from = apps.get("edited").await?.status.and_then(|s| s.deployed_version);

        // Both go away; the NATS users say so.
        ctx.env.env_action("wadm-stop")?;
        ctx.env.env_action("nats-stop")?;
        bridge.wait_not_ready("nats", SETTLE).await?;
        syncer.wait_not_ready("nats", SETTLE).await?;

        // Changes made meanwhile.
        apps.create(
            &PostParams::default(),
            &http_application("added", &lattice, &spread, "0.0.0.0:8081"),
        )
        .await?;
        let mut edit = apps.get("edited").await?;
        edit.spec.components[0].traits.as_mut().expect("traits")[0].properties =
            Some(json!({"instances": 2}));
        apps.replace("edited", &PostParams::default(), &edit).await?;
        apps.delete("removed", &DeleteParams::default()).await?;
        assert!(
            services.get_opt("kept").await?.is_some(),
            "Services stay while NATS is away"
        );

        // Back: everything lands within the promise. wadm comes back once the hosts have: a command wadm
        // sends to a host that has not reconnected yet fails with "no responders", and wadm then waits for
        // the event it expected (60 s for a provider) before trying again. That is wadm's behaviour, not
        // the operators', so the test keeps it out of the 10 s it measures from NATS returning.
        ctx.env.env_action("nats-start")?;
        let back = tokio::time::Instant::now();
        let left = || CONVERGE.saturating_sub(back.elapsed());
        wait::until_nats_connected("the simulated hosts", &hosts_nats, left()).await?;
        let hosts_back = back.elapsed();
        ctx.env.env_action("wadm-start")?;
        eprintln!(
            "hosts reconnected after {hosts_back:?}, wadm serving after {:?}",
            back.elapsed()
        );
        wait::for_object(&apps, "added", left(), deployed).await?;
        wait::for_object(&services, "added", left(), |s: Option<&Service>| s.is_some()).await?;
        wait::for_object(&apps, "edited", left(), move |a: Option<&Application>| {
            deployed(a)
                && a.and_then(|a| a.status.as_ref())
                    .and_then(|s| s.deployed_version.clone())
                    != edited_from
        })
        .await?;
        wait::until_gone(&apps, "removed", left()).await?;
        wait::until_gone(&services, "removed", left()).await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let models = wadm.list().await?;
        let names: Vec<&str> = models["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["name"].as_str())
            .collect();
        assert!(
            !names.contains(&"removed") && names.contains(&"added"),
            "wadm models: {names:?}"
        );
        assert!(services.get_opt("kept").await?.is_some());
        eprintln!("converged {:?} after NATS and wadm returned", back.elapsed());
        bridge.wait_ready(SETTLE).await?;
        syncer.wait_ready(SETTLE).await?;
        Ok(())
    })
    .await;
}
