//! The Helm charts and the kustomize base: `helm lint --strict`, values the schema (or a template check)
//! rejects with a message naming the key, rendered manifests accepted by the API server's strict
//! server-side dry run with zero warnings in a namespace that enforces the Pod Security "restricted"
//! profile, and each chart's RBAC compared with its checked-in rbac-permissions.txt through
//! `kubectl auth can-i --list`; and the host-operator and app-status-bridge binaries started as their chart's
//! ServiceAccount (a TokenRequest token), ready with only those permissions and failing clearly without one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::process::{OperatorProcess, service_account_kubeconfig};
use wasmcloud_operator_tests::wait;

const CHARTS: [&str; 3] = ["host-operator", "service-syncer", "app-status-bridge"];

fn chart_dir(chart: &str) -> String {
    TestEnv::repo_root()
        .join("charts")
        .join(chart)
        .display()
        .to_string()
}

fn uses_nats(chart: &str) -> bool {
    chart != "host-operator"
}

/// What a command printed, and whether it succeeded.
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command, stdin: Option<&str>) -> anyhow::Result<Outcome> {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    Ok(Outcome {
        ok: output.status.success(),
        stdout: String::from_utf8(output.stdout)?,
        stderr: String::from_utf8(output.stderr)?,
    })
}

/// Runs a command that must succeed; returns its stdout.
fn succeed(command: &mut Command, stdin: Option<&str>) -> anyhow::Result<String> {
    let description = format!("{command:?}");
    let outcome = run(command, stdin)?;
    anyhow::ensure!(
        outcome.ok,
        "{description} failed:\n{}{}",
        outcome.stdout,
        outcome.stderr
    );
    Ok(outcome.stdout)
}

/// `--set` arguments that turn on every optional part a chart has (but the ServiceMonitor, whose CRD the
/// local environment doesn't have).
fn everything_on(chart: &str, watched: &str) -> Vec<String> {
    let mut values = vec![
        "replicaCount=2".to_string(),
        "podDisruptionBudget.enabled=true".into(),
        format!("watchNamespace={watched}"),
        "resources.requests.cpu=50m".into(),
        "resources.limits.memory=128Mi".into(),
        "priorityClassName=system-cluster-critical".into(),
        "commonLabels.team=wasm".into(),
        "podAnnotations.example\\.com/owner=platform".into(),
        "extraEnv[0].name=RUST_BACKTRACE".into(),
        "extraEnv[0].value=full".into(),
        "tolerations[0].key=dedicated".into(),
        "tolerations[0].operator=Exists".into(),
    ];
    if uses_nats(chart) {
        values.extend([
            "nats.url=tls://nats.nats:4222".into(),
            "nats.credentials.secretName=nats-user".into(),
            "nats.tls.caConfigMapName=nats-ca".into(),
        ]);
    }
    if chart == "service-syncer" {
        values.push("httpServerImages={ghcr.io/wasmcloud/http-server:*,registry.example/http:1}".into());
    }
    if chart == "app-status-bridge" {
        values.push("defaultLattice=blue".into());
    }
    values
}

fn set_args(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| ["--set".to_string(), v.clone()])
        .collect()
}

fn template(
    env: &TestEnv,
    release: &str,
    chart: &str,
    namespace: &str,
    values: &[String],
) -> anyhow::Result<String> {
    let mut args = vec![
        "template".to_string(),
        release.to_string(),
        chart_dir(chart),
        "--namespace".into(),
        namespace.into(),
    ];
    args.extend(set_args(values));
    succeed(env.helm().args(&args), None)
}

