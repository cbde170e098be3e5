//! The service-syncer in the local environment, with the host-operator, a real wadm and simulated hosts
//! (a test double) that follow the host pods: deployed HTTP apps get Services with the right selector or
//! EndpointSlices, slices follow the hosts, spreads' requirements pick the pods, undeploy removes the
//! Service, two lattices in one namespace stay apart, bad input is reported, steady state writes nothing.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use wasmcloud_operator_tests::events::wait_for_event;
use wasmcloud_operator_tests::http_apps::{
    SETTLE, create_host_config, host_pods, http_app, lattice, wait_endpoint_pods, wait_service,
};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::pod_hosts::PodHosts;
use wasmcloud_operator_tests::process::{
    OperatorProcess, sample, start_in_namespace, start_in_namespace_with, write_request_lines, write_requests,
};
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::WasmCloudHostConfig;

/// The host-operator, the syncer and simulated hosts for the test's namespace.
async fn start(ctx: &TestContext) -> anyhow::Result<(OperatorProcess, OperatorProcess, PodHosts)> {
    let hosts = start_in_namespace(ctx, "wasmcloud-host-operator").await?;
    let syncer = start_in_namespace(ctx, "wasmcloud-service-syncer").await?;
    let simulated = PodHosts::start(ctx.client.clone(), ctx.env.nats().await?, Some(&ctx.namespace));
    Ok((hosts, syncer, simulated))
}

async fn deploy(wadm: &WadmApi, manifest: &str, name: &str) -> anyhow::Result<()> {
    let put = wadm.put(manifest).await?;
    anyhow::ensure!(
        matches!(put["result"].as_str(), Some("created" | "newversion")),
        "put {name}: {put}"
    );
    let deployed = wadm.deploy(name, None).await?;
    anyhow::ensure!(deployed["result"] == "acknowledged", "deploy {name}: {deployed}");
    Ok(())
}

async fn wait_event(ctx: &TestContext, reason: &str, note_contains: &str) -> anyhow::Result<Event> {
    wait_for_event(ctx, reason, |e| {
        e.note.as_deref().is_some_and(|n| n.contains(note_contains))
    })
    .await
}

