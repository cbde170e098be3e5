//! Resilience: a corpus of over 100 invalid or hostile objects (bad names, huge values, wrong types,
//! missing references, injection strings, malformed manifests, unicode) — each is rejected at admission
//! with a message or reported on the object, nothing is applied half-way, no binary panics or loops.
//! Plus property tests of the pure builders (random valid specs → objects the API server accepts in a
//! dry run under the restricted profile), and a secrets canary that must never surface.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use rand::Rng;
use serde_json::{Value, json};
use wasmcloud_operator_tests::http_apps::{http_app, lattice};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::process::{
    OperatorProcess, sample, start_in_namespace, start_in_namespace_with,
};
use wasmcloud_operator_tests::wadm::WadmApi;
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

const SETTLE: Duration = Duration::from_secs(60);

fn whc(name: &str, spec: &Value) -> Value {
    json!({"apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig", "metadata": {"name": name}, "spec": spec})
}

fn app(name: &str, annotations: &Value, spec: &Value) -> Value {
    json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {"name": name, "annotations": annotations}, "spec": spec})
}

/// (what, object) for every hostile WasmCloudHostConfig and Application in the corpus.
#[allow(clippy::too_many_lines)]
fn corpus() -> Vec<(String, Value)> {
    let base = || json!({"lattice": "corpus", "version": "1.4.2"});
    let with = |key: &str, value: Value| {
        let mut spec = base();
        spec[key] = value;
        spec
    };
    let huge = "x".repeat(1 << 20);
    let long = "a".repeat(300);
    let mut objects: Vec<(String, Value)> = Vec::new();
    for lattice in [
        "",
        "a.b",
        "a b",
        "*",
        ">",
        "a>b",
        "ünïcødé",
        long.as_str(),
        "a\nb",
        "$(reboot)",
        "a/b",
        "a\u{0}b",
    ] {
        objects.push((
            format!("lattice {lattice:.20?}"),
            whc("bad-lattice", &with("lattice", json!(lattice))),
        ));
    }
    for name in ["UPPER", "a_b", "-a", long.as_str(), "ünï", "a..b", ""] {
        objects.push((format!("name {name:.20?}"), whc(name, &base())));
    }
    for labels in [
        json!({"a/b": "x"}),
        json!({"kubernetes": "x"}),
        json!({"k": "v".repeat(64)}),
        json!({"k": "a b"}),
        json!({"": "v"}),
        json!({"ü": "v"}),
        json!({"k": "$(x)"}),
        json!({"k": 5}),
        json!("x"),
        json!({"k": huge}),
        Value::Object((0..300).map(|i| (format!("k{i}"), json!("v"))).collect()),
    ] {
        objects.push((
            format!("hostLabels {:.30}", labels.to_string()),
            whc("bad-labels", &with("hostLabels", labels)),
        ));
    }
    for address in [
        "nats://a;b",
        "nats://a b",
        "nats://a\nb",
        "$(reboot)",
        "nats://a:99999",
        "http://a",
        "nats://",
        "'; drop table;--",
    ] {
        objects.push((
            format!("natsAddress {address:?}"),
            whc("bad-nats", &with("natsAddress", json!(address))),
        ));
    }
    for replicas in [json!(-1), json!(10001), json!("3"), json!(1.5), json!(i64::MAX)] {
        objects.push((
            format!("hostReplicas {replicas}"),
            whc("bad-replicas", &with("hostReplicas", replicas)),
        ));
    }
    objects.push((
        "no version or image".into(),
        whc("no-version", &json!({"lattice": "corpus"})),
    ));
    objects.push((
        "empty version".into(),
        whc("empty-version", &with("version", json!(""))),
    ));
    objects.push((
        "image with spaces".into(),
        whc("bad-image", &json!({"lattice": "corpus", "image": "a b c"})),
    ));
    objects.push((
        "version traversal".into(),
        whc("traversal", &with("version", json!("../../etc/passwd"))),
    ));
    for level in [json!("LOUD"), json!(5), json!("info; rm -rf /")] {
        objects.push((
            format!("logLevel {level}"),
            whc("bad-log", &with("logLevel", level)),
        ));
    }
    for secret in ["UPPER", "a/b", ".."] {
        objects.push((
            format!("secretName {secret:?}"),
            whc("bad-secret", &with("secretName", json!(secret))),
        ));
    }
    for (key, value) in [
        ("lattice", json!(5)),
        ("schedulingOptions", json!("x")),
        ("hostLabels", json!([1])),
        ("policyService", json!({"changesTopic": "x"})),
        ("allowedInsecure", json!("x")),
        ("jetstreamDomain", json!(7)),
        (
            "schedulingOptions",
            json!({"podTemplateAdditions": {"spec": {"nodeSelector": {"a": "b"}}}}),
        ),
        (
            "schedulingOptions",
            json!({"podTemplateAdditions": {"containers": [{"name": "x", "image": "y"}]}}),
        ),
        ("schedulingOptions", json!({"daemonset": "yes"})),
        ("certificates", json!({"authorities": [{"name": "ca"}]})),
        (
            "certificates",
            json!({"authorities": [{"name": "ca", "secret": {"secretName": "a"}, "configMap": {"name": "b"}}]}),
        ),
        ("observability", json!({"enable": true})),
        ("maxLinearMemoryBytes", json!(-5)),
    ] {
        objects.push((
            format!("{key} = {:.40}", value.to_string()),
            whc("bad-type", &with(key, value)),
        ));
    }
    objects.push(("spec a string".into(), whc("bad-spec", &json!("x"))));
    objects.push(("spec a list".into(), whc("bad-spec", &json!([1, 2]))));
    // Accepted by the API server, refused by the host-operator (a reference that doesn't resolve).
    objects.push((
        "missing NATS secret".into(),
        whc("missing-secret", &with("secretName", json!("nope"))),
    ));
    objects.push((
        "missing registry secret".into(),
        whc(
            "missing-registry",
            &with("registryCredentialsSecret", json!("nope")),
        ),
    ));
    objects.push((
        "missing CA".into(),
        whc(
            "missing-ca",
            &with(
                "certificates",
                json!({"authorities": [{"name": "ca", "secret": {"secretName": "nope"}}]}),
            ),
        ),
    ));

    let component = |name: &str| json!({"name": name, "type": "component", "properties": {"image": "r/c:1"}});
    let ok_annotations = json!({"k8s.wasmcloud.dev/lattice": "corpus"});
    for name in ["UPPER", "a_b", long.as_str(), "ünï", ""] {
        objects.push((
            format!("app name {name:.20?}"),
            app(name, &ok_annotations, &json!({"components": [component("c")]})),
        ));
    }
    for (what, spec) in [
        ("no components", json!({})),
        ("components not a list", json!({"components": "x"})),
        (
            "component without name",
            json!({"components": [{"type": "component", "properties": {"image": "r/c:1"}}]}),
        ),
        (
            "component of unknown type",
            json!({"components": [{"name": "c", "type": "bogus", "properties": {}}]}),
        ),
        (
            "properties a string",
            json!({"components": [{"name": "c", "type": "component", "properties": "x"}]}),
        ),
        (
            "traits a string",
            json!({"components": [{"name": "c", "type": "component", "properties": {"image": "r/c:1"}, "traits": "x"}]}),
        ),
        (
            "trait without type",
            json!({"components": [{"name": "c", "type": "component", "properties": {"image": "r/c:1"}, "traits": [{"properties": {}}]}]}),
        ),
        (
            "negative instances",
            json!({"components": [{"name": "c", "type": "component", "properties": {"image": "r/c:1"}, "traits": [{"type": "spreadscaler", "properties": {"instances": -1}}]}]}),
        ),
        (
            "instances a string",
            json!({"components": [{"name": "c", "type": "component", "properties": {"image": "r/c:1"}, "traits": [{"type": "spreadscaler", "properties": {"instances": "many"}}]}]}),
        ),
        (
            "link without target",
            json!({"components": [{"name": "c", "type": "capability", "properties": {"image": "r/p:1"}, "traits": [{"type": "link", "properties": {"namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"]}}]}]}),
        ),
        (
            "duplicate component names",
            json!({"components": [component("c"), component("c")]}),
        ),
        (
            "component without image",
            json!({"components": [{"name": "c", "type": "component", "properties": {}}]}),
        ),
        (
            "huge property",
            json!({"components": [{"name": "c", "type": "component", "properties": {"image": "r/c:1", "x": huge}}]}),
        ),
        (
            "thousands of components",
            json!({"components": (0..3000).map(|i| component(&format!("c{i}"))).collect::<Vec<_>>()}),
        ),
        (
            "unicode component name",
            json!({"components": [component("ünïcødé")]}),
        ),
        (
            "injection in image",
            json!({"components": [{"name": "c", "type": "component", "properties": {"image": "$(reboot)"}}]}),
        ),
    ] {
        objects.push((format!("app: {what}"), app("bad-app", &ok_annotations, &spec)));
    }
    for lattice in ["a.b", "*", ">", "", "ünï", "a b", long.as_str()] {
        objects.push((
            format!("app lattice {lattice:.20?}"),
            app(
                "bad-lattice-app",
                &json!({"k8s.wasmcloud.dev/lattice": lattice}),
                &json!({"components": [component("c")]}),
            ),
        ));
    }
    for version in ["v 1", "ü", "../x", long.as_str()] {
        objects.push((
            format!("app version {version:.20?}"),
            app(
                "bad-version",
                &json!({"k8s.wasmcloud.dev/lattice": "corpus", "version": version}),
                &json!({"components": [component("c")]}),
            ),
        ));
    }
    objects
}

