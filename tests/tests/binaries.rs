//! The three binaries start against a real API server: `--help`/`--version`, CRD checks that say what
//! is missing, /healthz, /readyz and /metrics with request counts.

use std::time::Duration;

use wasmcloud_operator_tests::namespace::with_namespace;
use wasmcloud_operator_tests::process::{OperatorProcess, binary, http_get};
use wasmcloud_operator_types::runtime::crd_check;

const BINARIES: [&str; 3] = [
    "wasmcloud-host-operator",
    "wasmcloud-service-syncer",
    "wasmcloud-app-status-bridge",
];

#[test]
fn every_binary_prints_its_version_and_help() {
    for name in BINARIES {
        let version = std::process::Command::new(binary(name))
            .arg("--version")
            .output()
            .expect("runs");
        assert!(version.status.success());
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
        let help = std::process::Command::new(binary(name))
            .arg("--help")
            .output()
            .expect("runs");
        let help = String::from_utf8_lossy(&help.stdout).to_string();
        for flag in [
            "--kubeconfig",
            "--metrics-bind-address",
            "--health-probe-bind-address",
            "--leader-elect",
            "[env: ",
        ] {
            assert!(help.contains(flag), "{name} --help lacks {flag}:\n{help}");
        }
    }
}

#[tokio::test]
async fn every_binary_starts_serves_probes_and_counts_its_api_requests() {
    with_namespace("binaries", |ctx| async move {
        for name in BINARIES {
            let mut process = OperatorProcess::start(&ctx.env, name, &ctx.env.kubeconfig, &[]).await?;
            process.wait_ready(Duration::from_secs(30)).await?;
            assert_eq!(http_get(process.probe_port, "/healthz").await?.0, 200);
            let metrics = process.metrics().await?;
            assert!(
                metrics.contains(r#"rest_client_requests_total{code="200",resource="customresourcedefinitions",verb="get"}"#),
                "{name} metrics:\n{metrics}"
            );
            assert!(metrics.contains("process_resident_memory_bytes"), "{name}");
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_missing_crd_is_named_with_the_command_that_installs_it() {
    with_namespace("missing-crd", |ctx| async move {
        let error = crd_check::require(&ctx.client, "widgets.example.invalid", "host-operator")
            .await
            .expect_err("no such CRD");
        let message = error.to_string();
        assert!(
            message.contains("widgets.example.invalid is not installed"),
            "{message}"
        );
        assert!(
            message.contains("kubectl apply -f deploy/crds/widgets.example.invalid.yaml"),
            "{message}"
        );
        Ok(())
    })
    .await;
}

async fn is_leader(process: &OperatorProcess) -> bool {
    process
        .metrics()
        .await
        .is_ok_and(|m| m.lines().any(|l| l == "leader_election_master_status 1"))
}

async fn wait_for_one_leader<'a>(
    processes: &'a [&'a OperatorProcess],
    within: Duration,
) -> anyhow::Result<usize> {
    wasmcloud_operator_tests::wait::until("exactly one leader", within, || async {
        let mut leaders = Vec::new();
        for (index, process) in processes.iter().enumerate() {
            if is_leader(process).await {
                leaders.push(index);
            }
        }
        if leaders.len() == 1 {
            Ok(leaders[0])
        } else {
            Err(format!("leaders: {leaders:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_a_standby_takes_over() {
    with_namespace("leader", |ctx| async move {
        let args = [
            "--leader-elect",
            "--leader-election-namespace",
            &ctx.namespace,
            "--leader-election-lease-duration",
            "4",
            "--leader-election-renew-deadline",
            "3",
            "--leader-election-retry-period",
            "1",
        ];
        let name = "wasmcloud-service-syncer";
        let mut first = OperatorProcess::start(&ctx.env, name, &ctx.env.kubeconfig, &args).await?;
        let mut second = OperatorProcess::start(&ctx.env, name, &ctx.env.kubeconfig, &args).await?;
        first.wait_ready(Duration::from_secs(30)).await?;
        second.wait_ready(Duration::from_secs(30)).await?;
        let leader = wait_for_one_leader(&[&first, &second], Duration::from_secs(20)).await?;
        let (mut gone, standby) = if leader == 0 {
            (first, second)
        } else {
            (second, first)
        };

        // SIGKILL: no release, so the standby waits for the lease to expire (4 s) and takes over.
        gone.child.kill().await?;
        wasmcloud_operator_tests::wait::until("standby to lead", Duration::from_secs(15), || async {
            if is_leader(&standby).await {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        })
        .await?;

        // A fresh replica stays standby while the leader lives.
        let mut third = OperatorProcess::start(&ctx.env, name, &ctx.env.kubeconfig, &args).await?;
        third.wait_ready(Duration::from_secs(30)).await?;
        assert_eq!(
            wait_for_one_leader(&[&standby, &third], Duration::from_secs(10)).await?,
            0
        );
        Ok(())
    })
    .await;
}
