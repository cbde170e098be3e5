//! The three charts installed as real pods on the local environment's real node, from images built here
//! (images/build.py, the recipe of `make images`): each becomes Ready through its real probes in a namespace
//! that enforces Pod Security "restricted"; /metrics answers on the pod IP and through the metrics Service's
//! ClusterIP (kube-proxy); the kernel shows the non-root user, no capabilities, no privilege escalation and a
//! read-only root; a killed container is restarted by the kubelet and serves again; and `helm upgrade` to a
//! new image tag with two replicas rolls the pods without two leaders at any moment.
//!
//! Values are the charts' defaults except: the image (repository and tag), the real node's toleration and
//! node label, `watchNamespace` (the test's namespace, so the pods leave other tests' objects alone) and the
//! NATS URL (the hub's Service in default, which a chart's relative default `nats://nats:4222` does not name
//! from another namespace).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::ListParams;
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::pods::{container_id, is_ready};
use wasmcloud_operator_tests::process::http_get_at;
use wasmcloud_operator_tests::real_node::{HUB_NATS_URL, ProcessFacts, RealNode};
use wasmcloud_operator_tests::wait;

const CHARTS: [(&str, &str); 3] = [
    ("host-operator", "ho"),
    ("service-syncer", "ss"),
    ("app-status-bridge", "asb"),
];
const NONROOT: u32 = 65532;
const READY_TIMEOUT: Duration = Duration::from_secs(180);

fn helm(env: &TestEnv, args: &[String]) -> anyhow::Result<String> {
    let output = env.helm().args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "helm {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `helm install` (or `upgrade`) of `chart` as release `release` with image tag `tag` on the real node.
fn install(
    ctx: &TestContext,
    verb: &str,
    chart: &str,
    release: &str,
    tag: &str,
    extra: &[&str],
) -> anyhow::Result<()> {
    let dir = TestEnv::repo_root()
        .join("charts")
        .join(chart)
        .display()
        .to_string();
    let mut args: Vec<String> = [verb, release, &dir, "-n", &ctx.namespace]
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut set = |value: String| args.extend(["--set".to_string(), value]);
    set(format!(
        "image.repository=localhost/wasmcloud-test/wasmcloud-{chart}"
    ));
    set(format!("image.tag={tag}"));
    set(format!("watchNamespace={}", ctx.namespace));
    if chart != "service-syncer" {
        set("crds.install=false".to_string());
    }
    if chart != "host-operator" {
        set(format!("nats.url={HUB_NATS_URL}"));
    }
    for value in extra {
        set((*value).to_string());
    }
    args.extend(RealNode::helm_placement());
    helm(&ctx.env, &args).map(drop)
}

fn selector(release: &str) -> ListParams {
    ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"))
}

/// The container every chart's Deployment runs its binary in.
const CONTAINER: &str = "operator";

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map_or(0, |c| c.restart_count)
}

