//! The local environment's real node itself: registered Ready with the containerd it runs on, restricted to
//! its own Node object by NodeRestriction, tainted so that only pods that ask land on it, reachable by the API
//! server for `kubectl logs` and `exec`, and unable to pull an image that was not imported (the pod fails at
//! once, saying why) — nothing is fetched from outside.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::pods::on_real_node;
use wasmcloud_operator_tests::real_node::{NODE_TYPE, RealNode, TAINT};
use wasmcloud_operator_tests::wait;

#[tokio::test]
async fn the_real_node_is_ready_tainted_and_restricted_to_itself() {
    with_namespace("node-real", |ctx| async move {
        let node = RealNode::get(&ctx.env)?;
        let nodes: Api<Node> = Api::all(ctx.client.clone());
        let real = nodes.get(&node.name).await?;
        let status = real.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "{} is not Ready: {:?}", node.name, status.conditions);
        let runtime = status
            .node_info
            .map(|i| i.container_runtime_version)
            .unwrap_or_default();
        assert!(
            runtime.starts_with("containerd://"),
            "container runtime {runtime}"
        );
        let taints = real.spec.and_then(|s| s.taints).unwrap_or_default();
        assert!(
            taints.iter().any(|t| t.key == TAINT && t.effect == "NoSchedule"),
            "taints {taints:?}"
        );
        assert_eq!(
            real.metadata
                .labels
                .unwrap_or_default()
                .get("type")
                .map(String::as_str),
            Some(NODE_TYPE)
        );

        // The kubelet's credentials may change its own Node, not another one (NodeRestriction + Node authorizer).
        let kubelet_kubeconfig = ctx.env.dir.join("node/kubelet.kubeconfig");
        let as_node = |target: &str| {
            ctx.env
                .kubectl()
                .env("KUBECONFIG", &kubelet_kubeconfig)
                .args([
                    "label",
                    "node",
                    target,
                    "wasmcloud.dev/test-touch=1",
                    "--overwrite",
                ])
                .output()
        };
        let own = as_node(&node.name)?;
        assert!(
            own.status.success(),
            "the node could not label itself: {}",
            String::from_utf8_lossy(&own.stderr)
        );
        let other = as_node("kwok-node-0")?;
        assert!(
            !other.status.success(),
            "the node's credentials labelled another node"
        );
        assert!(
            String::from_utf8_lossy(&other.stderr).contains("forbidden"),
            "{}",
            String::from_utf8_lossy(&other.stderr)
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn an_image_that_was_not_imported_fails_to_pull_at_once_with_the_reason() {
    with_namespace("node-pull", |ctx| async move {
        let node = RealNode::get(&ctx.env)?;
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let pod = on_real_node(
            "unknown-image",
            &json!([{"name": "c", "image": "docker.io/library/not-imported-here:1"}]),
        )?;
        pods.create(&PostParams::default(), &pod).await?;
        let pods = &pods;
        // The registry is a closed port on 127.0.0.1: the pull fails in well under a registry timeout.
        let message = wait::until("the pull to fail", Duration::from_secs(30), || async move {
            let pod = pods.get("unknown-image").await.map_err(|e| e.to_string())?;
            let waiting = pod
                .status
                .and_then(|s| s.container_statuses)
                .and_then(|c| c.into_iter().next())
                .and_then(|c| c.state)
                .and_then(|s| s.waiting);
            match waiting {
                Some(w) if matches!(w.reason.as_deref(), Some("ErrImagePull" | "ImagePullBackOff")) => {
                    Ok(w.message.unwrap_or_default())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await?;
        assert!(
            message.contains("not-imported-here") && message.contains("127.0.0.1:9"),
            "the reason names the image and the closed local registry: {message}"
        );
        assert_eq!(
            pods.get("unknown-image").await?.spec.and_then(|s| s.node_name),
            Some(node.name.clone())
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn kubectl_logs_and_exec_reach_a_pod_on_the_real_node() {
    with_namespace("node-logs", |ctx| async move {
        RealNode::get(&ctx.env)?;
        let image = RealNode::nats_leaf_image()?;
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let pod = on_real_node(
            "talker",
            &json!([{"name": "nats", "image": image, "imagePullPolicy": "Never", "args": ["-p", "4999"]}]),
        )?;
        pods.create(&PostParams::default(), &pod).await?;
        let pods = &pods;
        wait::until("the pod to run", Duration::from_secs(60), || async move {
            let pod = pods.get("talker").await.map_err(|e| e.to_string())?;
            match pod.status.and_then(|s| s.phase) {
                Some(phase) if phase == "Running" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await?;
        let ns = ctx.namespace.as_str();
        let env = &ctx.env;
        // The API server dials the kubelet with a client certificate the kubelet trusts, and trusts its serving one.
        wait::until(
            "kubectl logs to show the server starting",
            Duration::from_secs(30),
            || async move {
                let output = env
                    .kubectl()
                    .args(["logs", "-n", ns, "talker"])
                    .output()
                    .map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&output.stdout);
                if text.contains("Server is ready") {
                    Ok(())
                } else {
                    Err(format!("{text}{}", String::from_utf8_lossy(&output.stderr)))
                }
            },
        )
        .await?;
        let exec = env
            .kubectl()
            .args(["exec", "-n", ns, "talker", "--", "/bin/sleep", "0"])
            .output()?;
        assert!(
            exec.status.success(),
            "kubectl exec: {}",
            String::from_utf8_lossy(&exec.stderr)
        );
        Ok(())
    })
    .await;
}
