//! The host-operator in the local environment: a WasmCloudHostConfig becomes running host pods (kwok),
//! reports Ready with its generation, follows scaling and mode switches, waits on bad input with a
//! condition and a Warning Event and recovers when it is fixed, rolls hosts when a Secret changes,
//! repairs drift, leaves everything to garbage collection, writes nothing at steady state, and reports a
//! write refused half way through the children on the status until it passes.

use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use wasmcloud_operator_tests::events::{regards, wait_for_event};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::process::{OperatorProcess, sample, start_in_namespace, write_requests};
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::WasmCloudHostConfig;

const SETTLE: Duration = Duration::from_secs(60);
const CREDS: &str = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ\n------END NATS USER JWT------\n\n\
                     -----BEGIN USER NKEY SEED-----\nSUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY\n\
                     ------END USER NKEY SEED------\n";

fn host_config(name: &str, spec: &serde_json::Value) -> WasmCloudHostConfig {
    serde_json::from_value(
        json!({"apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
        "metadata": {"name": name}, "spec": spec}),
    )
    .expect("valid WasmCloudHostConfig")
}

fn condition(whc: &WasmCloudHostConfig, type_: &str) -> Option<(String, String, String)> {
    let status = whc.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until Ready is `want` for the current generation.
async fn wait_ready(
    api: &Api<WasmCloudHostConfig>,
    name: &str,
    want: &str,
) -> anyhow::Result<WasmCloudHostConfig> {
    let want = want.to_string();
    wait::for_object(api, name, SETTLE, move |whc: Option<&WasmCloudHostConfig>| {
        whc.is_some_and(|whc| {
            let current = whc.status.as_ref().and_then(|s| s.observed_generation) == whc.metadata.generation;
            current && condition(whc, "Ready").is_some_and(|c| c.0 == want)
        })
    })
    .await
}

async fn running_pods(ctx: &TestContext, name: &str) -> anyhow::Result<usize> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={name}")))
        .await?;
    Ok(list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .count())
}

