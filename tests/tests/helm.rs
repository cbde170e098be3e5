//! helm, built from its Go module, templates and installs a chart into the local API server.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::namespace::with_namespace;

fn chart() -> String {
    TestEnv::repo_root()
        .join("tests/fixtures/charts/trivial")
        .display()
        .to_string()
}

fn run(command: &mut std::process::Command) -> anyhow::Result<String> {
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[tokio::test]
async fn helm_templates_and_installs_a_chart() {
    with_namespace("helm", |ctx| async move {
        let rendered = run(ctx
            .env
            .helm()
            .args(["template", "demo", &chart(), "--set", "greeting=hi"]))?;
        assert!(
            rendered.contains("name: demo-greeting") && rendered.contains("greeting: \"hi\""),
            "{rendered}"
        );

        run(ctx.env.helm().args([
            "install",
            "demo",
            &chart(),
            "-n",
            &ctx.namespace,
            "--wait",
            "--timeout",
            "60s",
        ]))?;
        let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let data = config_maps.get("demo-greeting").await?.data.unwrap_or_default();
        assert_eq!(data.get("greeting").map(String::as_str), Some("hello"));
        // helm saw a real server version (the kube ldflags), not v0.0.0.
        assert!(
            data.get("kubeVersion").is_some_and(|v| v.starts_with("v1.")),
            "{data:?}"
        );
        run(ctx
            .env
            .helm()
            .args(["uninstall", "demo", "-n", &ctx.namespace, "--wait"]))?;
        assert!(config_maps.get_opt("demo-greeting").await?.is_none());
        Ok(())
    })
    .await;
}