/// The documents of a multi-document YAML stream, as JSON values (empty documents skipped).
fn documents(yaml: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(document)?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

fn kind(document: &Value) -> &str {
    document["kind"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn charts_pass_helm_lint_strict_with_defaults_and_with_everything_on() {
    let env = TestEnv::get();
    for chart in CHARTS {
        let lint = |values: &[String]| -> anyhow::Result<String> {
            let mut args = vec!["lint".to_string(), "--strict".into(), chart_dir(chart)];
            args.extend(set_args(values));
            succeed(env.helm().args(&args), None)
        };
        for values in [Vec::new(), everything_on(chart, "apps")] {
            let output = lint(&values).unwrap_or_else(|e| panic!("{chart} {values:?}: {e:#}"));
            assert!(output.contains("0 chart(s) failed"), "{chart}: {output}");
            assert!(!output.contains("[WARNING]"), "{chart}: {output}");
        }
    }
}

#[tokio::test]
async fn charts_render_what_their_values_ask_for() {
    let env = TestEnv::get();
    for chart in CHARTS {
        let one = template(&env, "blue", chart, "ops", &[]).expect("renders");
        let one = documents(&one).expect("yaml");
        let deployment = one
            .iter()
            .find(|d| kind(d) == "Deployment")
            .expect("a Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !args.contains(&"--leader-elect"),
            "{chart}: one replica needs no election: {args:?}"
        );
        assert!(
            args.contains(&"--health-probe-bind-address=:8081"),
            "{chart}: {args:?}"
        );
        assert!(
            args.contains(&"--metrics-bind-address=:8080"),
            "{chart}: {args:?}"
        );
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"], "/healthz",
            "{chart}"
        );
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"], "/readyz",
            "{chart}"
        );
        assert!(
            one.iter().any(|d| kind(d) == "ClusterRole"),
            "{chart}: cluster-wide by default"
        );
        assert!(
            !one.iter()
                .any(|d| kind(d) == "ServiceMonitor" || kind(d) == "PodDisruptionBudget")
        );
        let crds: Vec<&Value> = one
            .iter()
            .filter(|d| kind(d) == "CustomResourceDefinition")
            .collect();
        match chart {
            "host-operator" | "app-status-bridge" => {
                assert_eq!(crds.len(), 1, "{chart} ships its CRD");
                assert_eq!(
                    crds[0]["metadata"]["annotations"]["helm.sh/resource-policy"],
                    "keep"
                );
            }
            _ => assert!(crds.is_empty(), "{chart} ships no CRD"),
        }

        let mut values = everything_on(chart, "apps");
        values.extend([
            "metrics.serviceMonitor.enabled=true".into(),
            "metrics.serviceMonitor.labels.release=kube-prometheus-stack".into(),
        ]);
        if chart != "service-syncer" {
            values.push("crds.install=false".into());
        }
        let all = documents(&template(&env, "blue", chart, "ops", &values).expect("renders")).expect("yaml");
        let deployment = all
            .iter()
            .find(|d| kind(d) == "Deployment")
            .expect("a Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        let args: Vec<&str> = pod["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            args.contains(&"--leader-elect"),
            "{chart}: two replicas elect a leader: {args:?}"
        );
        assert!(args.contains(&"--namespace=apps"), "{chart}: {args:?}");
        let monitor = all
            .iter()
            .find(|d| kind(d) == "ServiceMonitor")
            .expect("a ServiceMonitor");
        assert_eq!(
            monitor["metadata"]["labels"]["release"], "kube-prometheus-stack",
            "{chart}"
        );
        assert!(all.iter().any(|d| kind(d) == "PodDisruptionBudget"), "{chart}");
        assert!(
            all.iter().all(|d| kind(d) != "CustomResourceDefinition"),
            "{chart}: crds.install=false"
        );
        let role = all
            .iter()
            .find(|d| kind(d) == "Role" && d["metadata"]["namespace"] == "apps")
            .expect("a Role in the watched namespace");
        assert!(role["rules"].as_array().is_some_and(|r| !r.is_empty()), "{chart}");
        let cluster_role = all
            .iter()
            .find(|d| kind(d) == "ClusterRole")
            .expect("a ClusterRole");
        for rule in cluster_role["rules"].as_array().expect("rules") {
            assert!(
                rule["resourceNames"].is_array(),
                "{chart}: with watchNamespace the ClusterRole only names cluster-scoped objects: {rule}"
            );
        }
        if uses_nats(chart) {
            assert!(
                args.contains(&"--nats-creds-file=/etc/wasmcloud/nats/credentials/nats.creds"),
                "{args:?}"
            );
            assert!(
                args.contains(&"--nats-tls-ca-file=/etc/wasmcloud/nats/tls/ca.crt"),
                "{args:?}"
            );
            let env_values = pod["containers"][0]["env"].to_string();
            assert!(
                !env_values.contains("nats-user"),
                "{chart}: credentials stay in a file: {env_values}"
            );
        }
        let extra = vec!["extraArgs[0]=--kubeconfig=/etc/kube/config".to_string()];
        let extra = documents(&template(&env, "blue", chart, "ops", &extra).expect("renders")).expect("yaml");
        let deployment = extra
            .iter()
            .find(|d| kind(d) == "Deployment")
            .expect("a Deployment");
        let last = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .and_then(|a| a.last().cloned());
        assert_eq!(last, Some(json!("--kubeconfig=/etc/kube/config")), "{chart}");
        for document in one.iter().chain(&all).filter(|d| kind(d).ends_with("Role")) {
            let rules = document["rules"].to_string();
            assert!(!rules.contains('*'), "{chart}: no wildcard in RBAC: {rules}");
        }
    }
}

#[tokio::test]
async fn schema_and_checks_reject_bad_values_with_the_key_and_the_reason() {
    let env = TestEnv::get();
    let common: &[(&str, &str)] = &[
        ("replicaCount=two", "at '/replicaCount': got string, want integer"),
        ("replicaCount=-1", "at '/replicaCount': minimum: got -1, want 0"),
        (
            "logFormat=xml",
            "at '/logFormat': value must be one of 'text', 'json'",
        ),
        (
            "image.pullPolicy=Sometimes",
            "at '/image/pullPolicy': value must be one of",
        ),
        (
            "metrics.serviceMonitor.enable=true",
            "at '/metrics/serviceMonitor': additional properties 'enable' not allowed",
        ),
        ("replicas=2", "additional properties 'replicas' not allowed"),
        (
            "commonLabels.team=1",
            "at '/commonLabels/team': got number, want string",
        ),
        (
            "watchNamespace=Apps_1",
            "at '/watchNamespace': 'Apps_1' does not match pattern",
        ),
        (
            "image.digest=latest",
            "at '/image/digest': 'latest' does not match pattern",
        ),
        (
            "podDisruptionBudget.enabled=true,podDisruptionBudget.maxUnavailable=1",
            "podDisruptionBudget: set minAvailable or maxUnavailable, not both",
        ),
        (
            "metrics.serviceMonitor.enabled=true,metrics.service.enabled=false",
            "metrics.serviceMonitor.enabled needs metrics.service.enabled",
        ),
        (
            "serviceAccount.create=false",
            "rbac.create with serviceAccount.create=false needs serviceAccount.name",
        ),
    ];
    let nats: &[(&str, &str)] = &[
        (
            "nats.url=localhost:4222",
            "at '/nats/url': 'localhost:4222' does not match pattern",
        ),
        (
            "nats.tls.caSecretName=a,nats.tls.caConfigMapName=b",
            "nats.tls: set caSecretName or caConfigMapName, not both",
        ),
        ("nats.credentials.key=", "at '/nats/credentials/key': minLength"),
    ];
    for chart in CHARTS {
        // The defaults themselves pass, so each failure below is the bad value's doing.
        template(&env, "check", chart, "ops", &[]).unwrap_or_else(|e| panic!("{chart} defaults: {e:#}"));
        let cases = common.iter().chain(if uses_nats(chart) { nats } else { &[] });
        for (set, expected) in cases {
            let outcome = run(
                env.helm()
                    .args(["template", "check", &chart_dir(chart), "--set", set]),
                None,
            )
            .expect("helm runs");
            assert!(!outcome.ok, "{chart}: --set {set} was accepted");
            assert!(
                outcome.stderr.contains(expected),
                "{chart}: --set {set}: expected {expected:?} in:\n{}",
                outcome.stderr
            );
        }
    }
    // A chart without NATS has no NATS values.
    let outcome = run(
        env.helm().args([
            "template",
            "check",
            &chart_dir("host-operator"),
            "--set",
            "nats.url=nats://x:4222",
        ]),
        None,
    )
    .expect("helm runs");
    assert!(
        outcome
            .stderr
            .contains("additional properties 'nats' not allowed"),
        "{}",
        outcome.stderr
    );
}

/// Applies `manifests` with a strict server-side dry run; fails on any error or warning.
fn dry_run_apply(env: &TestEnv, manifests: &str) -> anyhow::Result<()> {
    let outcome = run(
        env.kubectl().args([
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=charts-test",
            "--dry-run=server",
            "--validate=strict",
            "-f",
            "-",
        ]),
        Some(manifests),
    )?;
    anyhow::ensure!(
        outcome.ok,
        "dry run failed:\n{}{}",
        outcome.stdout,
        outcome.stderr
    );
    anyhow::ensure!(
        !outcome.stderr.to_lowercase().contains("warning"),
        "dry run warned:\n{}",
        outcome.stderr
    );
    Ok(())
}

/// Creates (dry run) a Pod from every Deployment's template, so the enforcing admission judges the pod
/// spec itself. Returns the first rejection, if any.
async fn pods_admitted(ctx: &TestContext, manifests: &str) -> anyhow::Result<Result<usize, String>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut admitted = 0;
    for deployment in documents(manifests)?.iter().filter(|d| kind(d) == "Deployment") {
        let name = deployment["metadata"]["name"].as_str().unwrap_or("pod");
        // The pod runs as the namespace's default ServiceAccount: the chart's doesn't exist in a dry run, and
        // the account plays no part in the profile.
        let mut spec = deployment["spec"]["template"]["spec"].clone();
        spec["serviceAccountName"] = json!("default");
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": format!("{name}-probe"), "labels": deployment["spec"]["template"]["metadata"]["labels"]},
            "spec": spec,
        }))?;
        let params = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        match pods.create(&params, &pod).await {
            Ok(_) => admitted += 1,
            Err(kube::Error::Api(status)) => return Ok(Err(status.message)),
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Ok(admitted))
}

