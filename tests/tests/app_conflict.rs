//! Two Applications in different namespaces claiming the same wadm model in one lattice: the later one
//! is told so (Synced=False, Conflict) and the first is untouched. Its own test binary, because it needs
//! a bridge that watches every namespace.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde_json::json;
use wasmcloud_operator_tests::lattice_sim::SimulatedLattice;
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::process::OperatorProcess;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::application::ApplicationPhase;

const SETTLE: Duration = Duration::from_secs(60);

fn shop(lattice: &str) -> anyhow::Result<Application> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": "shop", "annotations": {"k8s.wasmcloud.dev/lattice": lattice}},
        "spec": {"components": [{"name": "web", "type": "component", "properties": {"image": "r/web:1"},
            "traits": [{"type": "spreadscaler", "properties": {"instances": 1}}]}]}
    }))?)
}

#[tokio::test]
async fn the_later_claim_on_a_model_name_is_a_conflict_and_the_first_is_untouched() {
    with_namespace("app-first", |ctx| async move {
        let mut bridge =
            OperatorProcess::start(&ctx.env, "wasmcloud-app-status-bridge", &ctx.env.kubeconfig, &[]).await?;
        bridge.wait_ready(Duration::from_secs(30)).await?;
        let lattice = format!("shared-{:06x}", rand::random::<u32>() & 0xff_ffff);
        let simulated = SimulatedLattice::start(ctx.env.nats().await?, &lattice).await?;
        let _host = simulated.start_host("host-a", &[]).await?;

        let first: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        first.create(&PostParams::default(), &shop(&lattice)?).await?;
        wait::for_object(&first, "shop", SETTLE, |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref())
                .is_some_and(|s| s.phase == Some(ApplicationPhase::Deployed))
        })
        .await?;

        let second_namespace = format!("{}-second", ctx.namespace);
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(second_namespace.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces.create(&PostParams::default(), &namespace).await?;
        let second: Api<Application> = Api::namespaced(ctx.client.clone(), &second_namespace);
        second.create(&PostParams::default(), &shop(&lattice)?).await?;
        let expected = format!(
            "{}/shop already deploys model shop in lattice {lattice}",
            ctx.namespace
        );
        let conflicted = wait::for_object(&second, "shop", SETTLE, move |a: Option<&Application>| {
            a.and_then(|a| a.status.as_ref())
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"))
                .is_some_and(|c| c.reason == "Conflict" && c.message == expected)
        })
        .await?;
        assert!(conflicted.status.and_then(|s| s.deployed_version).is_none());

        // The first is still deployed and ready; deleting the second leaves it in wadm.
        second.delete("shop", &DeleteParams::default()).await?;
        wait::until_gone(&second, "shop", SETTLE).await?;
        let still = first.get("shop").await?;
        let ready = still
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.clone());
        assert_eq!(ready.as_deref(), Some("True"));
        let wadm = wasmcloud_operator_tests::wadm::WadmApi::new(ctx.env.nats().await?, &lattice);
        assert_eq!(wadm.status_type("shop").await?, "deployed");
        let _ = namespaces
            .delete(&second_namespace, &DeleteParams::background())
            .await;
        Ok(())
    })
    .await;
}
