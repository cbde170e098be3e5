//! The app-status-bridge while NATS goes away and comes back: readiness drops and the condition says
//! so, nothing flaps, and a change made while NATS was down is deployed once it returns. Its own test
//! binary, because it stops the NATS every other test uses.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use wasmcloud_operator_tests::lattice_sim::SimulatedLattice;
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::process::start_in_namespace;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::application::ApplicationPhase;

const SETTLE: Duration = Duration::from_secs(60);

fn app(lattice: &str, instances: u32) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": "steady", "annotations": {"k8s.wasmcloud.dev/lattice": lattice}},
        "spec": {"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"},
            "traits": [{"type": "spreadscaler", "properties": {"instances": instances}}]}]}
    }))?)
}

#[tokio::test]
async fn a_nats_outage_is_reported_and_changes_made_meanwhile_converge() {
    with_namespace("app-nats", |ctx| async move {
        let mut bridge = start_in_namespace(&ctx, "wasmcloud-app-status-bridge").await?;
        let lattice = format!("outage-{:06x}", rand::random::<u32>() & 0xff_ffff);
        let simulated = SimulatedLattice::start(ctx.env.nats().await?, &lattice).await?;
        let _host = simulated.start_host("host-a", &[]).await?;
        let api: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let mut first = app(&lattice, 1)?;
        first.metadata.namespace = Some(ctx.namespace.clone());
        api.create(&PostParams::default(), &first).await?;
        let deployed = wait::for_object(&api, "steady", SETTLE, |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref())
                .is_some_and(|s| s.phase == Some(ApplicationPhase::Deployed))
        })
        .await?;
        let first_version = deployed.status.and_then(|s| s.deployed_version).expect("version");

        // NATS goes away: the bridge is not ready, and says why.
        ctx.env.env_action("nats-stop")?;
        bridge.wait_not_ready("nats", SETTLE).await?;

        // A change made while NATS is down...
        let mut edited = api.get("steady").await?;
        edited.spec.components[0].traits.as_mut().expect("traits")[0].properties =
            Some(json!({"instances": 2}));
        api.replace("steady", &PostParams::default(), &edited).await?;
        wait::for_object(&api, "steady", SETTLE, |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref())
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
                .is_some_and(|c| c.reason == "WadmUnreachable")
        })
        .await?;

        // ...is deployed once NATS is back, without restarting the bridge.
        ctx.env.env_action("nats-start")?;
        bridge.wait_ready(SETTLE).await?;
        let converged = wait::for_object(
            &api,
            "steady",
            Duration::from_secs(90),
            move |a: Option<&Application>| {
                a.and_then(|a| a.status.as_ref()).is_some_and(|s| {
                    s.deployed_version.as_deref().is_some_and(|v| v != first_version)
                        && s.conditions
                            .iter()
                            .any(|c| c.type_ == "Synced" && c.status == "True")
                })
            },
        )
        .await?;
        assert!(converged.status.is_some());
        assert!(bridge.child.try_wait()?.is_none(), "the bridge kept running");

        // Deleted while wadm can't be reached: the object stays and says why, then goes when it can.
        ctx.env.env_action("nats-stop")?;
        api.delete("steady", &DeleteParams::default()).await?;
        wait::for_object(&api, "steady", SETTLE, |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref())
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
                .is_some_and(|c| {
                    c.reason == "WadmUnreachable" && c.message.contains("cannot remove the model")
                })
        })
        .await?;
        ctx.env.env_action("nats-start")?;
        wait::until_gone(&api, "steady", Duration::from_secs(90)).await?;
        Ok(())
    })
    .await;
}