#[tokio::test]
async fn daemon_and_spread_apps_get_services_that_reach_exactly_their_pods() {
    with_namespace("svc-apps", |ctx| async move {
        let (_hosts, _syncer, simulated) = start(&ctx).await?;
        let lattice = lattice("svc");
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        create_host_config(&ctx, "east", &lattice, 2, &json!({"zone": "east"})).await?;
        create_host_config(&ctx, "west", &lattice, 1, &json!({"zone": "west"})).await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);

        // A daemonscaler runs on every host of the lattice: a selector says exactly that.
        let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
        deploy(&wadm, &http_app("everywhere", "v1", &daemon, "0.0.0.0:8080"), "everywhere").await?;
        let service = wait_service(&ctx, "everywhere", |_| true).await?;
        let spec = service.spec.clone().expect("spec");
        let selector = spec.selector.clone().expect("a selector");
        assert_eq!(selector.get("app.kubernetes.io/name").map(String::as_str), Some("wasmcloud-host"));
        assert_eq!(selector.get("wasmcloud.dev/lattice"), Some(&lattice));
        let port = &spec.ports.clone().expect("ports")[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
        let labels = service.labels();
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("wasmcloud-service-syncer"));
        let owners: BTreeSet<String> = service.owner_references().iter().map(|o| o.name.clone()).collect();
        assert_eq!(owners, BTreeSet::from(["east".to_string(), "west".to_string()]));
        assert!(service.finalizers().is_empty(), "no finalizers on app Services");
        // The selector's slices (kube-controller-manager's) list every host pod of the lattice, and stay.
        wait_endpoint_pods(&ctx, "everywhere", |pods| pods.len() == 3).await?;

        // The app moves to a spreadscaler: the selector goes, and with it what kube-controller-manager made
        // for it and leaves behind itself (its slices, and the Endpoints it would mirror into slices); the
        // slices list exactly the pods whose hosts run the app's server, and nothing else does.
        let one = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        deploy(&wadm, &http_app("everywhere", "v2", &one, "0.0.0.0:8080"), "everywhere").await?;
        wait_service(&ctx, "everywhere", |s| s.spec.as_ref().is_some_and(|s| s.selector.is_none())).await?;
        wait_endpoint_pods(&ctx, "everywhere", |pods| {
            !pods.is_empty() && *pods == simulated.pods_running("everywhere-httpserver")
        })
        .await?;
        let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let managers: BTreeSet<String> = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=everywhere"))
            .await?
            .items
            .iter()
            .filter_map(|s| s.labels().get("endpointslice.kubernetes.io/managed-by").cloned())
            .collect();
        assert_eq!(managers, BTreeSet::from(["service-syncer.k8s.wasmcloud.dev".to_string()]));

        // A daemonscaler on one spread's requirements: a selector on the host-label pod label.
        let east_only = json!({"type": "daemonscaler", "properties": {"instances": 1,
            "spread": [{"name": "east", "requirements": {"zone": "east"}}]}});
        deploy(&wadm, &http_app("east-daemon", "v1", &east_only, "0.0.0.0:8081"), "east-daemon").await?;
        let service = wait_service(&ctx, "east-daemon", |_| true).await?;
        let selector = service.spec.and_then(|s| s.selector).expect("a selector");
        assert_eq!(selector.get("host-label.k8s.wasmcloud.dev/zone").map(String::as_str), Some("east"));

        // A spreadscaler with requirements: EndpointSlices list the one east pod wadm placed it on.
        let east_pods = host_pods(&ctx, "east", None).await?;
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1,
            "spread": [{"name": "east", "requirements": {"zone": "east"}}]}});
        deploy(&wadm, &http_app("spread-east", "v1", &spread, "0.0.0.0:9090"), "spread-east").await?;
        let service = wait_service(&ctx, "spread-east", |_| true).await?;
        assert!(service.spec.and_then(|s| s.selector).is_none(), "no selector can say which pod");
        let chosen = wait_endpoint_pods(&ctx, "spread-east", |pods| {
            pods.len() == 1 && *pods == simulated.pods_running("spread_east-httpserver")
        })
        .await?;
        assert!(chosen.is_subset(&east_pods), "{chosen:?} should be one of {east_pods:?}");

        // Several spreads: slices list every pod of both zones, and follow the hosts as they scale.
        let both = json!({"type": "daemonscaler", "properties": {"instances": 1, "spread": [
            {"name": "east", "requirements": {"zone": "east"}}, {"name": "west", "requirements": {"zone": "west"}}]}});
        deploy(&wadm, &http_app("both-zones", "v1", &both, "[::]:8082"), "both-zones").await?;
        wait_endpoint_pods(&ctx, "both-zones", |pods| pods.len() == 3).await?;
        configs.patch("east", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"hostReplicas": 3}}))).await?;
        let grown = wait_endpoint_pods(&ctx, "both-zones", |pods| pods.len() == 4).await?;
        let all = &(&host_pods(&ctx, "east", None).await? | &host_pods(&ctx, "west", None).await?);
        assert_eq!(&grown, all);
        configs.patch("east", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"hostReplicas": 1}}))).await?;
        wait_endpoint_pods(&ctx, "both-zones", |pods| pods.len() == 2).await?;

        // Undeploy: the Service goes, and its slices with it.
        let undeployed = wadm.undeploy("spread-east").await?;
        anyhow::ensure!(undeployed["result"] == "acknowledged", "{undeployed}");
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        wait::until_gone(&services, "spread-east", SETTLE).await?;
        wait_endpoint_pods(&ctx, "spread-east", BTreeSet::is_empty).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn two_lattices_in_one_namespace_bad_input_and_a_quiet_steady_state() {
    with_namespace("svc-two", |ctx| async move {
        let (_hosts, syncer, _simulated) = start(&ctx).await?;
        let (blue, green) = (lattice("blue"), lattice("green"));
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        create_host_config(&ctx, "blue", &blue, 1, &json!({})).await?;
        create_host_config(&ctx, "green", &green, 1, &json!({})).await?;
        let nats = ctx.env.nats().await?;
        let (blue_wadm, green_wadm) = (WadmApi::new(nats.clone(), &blue), WadmApi::new(nats, &green));
        let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
        deploy(&blue_wadm, &http_app("shop", "v1", &daemon, "0.0.0.0:8080"), "shop").await?;
        deploy(&green_wadm, &http_app("cart", "v1", &daemon, "0.0.0.0:8080"), "cart").await?;
        let blue_label = blue.clone();
        wait_service(&ctx, "shop", move |s| s.labels().get("wasmcloud.dev/lattice") == Some(&blue_label)).await?;
        let cart = wait_service(&ctx, "cart", |_| true).await?;
        let owners: Vec<String> = cart.owner_references().iter().map(|o| o.name.clone()).collect();
        assert_eq!(owners, ["green"], "a lattice's Services belong to its own host configs");

        // The same app name in the other lattice can't take the Service: reported, not fought over.
        deploy(&green_wadm, &http_app("shop", "v1", &daemon, "0.0.0.0:9999"), "shop").await?;
        let event = wait_event(&ctx, "ServiceNameTaken", "shop").await?;
        assert!(event.note.clone().unwrap_or_default().contains(&blue), "{event:?}");

        // An address without a port: a Warning and a metric, no Service, no crash loop.
        deploy(&blue_wadm, &http_app("broken", "v1", &daemon, "0.0.0.0"), "broken").await?;
        let event = wait_event(&ctx, "InvalidAddress", "broken").await?;
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        let unserved = sample(
            &syncer.metrics().await?,
            &format!("wasmcloud_service_syncer_unserved_apps{{lattice=\"{blue}\",namespace=\"{}\",reason=\"InvalidAddress\"}}", ctx.namespace),
        );
        assert!((unserved - 1.0).abs() < f64::EPSILON, "unserved apps metric: {unserved}");

        // Undeploying in one lattice leaves the other's Service untouched.
        let shop_version = Api::<Service>::namespaced(ctx.client.clone(), &ctx.namespace).get("shop").await?.resource_version();
        green_wadm.undeploy("cart").await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        wait::until_gone(&services, "cart", SETTLE).await?;
        assert_eq!(services.get("shop").await?.resource_version(), shop_version);

        // Steady state: reconciles that find nothing new write nothing. The baseline includes the cart
        // Service's deletion, which the syncer counts when the API server's answer arrives: after the
        // watch above may already have seen the Service go.
        let service_deletes = |m: &str| -> u64 {
            m.lines()
                .filter(|l| l.starts_with("rest_client_requests_total{") && l.contains(r#"resource="services",verb="delete""#))
                .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()))
                .sum()
        };
        let metrics = wait::until("the syncer to count the cart Service's deletion", SETTLE, || async {
            let metrics = syncer.metrics().await.map_err(|e| e.to_string())?;
            if service_deletes(&metrics) >= 1 { Ok(metrics) } else { Err("no Service delete counted yet".to_string()) }
        })
        .await?;
        let writes = write_requests(&metrics);
        let reconciles = |m: &str| sample(m, "controller_runtime_reconcile_total{controller=\"app-service\",result=\"success\"}");
        let before = reconciles(&metrics);
        configs.patch("blue", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"labels": {"touched": "yes"}}}))).await?;
        configs.patch("green", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"labels": {"touched": "yes"}}}))).await?;
        wait::until("reconciles after the touch", SETTLE, || async {
            let now = reconciles(&syncer.metrics().await.map_err(|e| e.to_string())?);
            if now >= before + 2.0 { Ok(()) } else { Err(format!("{now}")) }
        })
        .await?;
        let after = syncer.metrics().await?;
        assert_eq!(write_requests(&after), writes, "steady state must write nothing:\nbefore {:#?}\nafter {:#?}", write_request_lines(&metrics), write_request_lines(&after));
        assert_eq!(services.get("shop").await?.resource_version(), shop_version);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn deleted_services_come_back_orphans_go_on_start_and_host_config_deletion_removes_them() {
    with_namespace("svc-owned", |ctx| async move {
        let (_hosts, syncer, _simulated) = start(&ctx).await?;
        let lattice = lattice("owned");
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        create_host_config(&ctx, "hosts", &lattice, 1, &json!({})).await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        deploy(
            &wadm,
            &http_app("Odd_Name", "v1", &spread, "0.0.0.0:8080"),
            "Odd_Name",
        )
        .await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let name = wait::until("the mapped Service", SETTLE, || async {
            let list = services
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .iter()
                .find(|s| {
                    s.annotations().get("wasmcloud.dev/app-name").map(String::as_str) == Some("Odd_Name")
                })
                .map(ResourceExt::name_any)
                .ok_or_else(|| "none yet".to_string())
        })
        .await?;
        assert!(name.starts_with("odd-name-"), "{name}");
        wait_endpoint_pods(&ctx, &name, |pods| pods.len() == 1).await?;

        services.delete(&name, &DeleteParams::default()).await?;
        wait_service(&ctx, &name, |_| true).await?;

        // An app undeployed while the syncer is down: its Service goes when the syncer starts again.
        deploy(
            &wadm,
            &http_app("leftover", "v1", &spread, "0.0.0.0:8081"),
            "leftover",
        )
        .await?;
        wait_service(&ctx, "leftover", |_| true).await?;
        drop(syncer);
        let undeployed = wadm.undeploy("leftover").await?;
        anyhow::ensure!(undeployed["result"] == "acknowledged", "{undeployed}");
        let _syncer = start_in_namespace(&ctx, "wasmcloud-service-syncer").await?;
        wait::until_gone(&services, "leftover", SETTLE).await?;
        assert!(
            services.get_opt(&name).await?.is_some(),
            "the app still deployed keeps its Service"
        );

        configs.delete("hosts", &DeleteParams::default()).await?;
        wait::until_gone(&services, &name, SETTLE).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn services_and_slices_it_did_not_create_are_never_written_or_deleted() {
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::PostParams;
    with_namespace("svc-foreign", |ctx| async move {
        let (_hosts, _syncer, _simulated) = start(&ctx).await?;
        let lattice = lattice("foreign");
        create_host_config(&ctx, "hosts", &lattice, 1, &json!({})).await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        // Our labels copied onto objects nobody made through the syncer (no WasmCloudHostConfig owns them).
        let copied = json!({"app.kubernetes.io/managed-by": "wasmcloud-service-syncer", "wasmcloud.dev/lattice": lattice});
        for name in ["mimic", "taken"] {
            services
                .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": name, "labels": copied},
                    "spec": {"ports": [{"port": 9999}]}}))?)
                .await?;
        }
        slices
            .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "sliced-ipv4",
                "labels": {"kubernetes.io/service-name": "sliced", "endpointslice.kubernetes.io/managed-by": "someone-else"}},
                "addressType": "IPv4", "endpoints": []}))?)
            .await?;
        let taken_before = services.get("taken").await?.resource_version();
        let slice_before = slices.get("sliced-ipv4").await?.resource_version();

        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        deploy(&wadm, &http_app("taken", "v1", &spread, "0.0.0.0:8080"), "taken").await?;
        deploy(&wadm, &http_app("sliced", "v1", &spread, "0.0.0.0:8081"), "sliced").await?;
        deploy(&wadm, &http_app("served", "v1", &spread, "0.0.0.0:8082"), "served").await?;
        wait_endpoint_pods(&ctx, "served", |pods| pods.len() == 1).await?;
        wait_event(&ctx, "ServiceNameTaken", "Service taken").await?;
        wait_event(&ctx, "ServiceNameTaken", "EndpointSlice sliced-ipv4 already exists").await?;
        wait_service(&ctx, "sliced", |_| true).await?;

        assert!(services.get_opt("mimic").await?.is_some(), "a labelled Service the syncer did not make is not deleted as stale");
        assert_eq!(services.get("taken").await?.resource_version(), taken_before, "the foreign Service is not written");
        let slice = slices.get("sliced-ipv4").await?;
        assert_eq!(slice.resource_version(), slice_before, "the foreign EndpointSlice is not written");
        assert!(slice.owner_references().is_empty());
        Ok(())
    })
    .await;
}

