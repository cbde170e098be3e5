//! Reaction trials, one after another in namespace `bench-react`: a host-config spec edit → its
//! Deployment; a wadm status change (a simulated host stops or starts) → the Application's phase; an
//! Application created → its Service and EndpointSlice; a host pod deleted → the EndpointSlice. Each
//! trial waits through the trackers' watches with a deadline; a trial that runs out counts as a timeout,
//! and a kind of trial stops after 3 timeouts in a row (the table shows how many trials ran).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

use super::objects::{AppKind, application, create_all, ensure_namespace, host_config};
use super::report::{Latency, Reaction};
use super::scenarios::Bench;
use super::tracker::{DELETED, Timeline};
use crate::lattice_sim::{SimulatedHost, SimulatedLattice};
use crate::pod_hosts::PodHosts;

const NAMESPACE: &str = "bench-react";
/// Deadline of one trial.
const TRIAL: Duration = Duration::from_secs(60);

/// Consecutive timeouts after which a kind of trial stops (each costs a whole trial deadline).
const GIVE_UP_AFTER: usize = 3;

/// Latencies of one kind of reaction.
#[derive(Default)]
struct Samples {
    values: Vec<Duration>,
    timeouts: usize,
    consecutive_timeouts: usize,
}

impl Samples {
    /// Whether this kind of trial keeps timing out and should stop.
    fn given_up(&self) -> bool {
        self.consecutive_timeouts >= GIVE_UP_AFTER
    }

    fn add(&mut self, what: &str, outcome: anyhow::Result<Duration>) {
        match outcome {
            Ok(latency) => {
                self.values.push(latency);
                self.consecutive_timeouts = 0;
            }
            Err(error) => {
                self.timeouts += 1;
                self.consecutive_timeouts += 1;
                if self.timeouts <= 3 {
                    eprintln!("[bench] {what}: {error:#}");
                }
            }
        }
    }

    fn reaction(&self, what: &str) -> Reaction {
        Reaction {
            what: what.into(),
            latency: Latency::of(&self.values, self.timeouts),
        }
    }
}

/// wadm's status messages for one lattice (`wadm.status.<lattice>.<app>` → status type), as received.
struct StatusLog {
    timeline: Timeline,
    task: JoinHandle<()>,
}

impl Drop for StatusLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StatusLog {
    async fn start(nats: &async_nats::Client, lattice: &str) -> anyhow::Result<Self> {
        let mut subscription = nats.subscribe(format!("wadm.status.{lattice}.*")).await?;
        nats.flush().await?;
        let timeline = Timeline::default();
        let shared = timeline.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let at = Instant::now();
                let app = message.subject.rsplit('.').next().unwrap_or_default().to_string();
                let status: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or_default();
                let kind = status
                    .pointer("/status/type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("");
                shared.record(app, kind.to_ascii_lowercase(), at);
            }
        });
        Ok(Self { timeline, task })
    }

    async fn first(&self, app: &str, after: Instant, want: impl Fn(&str) -> bool) -> anyhow::Result<Instant> {
        self.timeline
            .first("wadm status", app, after, want, after + TRIAL)
            .await
    }
}

/// Runs every kind of trial `bench.config.trials` times.
pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let client = bench.client.clone();
    ensure_namespace(&client, NAMESPACE).await?;
    let nats = bench.env.nats().await?;
    bench
        .pod_hosts
        .push(PodHosts::start(client.clone(), nats.clone(), Some(NAMESPACE)));
    let configs = vec![
        host_config(NAMESPACE, "edit-target", "bench-react-edit", 1),
        host_config(NAMESPACE, "svc-hosts", "bench-react-svc", 2),
        host_config(NAMESPACE, "pod-hosts", "bench-react-pods", 2),
    ];
    let created = create_all(&client, configs, 3).await?;
    for (key, sent) in created {
        bench
            .trackers
            .host_configs
            .first(&key, sent, |v| v == "ready", sent + TRIAL)
            .await?;
    }
    let trials = bench.config.trials;
    let mut reactions = Vec::new();

    let edits = spec_edits(bench, trials).await;
    reactions.push(edits.reaction("host config spec edit → Deployment updated"));

    match status_changes(bench, &nats, trials).await {
        Ok(samples) => reactions.push(samples.reaction("wadm status change → Application phase")),
        Err(error) => bench.report.errors.push(format!("wadm status trials: {error:#}")),
    }
    match app_services(bench, &nats, trials).await {
        Ok((end_to_end, syncer)) => {
            reactions.push(end_to_end.reaction("Application created → Service + EndpointSlice ready"));
            reactions.push(syncer.reaction("wadm Deployed → EndpointSlice ready"));
        }
        Err(error) => bench.report.errors.push(format!("app deploy trials: {error:#}")),
    }
    match pod_changes(bench, trials).await {
        Ok((removed, replaced)) => {
            reactions.push(removed.reaction("host pod deleted → its address leaves the EndpointSlice"));
            reactions
                .push(replaced.reaction("host pod deleted → replacement's address in the EndpointSlice"));
        }
        Err(error) => bench.report.errors.push(format!("host pod trials: {error:#}")),
    }
    for reaction in &reactions {
        eprintln!(
            "[bench] {}: p50 {:.0} ms, p99 {:.0} ms ({} timeouts)",
            reaction.what, reaction.latency.p50_ms, reaction.latency.p99_ms, reaction.latency.timeouts
        );
    }
    bench.report.reaction = reactions;
    Ok(())
}