#[tokio::test]
async fn rendered_charts_pass_a_strict_server_dry_run_and_the_restricted_profile() {
    with_namespace("charts-dry", |ctx| async move {
        ctx.enforce_restricted().await?;
        let ns = ctx.namespace.clone();
        for chart in CHARTS {
            for values in [Vec::new(), everything_on(chart, &ns)] {
                let manifests = template(&ctx.env, &format!("{ns}-{chart}"), chart, &ns, &values)?;
                dry_run_apply(&ctx.env, &manifests).map_err(|e| e.context(format!("{chart} {values:?}")))?;
                let admitted = pods_admitted(&ctx, &manifests).await?;
                assert_eq!(
                    admitted,
                    Ok(1),
                    "{chart} {values:?}: the pod spec is admitted under restricted"
                );
            }
        }

        // The check can fail: a container that may escalate privileges is warned about and its pod refused.
        let bad = vec!["securityContext.allowPrivilegeEscalation=true".to_string()];
        let manifests = template(&ctx.env, &format!("{ns}-bad"), "host-operator", &ns, &bad)?;
        let error = dry_run_apply(&ctx.env, &manifests).expect_err("a warning");
        assert!(
            format!("{error:#}").contains("allowPrivilegeEscalation"),
            "{error:#}"
        );
        let refused = pods_admitted(&ctx, &manifests).await?.expect_err("refused");
        assert!(refused.contains("violates PodSecurity \"restricted"), "{refused}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn kustomize_base_and_dev_overlay_pass_a_strict_server_dry_run() {
    with_namespace("charts-kustomize", |ctx| async move {
        ctx.enforce_restricted().await?;
        // Kustomize only loads bases by relative path: put a one-line overlay that moves everything into
        // the test's namespace under target/.
        let root = TestEnv::repo_root();
        for base in ["deploy/base", "deploy/overlays/dev"] {
            let dir = root
                .join("target")
                .join(format!("kustomize-{}", ctx.namespace))
                .join(base);
            std::fs::create_dir_all(&dir)?;
            let up = "../".repeat(3 + base.matches('/').count());
            let kustomization = format!("namespace: {}\nresources:\n  - {up}{base}\n", ctx.namespace);
            std::fs::write(dir.join("kustomization.yaml"), kustomization)?;
            let manifests = succeed(
                ctx.env.kubectl().args(["kustomize", &dir.display().to_string()]),
                None,
            )?;
            let kinds: BTreeSet<String> = documents(&manifests)?
                .iter()
                .map(|d| kind(d).to_string())
                .collect();
            for expected in [
                "Namespace",
                "CustomResourceDefinition",
                "Deployment",
                "ClusterRole",
                "Service",
            ] {
                assert!(kinds.contains(expected), "{base}: no {expected} in {kinds:?}");
            }
            dry_run_apply(&ctx.env, &manifests).map_err(|e| e.context(base.to_string()))?;
            assert_eq!(pods_admitted(&ctx, &manifests).await?, Ok(3), "{base}");
            std::fs::remove_dir_all(root.join("target").join(format!("kustomize-{}", ctx.namespace)))?;
        }
        Ok(())
    })
    .await;
}

/// Each chart with a short release name that doesn't contain the chart's name (so the full name is
/// `<release>-<chart>`).
const RELEASES: [(&str, &str); 3] = [
    ("host-operator", "ho"),
    ("service-syncer", "ss"),
    ("app-status-bridge", "asb"),
];

/// One row of a permission list: resource (with group), resourceNames, verbs.
type Permissions = BTreeMap<(String, String), BTreeSet<String>>;

/// The rows of a chart's rbac-permissions.txt in the given scopes, with `{fullname}` filled in.
fn checked_in(chart: &str, scopes: &[&str], fullname: &str) -> anyhow::Result<Permissions> {
    let text = std::fs::read_to_string(
        TestEnv::repo_root()
            .join("charts")
            .join(chart)
            .join("rbac-permissions.txt"),
    )?;
    let mut permissions = Permissions::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Four columns and the reason the permission exists.
        let [scope, resource, names, verbs, _why, ..] = fields[..] else {
            anyhow::bail!(
                "{chart}/rbac-permissions.txt: a line without its four columns and a reason: {line:?}"
            );
        };
        if scopes.contains(&scope) {
            let names = if names == "-" {
                String::new()
            } else {
                names.replace("{fullname}", fullname)
            };
            permissions
                .entry((resource.to_string(), names))
                .or_default()
                .extend(verbs.split(',').map(str::to_string));
        }
    }
    Ok(permissions)
}

/// `kubectl auth can-i --list` for a ServiceAccount in a namespace, resource rows only, one row per
/// (resource, resourceName) with the union of verbs.
fn can_i(env: &TestEnv, namespace: &str, sa_namespace: &str, sa: &str) -> anyhow::Result<Permissions> {
    let output = succeed(
        env.kubectl().args([
            "auth",
            "can-i",
            "--list",
            "-n",
            namespace,
            &format!("--as=system:serviceaccount:{sa_namespace}:{sa}"),
        ]),
        None,
    )?;
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let column = |name: &str| {
        header
            .find(name)
            .ok_or_else(|| anyhow::anyhow!("no {name} column in {header:?}"))
    };
    let (urls, names, verbs) = (
        column("Non-Resource URLs")?,
        column("Resource Names")?,
        column("Verbs")?,
    );
    let mut permissions = Permissions::new();
    for line in lines {
        let cell = |from: usize, to: usize| line.get(from..to.min(line.len())).unwrap_or_default().trim();
        let resource = cell(0, urls);
        if resource.is_empty() {
            continue; // a non-resource URL
        }
        let list = |text: &str| -> Vec<String> {
            text.trim_matches(|c| c == '[' || c == ']')
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        let verbs_here = list(cell(verbs, line.len()));
        let names_here = list(cell(names, verbs));
        let keys = if names_here.is_empty() {
            vec![String::new()]
        } else {
            names_here
        };
        for name in keys {
            permissions
                .entry((resource.to_string(), name))
                .or_default()
                .extend(verbs_here.iter().cloned());
        }
    }
    Ok(permissions)
}

/// Removes what every ServiceAccount may do (self-reviews and the like).
fn less(mut permissions: Permissions, baseline: &Permissions) -> Permissions {
    for (key, verbs) in baseline {
        if let Some(held) = permissions.get_mut(key) {
            held.retain(|v| !verbs.contains(v));
            if held.is_empty() {
                permissions.remove(key);
            }
        }
    }
    permissions
}

fn show(permissions: &Permissions) -> String {
    let mut text = String::new();
    for ((resource, names), verbs) in permissions {
        let verbs: Vec<&str> = verbs.iter().map(String::as_str).collect();
        let _ = writeln!(text, "{resource} [{names}] {}", verbs.join(","));
    }
    text
}

#[tokio::test]
async fn each_chart_grants_exactly_its_checked_in_permissions() {
    with_namespace("charts-rbac", |ctx| async move {
        let ns = ctx.namespace.clone();
        // A second namespace: the watched namespace in the watchNamespace install, and "somewhere else"
        // in the cluster-wide one.
        let other = format!("{ns}-apps");
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        let object: Namespace = serde_json::from_value(json!({"metadata": {"name": other}}))?;
        namespaces.create(&PostParams::default(), &object).await?;
        let outcome = check_rbac(&ctx, &other);
        let _ = namespaces
            .delete(&other, &kube::api::DeleteParams::background())
            .await;
        for (_, short) in RELEASES {
            for release in [
                format!("{ns}-{short}-all"),
                format!("{ns}-{short}-one"),
                format!("{ns}-{short}-mirror"),
            ] {
                let _ = run(ctx.env.helm().args(["uninstall", &release, "-n", &ns]), None);
            }
        }
        outcome
    })
    .await;
}

fn check_rbac(ctx: &TestContext, other: &str) -> anyhow::Result<()> {
    let env = &ctx.env;
    let ns = ctx.namespace.as_str();
    succeed(
        env.kubectl()
            .args(["create", "serviceaccount", "nobody", "-n", ns]),
        None,
    )?;
    let baseline = can_i(env, ns, ns, "nobody")?;
    let compare = |chart: &str, release: &str, namespace: &str, scopes: &[&str]| -> anyhow::Result<()> {
        let fullname = format!("{release}-{chart}");
        let actual = less(can_i(env, namespace, ns, &fullname)?, &baseline);
        let expected = checked_in(chart, scopes, &fullname)?;
        anyhow::ensure!(
            actual == expected,
            "{chart} ({release}) in namespace {namespace}, scopes {scopes:?}:\nkubectl auth can-i --list says\n{}\
             charts/{chart}/rbac-permissions.txt says\n{}",
            show(&actual),
            show(&expected)
        );
        Ok(())
    };
    for (chart, short) in RELEASES {
        // Installed for real (RBAC can only be asked about once it exists); no pods, no CRDs.
        let install = |release: &str, extra: &[&str]| -> anyhow::Result<()> {
            let mut args = vec!["install", release, "-n", ns];
            let dir = chart_dir(chart);
            args.insert(2, &dir);
            args.extend(["--set", "replicaCount=0"]);
            if chart != "service-syncer" {
                args.extend(["--set", "crds.install=false"]);
            }
            args.extend(extra);
            succeed(env.helm().args(&args), None).map(drop)
        };
        let all = format!("{ns}-{short}-all");
        install(&all, &[])?;
        compare(chart, &all, ns, &["cluster", "lease", "watched"])?;
        compare(chart, &all, other, &["cluster", "watched"])?;

        let one = format!("{ns}-{short}-one");
        let watch = format!("watchNamespace={other}");
        install(&one, &["--set", &watch])?;
        compare(chart, &one, other, &["cluster", "watched"])?;
        compare(chart, &one, ns, &["cluster", "lease"])?;

        if chart == "app-status-bridge" {
            // The mirror of wadm models adds its rows, only when it is on.
            let mirror = format!("{ns}-{short}-mirror");
            install(&mirror, &["--set", "mirrorWadmModels.enabled=true"])?;
            compare(chart, &mirror, ns, &["cluster", "lease", "watched", "mirror"])?;
        }
    }
    Ok(())
}

/// Installs `chart`'s ServiceAccount and RBAC (no pods, no CRDs) as release `release`; returns the
/// ServiceAccount's name.
fn install_rbac(ctx: &TestContext, chart: &str, release: &str) -> anyhow::Result<String> {
    let dir = chart_dir(chart);
    let mut args = vec![
        "install",
        release,
        &dir,
        "-n",
        &ctx.namespace,
        "--set",
        "replicaCount=0",
    ];
    // Only the charts that own a CRD have the switch (the service-syncer's has none).
    if chart != "service-syncer" {
        args.extend(["--set", "crds.install=false"]);
    }
    succeed(ctx.env.helm().args(&args), None)?;
    Ok(format!("{release}-{chart}"))
}

#[tokio::test]
async fn binaries_run_with_their_charts_service_account_and_fail_clearly_without_a_permission() {
    with_namespace("charts-sa", |ctx| async move {
        let ns = ctx.namespace.clone();
        let outcome = Box::pin(run_as_service_accounts(&ctx)).await;
        for (_, short) in RELEASES {
            let _ = run(
                ctx.env
                    .helm()
                    .args(["uninstall", &format!("{ns}-{short}"), "-n", &ns]),
                None,
            );
        }
        outcome
    })
    .await;
}

async fn run_as_service_accounts(ctx: &TestContext) -> anyhow::Result<()> {
    let ns = ctx.namespace.as_str();
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), ns);
    for (chart, short) in [
        ("host-operator", "ho"),
        ("app-status-bridge", "asb"),
        ("service-syncer", "ss"),
    ] {
        let release = format!("{ns}-{short}");
        let account = install_rbac(ctx, chart, &release)?;
        let kubeconfig = service_account_kubeconfig(&ctx.env, &ctx.client, ns, &account).await?;
        let binary = format!("wasmcloud-{chart}");
        // Cluster-wide, as the chart runs it, with leader election on the chart's Lease.
        let args = [
            "--leader-elect",
            "--leader-election-namespace",
            ns,
            "--leader-election-id",
            &account,
        ];
        let mut process = OperatorProcess::start(&ctx.env, &binary, &kubeconfig, &args).await?;
        process
            .wait_ready(Duration::from_secs(60))
            .await
            .map_err(|e| e.context(format!("{binary} as {account}: {}", process.log_text())))?;
        // Ready comes before leadership (a standby replica is ready too): wait for the Lease.
        let leases_ref = &leases;
        let account_ref = &account;
        wait::until(
            &format!("{binary} to hold its Lease"),
            Duration::from_secs(30),
            || async move {
                let lease = leases_ref.get_opt(account_ref).await.map_err(|e| e.to_string())?;
                let holder = lease
                    .and_then(|l| l.spec)
                    .and_then(|s| s.holder_identity)
                    .unwrap_or_default();
                if holder.is_empty() {
                    Err("no holder yet".to_string())
                } else {
                    Ok(())
                }
            },
        )
        .await?;
        let log = process.log_text();
        assert!(
            !log.contains("forbidden"),
            "{binary} was refused something:\n{log}"
        );
        drop(process);

        // Without the right to read its CRDs it stops at once, naming what it was refused.
        let cluster_roles: Api<ClusterRole> = Api::all(ctx.client.clone());
        let mut role = cluster_roles.get(&account).await?;
        let rules = role.rules.take().unwrap_or_default();
        role.rules = Some(
            rules
                .into_iter()
                .filter(|r| {
                    !r.resources
                        .iter()
                        .flatten()
                        .any(|x| x == "customresourcedefinitions")
                })
                .collect(),
        );
        cluster_roles
            .replace(&account, &PostParams::default(), &role)
            .await?;
        // The authorizer follows RBAC through a watch: wait until it refuses, or the binary may start first.
        let reviews: Api<SubjectAccessReview> = Api::all(ctx.client.clone());
        let user = format!("system:serviceaccount:{ns}:{account}");
        let (reviews, user) = (&reviews, &user);
        wait::until(
            "the CRD permission to be gone",
            Duration::from_secs(30),
            || async move {
                let review: SubjectAccessReview = serde_json::from_value(json!({
                "spec": {"user": user, "resourceAttributes": {"group": "apiextensions.k8s.io",
                    "resource": "customresourcedefinitions", "verb": "get",
                    "name": "wasmcloudhostconfigs.k8s.wasmcloud.dev"}}}))
                .map_err(|e| e.to_string())?;
                let answer = reviews
                    .create(&PostParams::default(), &review)
                    .await
                    .map_err(|e| e.to_string())?;
                match answer.status.map(|s| s.allowed) {
                    Some(false) => Ok(()),
                    other => Err(format!("allowed: {other:?}")),
                }
            },
        )
        .await?;
        let mut process = OperatorProcess::start(&ctx.env, &binary, &kubeconfig, &args).await?;
        let status = tokio::time::timeout(Duration::from_secs(60), process.child.wait()).await??;
        assert!(!status.success(), "{binary} should fail without reading its CRDs");
        let log = process.log_text();
        assert!(
            log.contains("failed to read CRD")
                && log.contains("cannot get resource \"customresourcedefinitions\""),
            "{binary}: the error names the refused permission:\n{log}"
        );
    }
    Ok(())
}
