//! A hub that only speaks TLS with a certificate from a private CA, reached by host pods on the real node: a
//! WasmCloudHostConfig with a `tls://` natsAddress and the CA in `certificates.authorities` gets pods whose
//! real nats-server leaf verifies the hub with that CA (the bundle the host-operator writes) and whose
//! leaf-link sidecar makes the pod Ready only while that link stands: the pod turns unready when the hub
//! stops and Ready again when it is back. The same config without the CA never links, and its leaf says why.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, LogParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::process::{Child, Command};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::pki::{TestPki, server_for_ip};
use wasmcloud_operator_tests::pods::is_ready;
use wasmcloud_operator_tests::process::start_in_namespace_with;
use wasmcloud_operator_tests::real_node::{self, NODE_TYPE, RealNode, TAINT};
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::WasmCloudHostConfig;

const TIMEOUT: Duration = Duration::from_secs(120);
const CA_CONFIG_MAP: &str = "hub-ca";

/// The TLS hub: a nats-server of this test, its leafnode port on the pod network's gateway with TLS
/// required, its monitor on 127.0.0.1. Killed when dropped.
struct TlsHub {
    child: Child,
    leaf_port: u16,
    monitor_port: u16,
}

impl TlsHub {
    /// Starts the hub on `leaf_port` (`0`: one it picks) of `gateway`; reads its ports from its log.
    async fn start(
        env_bin: &Path,
        dir: &Path,
        pki: &TestPki,
        gateway: &str,
        leaf_port: u16,
    ) -> anyhow::Result<Self> {
        let leaf = if leaf_port == 0 {
            "-1".to_string()
        } else {
            leaf_port.to_string()
        };
        let config = dir.join("hub.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nleafnodes {{\n  listen: \"{gateway}:{leaf}\"\n  tls {{ cert_file: \"{}\", key_file: \"{}\", timeout: 5 }}\n}}\n",
                pki.server_cert.display(),
                pki.server_key.display()
            ),
        )?;
        let log = dir.join(format!("hub-{leaf}.log"));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(env_bin.join("nats-server"))
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()?;
        let port_after = |marker: &'static str| {
            let log = log.clone();
            async move {
                wait::until(&format!("the TLS hub's {marker:?}"), TIMEOUT, || async {
                    let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
                    text.lines()
                        .find_map(|line| line.split_once(marker))
                        .and_then(|(_, rest)| rest.trim().rsplit(':').next()?.parse().ok())
                        .ok_or(text)
                })
                .await
            }
        };
        Ok(Self {
            child,
            leaf_port: port_after("Listening for leafnode connections on").await?,
            monitor_port: port_after("Starting http monitor on").await?,
        })
    }

    /// Waits until the hub's /leafz lists a leaf connected from `ip`.
    async fn lists_leaf(&self, ip: &str) -> anyhow::Result<()> {
        real_node::hub_lists_leaf(self.monitor_port, ip, TIMEOUT).await
    }

    async fn stop(mut self) -> anyhow::Result<u16> {
        self.child.kill().await?;
        Ok(self.leaf_port)
    }
}

fn host_config(
    name: &str,
    address: &str,
    with_ca: bool,
    host_image: &str,
) -> anyhow::Result<WasmCloudHostConfig> {
    let mut spec = json!({
        "lattice": format!("tls-{:06x}", rand::random::<u32>() & 0xff_ffff),
        "hostReplicas": 1, "image": host_image, "natsLeafImage": RealNode::nats_leaf_image()?,
        "natsAddress": address,
        "schedulingOptions": {"podTemplateAdditions": {
            "nodeSelector": {"type": NODE_TYPE},
            "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}],
        }},
    });
    if with_ca {
        spec["certificates"] =
            json!({"authorities": [{"name": "hub", "configMap": {"name": CA_CONFIG_MAP}}]});
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": name}, "spec": spec,
    }))?)
}

/// The one pod of host config `name`, once `check` holds for it.
async fn host_pod(
    ctx: &TestContext,
    name: &str,
    what: &str,
    check: impl Fn(&Pod) -> bool,
) -> anyhow::Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let (pods, check) = (&pods, &check);
    wait::until(&format!("{name}'s pod {what}"), TIMEOUT, || async move {
        let list = pods
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={name}")))
            .await
            .map_err(|e| e.to_string())?;
        match list.items.as_slice() {
            [pod] if check(pod) => Ok(pod.clone()),
            items => Err(format!(
                "{:?}",
                items
                    .iter()
                    .map(|p| (
                        p.name_any(),
                        p.status
                            .as_ref()
                            .map(|s| (&s.conditions, &s.init_container_statuses))
                    ))
                    .collect::<Vec<_>>()
            )),
        }
    })
    .await
}