fn describe(pods: &[Pod]) -> String {
    pods.iter()
        .map(|p| {
            let status = p.status.as_ref();
            format!(
                "{} phase={:?} ready={} restarts={} node={:?} waiting={:?}",
                p.metadata.name.as_deref().unwrap_or("?"),
                status.and_then(|s| s.phase.clone()),
                is_ready(p),
                restarts(p),
                p.spec.as_ref().and_then(|s| s.node_name.clone()),
                status
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c.first())
                    .and_then(|c| c.state.as_ref())
                    .and_then(|s| s.waiting.as_ref())
                    .map(|w| format!("{:?}: {:?}", w.reason, w.message)),
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until `release` has exactly one pod, Ready, whose first container satisfies `also`.
async fn one_ready_pod(
    pods: &Api<Pod>,
    release: &str,
    what: &str,
    also: impl Fn(&Pod) -> bool,
) -> anyhow::Result<Pod> {
    let also = &also;
    wait::until(&format!("{release}: {what}"), READY_TIMEOUT, || async move {
        let list = pods.list(&selector(release)).await.map_err(|e| e.to_string())?;
        match list.items.as_slice() {
            [pod] if is_ready(pod) && also(pod) => Ok(pod.clone()),
            other => Err(describe(other)),
        }
    })
    .await
}

async fn metrics_at(host: &str, port: u16) -> anyhow::Result<String> {
    let (code, body) = http_get_at(host, port, "/metrics").await?;
    anyhow::ensure!(code == 200, "GET http://{host}:{port}/metrics: status {code}");
    anyhow::ensure!(
        body.contains("# TYPE"),
        "GET http://{host}:{port}/metrics: no metrics in\n{body}"
    );
    Ok(body)
}

fn pod_ip(pod: &Pod) -> anyhow::Result<String> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .ok_or_else(|| anyhow::anyhow!("pod without an IP"))
}

/// The leader_election_master_status value a pod reports (None when it does not answer).
async fn leader_status(pod: &Pod) -> Option<bool> {
    let ip = pod_ip(pod).ok()?;
    let (_, body) = http_get_at(&ip, 8080, "/metrics").await.ok()?;
    let line = body
        .lines()
        .find(|l| l.starts_with("leader_election_master_status"))?;
    Some(line.split_whitespace().last()? == "1")
}

#[tokio::test]
async fn each_chart_runs_as_a_real_pod_under_restricted_and_recovers_from_a_killed_container() {
    with_namespace("charts-real", |ctx| async move {
        let outcome = Box::pin(run_each_chart(&ctx)).await;
        uninstall_all(&ctx);
        outcome
    })
    .await;
}

fn uninstall_all(ctx: &TestContext) {
    for (_, short) in CHARTS {
        let release = format!("{}-{short}", ctx.namespace);
        let _ = ctx
            .env
            .helm()
            .args(["uninstall", &release, "-n", &ctx.namespace, "--wait"])
            .output();
    }
}

async fn run_each_chart(ctx: &TestContext) -> anyhow::Result<()> {
    let node = RealNode::get(&ctx.env)?;
    node.operator_images("test-a")?;
    ctx.enforce_restricted().await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for (chart, short) in CHARTS {
        install(
            ctx,
            "install",
            chart,
            &format!("{}-{short}", ctx.namespace),
            "test-a",
            &[],
        )?;
    }
    for (chart, short) in CHARTS {
        let release = format!("{}-{short}", ctx.namespace);
        let pod = one_ready_pod(&pods, &release, "a Ready pod", |_| true).await?;
        let spec_node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        assert_eq!(
            spec_node.as_deref(),
            Some(node.name.as_str()),
            "{chart}: scheduled elsewhere"
        );

        let ip = pod_ip(&pod)?;
        metrics_at(&ip, 8080).await?;
        let service = services.get(&format!("{release}-{chart}-metrics")).await?;
        let cluster_ip = service
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.clone())
            .ok_or_else(|| anyhow::anyhow!("{chart}: metrics Service without a ClusterIP"))?;
        // kube-proxy programs the Service once the EndpointSlice lists the Ready pod.
        let cluster_ip_ref = &cluster_ip;
        wait::until(
            &format!("{chart}'s metrics through its Service"),
            Duration::from_secs(30),
            || async move {
                metrics_at(cluster_ip_ref, 8080)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        )
        .await?;

        let id = container_id(&pod, CONTAINER).ok_or_else(|| anyhow::anyhow!("{chart}: no container ID"))?;
        let facts = node.process_facts(&id)?;
        assert_eq!(
            facts,
            ProcessFacts {
                uid: NONROOT,
                effective_capabilities: 0,
                no_new_privileges: true,
                root_read_only: true,
            },
            "{chart}: what the kernel enforces for the operator's process"
        );

        node.kill_container(&id)?;
        let restarted = one_ready_pod(&pods, &release, "restarted by the kubelet and Ready again", |p| {
            restarts(p) >= 1 && container_id(p, CONTAINER).is_some_and(|new| new != id)
        })
        .await?;
        metrics_at(&pod_ip(&restarted)?, 8080).await?;
    }
    Ok(())
}

#[tokio::test]
async fn helm_upgrade_to_a_new_image_rolls_two_replicas_with_never_two_leaders() {
    with_namespace("charts-roll", |ctx| async move {
        let release = format!("{}-ho", ctx.namespace);
        let outcome = Box::pin(run_upgrade(&ctx, &release)).await;
        let _ = ctx
            .env
            .helm()
            .args(["uninstall", &release, "-n", &ctx.namespace, "--wait"])
            .output();
        outcome
    })
    .await;
}

async fn run_upgrade(ctx: &TestContext, release: &str) -> anyhow::Result<()> {
    let node = RealNode::get(&ctx.env)?;
    node.operator_images("test-a")?;
    node.operator_images("test-b")?;
    ctx.enforce_restricted().await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let chart = "host-operator";
    install(ctx, "install", chart, release, "test-a", &["replicaCount=2"])?;
    let on_tag = |tag: &'static str| {
        move |pod: &Pod| {
            pod.spec.as_ref().is_some_and(|s| {
                s.containers
                    .iter()
                    .all(|c| c.image.as_deref().is_some_and(|i| i.ends_with(tag)))
            })
        }
    };
    let all_ready_on = |tag: &'static str| {
        let pods = &pods;
        let on = on_tag(tag);
        async move {
            wait::until(&format!("two Ready pods on {tag}"), READY_TIMEOUT, || async {
                let list = pods.list(&selector(release)).await.map_err(|e| e.to_string())?;
                let ready = list.items.iter().filter(|p| is_ready(p) && on(p)).count();
                if ready == 2 && list.items.len() == 2 {
                    Ok(list.items)
                } else {
                    Err(describe(&list.items))
                }
            })
            .await
        }
    };
    let before = all_ready_on(":test-a").await?;
    let old_names: Vec<String> = before.iter().filter_map(|p| p.metadata.name.clone()).collect();

    install(ctx, "upgrade", chart, release, "test-b", &["replicaCount=2"])?;
    // Sample every pod's leader_election_master_status until the rollout is done: never two at once.
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut samples = 0;
    loop {
        let list = pods.list(&selector(release)).await?;
        let mut leaders = Vec::new();
        for pod in &list.items {
            if leader_status(pod).await == Some(true) {
                leaders.push(pod.metadata.name.clone().unwrap_or_default());
            }
        }
        samples += 1;
        assert!(
            leaders.len() <= 1,
            "two leaders at once during the rollout: {leaders:?}"
        );
        let new_ready = list
            .items
            .iter()
            .filter(|p| is_ready(p) && on_tag(":test-b")(p))
            .count();
        let old_left = list
            .items
            .iter()
            .any(|p| p.metadata.name.as_ref().is_some_and(|n| old_names.contains(n)));
        if new_ready == 2 && !old_left && leaders.len() == 1 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the rollout to test-b did not finish with one leader in {READY_TIMEOUT:?} ({samples} samples): {}",
            describe(&list.items)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = all_ready_on(":test-b").await?;
    assert!(
        after
            .iter()
            .all(|p| p.metadata.name.as_ref().is_some_and(|n| !old_names.contains(n))),
        "the upgrade replaced every pod"
    );
    Ok(())
}
