//! The project's CRDs in a real API server: valid manifests (including the old operator's and wadm's
//! examples) are accepted and defaulted; invalid ones are rejected with the intended messages.

use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

fn fixture(path: &str) -> Value {
    let file = wasmcloud_operator_tests::env::TestEnv::repo_root()
        .join("operator-types/tests/fixtures")
        .join(path);
    serde_yaml::from_str(&std::fs::read_to_string(&file).expect("fixture")).expect("fixture parses")
}

fn dynamic_api<K: kube::Resource<DynamicType = ()>>(ctx: &TestContext) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &ApiResource::erase::<K>(&()))
}

async fn create(api: &Api<DynamicObject>, mut object: Value, namespace: &str) -> Result<Value, String> {
    object["metadata"]["namespace"] = json!(namespace);
    let object: DynamicObject = serde_json::from_value(object).map_err(|e| e.to_string())?;
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => Ok(serde_json::to_value(created).map_err(|e| e.to_string())?),
        Err(kube::Error::Api(status)) => Err(status.message),
        Err(other) => Err(other.to_string()),
    }
}

fn host_config(name: &str, spec: &Value) -> Value {
    json!({"apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
           "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn old_quickstart_host_config_is_accepted_and_defaulted_by_the_api_server() {
    with_namespace("crd-quickstart", |ctx| async move {
        let api = dynamic_api::<WasmCloudHostConfig>(&ctx);
        let created = create(
            &api,
            fixture("old-operator/quickstart_wasmcloud-host.yaml"),
            &ctx.namespace,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        let spec = &created["spec"];
        assert_eq!(spec["hostReplicas"], 1);
        assert_eq!(spec["natsAddress"], "nats://nats.default.svc.cluster.local");
        assert_eq!(spec["natsLeafnodePort"], 7422);
        assert_eq!(spec["leafNodeDomain"], "leaf");
        assert_eq!(spec["logLevel"], "INFO");
        // The typed client reads it back.
        let typed: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        assert_eq!(typed.get("wasmcloud-host").await?.spec.lattice, "default");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn old_annotated_example_is_rejected_with_what_to_change_and_accepted_once_changed() {
    with_namespace("crd-annotated", |ctx| async move {
        let api = dynamic_api::<WasmCloudHostConfig>(&ctx);
        let mut example = fixture("old-operator/full-config_wasmcloud-annotated.yaml");
        let error = create(&api, example.clone(), &ctx.namespace)
            .await
            .expect_err("rejected as written");
        assert!(
            error.contains("podTemplateAdditions is already a PodSpec"),
            "{error}"
        );

        // Doing what the message says is enough; the old resources spelling is accepted and kept.
        let additions = &mut example["spec"]["schedulingOptions"]["podTemplateAdditions"];
        *additions = additions["spec"].clone();
        let created = create(&api, example, &ctx.namespace)
            .await
            .map_err(anyhow::Error::msg)?;
        let resources = &created["spec"]["schedulingOptions"]["resources"];
        assert_eq!(resources["wasmCloudHost"]["requests"]["cpu"], "1", "not pruned");
        assert_eq!(
            created["spec"]["schedulingOptions"]["podTemplateAdditions"]["nodeSelector"]["kubernetes.io/os"],
            "linux"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn invalid_host_configs_are_rejected_with_the_intended_messages() {
    with_namespace("crd-invalid", |ctx| async move {
        let api = dynamic_api::<WasmCloudHostConfig>(&ctx);
        let base = json!({"lattice": "blue", "version": "1.4.2"});
        let with = |patch: Value| {
            let mut spec = base.clone();
            json_patch_merge(&mut spec, &patch);
            spec
        };
        let table: Vec<(&str, Value, &str)> = vec![
            (
                "empty-lattice",
                with(json!({"lattice": ""})),
                "lattice must be 1 to 63",
            ),
            (
                "lattice-ending-in-underscore",
                with(json!({"lattice": "blue_"})),
                "wasmcloud.dev/lattice label value",
            ),
            ("long-lattice", with(json!({"lattice": "l".repeat(64)})), "63"),
            ("dotted.name", base.clone(), "must be a DNS label"),
            (
                "protocol-on-1-0",
                json!({"lattice": "blue", "version": "1.0.4", "observability": {"enable": true,
                    "endpoint": "otel.example", "protocol": "grpc"}}),
                "need wasmCloud host 1.1.0 or later",
            ),
            (
                "secrets-on-1-0",
                json!({"lattice": "blue", "version": "v1.0.4", "secretsTopicPrefix": "secrets"}),
                "need wasmCloud host 1.1.0 or later",
            ),
            (
                "memory-on-1-1",
                json!({"lattice": "blue", "version": "1.1.2", "maxLinearMemoryBytes": 1024}),
                "needs wasmCloud host 1.2.0",
            ),
            (
                "four-gib-on-1-9",
                json!({"lattice": "blue", "version": "1.9.2", "maxLinearMemoryBytes": 4_294_967_296_u64}),
                "below 4 GiB",
            ),
            (
                "a-host-config-name-that-is-definitely-longer-than-sixty-three-chars",
                base.clone(),
                "must be a DNS label",
            ),
            (
                "dotted-lattice",
                with(json!({"lattice": "blue.east"})),
                "NATS subject token",
            ),
            ("no-version", json!({"lattice": "blue"}), "set spec.version"),
            (
                "dotted-leaf-domain",
                with(json!({"leafNodeDomain": "leaf.east"})),
                "leafNodeDomain is a JetStream domain: it may not contain",
            ),
            (
                "wildcard-jetstream-domain",
                with(json!({"jetstreamDomain": "hub>"})),
                "jetstreamDomain is a JetStream domain: it may not contain",
            ),
            (
                "spaced-leaf-domain",
                with(json!({"leafNodeDomain": "leaf east"})),
                "leafNodeDomain is a JetStream domain",
            ),
            (
                "too-many-hosts",
                with(json!({"hostReplicas": 20000})),
                "hostReplicas must be between 0 and 10000",
            ),
            (
                "bad-address",
                with(json!({"natsAddress": "http://nats:4222"})),
                "natsAddress must be",
            ),
            ("bad-port", with(json!({"natsClientPort": 70000})), "65535"),
            (
                "bad-log-level",
                with(json!({"logLevel": "loud"})),
                "logLevel must be one of",
            ),
            (
                "reserved-label",
                with(json!({"hostLabels": {"kubernetes": "no"}})),
                "must not set 'kubernetes'",
            ),
            (
                "bad-label-key",
                with(json!({"hostLabels": {"bad key": "x"}})),
                "hostLabels keys must be valid label names",
            ),
            (
                "bad-label-value",
                with(json!({"hostLabels": {"zone": "a b"}})),
                "hostLabels values must be valid",
            ),
            (
                "bad-secret-name",
                with(json!({"secretName": "Not_A_Name"})),
                "must be the name of an object",
            ),
            (
                "both-resources",
                with(json!({"schedulingOptions": {"resources": {"wasmcloud": {}, "wasmCloudHost": {}}}})),
                "set only resources.wasmcloud",
            ),
            (
                "daemonset-disagrees",
                with(json!({"daemonset": true, "schedulingOptions": {"daemonset": false}})),
                "disagree",
            ),
            (
                "policy-without-topic",
                with(json!({"policyService": {"timeoutMs": 100}})),
                "need policyService.topic",
            ),
            (
                "authority-both-sources",
                with(json!({"certificates": {"authorities": [
                    {"name": "ca", "secret": {"secretName": "ca"}, "configMap": {"name": "ca"}}]}})),
                "exactly one of secret or configMap",
            ),
            (
                "operator-containers",
                with(json!({"schedulingOptions": {"podTemplateAdditions": {"containers": [{"name": "x"}]}}})),
                "containerTemplateAdditions",
            ),
            (
                "observability-without-endpoint",
                with(json!({"observability": {"enable": true}})),
                "endpoint",
            ),
        ];
        let mut failures = Vec::new();
        for (name, spec, expected) in table {
            match create(&api, host_config(name, &spec), &ctx.namespace).await {
                Ok(_) => failures.push(format!("{name}: accepted")),
                Err(message) if message.contains(expected) => {}
                Err(message) => failures.push(format!("{name}: expected `{expected}` in `{message}`")),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn every_wadm_example_applies_as_an_application_with_its_spec_unchanged() {
    with_namespace("crd-apps", |ctx| async move {
        let api = dynamic_api::<Application>(&ctx);
        let dir = wasmcloud_operator_tests::env::TestEnv::repo_root()
            .join("operator-types/tests/fixtures/wadm-oam");
        let mut count = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()).map(str::to_string) else {
                continue;
            };
            if !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "json")) {
                continue;
            }
            let mut manifest = fixture(&format!("wadm-oam/{file}"));
            // Several examples share a name; give each its own object.
            manifest["metadata"]["name"] = json!(format!("app-{count}"));
            let created = create(&api, manifest.clone(), &ctx.namespace)
                .await
                .map_err(|e| anyhow::anyhow!("{file} rejected: {e}"))?;
            assert_eq!(
                created["spec"], manifest["spec"],
                "{file}: the API server changed the spec"
            );
            count += 1;
        }
        assert_eq!(count, 9);
        let bad = json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
                         "metadata": {"name": "nameless"}, "spec": {"components": [{"type": "component"}]}});
        let error = create(&api, bad, &ctx.namespace)
            .await
            .expect_err("component without a name");
        assert!(error.contains("name"), "{error}");
        let dotted = json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
                            "metadata": {"name": "shop.v2"}, "spec": {"components": []}});
        let error = create(&api, dotted, &ctx.namespace)
            .await
            .expect_err("a dotted name");
        assert!(error.contains("can't contain '.'"), "{error}");
        Ok(())
    })
    .await;
}

/// RFC 7386 merge of `patch` into `target`.
fn json_patch_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    json_patch_merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}