fn ready_container(pod: &Pod, name: &str) -> Option<bool> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten()
        .find(|c| c.name == name)
        .map(|c| c.ready)
}

fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tls_hub_with_a_private_ca_is_reached_with_the_authorities_and_readiness_follows_the_link() {
    with_namespace("leaf-tls", |ctx| async move { Box::pin(run(&ctx)).await }).await;
}

async fn run(ctx: &TestContext) -> anyhow::Result<()> {
    let node = RealNode::get(&ctx.env)?;
    let host_image = node.simulated_host_image("test-a")?;
    let leaf_link_image = node
        .operator_images("test-a")?
        .into_iter()
        .find(|image| image.contains("wasmcloud-host-operator"))
        .ok_or_else(|| anyhow::anyhow!("no host-operator image"))?;
    ctx.enforce_restricted().await?;
    let _operator = start_in_namespace_with(
        ctx,
        "wasmcloud-host-operator",
        &["--leaf-link-image", &leaf_link_image],
    )
    .await?;

    let dir = tempfile::tempdir()?;
    let pki = server_for_ip(dir.path(), &node.gateway)?;
    let hub = TlsHub::start(&ctx.env.tools_bin, dir.path(), &pki, &node.gateway, 0).await?;
    let address = format!("tls://{}:{}", node.gateway, hub.leaf_port);

    let configs: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    configs
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CA_CONFIG_MAP},
                "data": {"ca.crt": std::fs::read_to_string(&pki.ca_cert)?},
            }))?,
        )
        .await?;
    let hosts: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    hosts
        .create(
            &PostParams::default(),
            &host_config("trusting", &address, true, &host_image)?,
        )
        .await?;
    hosts
        .create(
            &PostParams::default(),
            &host_config("untrusting", &address, false, &host_image)?,
        )
        .await?;

    // With the CA: the leaf verifies the hub, the hub lists it, and the leaf-link makes the pod Ready.
    let pod = host_pod(ctx, "trusting", "Ready", is_ready).await?;
    assert_eq!(
        ready_container(&pod, "leaf-link"),
        Some(true),
        "the sidecar is what says linked"
    );
    hub.lists_leaf(&pod_ip(&pod)).await?;

    // Without it: the leaf refuses the hub's certificate and says so; the pod never links.
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let untrusting = host_pod(ctx, "untrusting", "running its leaf", |p| {
        ready_container(p, "nats-leaf") == Some(true)
    })
    .await?;
    let name = untrusting.name_any();
    let (pods_ref, name_ref) = (&pods, &name);
    wait::until(
        "the untrusting leaf to log the certificate error",
        TIMEOUT,
        || async move {
            let log = pods_ref
                .logs(
                    name_ref,
                    &LogParams {
                        container: Some("nats-leaf".into()),
                        ..LogParams::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            if log.contains("certificate signed by unknown authority") {
                Ok(())
            } else {
                Err(log.lines().rev().take(3).collect::<Vec<_>>().join(" | "))
            }
        },
    )
    .await?;
    let untrusting = pods.get(&name).await?;
    assert!(
        !is_ready(&untrusting),
        "a pod whose leaf can't reach the hub is not Ready"
    );
    assert_eq!(ready_container(&untrusting, "leaf-link"), Some(false));

    // The hub goes: the linked pod turns unready (its leaf and host still run); it comes back: Ready again.
    let leaf_port = hub.stop().await?;
    host_pod(ctx, "trusting", "unready without the hub", |p| {
        !is_ready(p) && ready_container(p, "nats-leaf") == Some(true)
    })
    .await?;
    let hub = TlsHub::start(&ctx.env.tools_bin, dir.path(), &pki, &node.gateway, leaf_port).await?;
    let pod = host_pod(ctx, "trusting", "Ready again with the hub back", is_ready).await?;
    hub.lists_leaf(&pod_ip(&pod)).await?;
    Ok(())
}