fn resource(object: &Value) -> ApiResource {
    let (group, version) = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .unwrap_or(("", "v1"));
    let kind = object["kind"].as_str().unwrap_or_default();
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// The object's own report: a False condition with a reason and message, or a Failed phase.
fn reported(object: &DynamicObject) -> Option<String> {
    let status = object.data.get("status")?;
    let current = status.get("observedGeneration").and_then(Value::as_i64) == object.metadata.generation;
    let failing = status.get("conditions")?.as_array()?.iter().find(|c| {
        c["status"] == "False"
            && matches!(c["type"].as_str(), Some("Ready" | "Synced"))
            && c["message"].as_str().is_some_and(|m| !m.is_empty())
    })?;
    current.then(|| format!("{}: {}", failing["reason"], failing["message"]))
}

async fn start_all(ctx: &TestContext) -> anyhow::Result<Vec<OperatorProcess>> {
    let mut running = Vec::new();
    for name in [
        "wasmcloud-host-operator",
        "wasmcloud-app-status-bridge",
        "wasmcloud-service-syncer",
    ] {
        running.push(start_in_namespace(ctx, name).await?);
    }
    Ok(running)
}

#[tokio::test]
async fn every_hostile_object_is_rejected_or_reported_and_nothing_breaks() {
    with_namespace("corpus", |ctx| async move {
        let running = start_all(&ctx).await?;
        let corpus = corpus();
        assert!(corpus.len() >= 100, "the corpus has {} objects", corpus.len());
        let (mut rejected, mut accepted) = (0, Vec::new());
        let mut pending = Vec::new();
        for (index, (what, object)) in corpus.iter().enumerate() {
            let api: Api<DynamicObject> =
                Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource(object));
            // A valid name gets a suffix so every entry is its own object; invalid names are the input.
            let mut object = object.clone();
            let given = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let plain = given.len() < 50
                && !given.is_empty()
                && given.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            let name = if plain { format!("{given}-{index}") } else { given };
            object["metadata"]["name"] = json!(name);
            let is_host_config = object["kind"] == "WasmCloudHostConfig";
            let typed: Result<DynamicObject, _> = serde_json::from_value(object);
            let created = match typed {
                Ok(typed) => api.create(&PostParams::default(), &typed).await,
                Err(error) => {
                    rejected += 1;
                    eprintln!("{what}: not even an object ({error})");
                    continue;
                }
            };
            match created {
                Err(kube::Error::Api(status)) => {
                    assert!(!status.message.is_empty(), "{what}: rejected without a message");
                    rejected += 1;
                }
                Err(other) => anyhow::bail!("{what}: {other}"),
                Ok(_) => pending.push((what.clone(), is_host_config, api.clone(), name.clone())),
            }
        }
        // Everything accepted is reported on the object, and no hosts start from an invalid spec.
        for (what, is_host_config, api, name) in pending {
            let report = wait::for_object(&api, &name, SETTLE, |o: Option<&DynamicObject>| {
                o.is_some_and(|o| reported(o).is_some())
            })
            .await
            .map_err(|e| anyhow::anyhow!("{what}: accepted but never reported: {e}"))?;
            let message = reported(&report).unwrap_or_default();
            eprintln!("{what}: reported: {message:.160}");
            if is_host_config {
                let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
                assert!(
                    deployments.get_opt(&name).await?.is_none(),
                    "{what}: hosts started from an invalid spec"
                );
            }
            accepted.push(name);
        }
        eprintln!(
            "{} objects: {rejected} rejected at admission, {} reported on the object",
            corpus.len(),
            accepted.len()
        );

        // Nobody crashed, and nobody loops on what is left: reconciles settle into backoff.
        let count = |m: &str| {
            m.lines()
                .filter(|l| l.starts_with("controller_runtime_reconcile_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let mut before = Vec::new();
        for process in &running {
            before.push(count(&process.metrics().await?));
        }
        let window = tokio::time::Instant::now() + Duration::from_secs(10);
        tokio::time::sleep_until(window).await;
        for (process, before) in running.iter().zip(before) {
            let after = count(&process.metrics().await?);
            assert!(
                after - before < 40.0,
                "{} reconciled {} times in 10 s",
                process.name,
                after - before
            );
            assert!(
                !process.log_text().contains("panicked"),
                "{} panicked",
                process.name
            );
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn hostile_wadm_manifests_reach_the_service_syncer_as_events_not_crashes() {
    with_namespace("corpus-wadm", |ctx| async move {
        let running = start_all(&ctx).await?;
        let lattice = lattice("hostile");
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        configs
            .create(&PostParams::default(), &serde_json::from_value(whc("hosts", &json!({"lattice": lattice, "version": "1.4.2"})))?)
            .await?;
        let wadm = WadmApi::new(ctx.env.nats().await?, &lattice);
        let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
        let addresses = ["0.0.0.0", ":0", "host:http", "[::]", "a:99999", "", "0.0.0.0:-1"];
        for (i, address) in addresses.iter().enumerate() {
            let name = format!("hostile-{i}");
            wadm.put(&http_app(&name, "v1", &daemon, address)).await?;
            wadm.deploy(&name, None).await?;
        }
        // Odd hosts with a good port: only the port matters, so these are served.
        for (name, address) in [("odd-unicode", "ünï:80"), ("odd-injection", "$(reboot):80")] {
            wadm.put(&http_app(name, "v1", &daemon, address)).await?;
            wadm.deploy(name, None).await?;
        }
        let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        wait::until("an InvalidAddress Event per hostile app", SETTLE, || async {
            let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            let reported = list.items.iter().filter(|e| e.reason.as_deref() == Some("InvalidAddress")).count();
            if reported >= addresses.len() { Ok(()) } else { Err(format!("{reported} of {}", addresses.len())) }
        })
        .await?;
        let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        for name in ["odd-unicode", "odd-injection"] {
            wait::for_object(&services, name, SETTLE, |s: Option<&k8s_openapi::api::core::v1::Service>| s.is_some()).await?;
        }
        let syncer = &running[2];
        let unserved = sample(
            &syncer.metrics().await?,
            &format!("wasmcloud_service_syncer_unserved_apps{{lattice=\"{lattice}\",namespace=\"{}\",reason=\"InvalidAddress\"}}", ctx.namespace),
        );
        assert!((unserved - 7.0).abs() < f64::EPSILON, "{unserved}");
        for process in &running {
            assert!(!process.log_text().contains("panicked"), "{} panicked", process.name);
        }
        Ok(())
    })
    .await;
}

/// A random valid spec: letters from each field's allowed alphabet, sizes within the schema's bounds.
fn random_spec(rng: &mut impl Rng) -> Value {
    let token = |rng: &mut dyn rand::RngCore, max: usize| -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let len = rng.random_range(1..=max);
        let mut s: String = (0..len)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        s.insert(0, 'a');
        s
    };
    let labels: BTreeMap<String, String> = (0..rng.random_range(0..6))
        .map(|_| (token(rng, 20), token(rng, 30)))
        .collect();
    let level = ["INFO", "debug", "Warn", "error", "TRACE"][rng.random_range(0..5)];
    let minor = rng.random_range(0..20);
    let mut spec = json!({
        "lattice": format!("{}-{}", token(rng, 10), token(rng, 10)),
        "version": format!("1.{minor}.{}", rng.random_range(0..20)),
        "hostReplicas": rng.random_range(0..50),
        "hostLabels": labels,
        "logLevel": level,
        "allowLatest": rng.random_bool(0.5),
        "natsLeafnodePort": rng.random_range(1..65535),
        "jetstreamDomain": token(rng, 12),
        "leafNodeDomain": token(rng, 12),
    });
    if rng.random_bool(0.3) {
        spec["schedulingOptions"] = json!({"daemonset": true});
    }
    if rng.random_bool(0.4) {
        spec["policyService"] =
            json!({"topic": format!("wasmcloud.{}", token(rng, 8)), "timeoutMs": rng.random_range(1..10000)});
    }
    if rng.random_bool(0.3) {
        spec["observability"] =
            json!({"enable": true, "endpoint": format!("http://{}:4318", token(rng, 10))});
        // 1.0.x hosts don't know the protocol setting (the operator refuses it for them; see host_cli_contract).
        if minor >= 1 {
            spec["observability"]["protocol"] = json!("http");
        }
    }
    spec
}

#[tokio::test]
async fn random_valid_specs_build_objects_the_api_server_accepts_under_the_restricted_profile() {
    with_namespace("property", |ctx| async move {
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        let label = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        namespaces
            .patch(&ctx.namespace, &PatchParams::default(), &Patch::Merge(&label))
            .await?;
        let dry_run = PatchParams::apply("property-test").dry_run().force();
        for round in 0..60 {
            let spec = random_spec(&mut rand::rng());
            let mut object: WasmCloudHostConfig =
                serde_json::from_value(whc(&format!("random-{round}"), &spec))?;
            object.metadata.namespace = Some(ctx.namespace.clone());
            object.metadata.uid = Some(format!("00000000-0000-4000-8000-{round:012}"));
            // The CRD's own validation accepts it...
            let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
            let mut submitted = object.clone();
            submitted.metadata.uid = None;
            configs
                .patch(&object.name_any(), &dry_run, &Patch::Apply(&submitted))
                .await
                .map_err(|e| anyhow::anyhow!("spec {spec}: {e}"))?;
            // ...and so does the API server for everything built from it, pods included.
            let inputs = wasmcloud_host_operator::inputs::Inputs::default();
            let desired = wasmcloud_host_operator::build::build(&object, &inputs)
                .map_err(|e| anyhow::anyhow!("spec {spec}: {e}"))?;
            // The pod runs as the host config's ServiceAccount, which admission looks up: create it for real.
            let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
                Api::namespaced(ctx.client.clone(), &ctx.namespace);
            let mut account = desired.service_account.clone();
            account.metadata.owner_references = None;
            accounts
                .patch(
                    &account.name_any(),
                    &PatchParams::apply("property-test"),
                    &Patch::Apply(&account),
                )
                .await?;
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
            let template = match &desired.workload {
                wasmcloud_host_operator::build::Workload::Deployment(d) => {
                    d.spec.as_ref().map(|s| s.template.clone())
                }
                wasmcloud_host_operator::build::Workload::DaemonSet(d) => {
                    d.spec.as_ref().map(|s| s.template.clone())
                }
            }
            .unwrap_or_default();
            let pod = Pod {
                metadata: kube::api::ObjectMeta {
                    name: Some(format!("random-{round}")),
                    ..template.metadata.unwrap_or_default()
                },
                spec: template.spec,
                status: None,
            };
            pods.patch(&pod.name_any(), &dry_run, &Patch::Apply(&pod))
                .await
                .map_err(|e| anyhow::anyhow!("spec {spec}: the pod is refused: {e}"))?;
            let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
                Api::namespaced(ctx.client.clone(), &ctx.namespace);
            config_maps
                .patch(
                    &desired.config_map.name_any(),
                    &dry_run,
                    &Patch::Apply(&desired.config_map),
                )
                .await
                .map_err(|e| anyhow::anyhow!("spec {spec}: the ConfigMap is refused: {e}"))?;
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_canary_password_and_nats_seed_never_surface_in_logs_events_status_or_env() {
    const SEED: &str = "SUAMCANARYSEEDCANARYSEEDCANARYSEEDCANARYSEEDCANARYSEED1234";
    const PASSWORD: &str = "canary-p4ssw0rd-7f3a";
    with_namespace("canary", |ctx| async move {
        // The NATS clients get the password in their URL too (the hub takes any user).
        let nats_url = ctx.env.nats_url.replacen("nats://", &format!("nats://canary:{PASSWORD}@"), 1);
        let mut running = vec![start_in_namespace(&ctx, "wasmcloud-host-operator").await?];
        for name in ["wasmcloud-app-status-bridge", "wasmcloud-service-syncer"] {
            running.push(start_in_namespace_with(&ctx, name, &["--nats-url", &nats_url]).await?);
        }
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{SEED}\n------END USER NKEY SEED------\n"
        );
        secrets.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "nats"}, "stringData": {"nats.creds": creds}}))?).await?;
        let docker = json!({"auths": {"ghcr.io": {"username": "octo", "password": PASSWORD}}}).to_string();
        secrets.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "registry"},
            "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": docker}}))?).await?;
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let spec = json!({"lattice": lattice("canary"), "version": "1.4.2", "secretName": "nats", "registryCredentialsSecret": "registry"});
        configs.create(&PostParams::default(), &serde_json::from_value(whc("hosts", &spec))?).await?;
        // A broken variant too, so the error paths run with the secrets in hand.
        secrets.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "broken"}, "stringData": {"nats.creds": format!("garbage {SEED}")}}))?).await?;
        let broken = json!({"lattice": "canary-broken", "version": "1.4.2", "secretName": "broken"});
        configs.create(&PostParams::default(), &serde_json::from_value(whc("broken", &broken))?).await?;
        // serde's own message for this one would quote the password.
        secrets.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "broken-registry"},
            "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": format!(r#"{{"auths": "{PASSWORD}"}}"#)}}))?).await?;
        let broken_registry = json!({"lattice": "canary-broken-registry", "version": "1.4.2", "registryCredentialsSecret": "broken-registry"});
        configs.create(&PostParams::default(), &serde_json::from_value(whc("broken-registry", &broken_registry))?).await?;
        wait::for_object(&configs, "hosts", SETTLE, |w: Option<&WasmCloudHostConfig>| {
            w.and_then(|w| w.status.as_ref()).is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .await?;
        for name in ["broken", "broken-registry"] {
            wait::for_object(&configs, name, SETTLE, |w: Option<&WasmCloudHostConfig>| {
                w.and_then(|w| w.status.as_ref()).is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "False"))
            })
            .await?;
        }
        let refused = configs.get("broken-registry").await?;
        let message = refused.status.iter().flat_map(|s| &s.conditions).find(|c| c.type_ == "Ready").map(|c| c.message.clone());
        assert!(message.as_deref().is_some_and(|m| m.contains("wrong shape at line 1")), "the position is said: {message:?}");
        let apps: Api<Application> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let _ = apps.list(&ListParams::default()).await?;

        let mut surfaces: Vec<(String, String)> = Vec::new();
        for process in &running {
            surfaces.push((format!("log of {}", process.name), process.log_text()));
        }
        let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        surfaces.push(("Events".into(), serde_json::to_string(&events.list(&ListParams::default()).await?.items)?));
        surfaces.push(("host config status".into(), serde_json::to_string(&configs.list(&ListParams::default()).await?.items)?));
        for kind in [("apps", "v1", "Deployment"), ("", "v1", "Pod"), ("", "v1", "ConfigMap"), ("", "v1", "Service")] {
            let api: Api<DynamicObject> = Api::namespaced_with(
                ctx.client.clone(),
                &ctx.namespace,
                &ApiResource::from_gvk(&GroupVersionKind::gvk(kind.0, kind.1, kind.2)),
            );
            surfaces.push((format!("{} objects (env values included)", kind.2), serde_json::to_string(&api.list(&ListParams::default()).await?.items)?));
        }
        for (what, text) in &surfaces {
            assert!(!text.contains(SEED), "the NATS seed appears in the {what}");
            assert!(!text.contains(PASSWORD), "the registry password appears in the {what}");
        }
        eprintln!("checked {} surfaces", surfaces.len());
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn random_http_apps_and_pods_build_services_and_slices_the_api_server_accepts() {
    const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use wasmcloud_service_syncer::qualify::{HttpApp, Target, service_name};
    use wasmcloud_service_syncer::{build, slices};

    with_namespace("property-svc", |ctx| async move {
        let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let owner = configs
            .create(&PostParams::default(), &serde_json::from_value(whc("owner", &json!({"lattice": "prop", "version": "1.4.2"})))?)
            .await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let slice_api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        for round in 0..60 {
            let (app, target, pods) = {
                let mut rng = rand::rng();
                // wadm app names: letters, digits, '_' and '-', any case, up to 100 characters.
                let len = rng.random_range(1..100);
                let app: String = (0..len).map(|_| char::from(NAME_CHARS[rng.random_range(0..NAME_CHARS.len())])).collect();
                let target = match rng.random_range(0..3) {
                    0 => Target::Lattice,
                    1 => Target::HostLabels(BTreeMap::from([(format!("k{}", rng.random_range(0..9)), format!("v{}", rng.random_range(0..9)))])),
                    _ => Target::Endpoints,
                };
                let pods: Vec<Pod> = (0..rng.random_range(0..6))
                    .map(|i| {
                        let ips = match rng.random_range(0..3) {
                            0 => vec![format!("10.244.{}.{}", rng.random_range(0..255), rng.random_range(1..255))],
                            1 => vec![format!("fd00::{:x}", rng.random_range(1..65535))],
                            _ => vec![format!("10.244.9.{}", i + 1), format!("fd00::{}", i + 1)],
                        };
                        let ready = rng.random_bool(0.7);
                        serde_json::from_value(json!({"metadata": {"name": format!("host-{i}"), "namespace": ctx.namespace, "uid": format!("00000000-0000-4000-8000-{i:012}")},
                            "spec": {"nodeName": "kwok-node-0", "containers": []},
                            "status": {"phase": "Running", "podIP": ips[0], "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
                                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
                        .expect("pod")
                    })
                    .collect();
                (app, target, pods)
            };
            let port = u16::try_from(1 + round * 1000 % 65000).unwrap_or(80);
            let http = HttpApp { app: app.clone(), provider: "httpserver".into(), image: "ghcr.io/wasmcloud/http-server:0.23.0".into(), port, target };
            let service = build::service(&http, "prop", &[&owner]).expect("a service");
            assert_eq!(service.name_any(), service_name(&app));
            let applied = services
                .patch(&service.name_any(), &PatchParams::apply("property-test").force(), &Patch::Apply(&service))
                .await
                .map_err(|e| anyhow::anyhow!("app {app:?}: the Service is refused: {e}"))?;
            let pod_refs: Vec<&Pod> = pods.iter().collect();
            for slice in slices::endpoint_slices(&applied, port, &pod_refs) {
                slice_api
                    .patch(&slice.name_any(), &PatchParams::apply("property-test").dry_run().force(), &Patch::Apply(&slice))
                    .await
                    .map_err(|e| anyhow::anyhow!("app {app:?}: the EndpointSlice is refused: {e}"))?;
            }
        }
        Ok(())
    })
    .await;
}
