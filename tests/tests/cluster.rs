//! The control plane behaves like a cluster: Deployments get ReplicaSets and Pods, kwok schedules them
//! and marks them Running with IPs, and garbage collection removes them with their owner.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;
use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::wait;

#[tokio::test]
async fn deployment_pods_run_with_ips_and_are_garbage_collected() {
    with_namespace("cluster", |ctx| async move {
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}
                }
            }
        }))?;
        deployments.create(&PostParams::default(), &deployment).await?;
        let selector = ListParams::default().labels("app=web");
        let running = wait::until("3 running pods with IPs", Duration::from_secs(60), || {
            let (pods, selector) = (pods.clone(), selector.clone());
            async move {
                let list = pods.list(&selector).await.map_err(|e| e.to_string())?;
                let ready: Vec<String> = list
                    .items
                    .iter()
                    .filter_map(|p| p.status.as_ref())
                    .filter(|s| s.phase.as_deref() == Some("Running"))
                    .filter_map(|s| s.pod_ip.clone())
                    .collect();
                if ready.len() == 3 {
                    Ok(ready)
                } else {
                    Err(format!("{} of 3", ready.len()))
                }
            }
        })
        .await?;
        assert!(running.iter().all(|ip| ip.starts_with("10.244.")), "{running:?}");

        deployments.delete("web", &DeleteParams::foreground()).await?;
        wait::until("pods garbage-collected", Duration::from_secs(60), || {
            let (pods, selector) = (pods.clone(), selector.clone());
            async move {
                let left = pods.list(&selector).await.map_err(|e| e.to_string())?.items.len();
                if left == 0 {
                    Ok(())
                } else {
                    Err(format!("{left} pods left"))
                }
            }
        })
        .await
    })
    .await;
}
