//! Host pods on the real node, running for real: a WasmCloudHostConfig placed there (through
//! `schedulingOptions.podTemplateAdditions`) gets pods whose `nats-leaf` container is the pinned nats-server
//! with the generated nats.conf and the mounted credentials, ready through its real probe and connected to the
//! environment's hub as a leaf (the hub's /leafz lists the pod's IP) at the default `natsAddress`, found
//! through cluster DNS; the `wasmcloud-host` container runs the lattice-host simulator (a TEST DOUBLE until
//! real hosts are built here) with the pod's environment, so its heartbeats reach the hub only through the
//! leaf. A rotated credentials Secret reaches the running leaf through the projected volume, and the checksum
//! rollout replaces the pods; the new leaf runs with the new file.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::pods::{container_id, is_ready};
use wasmcloud_operator_tests::process::start_in_namespace;
use wasmcloud_operator_tests::real_node::{self, NODE_TYPE, ProcessFacts, RealNode, TAINT, nats_user_creds};
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::WasmCloudHostConfig;

const NAME: &str = "real-hosts";
const SECRET: &str = "leaf-creds";
const TIMEOUT: Duration = Duration::from_secs(120);
const CREDS_PATH: &str = "/nats/nats.creds";

fn host_config(spec: &serde_json::Value) -> anyhow::Result<WasmCloudHostConfig> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": NAME}, "spec": spec,
    }))?)
}

/// The one Ready host pod on the real node, other than those named in `not`.
async fn ready_host_pod(ctx: &TestContext, node: &RealNode, not: &[String]) -> anyhow::Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pods = &pods;
    wait::until("a Ready host pod on the real node", TIMEOUT, || async move {
        let list = pods
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={NAME}")))
            .await
            .map_err(|e| e.to_string())?;
        let describe = || {
            list.items
                .iter()
                .map(|p| {
                    format!(
                        "{} ready={} node={:?}",
                        p.name_any(),
                        is_ready(p),
                        p.spec.as_ref().and_then(|s| s.node_name.clone())
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let fresh: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| !not.contains(&p.name_any()))
            .collect();
        match fresh.as_slice() {
            [pod] if is_ready(pod) && list.items.len() == 1 => {
                let on = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
                if on == Some(node.name.as_str()) {
                    Ok((*pod).clone())
                } else {
                    Err(format!("scheduled to {on:?}, not the real node"))
                }
            }
            _ => Err(describe()),
        }
    })
    .await
}

/// Waits until the hub's /leafz lists a leaf connection from `ip`.
async fn hub_lists_leaf(ctx: &TestContext, ip: &str) -> anyhow::Result<()> {
    let port: u16 = ctx
        .env
        .nats_monitor_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no port in {}", ctx.env.nats_monitor_url))?;
    real_node::hub_lists_leaf(port, ip, TIMEOUT).await
}

#[tokio::test]
async fn host_pods_on_the_real_node_run_a_real_leaf_connected_to_the_hub_and_rotation_rolls_them() {
    with_namespace("whc-real", |ctx| async move { Box::pin(run(&ctx)).await }).await;
}

async fn run(ctx: &TestContext) -> anyhow::Result<()> {
    let node = RealNode::get(&ctx.env)?;
    let host_image = node.simulated_host_image("test-a")?;
    let leaf_image = RealNode::nats_leaf_image()?;
    ctx.enforce_restricted().await?;
    let _operator = start_in_namespace(ctx, "wasmcloud-host-operator").await?;

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let first = nats_user_creds("first")?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET.into()),
            ..ObjectMeta::default()
        },
        data: Some([("nats.creds".to_string(), ByteString(first.clone().into_bytes()))].into()),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &secret).await?;

    let lattice = format!("real-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let hub = ctx.env.nats().await?;
    let mut heartbeats = hub
        .subscribe(format!("wasmbus.evt.{lattice}.host_heartbeat"))
        .await?;
    // natsAddress stays at its default (nats://nats.default.svc.cluster.local): cluster DNS finds the hub.
    let spec = json!({
        "lattice": lattice, "hostReplicas": 1, "image": host_image, "natsLeafImage": leaf_image,
        "secretName": SECRET,
        "schedulingOptions": {"podTemplateAdditions": {
            "nodeSelector": {"type": NODE_TYPE},
            "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}],
        }},
    });
    let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    api.create(&PostParams::default(), &host_config(&spec)?).await?;

    let pod = ready_host_pod(ctx, &node, &[]).await?;
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default();
    hub_lists_leaf(ctx, &ip).await?;

    let leaf = container_id(&pod, "nats-leaf").ok_or_else(|| anyhow::anyhow!("no nats-leaf container ID"))?;
    let run_as = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.run_as_user)
        .ok_or_else(|| anyhow::anyhow!("the host pod sets no runAsUser"))?;
    assert_eq!(
        node.process_facts(&leaf)?,
        ProcessFacts {
            uid: u32::try_from(run_as)?,
            effective_capabilities: 0,
            no_new_privileges: true,
            root_read_only: true
        },
        "what the kernel enforces for the leaf"
    );
    assert_eq!(
        node.read_container_file(&leaf, CREDS_PATH)?,
        first,
        "the leaf's mounted credentials"
    );
    assert!(
        node.read_container_file(&leaf, "/nats/nats.conf")?
            .contains("nats.default.svc.cluster.local:7422"),
        "the leaf runs the generated nats.conf"
    );

    // The simulated host in the pod reaches the hub only through the pod's leaf.
    let pod_name = pod.name_any();
    let beat = tokio::time::timeout(TIMEOUT, async {
        while let Some(message) = heartbeats.next().await {
            // A CloudEvent; the heartbeat is its data.
            let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
            if event["data"]["friendly_name"] == pod_name.as_str() {
                return Some(event["data"].clone());
            }
        }
        None
    })
    .await
    .map_err(|_| anyhow::anyhow!("no heartbeat from the host in {pod_name} within {TIMEOUT:?}"))?
    .ok_or_else(|| anyhow::anyhow!("the heartbeat subscription ended"))?;
    assert_eq!(
        beat["labels"]["kubernetes"], "true",
        "the host's labels come from the pod's env: {beat}"
    );

    // Rotation: the new Secret rolls the pods; the new leaf has the new file and connects.
    let second = nats_user_creds("second")?;
    let patch = json!({"data": {"nats.creds": ByteString(second.clone().into_bytes())}});
    secrets
        .patch(SECRET, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    // The projected volume brings the new file into the running leaf (the kubelet's next sync of the pod)
    // while the rollout the checksum started is still replacing the pod.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match node.read_container_file(&leaf, CREDS_PATH) {
            Ok(now) if now == second => break,
            Ok(_) => {}
            Err(error) => anyhow::bail!(
                "the old leaf stopped before the kubelet refreshed its projected volume: {error}"
            ),
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the running leaf still has the first credentials after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rolled = ready_host_pod(ctx, &node, &[pod_name]).await?;
    let leaf =
        container_id(&rolled, "nats-leaf").ok_or_else(|| anyhow::anyhow!("no nats-leaf container ID"))?;
    assert_eq!(
        node.read_container_file(&leaf, CREDS_PATH)?,
        second,
        "the rolled leaf's credentials"
    );
    let ip = rolled
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default();
    hub_lists_leaf(ctx, &ip).await?;
    Ok(())
}