/// How long the service-syncer keeps endpoints of hosts it hasn't heard from after a start (its
/// HOSTS_SETTLE), plus a margin: the length of the restart scenario below, not a wait for something.
const SETTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(35 + 5);

#[tokio::test]
async fn a_restart_never_shrinks_endpoints_while_the_hosts_are_still_being_heard_from() {
    use std::sync::{Arc, Mutex};
    use wasmcloud_operator_tests::http_apps::ready_endpoint_pods;
    with_namespace("svc-restart", |ctx| async move {
        let (_hosts, syncer, simulated) = start(&ctx).await?;
        let lattice = lattice("restart");
        create_host_config(&ctx, "hosts", &lattice, 2, &json!({})).await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let spread = json!({"type": "spreadscaler", "properties": {"instances": 2}});
        deploy(
            &wadm,
            &http_app("steady", "v1", &spread, "0.0.0.0:8080"),
            "steady",
        )
        .await?;
        let serving = wait_endpoint_pods(&ctx, "steady", |pods| {
            !pods.is_empty() && *pods == simulated.pods_running("steady-httpserver")
        })
        .await?;

        // A restart whose first read of the lattice hears no host at all (a 1 ms ping window): until the
        // hosts' heartbeats come in, the view has no hosts, and the endpoints must stay as they are.
        drop(syncer);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sampler = {
            let (ctx, seen) = (ctx.clone(), seen.clone());
            tokio::spawn(async move {
                loop {
                    if let Ok(pods) = ready_endpoint_pods(&ctx, "steady").await
                        && let Ok(mut seen) = seen.lock()
                    {
                        seen.push(pods);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            })
        };
        let _syncer =
            start_in_namespace_with(&ctx, "wasmcloud-service-syncer", &["--host-ping-window-ms", "1"])
                .await?;
        tokio::time::sleep(SETTLE_WINDOW).await;
        sampler.abort();
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        anyhow::ensure!(seen.len() > 100, "only {} samples", seen.len());
        let shrunk: Vec<&BTreeSet<String>> = seen.iter().filter(|pods| **pods != serving).collect();
        anyhow::ensure!(
            shrunk.is_empty(),
            "the endpoints changed during the restart: {shrunk:?}"
        );
        Ok(())
    })
    .await;
}