async fn wait_pods(ctx: &TestContext, name: &str, count: usize) -> anyhow::Result<()> {
    wait::until(&format!("{count} running pods"), SETTLE, || async move {
        match running_pods(ctx, name).await {
            Ok(n) if n == count => Ok(()),
            Ok(n) => Err(format!("{n} running")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

async fn wait_event(ctx: &TestContext, name: &str, reason: &str) -> anyhow::Result<Event> {
    wait_for_event(ctx, reason, |e| regards(e, name)).await
}

/// Successful reconciles of host configs, from the operator's metrics.
fn reconciles(metrics: &str) -> f64 {
    sample(
        metrics,
        "controller_runtime_reconcile_total{controller=\"wasmcloudhostconfig\",result=\"success\"}",
    )
}

/// ServiceAccount GETs: the host-operator reads its ServiceAccount only when it reads every child.
fn child_reads(metrics: &str) -> f64 {
    sample(
        metrics,
        "rest_client_requests_total{code=\"200\",resource=\"serviceaccounts\",verb=\"get\"}",
    )
}

/// Touches `name` until a reconcile it triggers reads no child: the children were found in line and
/// nothing has changed them since (the Deployment's status can still move for a while after Ready).
async fn wait_children_confirmed(
    operator: &OperatorProcess,
    api: &Api<WasmCloudHostConfig>,
    name: &str,
) -> anyhow::Result<()> {
    let mut touches = 0;
    wait::until("a reconcile that reads no child", SETTLE, || {
        touches += 1;
        let touch = json!({"metadata": {"annotations": {"test/touched": touches.to_string()}}});
        async move {
            let metrics = operator.metrics().await.map_err(|e| e.to_string())?;
            let (reads, done) = (child_reads(&metrics), reconciles(&metrics));
            api.patch(name, &PatchParams::default(), &Patch::Merge(&touch))
                .await
                .map_err(|e| e.to_string())?;
            let metrics = wait::until("a reconcile after the touch", SETTLE, || async {
                let metrics = operator.metrics().await.map_err(|e| e.to_string())?;
                if reconciles(&metrics) > done {
                    Ok(metrics)
                } else {
                    Err("no reconcile yet".to_string())
                }
            })
            .await
            .map_err(|e| e.to_string())?;
            let read = child_reads(&metrics) - reads;
            if read == 0.0 {
                Ok(())
            } else {
                Err(format!("the reconcile read {read} ServiceAccounts"))
            }
        }
    })
    .await
}

fn lattice() -> String {
    format!("hosts-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

#[tokio::test]
async fn host_config_becomes_ready_hosts_scales_and_writes_nothing_at_steady_state() {
    with_namespace("whc-ready", |ctx| async move {
        // Pod Security Admission rejects any host pod that breaks the "restricted" profile.
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
        let restricted = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        namespaces.patch(&ctx.namespace, &PatchParams::default(), &Patch::Merge(&restricted)).await?;
        let operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let spec = json!({"lattice": lattice(), "version": "1.4.2", "hostReplicas": 2, "hostLabels": {"zone": "east"}});
        let created = api.create(&PostParams::default(), &host_config("east-hosts", &spec)).await?;
        // The leaf Service an earlier version made, as the old operator did: controlled by the host config.
        let earlier_leaf_service: Service = serde_json::from_value(json!({
            "metadata": {"name": "east-hosts", "labels": {"app.kubernetes.io/managed-by": "wasmcloud-host-operator"},
                "ownerReferences": [{"apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
                    "name": "east-hosts", "uid": created.uid(), "controller": true}]},
            "spec": {"ports": [{"name": "nats", "port": 4222, "targetPort": "nats"}]},
        }))?;
        Api::<Service>::namespaced(ctx.client.clone(), &ctx.namespace)
            .create(&PostParams::default(), &earlier_leaf_service)
            .await?;

        let whc = wait_ready(&api, "east-hosts", "True").await?;
        let status = whc.status.clone().expect("status");
        assert_eq!(status.ready_hosts.as_deref(), Some("2/2"));
        assert_eq!(status.observed_generation, whc.metadata.generation);
        wait_pods(&ctx, "east-hosts", 2).await?;
        let ns = ctx.namespace.as_str();
        let client = ctx.client.clone();
        assert!(Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt("east-hosts").await?.is_some());
        assert!(Api::<ServiceAccount>::namespaced(client.clone(), ns).get_opt("east-hosts").await?.is_some());
        // The hosts never call the Kubernetes API: no Role, no binding, no token unless asked for.
        assert!(Api::<Role>::namespaced(client.clone(), ns).get_opt("east-hosts").await?.is_none());
        assert!(Api::<RoleBinding>::namespaced(client.clone(), ns).get_opt("east-hosts").await?.is_none());
        let account = Api::<ServiceAccount>::namespaced(client.clone(), ns).get("east-hosts").await?;
        assert_eq!(account.automount_service_account_token, Some(false));
        // The leaf listens inside the pod only: the leaf Service an earlier version made (as the old operator
        // did) is gone, since it would reach nothing.
        let services = Api::<Service>::namespaced(client.clone(), ns);
        wait::until_gone(&services, "east-hosts", SETTLE).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let pod = pods.list(&ListParams::default().labels("app.kubernetes.io/instance=east-hosts")).await?.items.remove(0);
        assert_eq!(pod.labels()["host-label.k8s.wasmcloud.dev/zone"], "east");
        assert_eq!(pod.labels()["wasmcloud.dev/lattice"], whc.spec.lattice);

        // Steady state: a reconcile that finds nothing new writes nothing.
        let metrics_before = operator.metrics().await?;
        let writes_before = write_requests(&metrics_before);
        let before = reconciles(&operator.metrics().await?);
        let touch = json!({"metadata": {"annotations": {"test/touched": "1"}}});
        api.patch("east-hosts", &PatchParams::default(), &Patch::Merge(&touch)).await?;
        wait::until("a reconcile after the touch", SETTLE, || async {
            let now = reconciles(&operator.metrics().await.map_err(|e| e.to_string())?);
            if now > before { Ok(()) } else { Err(format!("{now} reconciles")) }
        })
        .await?;
        let metrics_after = operator.metrics().await?;
        let requests = |m: &str| m.lines().filter(|l| l.starts_with("rest_client")).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            write_requests(&metrics_after),
            writes_before,
            "a steady-state reconcile wrote:\nbefore {:#?}\nafter {:#?}",
            requests(&metrics_before),
            requests(&metrics_after)
        );

        // Scale.
        api.patch("east-hosts", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"hostReplicas": 3}}))).await?;
        let whc = wait_ready(&api, "east-hosts", "True").await?;
        assert_eq!(whc.status.and_then(|s| s.ready_hosts).as_deref(), Some("3/3"));
        wait_pods(&ctx, "east-hosts", 3).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn switching_between_deployment_and_daemon_set_deletes_the_other_kind() {
    with_namespace("whc-mode", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let daemon_sets: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        api.create(
            &PostParams::default(),
            &host_config("west-hosts", &json!({"lattice": lattice(), "version": "1.4.2"})),
        )
        .await?;
        wait_ready(&api, "west-hosts", "True").await?;
        assert!(deployments.get_opt("west-hosts").await?.is_some());

        let to_daemon = json!({"spec": {"schedulingOptions": {"daemonset": true}}});
        api.patch("west-hosts", &PatchParams::default(), &Patch::Merge(&to_daemon))
            .await?;
        let whc = wait_ready(&api, "west-hosts", "True").await?;
        assert_eq!(
            whc.status
                .and_then(|s| s.workload_kind)
                .map(|k| format!("{k:?}"))
                .as_deref(),
            Some("DaemonSet")
        );
        assert!(daemon_sets.get_opt("west-hosts").await?.is_some());
        wait::until_gone(&deployments, "west-hosts", SETTLE).await?;
        wait_pods(&ctx, "west-hosts", 2).await?; // one per kwok node

        let back = json!({"spec": {"schedulingOptions": {"daemonset": false}}});
        api.patch("west-hosts", &PatchParams::default(), &Patch::Merge(&back))
            .await?;
        wait_ready(&api, "west-hosts", "True").await?;
        assert!(deployments.get_opt("west-hosts").await?.is_some());
        wait::until_gone(&daemon_sets, "west-hosts", SETTLE).await
    })
    .await;
}

#[tokio::test]
async fn a_missing_secret_blocks_the_hosts_a_keyless_one_means_no_credentials_and_rotation_rolls_them() {
    with_namespace("whc-secret", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let spec = json!({"lattice": lattice(), "version": "1.4.2", "secretName": "leaf-creds"});
        api.create(&PostParams::default(), &host_config("north-hosts", &spec))
            .await?;

        let whc = wait_ready(&api, "north-hosts", "False").await?;
        let (_, reason, message) = condition(&whc, "Ready").expect("Ready");
        assert_eq!(reason, "SecretNotFound");
        assert_eq!(message, "Secret leaf-creds not found");
        let warning = wait_event(&ctx, "north-hosts", "SecretNotFound").await?;
        assert_eq!(warning.type_.as_deref(), Some("Warning"));
        assert!(
            deployments.get_opt("north-hosts").await?.is_none(),
            "no workload while the Secret is missing"
        );

        // A Secret without the key means no credentials (as the old operator documents): the hosts start
        // without them.
        let mut secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("leaf-creds".into()),
                ..Default::default()
            },
            data: Some([("wrong".to_string(), ByteString(b"x".to_vec()))].into()),
            ..Secret::default()
        };
        secrets.create(&PostParams::default(), &secret).await?;
        wait_ready(&api, "north-hosts", "True").await?;
        let checksum = |d: &Deployment| {
            d.spec
                .as_ref()
                .and_then(|s| s.template.metadata.as_ref())
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get("k8s.wasmcloud.dev/config-checksum").cloned())
        };
        let without = checksum(&deployments.get("north-hosts").await?).expect("checksum");
        let configs = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ctx.namespace);
        let config = configs.get("north-hosts").await?;
        assert!(
            !config.data.expect("data")["nats.conf"].contains("credentials"),
            "no credentials line"
        );

        // The key added: the hosts roll, now with credentials.
        secret.data = Some([("nats.creds".to_string(), ByteString(CREDS.as_bytes().to_vec()))].into());
        secrets
            .replace(
                "leaf-creds",
                &PostParams::default(),
                &secrets.get("leaf-creds").await.map(|mut s| {
                    s.data.clone_from(&secret.data);
                    s
                })?,
            )
            .await?;
        wait::for_object(
            &deployments,
            "north-hosts",
            SETTLE,
            move |d: Option<&Deployment>| d.and_then(checksum).is_some_and(|c| c != without),
        )
        .await?;
        wait_ready(&api, "north-hosts", "True").await?;
        wait_pods(&ctx, "north-hosts", 1).await?;
        let first = checksum(&deployments.get("north-hosts").await?).expect("checksum");
        let config = configs.get("north-hosts").await?;
        assert!(config.data.expect("data")["nats.conf"].contains("credentials: \"/nats/nats.creds\""));

        // Rotation: new credentials roll the hosts.
        let rotated = CREDS.replace("eyJ0eXAiOiJKV1QifQ", "eyJ0eXAiOiJKV1QiLCJ2IjoyfQ");
        let patch = json!({"data": {"nats.creds": ByteString(rotated.into_bytes())}});
        secrets
            .patch("leaf-creds", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        wait::for_object(
            &deployments,
            "north-hosts",
            SETTLE,
            move |d: Option<&Deployment>| d.and_then(checksum).is_some_and(|c| c != first),
        )
        .await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn bad_registry_credentials_and_conflicting_additions_are_reported_not_applied() {
    with_namespace("whc-invalid", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let registry: Secret = serde_json::from_value(json!({
            "metadata": {"name": "pull"}, "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": "{\"auths\":{}}"}
        }))?;
        secrets.create(&PostParams::default(), &registry).await?;
        let spec = json!({"lattice": lattice(), "version": "1.4.2", "registryCredentialsSecret": "pull"});
        api.create(&PostParams::default(), &host_config("south-hosts", &spec)).await?;
        let whc = wait_ready(&api, "south-hosts", "False").await?;
        let (_, reason, message) = condition(&whc, "Ready").expect("Ready");
        assert_eq!(reason, "SecretInvalid");
        assert!(message.contains("names no registry"), "{message}");
        assert!(deployments.get_opt("south-hosts").await?.is_none());

        let auth_only = json!({"stringData": {".dockerconfigjson": "{\"auths\":{\"ghcr.io\":{\"auth\":\"b2N0bzpzM2NyZXQ=\"}}}"}});
        secrets.patch("pull", &PatchParams::default(), &Patch::Merge(&auth_only)).await?;
        wait_ready(&api, "south-hosts", "True").await?;
        let derived = secrets.get("south-hosts-registry-credentials").await?;
        assert_eq!(derived.data.expect("data")["username"].0, b"octo");

        // An env var the operator sets, also set in the additions: a condition, the hosts untouched.
        let clash = json!({"spec": {"schedulingOptions": {"containerTemplateAdditions": {"wasmcloud": {
            "env": [{"name": "WASMCLOUD_LATTICE", "value": "other"}]}}}}});
        api.patch("south-hosts", &PatchParams::default(), &Patch::Merge(&clash)).await?;
        let whc = wait_ready(&api, "south-hosts", "False").await?;
        let (_, reason, message) = condition(&whc, "Ready").expect("Ready");
        assert_eq!(reason, "InvalidSpec");
        assert!(message.contains("WASMCLOUD_LATTICE is set by the operator"), "{message}");
        let template = deployments.get("south-hosts").await?.spec.expect("spec").template;
        let env = serde_json::to_string(&template)?;
        assert!(!env.contains("\"other\""), "the invalid change was not applied");
        Ok(())
    })
    .await;
}

/// Waits until Ready is False with `reason` and a message containing `says`.
async fn wait_refused(
    api: &Api<WasmCloudHostConfig>,
    name: &str,
    reason: &'static str,
    says: &'static str,
) -> anyhow::Result<WasmCloudHostConfig> {
    wait::for_object(api, name, SETTLE, move |whc: Option<&WasmCloudHostConfig>| {
        whc.and_then(|w| condition(w, "Ready"))
            .is_some_and(|(status, r, message)| status == "False" && r == reason && message.contains(says))
    })
    .await
}

#[tokio::test]
async fn objects_it_did_not_create_are_never_written_or_deleted_and_the_registry_copy_follows_its_source() {
    with_namespace("whc-owner", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        // Someone else's objects with the names the children would take; the Service even carries our
        // managed-by label (labels can be copied), but no ownerReference.
        let theirs = json!({"app": "someone-else"});
        config_maps
            .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "hosts", "labels": theirs}, "data": {"keep": "me"}}))?)
            .await?;
        accounts
            .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "hosts", "labels": theirs}}))?)
            .await?;
        services
            .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "hosts",
                "labels": {"app.kubernetes.io/managed-by": "wasmcloud-host-operator"}},
                "spec": {"ports": [{"port": 4222}]}}))?)
            .await?;
        let before = config_maps.get("hosts").await?;

        api.create(&PostParams::default(), &host_config("hosts", &json!({"lattice": lattice(), "version": "1.4.2"})))
            .await?;
        let refused = wait_refused(&api, "hosts", "ChildConflict", "ConfigMap hosts already exists").await?;
        let (_, _, message) = condition(&refused, "Ready").expect("Ready");
        assert!(message.contains("delete or rename that ConfigMap"), "says how to resolve it: {message}");
        let event = wait_event(&ctx, "hosts", "ChildConflict").await?;
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert!(event.note.unwrap_or_default().contains("ConfigMap hosts"));
        let after = config_maps.get("hosts").await?;
        assert_eq!(after.resource_version(), before.resource_version(), "the foreign ConfigMap is not written");
        assert!(after.owner_references().is_empty());

        // Out of the way: the next child in line is in the way, then nothing is.
        config_maps.delete("hosts", &DeleteParams::default()).await?;
        wait_refused(&api, "hosts", "ChildConflict", "ServiceAccount hosts already exists").await?;
        assert!(accounts.get("hosts").await?.owner_references().is_empty());
        accounts.delete("hosts", &DeleteParams::default()).await?;
        wait_ready(&api, "hosts", "True").await?;
        assert!(
            services.get_opt("hosts").await?.is_some(),
            "a Service with our label but not our ownerReference is never deleted"
        );
        assert!(accounts.get("hosts").await?.owner_references().iter().any(|r| r.kind == "WasmCloudHostConfig"));

        // Deleting the host config deletes what it created, nothing else.
        api.delete("hosts", &DeleteParams::foreground()).await?;
        wait::until_gone(&api, "hosts", SETTLE).await?;
        assert!(services.get_opt("hosts").await?.is_some(), "the foreign Service outlives the host config");

        // The registry credentials' copy follows its source: the source goes, the copy goes.
        let registry: Secret = serde_json::from_value(json!({
            "metadata": {"name": "pull"}, "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": "{\"auths\":{\"ghcr.io\":{\"username\":\"octo\",\"password\":\"s3cret\"}}}"}
        }))?;
        secrets.create(&PostParams::default(), &registry).await?;
        let spec = json!({"lattice": lattice(), "version": "1.4.2", "registryCredentialsSecret": "pull"});
        api.create(&PostParams::default(), &host_config("pulling", &spec)).await?;
        wait_ready(&api, "pulling", "True").await?;
        assert!(secrets.get_opt("pulling-registry-credentials").await?.is_some());
        secrets.delete("pull", &DeleteParams::default()).await?;
        wait_refused(&api, "pulling", "SecretNotFound", "Secret pull not found").await?;
        wait::until_gone(&secrets, "pulling-registry-credentials", SETTLE).await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_setting_the_host_version_cannot_honour_is_reported_and_builds_no_pod() {
    with_namespace("whc-version", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        // A 1.0.x host does not know the OTLP protocol setting; writing it would be silently lost. With
        // `version` alone admission refuses it (crds.rs); the version in an image tag is the operator's to read.
        let spec = json!({"lattice": lattice(), "image": "ghcr.io/wasmcloud/wasmcloud:1.0.4",
            "observability": {"enable": true, "endpoint": "http://otel:4318", "protocol": "http"}});
        api.create(&PostParams::default(), &host_config("old-hosts", &spec)).await?;
        let whc = wait_ready(&api, "old-hosts", "False").await?;
        let (_, reason, message) = condition(&whc, "Ready").expect("Ready");
        assert_eq!(reason, "InvalidSpec");
        assert_eq!(
            message,
            "spec.observability.protocol: needs wasmCloud host 1.1.0 or later (the pods run wasmCloud host 1.0.4)"
        );
        let warning = wait_event(&ctx, "old-hosts", "InvalidSpec").await?;
        assert_eq!(warning.type_.as_deref(), Some("Warning"));
        assert!(deployments.get_opt("old-hosts").await?.is_none(), "no pod for a host that would lose the setting");

        // A newer host: the same spec builds, with the protocol as the env variable the host reads.
        let newer = json!({"spec": {"image": "ghcr.io/wasmcloud/wasmcloud:1.4.2"}});
        api.patch("old-hosts", &PatchParams::default(), &Patch::Merge(&newer)).await?;
        wait_ready(&api, "old-hosts", "True").await?;
        let template = serde_json::to_value(deployments.get("old-hosts").await?.spec.expect("spec").template)?;
        let host = &template["spec"]["containers"][1];
        assert_eq!(host["name"], "wasmcloud-host");
        let env = host["env"].as_array().cloned().unwrap_or_default();
        assert!(env.iter().any(|e| e["name"] == "WASMCLOUD_OBSERVABILITY_PROTOCOL" && e["value"] == "http"));
        assert!(env.iter().any(|e| e["name"] == "WASMCLOUD_OBSERVABILITY_ENABLED" && e["value"] == "true"));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn drift_is_repaired_and_deletion_leaves_nothing_behind() {
    with_namespace("whc-drift", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        api.create(
            &PostParams::default(),
            &host_config(
                "drift-hosts",
                &json!({"lattice": lattice(), "version": "1.4.2", "hostReplicas": 2}),
            ),
        )
        .await?;
        wait_ready(&api, "drift-hosts", "True").await?;

        deployments
            .patch(
                "drift-hosts",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": 5}})),
            )
            .await?;
        config_maps
            .patch(
                "drift-hosts",
                &PatchParams::default(),
                &Patch::Merge(&json!({"data": {"nats.conf": "broken"}})),
            )
            .await?;
        wait::for_object(&deployments, "drift-hosts", SETTLE, |d: Option<&Deployment>| {
            d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas) == Some(2)
        })
        .await?;
        wait::for_object(&config_maps, "drift-hosts", SETTLE, |c: Option<&ConfigMap>| {
            c.and_then(|c| c.data.as_ref())
                .is_some_and(|d| d["nats.conf"].contains("leafnodes"))
        })
        .await?;
        wait_event(&ctx, "drift-hosts", "DriftCorrected").await?;

        api.delete("drift-hosts", &DeleteParams::foreground()).await?;
        wait::until("children garbage-collected", SETTLE, || async {
            let left = (
                deployments
                    .get_opt("drift-hosts")
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some(),
                config_maps
                    .get_opt("drift-hosts")
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some(),
                running_pods(&ctx, "drift-hosts")
                    .await
                    .map_err(|e| e.to_string())?,
            );
            if left == (false, false, 0) {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        })
        .await
    })
    .await;
}

#[tokio::test]
async fn every_old_operator_example_applies_and_reconciles() {
    with_namespace("whc-examples", |ctx| async move {
        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let root = wasmcloud_operator_tests::env::TestEnv::repo_root().join("operator-types/tests/fixtures/old-operator");
        let read = |file: &str| -> anyhow::Result<WasmCloudHostConfig> {
            Ok(serde_yaml::from_str(&std::fs::read_to_string(root.join(file))?)?)
        };
        let mut quickstart = read("quickstart_wasmcloud-host.yaml")?;
        quickstart.metadata.namespace = Some(ctx.namespace.clone());
        api.create(&PostParams::default(), &quickstart).await?;
        wait_ready(&api, "wasmcloud-host", "True").await?;

        // The annotated example, as the API server accepts it (podTemplateAdditions.spec moved up), refers
        // to two Secrets that don't exist: it reconciles to a clear condition, then to Ready once they do.
        let mut raw: serde_json::Value =
            serde_yaml::from_str(&std::fs::read_to_string(root.join("full-config_wasmcloud-annotated.yaml"))?)?;
        let additions = &mut raw["spec"]["schedulingOptions"]["podTemplateAdditions"];
        *additions = additions["spec"].clone();
        raw["metadata"]["namespace"] = json!(ctx.namespace);
        let annotated: WasmCloudHostConfig = serde_json::from_value(raw)?;
        api.create(&PostParams::default(), &annotated).await?;
        let whc = wait_ready(&api, "my-wasmcloud-cluster", "False").await?;
        assert_eq!(condition(&whc, "Ready").map(|c| c.1).as_deref(), Some("SecretNotFound"));
        wait_event(&ctx, "my-wasmcloud-cluster", "DeprecatedField").await?;

        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let creds: Secret = serde_json::from_value(json!({"metadata": {"name": "wasmcloud-host-nats-secret"},
            "stringData": {"nats.creds": CREDS}}))?;
        secrets.create(&PostParams::default(), &creds).await?;
        let pull: Secret = serde_json::from_value(json!({"metadata": {"name": "wasmcloud-pull-secret"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": "{\"auths\":{\"registry\":{\"username\":\"u\",\"password\":\"p\"}}}"}}))?;
        secrets.create(&PostParams::default(), &pull).await?;
        wait_ready(&api, "my-wasmcloud-cluster", "True").await?;
        assert!(Api::<DaemonSet>::namespaced(ctx.client.clone(), &ctx.namespace).get_opt("my-wasmcloud-cluster").await?.is_some());
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn applications_on_the_lattice_are_listed_in_the_status() {
    with_namespace("whc-apps", |ctx| async move {
        let operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let apps: Api<wasmcloud_operator_types::Application> =
            Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let lattice = lattice();
        api.create(
            &PostParams::default(),
            &host_config("app-hosts", &json!({"lattice": lattice, "version": "1.4.2"})),
        )
        .await?;
        wait_ready(&api, "app-hosts", "True").await?;
        wait_children_confirmed(&operator, &api, "app-hosts").await?;
        let metrics = operator.metrics().await?;
        let (reads_before, reconciles_before) = (child_reads(&metrics), reconciles(&metrics));

        // What the app-status-bridge writes: the lattice, the deployed version and the phase.
        let app: wasmcloud_operator_types::Application = serde_json::from_value(json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": "shop"}, "spec": {"components": []}}))?;
        apps.create(&PostParams::default(), &app).await?;
        let status = json!({"status": {"lattice": lattice, "phase": "Deployed", "deployedVersion": "v1"}});
        apps.patch_status("shop", &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        let namespace = ctx.namespace.clone();
        let whc = wait::for_object(
            &api,
            "app-hosts",
            SETTLE,
            move |w: Option<&WasmCloudHostConfig>| {
                w.and_then(|w| w.status.as_ref())
                    .is_some_and(|s| s.app_count == 1)
            },
        )
        .await?;
        let listed = whc.status.expect("status").apps.remove(0);
        assert_eq!(
            (
                listed.name.as_str(),
                listed.namespace.as_deref(),
                listed.version.as_str(),
                listed.phase.as_deref()
            ),
            ("shop", Some(namespace.as_str()), "v1", Some("Deployed"))
        );

        apps.delete("shop", &DeleteParams::default()).await?;
        wait::for_object(&api, "app-hosts", SETTLE, |w: Option<&WasmCloudHostConfig>| {
            w.and_then(|w| w.status.as_ref())
                .is_some_and(|s| s.app_count == 0 && s.apps.is_empty())
        })
        .await?;
        // As stored (the CRD schema keeps them): the old operator's v1alpha1 fields, present when empty.
        let stored = ctx
            .env
            .kubectl()
            .args([
                "get",
                "wasmcloudhostconfig",
                "app-hosts",
                "-n",
                &ctx.namespace,
                "-o",
                "json",
            ])
            .output()?;
        let stored: serde_json::Value = serde_json::from_slice(&stored.stdout)?;
        assert_eq!(
            (&stored["status"]["apps"], &stored["status"]["app_count"]),
            (&json!([]), &json!(0)),
            "readable by the old operator after a rollback: {}",
            stored["status"]
        );
        // Listing apps is a status change only. Every one of these reconciles read the children before;
        // now only one that something else caused (the Deployment's status can still move) may.
        let metrics = operator.metrics().await?;
        let read = child_reads(&metrics) - reads_before;
        let reconciled = reconciles(&metrics) - reconciles_before;
        assert!(
            reconciled >= 2.0 && read < reconciled,
            "listing apps read the children again: {read} ServiceAccount GETs in {reconciled} reconciles"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_write_refused_half_way_is_on_the_status_and_the_hosts_follow_once_it_passes() {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    with_namespace("whc-half", |ctx| async move {
        // An admission policy (cluster-scoped, bound to this namespace only) refuses every Deployment
        // write, so the ConfigMap and the other children before it are applied and the Deployment is not.
        let name = format!("refuse-deployments-{}", ctx.namespace);
        let policies: Api<ValidatingAdmissionPolicy> = Api::all(ctx.client.clone());
        let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(ctx.client.clone());
        policies
            .create(&PostParams::default(), &serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]},
                    "validations": [{"expression": "false", "reason": "Forbidden",
                        "message": "refused by the test policy s3cret-policy-text"}]}
            }))?)
            .await?;
        bindings
            .create(&PostParams::default(), &serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"policyName": name, "validationActions": ["Deny"],
                    "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ctx.namespace}}}}
            }))?)
            .await?;
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let probe: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "policy-probe"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))?;
        // The API server takes up a new policy asynchronously: wait until it refuses (a dry run writes nothing).
        wait::until("the policy to refuse Deployments", SETTLE, || async {
            match deployments.create(&PostParams { dry_run: true, ..PostParams::default() }, &probe).await {
                Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
                other => Err(format!("{:?}", other.map(|_| "accepted"))),
            }
        })
        .await?;

        let _operator = start_in_namespace(&ctx, "wasmcloud-host-operator").await?;
        let api: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        api.create(&PostParams::default(), &host_config("hosts", &json!({"lattice": lattice(), "version": "1.4.2"})))
            .await?;
        let failed = wait::for_object(&api, "hosts", SETTLE, |whc: Option<&WasmCloudHostConfig>| {
            whc.and_then(|w| condition(w, "Degraded"))
                .is_some_and(|(status, reason, _)| status == "True" && reason == "ApplyFailed")
        })
        .await?;
        let (_, _, message) = condition(&failed, "Degraded").expect("Degraded");
        assert!(message.contains("Deployment") && message.contains("403"), "names what failed and how: {message}");
        assert!(!message.contains("s3cret"), "never the API server's message: {message}");
        assert_eq!(condition(&failed, "Ready").map(|c| c.1).as_deref(), Some("ApplyFailed"));
        let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        assert!(config_maps.get_opt("hosts").await?.is_some(), "the children before it were applied");
        assert!(deployments.get_opt("hosts").await?.is_none());
        let status = failed.status.clone().unwrap_or_default();
        assert_ne!(
            status.observed_generation, failed.metadata.generation,
            "a generation not brought in line is not reported as observed"
        );

        // The refusal goes: the retry brings everything in line.
        bindings.delete(&name, &DeleteParams::default()).await?;
        policies.delete(&name, &DeleteParams::default()).await?;
        wait_ready(&api, "hosts", "True").await?;
        let recovered = api.get("hosts").await?;
        assert_eq!(condition(&recovered, "Degraded").map(|c| c.0).as_deref(), Some("False"));
        Ok(())
    })
    .await;
}