/// Edits `hostLabels` of one host config; waits until its Deployment's pod template carries the label.
async fn spec_edits(bench: &Bench, trials: usize) -> Samples {
    let api: Api<WasmCloudHostConfig> = Api::namespaced(bench.client.clone(), NAMESPACE);
    let key = format!("{NAMESPACE}/edit-target");
    let mut samples = Samples::default();
    for trial in 0..trials {
        let value = format!("t{trial}");
        let patch = json!({"spec": {"hostLabels": {"trial": value}}});
        let sent = Instant::now();
        let outcome = async {
            api.patch("edit-target", &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            let at = bench
                .trackers
                .deployments
                .first(&key, sent, |v| v == value, sent + TRIAL)
                .await?;
            anyhow::Ok(at - sent)
        }
        .await;
        samples.add("spec edit", outcome);
        if samples.given_up() {
            break;
        }
    }
    samples
}

/// One Application on a lattice of simulated hosts the bench controls; stopping the host and starting a
/// new one alternately changes wadm's status. Measured from wadm's status message to the phase.
async fn status_changes(bench: &Bench, nats: &async_nats::Client, trials: usize) -> anyhow::Result<Samples> {
    let lattice = "bench-react-status";
    let log = StatusLog::start(nats, lattice).await?;
    let simulated = SimulatedLattice::start(nats.clone(), lattice).await?;
    let mut host: Option<SimulatedHost> = Some(simulated.start_host("status-host-0", &[]).await?);
    let api: Api<Application> = Api::namespaced(bench.client.clone(), NAMESPACE);
    let name = "status-target";
    let key = format!("{NAMESPACE}/{name}");
    let sent = Instant::now();
    api.create(
        &PostParams::default(),
        &application(NAMESPACE, name, AppKind::Plain, Some(lattice)),
    )
    .await?;
    bench
        .trackers
        .apps
        .first(&key, sent, |v| v == "Deployed", sent + TRIAL)
        .await?;
    let mut samples = Samples::default();
    for trial in 0..trials {
        let trigger = Instant::now();
        let outcome = async {
            let going_down = host.is_some();
            if let Some(running) = host.take() {
                running.stop().await?;
            } else {
                host = Some(simulated.start_host(&format!("status-host-{trial}"), &[]).await?);
            }
            let status = log
                .first(name, trigger, |s| (s != "deployed") == going_down)
                .await?;
            let phase = bench
                .trackers
                .apps
                .first(
                    &key,
                    status,
                    |p| !p.is_empty() && p != DELETED && ((p != "Deployed") == going_down),
                    status + TRIAL,
                )
                .await?;
            anyhow::Ok(phase.saturating_duration_since(status))
        }
        .await;
        samples.add("wadm status change", outcome);
        if samples.given_up() {
            break;
        }
    }
    api.delete(name, &DeleteParams::default()).await?;
    if host.is_none() {
        // Keep a host so the bridge can undeploy the app and remove its finalizer.
        host = Some(simulated.start_host("status-host-last", &[]).await?);
    }
    bench
        .trackers
        .apps
        .first(&key, Instant::now(), |p| p == DELETED, Instant::now() + TRIAL)
        .await?;
    if let Some(host) = host {
        host.stop().await?;
    }
    Ok(samples)
}

/// Creates HTTP apps (a spreadscaler: the syncer writes EndpointSlices) one at a time: created → the
/// Service exists and its slice has a ready address; and wadm's `deployed` status → that slice.
async fn app_services(
    bench: &Bench,
    nats: &async_nats::Client,
    trials: usize,
) -> anyhow::Result<(Samples, Samples)> {
    let lattice = "bench-react-svc";
    let log = StatusLog::start(nats, lattice).await?;
    let api: Api<Application> = Api::namespaced(bench.client.clone(), NAMESPACE);
    let (mut end_to_end, mut syncer) = (Samples::default(), Samples::default());
    let mut created = 0;
    for trial in 0..trials {
        let name = format!("svc-{trial:04}");
        let key = format!("{NAMESPACE}/{name}");
        let sent = Instant::now();
        let deadline = sent + TRIAL;
        let outcome = async {
            api.create(
                &PostParams::default(),
                &application(NAMESPACE, &name, AppKind::HttpSpread, Some(lattice)),
            )
            .await?;
            let service = bench
                .trackers
                .services
                .first(&key, sent, |v| v == "present", deadline)
                .await?;
            let slice = bench
                .trackers
                .slices
                .first(&format!("{key}-ipv4"), sent, |v| !v.is_empty(), deadline)
                .await?;
            let deployed = log.first(&name, sent, |s| s == "deployed").await?;
            anyhow::Ok((
                service.max(slice) - sent,
                slice.saturating_duration_since(deployed),
            ))
        }
        .await;
        match outcome {
            Ok((total, from_wadm)) => {
                end_to_end.add("app deploy", Ok(total));
                syncer.add("app deploy", Ok(from_wadm));
            }
            Err(error) => {
                end_to_end.add("app deploy", Err(error));
                syncer.timeouts += 1;
            }
        }
        api.delete(&name, &DeleteParams::default()).await?;
        created += 1;
        if end_to_end.given_up() {
            break;
        }
    }
    // The deleted apps leave before the idle window starts.
    for trial in 0..created {
        let key = format!("{NAMESPACE}/svc-{trial:04}");
        let now = Instant::now();
        bench
            .trackers
            .apps
            .first(&key, now, |p| p == DELETED, now + TRIAL)
            .await?;
    }
    Ok((end_to_end, syncer))
}

/// An HTTP app on every host pod of a host config, listed in EndpointSlices by the syncer; each trial
/// deletes the pod behind one endpoint and times it leaving, and the replacement pod's arriving.
async fn pod_changes(bench: &Bench, trials: usize) -> anyhow::Result<(Samples, Samples)> {
    let lattice = "bench-react-pods";
    let apps: Api<Application> = Api::namespaced(bench.client.clone(), NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(bench.client.clone(), NAMESPACE);
    let name = "pod-target";
    let slice = format!("{NAMESPACE}/{name}-ipv4");
    let sent = Instant::now();
    apps.create(
        &PostParams::default(),
        &application(NAMESPACE, name, AppKind::HttpDaemonSlices, Some(lattice)),
    )
    .await?;
    let replicas = 2;
    let full = |v: &str| !v.is_empty() && v.split(',').count() == replicas;
    bench
        .trackers
        .slices
        .first(&slice, sent, full, sent + TRIAL)
        .await?;
    let (mut removed, mut replaced) = (Samples::default(), Samples::default());
    for _ in 0..trials {
        let outcome = async {
            // Wait for a full slice (the previous trial's replacement may still be arriving).
            let now = Instant::now();
            bench
                .trackers
                .slices
                .first(&slice, now, full, now + TRIAL)
                .await?;
            let endpoints = bench.trackers.slices.current(&slice).unwrap_or_default();
            let first = endpoints.split(',').next().unwrap_or_default();
            let pod = first.split_once('/').map_or("", |(pod, _)| pod).to_string();
            anyhow::ensure!(!pod.is_empty(), "the slice names no pod: {endpoints}");
            let deleted = Instant::now();
            pods.delete(&pod, &DeleteParams::default()).await?;
            let prefix = format!("{pod}/");
            let gone = |v: &str| !v.split(',').any(|e| e.starts_with(&prefix));
            let left = bench
                .trackers
                .slices
                .first(&slice, deleted, gone, deleted + TRIAL)
                .await?;
            let back = bench
                .trackers
                .slices
                .first(&slice, deleted, |v| gone(v) && full(v), deleted + TRIAL)
                .await?;
            anyhow::Ok((left - deleted, back - deleted))
        }
        .await;
        match outcome {
            Ok((left, back)) => {
                removed.add("pod change", Ok(left));
                replaced.add("pod change", Ok(back));
            }
            Err(error) => {
                removed.add("pod change", Err(error));
                replaced.timeouts += 1;
            }
        }
        if removed.given_up() {
            break;
        }
    }
    Ok((removed, replaced))
}
