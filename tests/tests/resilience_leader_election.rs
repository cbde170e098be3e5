//! Resilience: two replicas of each binary with leader election. One leads at a time (checked every
//! 100 ms throughout), a SIGTERM-ed leader exits within 5 s and hands over at once, a SIGKILL-ed one is
//! replaced within the lease bound, and the new leader does the work. A leader cut off from the API
//! server (its traffic held by a relay) stops leading before its lease can be taken, and the API
//! server's audit log shows the two replicas writing one after the other, never interleaved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::Api;
use serde_json::json;
use wasmcloud_operator_tests::audit;
use wasmcloud_operator_tests::http_apps::create_host_config;
use wasmcloud_operator_tests::namespace::{TestContext, with_namespace};
use wasmcloud_operator_tests::process::{OperatorProcess, http_get, sample};
use wasmcloud_operator_tests::stall_proxy::{StallProxy, api_server_of, kubeconfig_through};
use wasmcloud_operator_tests::wait;
use wasmcloud_operator_types::WasmCloudHostConfig;

/// The binaries' default lease duration plus one retry period: the most a takeover may take after the
/// leader dies without releasing its lease.
const LEASE_BOUND: Duration = Duration::from_secs(15 + 2);
const SIGTERM_EXIT: Duration = Duration::from_secs(5);

async fn start(ctx: &TestContext, name: &str) -> anyhow::Result<OperatorProcess> {
    start_with(ctx, name, &ctx.env.kubeconfig).await
}

async fn start_with(
    ctx: &TestContext,
    name: &str,
    kubeconfig: &std::path::Path,
) -> anyhow::Result<OperatorProcess> {
    let args = [
        "--namespace",
        &ctx.namespace,
        "--leader-elect",
        "--leader-election-namespace",
        &ctx.namespace,
    ];
    OperatorProcess::start(&ctx.env, name, kubeconfig, &args).await
}

/// Waits until the host config `name` has been reconciled (its status observed a generation).
async fn reconciled(ctx: &TestContext, name: &str) -> anyhow::Result<()> {
    let configs: Api<WasmCloudHostConfig> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait::for_object(
        &configs,
        name,
        Duration::from_secs(60),
        |w: Option<&WasmCloudHostConfig>| {
            w.and_then(|w| w.status.as_ref())
                .is_some_and(|s| s.observed_generation.is_some())
        },
    )
    .await
    .map(drop)
}

async fn leads(metrics_port: u16) -> bool {
    match http_get(metrics_port, "/metrics").await {
        Ok((200, text)) => sample(&text, "leader_election_master_status ") >= 1.0,
        _ => false,
    }
}

/// Waits until exactly one of `processes` leads; returns its index.
async fn leader_of(processes: &[&OperatorProcess], timeout: Duration) -> anyhow::Result<usize> {
    let ports: Vec<u16> = processes.iter().map(|p| p.metrics_port).collect();
    let ports = &ports;
    wait::until("exactly one leader", timeout, || async move {
        let mut leading = Vec::new();
        for (index, port) in ports.iter().enumerate() {
            if leads(*port).await {
                leading.push(index);
            }
        }
        match leading.as_slice() {
            [one] => Ok(*one),
            other => Err(format!("leaders: {other:?}")),
        }
    })
    .await
}

