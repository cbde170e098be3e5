//! The service-syncer while NATS goes away mid-flight and comes back: readiness drops, existing Services
//! stay, and after NATS returns everything converges (a deploy sent just before the outage, an undeploy
//! right after it) with nothing lost. Its own test binary, because it stops the NATS and wadm every other
//! test uses.

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use serde_json::json;
use wasmcloud_operator_tests::http_apps::{
    SETTLE, create_host_config, host_pods, http_app, lattice, wait_endpoint_pods, wait_service,
};
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::pod_hosts::PodHosts;
use wasmcloud_operator_tests::process::start_in_namespace;
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;

#[tokio::test]
async fn a_nats_outage_keeps_services_and_everything_converges_after_it() {
    with_namespace("svc-nats", |ctx| async move {
        let _hosts = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let mut syncer = start_in_namespace(&ctx, "wasmcloud-service-syncer").await?;
        let hosts_nats = ctx.env.nats().await?;
        let simulated = PodHosts::start(ctx.client.clone(), hosts_nats.clone(), Some(&ctx.namespace));
        let lattice = lattice("outage");
        create_host_config(&ctx, "hosts", &lattice, 2, &json!({})).await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        wadm.put(&http_app("before", "v1", &spread, "0.0.0.0:8080"))
            .await?;
        wadm.deploy("before", None).await?;
        wait_endpoint_pods(&ctx, "before", |pods| {
            pods.len() == 1 && *pods == simulated.pods_running("before-httpserver")
        })
        .await?;

        // A deploy in flight as NATS goes away.
        wadm.put(&http_app("during", "v1", &spread, "0.0.0.0:8081"))
            .await?;
        wadm.deploy("during", None).await?;
        ctx.env.env_action("wadm-stop")?;
        ctx.env.env_action("nats-stop")?;
        syncer.wait_not_ready("nats", SETTLE).await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        assert!(
            services.get_opt("before").await?.is_some(),
            "existing Services stay while NATS is away"
        );

        // Back: the in-flight deploy lands, an undeploy made right away is honoured. wadm (stopped with
        // NATS, its deploy commands kept in JetStream) comes back once the simulated hosts have: a command
        // it sends to a host that has not reconnected yet meets "no responders", and wadm then waits 60 s
        // for a provider before trying again (its behaviour, not the syncer's; see
        // resilience_nats_wadm_restart).
        ctx.env.env_action("nats-start")?;
        wait::until_nats_connected("the simulated hosts", &hosts_nats, SETTLE).await?;
        ctx.env.env_action("wadm-start")?;
        syncer.wait_ready(SETTLE).await?;
        let undeployed = wait::until("wadm to answer again", SETTLE, || async {
            wadm.undeploy("before").await.map_err(|e| e.to_string())
        })
        .await?;
        anyhow::ensure!(undeployed["result"] == "acknowledged", "{undeployed}");
        wait::until_gone(&services, "before", SETTLE).await?;
        wait_service(&ctx, "during", |_| true).await?;
        // Exactly the pods whose hosts run the provider (wadm may have moved it while hosts were unseen).
        let serving = wait_endpoint_pods(&ctx, "during", |pods| {
            !pods.is_empty() && *pods == simulated.pods_running("during-httpserver")
        })
        .await?;
        assert!(serving.is_subset(&host_pods(&ctx, "hosts", None).await?));
        assert!(syncer.child.try_wait()?.is_none(), "the syncer kept running");
        Ok(())
    })
    .await;
}