/// Samples every metrics port every 100 ms until dropped; sets the flag if two ever lead at once.
fn watch_for_two_leaders(
    ports: Arc<std::sync::Mutex<Vec<u16>>>,
    two: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let current = ports.lock().map(|p| p.clone()).unwrap_or_default();
            let mut leading = 0;
            for port in current {
                if leads(port).await {
                    leading += 1;
                }
            }
            if leading > 1 {
                two.store(true, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn takeover(binary: &str) {
    with_namespace("leader", |ctx| async move {
        let first = start(&ctx, binary).await?;
        let second = start(&ctx, binary).await?;
        let ports = Arc::new(std::sync::Mutex::new(vec![
            first.metrics_port,
            second.metrics_port,
        ]));
        let two_leaders = Arc::new(AtomicBool::new(false));
        let sampler = watch_for_two_leaders(ports.clone(), two_leaders.clone());
        let mut pair = [first, second];
        let leader = leader_of(&[&pair[0], &pair[1]], Duration::from_secs(60)).await?;

        // SIGTERM: the leader releases its lease and exits quickly; the standby takes over at once.
        let stopped = tokio::time::Instant::now();
        pair[leader].signal("TERM")?;
        let exited = tokio::time::timeout(SIGTERM_EXIT, pair[leader].child.wait()).await;
        anyhow::ensure!(
            exited.is_ok(),
            "{binary} took longer than {SIGTERM_EXIT:?} to exit on SIGTERM"
        );
        let standby = 1 - leader;
        leader_of(&[&pair[standby]], LEASE_BOUND).await?;
        eprintln!("{binary}: SIGTERM exit and takeover in {:?}", stopped.elapsed());

        // SIGKILL: no release; the lease runs out and a fresh replica takes over within the bound.
        pair[leader] = start(&ctx, binary).await?;
        if let Ok(mut ports) = ports.lock() {
            *ports = vec![pair[0].metrics_port, pair[1].metrics_port];
        }
        let killed = tokio::time::Instant::now();
        pair[standby].signal("KILL")?;
        leader_of(&[&pair[leader]], LEASE_BOUND + Duration::from_secs(3)).await?;
        eprintln!("{binary}: SIGKILL takeover in {:?}", killed.elapsed());
        sampler.abort();
        assert!(
            !two_leaders.load(Ordering::SeqCst),
            "{binary}: two replicas led at the same time"
        );

        // The new leader works (the host-operator is the one whose work is visible without NATS).
        if binary == "wasmcloud-host-operator" {
            create_host_config(&ctx, "after", "leader-test", 1, &json!({})).await?;
            reconciled(&ctx, "after").await?;
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn host_operator_replicas_take_over_from_each_other() {
    takeover("wasmcloud-host-operator").await;
}

#[tokio::test]
async fn app_status_bridge_replicas_take_over_from_each_other() {
    takeover("wasmcloud-app-status-bridge").await;
}

#[tokio::test]
async fn service_syncer_replicas_take_over_from_each_other() {
    takeover("wasmcloud-service-syncer").await;
}

/// The binaries' default renew deadline, plus the 1.5 s they give the lease hand-over and a margin: by
/// then a cut-off leader has stopped leading (at the deadline) and exited.
const CUT_OFF_EXIT: Duration = Duration::from_secs(10 + 2 + 3);

#[tokio::test]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_its_lease_can_be_taken() {
    let binary = "wasmcloud-host-operator";
    with_namespace("stall", |ctx| async move {
        let proxy = StallProxy::start(api_server_of(&ctx.env.kubeconfig)?).await?;
        let through = kubeconfig_through(&ctx.env.kubeconfig, proxy.port)?;
        let mut cut_off = start_with(&ctx, binary, &through).await?;
        leader_of(&[&cut_off], Duration::from_secs(60)).await?;
        let standby = start(&ctx, binary).await?;
        create_host_config(&ctx, "before", "stall-test", 1, &json!({})).await?;
        reconciled(&ctx, "before").await?;

        let ports = Arc::new(std::sync::Mutex::new(vec![
            cut_off.metrics_port,
            standby.metrics_port,
        ]));
        let two_leaders = Arc::new(AtomicBool::new(false));
        let sampler = watch_for_two_leaders(ports, two_leaders.clone());
        // The partition: the leader's requests (lease renewals included) neither arrive nor fail.
        proxy.hold();
        let held = tokio::time::Instant::now();
        create_host_config(&ctx, "during", "stall-test", 1, &json!({})).await?;
        leader_of(&[&standby], LEASE_BOUND + Duration::from_secs(5)).await?;
        eprintln!(
            "{binary}: the standby leads {:?} after the partition",
            held.elapsed()
        );
        reconciled(&ctx, "during").await?;
        // The partition heals: whatever the cut-off process still holds reaches the API server now.
        proxy.release();
        let exited = tokio::time::timeout(CUT_OFF_EXIT, cut_off.child.wait()).await;
        anyhow::ensure!(
            exited.is_ok(),
            "the cut-off leader was still running {:?} after the partition",
            held.elapsed()
        );
        sampler.abort();
        anyhow::ensure!(
            !two_leaders.load(Ordering::SeqCst),
            "the cut-off leader still claimed leadership when the standby took over"
        );

        // The audit log: every write in the namespace by either replica, in the order received.
        let namespace = ctx.namespace.clone();
        let env = ctx.env.clone();
        let writes = wait::until(
            "both replicas' writes in the audit log",
            Duration::from_secs(30),
            || {
                let (env, namespace) = (env.clone(), namespace.clone());
                async move {
                    let writes = audit::writes_in(&env, &namespace, &format!("{binary}/"))
                        .map_err(|e| e.to_string())?;
                    let turns = audit::periods(&writes).len();
                    if turns >= 2 {
                        Ok(writes)
                    } else {
                        Err(format!("{turns} writer(s) so far"))
                    }
                }
            },
        )
        .await?;
        let periods = audit::periods(&writes);
        anyhow::ensure!(
            audit::returning_writer(&periods).is_none(),
            "two replicas wrote in overlapping periods: {:#?}",
            writes
                .iter()
                .map(|w| format!(
                    "{} {} {} {}/{}",
                    w.received, w.user_agent, w.verb, w.resource, w.name
                ))
                .collect::<Vec<_>>()
        );
        eprintln!(
            "{binary}: {} writes by {} replicas, one after the other",
            writes.len(),
            periods.len()
        );
        Ok(())
    })
    .await;
}
