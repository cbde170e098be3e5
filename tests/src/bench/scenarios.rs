//! The bench run: every phase in order, each recording into the report. A phase that fails is named in
//! the report and the run goes on where it can. Writes only `bench-*` namespaces.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use serde_json::json;
use tokio::time::Instant;
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

use super::Config;
use super::binaries::{Binaries, NAMES};
use super::measure::{self, apiserver_requests, delta};
use super::objects::{self, AppKind, application, create_all, ensure_namespace, host_config};
use super::report::{Convergence, Latency, MemoryPoint, Report};
use super::tracker::Tracker;
use crate::env::TestEnv;
use crate::pod_hosts::PodHosts;
use crate::wait;

/// The watches every phase reads its timings from.
#[derive(Debug)]
pub struct Trackers {
    /// WasmCloudHostConfig → `ready` when Ready is True for the current generation.
    pub host_configs: Tracker,
    /// The host-operator's Deployments → the pod template's `trial` host label.
    pub deployments: Tracker,
    /// Application → status.phase.
    pub apps: Tracker,
    /// The syncer's Services → `present`.
    pub services: Tracker,
    /// The syncer's EndpointSlices → ready endpoints as `pod/address`, sorted, comma-separated.
    pub slices: Tracker,
}

/// How long the bench waits for the binaries to stop writing before it measures anyway.
const QUIESCE_LIMIT: Duration = Duration::from_secs(45);

const SYNCER_SELECTOR: &str = "app.kubernetes.io/managed-by=wasmcloud-service-syncer";

impl Trackers {
    async fn start(client: &Client) -> anyhow::Result<Self> {
        let mut trackers = Self {
            host_configs: Tracker::start(
                "WasmCloudHostConfig",
                Api::all(client.clone()),
                None,
                host_config_ready,
            ),
            deployments: Tracker::start(
                "Deployment",
                Api::all(client.clone()),
                Some("app.kubernetes.io/managed-by=wasmcloud-host-operator"),
                trial_label,
            ),
            apps: Tracker::start("Application", Api::all(client.clone()), None, phase),
            services: Tracker::start::<Service>(
                "Service",
                Api::all(client.clone()),
                Some(SYNCER_SELECTOR),
                |_| "present".into(),
            ),
            slices: Tracker::start(
                "EndpointSlice",
                Api::all(client.clone()),
                Some(SYNCER_SELECTOR),
                ready_addresses,
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        for tracker in [
            &mut trackers.host_configs,
            &mut trackers.deployments,
            &mut trackers.apps,
            &mut trackers.services,
            &mut trackers.slices,
        ] {
            tracker.synced(deadline).await?;
        }
        Ok(trackers)
    }
}

fn host_config_ready(whc: &WasmCloudHostConfig) -> String {
    let status = whc.status.as_ref();
    let current = status.and_then(|s| s.observed_generation) == whc.metadata.generation;
    let ready = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    if current && ready { "ready" } else { "not-ready" }.into()
}

fn trial_label(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get("host-label.k8s.wasmcloud.dev/trial"))
        .cloned()
        .unwrap_or_default()
}

fn phase(app: &Application) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.phase)
        .map_or("", |p| p.as_str())
        .into()
}

fn ready_addresses(slice: &EndpointSlice) -> String {
    // `pod/address`, so a replacement pod that gets the old pod's address is still told apart.
    let mut endpoints: Vec<String> = slice
        .endpoints
        .iter()
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .flat_map(|e| {
            let pod = e
                .target_ref
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .unwrap_or("");
            e.addresses.iter().map(move |address| format!("{pod}/{address}"))
        })
        .collect();
    endpoints.sort_unstable();
    endpoints.join(",")
}

/// Everything a phase needs.
pub struct Bench {
    pub env: TestEnv,
    pub client: Client,
    pub config: Config,
    pub trackers: Trackers,
    pub report: Report,
    pub binaries: Option<Binaries>,
    /// Simulated hosts for the application namespaces (the host-config namespaces get none).
    pub pod_hosts: Vec<PodHosts>,
    host_configs_created: usize,
}

impl std::fmt::Debug for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Runs every phase and returns what they measured.
pub async fn run(env: TestEnv, config: Config, profile: &str) -> anyhow::Result<Report> {
    let started = Instant::now();
    let client = env.admin_client().await?;
    env.ensure_crds(&client).await?;
    let trackers = Trackers::start(&client).await?;
    let mut report = Report {
        config: config.describe(),
        ..Report::default()
    };
    report.machine.profile = profile.to_string();
    report.machine.nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    report.machine.mem_total_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024);
    let mut bench = Bench {
        env,
        client,
        config,
        trackers,
        report,
        binaries: None,
        pod_hosts: Vec::new(),
        host_configs_created: 0,
    };

    let (binaries, startup) = Binaries::start(&bench.env, "empty cluster", Duration::from_secs(120)).await?;
    bench.report.startups.push(startup);
    bench.binaries = Some(binaries);
    bench.memory_point("empty cluster");

    for size in bench.config.host_configs.clone() {
        let outcome = bench.converge_host_configs(size).await;
        bench.record("host configs", outcome);
        bench.quiesce().await;
        bench.memory_point(&format!("{size} host configs"));
    }
    bench.marginal_cost();

    let outcome = bench.converge_apps().await;
    bench.record("applications", outcome);
    bench.quiesce().await;
    bench.memory_point(&format!("+ {} applications", bench.config.apps));

    let outcome = super::reaction::run(&mut bench).await;
    bench.record("reaction trials", outcome);

    let outcome = bench.idle_window().await;
    bench.record("idle window", outcome);
    bench.memory_point("after idle window");

    let outcome = bench.unrelated_objects().await;
    bench.record("unrelated objects", outcome);

    let outcome = bench.restart().await;
    bench.record("restart at scale", outcome);

    let outcome = bench.nats_connections().await;
    bench.record("NATS connections", outcome);

    if let Some(binaries) = bench.binaries.take() {
        binaries.stop().await?;
    }
    for hosts in std::mem::take(&mut bench.pod_hosts) {
        hosts.stop().await?;
    }
    bench.report.wall_s = started.elapsed().as_secs_f64();
    Ok(bench.report)
}

impl Bench {
    pub fn binaries(&self) -> anyhow::Result<&Binaries> {
        self.binaries
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the binaries are not running"))
    }

    fn record(&mut self, phase: &str, outcome: anyhow::Result<()>) {
        match outcome {
            Ok(()) => eprintln!("[bench] {phase}: done"),
            Err(error) => {
                eprintln!("[bench] {phase} failed: {error:#}");
                self.report.errors.push(format!("{phase}: {error:#}"));
            }
        }
    }

    fn memory_point(&mut self, at: &str) {
        if let Some(binaries) = &self.binaries {
            let rss_mib = binaries.rss_mib();
            eprintln!("[bench] RSS at {at}: {rss_mib:?}");
            self.report.memory.push(MemoryPoint {
                at: at.into(),
                rss_mib,
            });
        }
    }

    /// Waits until the binaries stopped writing (not a measurement; bounded, noted when not reached).
    async fn quiesce(&mut self) {
        let outcome = match &self.binaries {
            Some(binaries) => binaries.quiesce(QUIESCE_LIMIT).await,
            None => return,
        };
        match outcome {
            Ok((_, true)) => {}
            Ok((waited, false)) => self.report.not_quiet.push(format!(
                "still writing {:.0} s after phase {}",
                waited.as_secs_f64(),
                self.report.memory.len()
            )),
            Err(error) => self.record("quiesce", Err(error)),
        }
    }

    /// Per-object marginal cost between the first and the last host-config size (or from empty).
    fn marginal_cost(&mut self) {
        let sizes = &self.config.host_configs;
        let points = &self.report.memory;
        let (Some(&last_size), Some(last)) = (sizes.last(), points.get(sizes.len())) else {
            return;
        };
        let (first_size, first) = if sizes.len() > 1 {
            (sizes[0], &points[1])
        } else {
            (0, &points[0])
        };
        #[allow(clippy::cast_precision_loss)] // object counts are small
        let objects = (last_size - first_size) as f64;
        self.report.marginal_kib_per_host_config = last
            .rss_mib
            .iter()
            .map(|(name, mib)| {
                let before = first.rss_mib.get(name).copied().unwrap_or(0.0);
                (name.clone(), (mib - before) * 1024.0 / objects)
            })
            .collect();
    }

    /// Creates host configs up to `size` in total (1 host each) and times each to Ready.
    async fn converge_host_configs(&mut self, size: usize) -> anyhow::Result<()> {
        let from = self.host_configs_created;
        let namespaces = self.config.host_namespaces;
        for n in 0..namespaces {
            ensure_namespace(&self.client, &format!("bench-hosts-{n}")).await?;
        }
        let objects: Vec<WasmCloudHostConfig> = (from..size)
            .map(|i| {
                let namespace = format!("bench-hosts-{}", i % namespaces);
                host_config(
                    &namespace,
                    &format!("hosts-{i:05}"),
                    &format!("bench-hosts-{}", i % 10),
                    1,
                )
            })
            .collect();
        self.host_configs_created = size;
        let what = format!("host configs {from}→{size} (Ready)");
        let tracker = &self.trackers.host_configs;
        let convergence = self
            .converge(&what, objects, move |key, sent, deadline| async move {
                tracker.first(&key, sent, |v| v == "ready", deadline).await
            })
            .await?;
        self.report.convergence.push(convergence);
        Ok(())
    }

    /// Creates objects in bulk and waits for each with `done`; measures latencies, the total and the
    /// request rates over the window.
    async fn converge<K, F, Fut>(&self, what: &str, objects: Vec<K>, done: F) -> anyhow::Result<Convergence>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        F: Fn(String, Instant, Instant) -> Fut,
        Fut: Future<Output = anyhow::Result<Instant>>,
    {
        let binaries = self.binaries()?;
        let api_before = apiserver_requests(&self.client).await?;
        let requests_before = binaries.requests().await?;
        let count = objects.len();
        let start = Instant::now();
        let created = create_all(&self.client, objects, self.config.in_flight).await?;
        let deadline = start + self.config.phase_limit;
        let (mut samples, mut timeouts, mut last) = (Vec::new(), 0, start);
        for (key, sent) in created {
            match done(key, sent, deadline).await {
                Ok(at) => {
                    samples.push(at.saturating_duration_since(sent));
                    last = last.max(at);
                }
                Err(error) => {
                    timeouts += 1;
                    if timeouts <= 3 {
                        eprintln!("[bench] {what}: {error:#}");
                    }
                }
            }
        }
        let total = last
            .saturating_duration_since(start)
            .as_secs_f64()
            .max(f64::EPSILON);
        let api = delta(&api_before, &apiserver_requests(&self.client).await?);
        #[allow(clippy::cast_precision_loss)] // request counts are small
        let (all, writes) = (api.values().sum::<u64>() as f64, measure::writes(&api) as f64);
        let convergence = Convergence {
            what: what.into(),
            objects: count,
            latency: Latency::of(&samples, timeouts),
            total_s: total,
            apiserver_requests_per_s: all / total,
            apiserver_writes_per_s: writes / total,
            requests: binaries.requests_since(&requests_before).await?,
        };
        eprintln!(
            "[bench] {what}: {} converged in {:.1} s (p50 {:.0} ms, p99 {:.0} ms, {timeouts} timeouts)",
            convergence.latency.count, total, convergence.latency.p50_ms, convergence.latency.p99_ms
        );
        Ok(convergence)
    }

    /// One namespace per lattice with a host config (host pods followed by simulated hosts), then the
    /// Applications across them; each timed to Deployed and, for HTTP ones, to its Service (and, where
    /// the syncer writes EndpointSlices, a ready address in them).
    async fn converge_apps(&mut self) -> anyhow::Result<()> {
        let lattices = self.config.lattices;
        let nats = self.env.nats().await?;
        let mut hosts = Vec::new();
        for l in 0..lattices {
            let namespace = format!("bench-apps-{l}");
            ensure_namespace(&self.client, &namespace).await?;
            self.pod_hosts.push(PodHosts::start(
                self.client.clone(),
                nats.clone(),
                Some(&namespace),
            ));
            hosts.push(host_config(
                &namespace,
                "hosts",
                &format!("bench-apps-{l}"),
                self.config.hosts_per_lattice,
            ));
        }
        let tracker = &self.trackers.host_configs;
        let setup = self
            .converge(
                "lattice host configs (Ready)",
                hosts,
                move |key, sent, deadline| async move {
                    tracker.first(&key, sent, |v| v == "ready", deadline).await
                },
            )
            .await?;
        anyhow::ensure!(
            setup.latency.timeouts == 0,
            "the lattices' host configs did not become Ready"
        );
        let want = lattices * self.config.hosts_per_lattice as usize;
        let pod_hosts = &self.pod_hosts;
        wait::until(
            "a simulated host per host pod",
            Duration::from_secs(120),
            || async move {
                let running: usize = pod_hosts.iter().map(|h| h.pods().len()).sum();
                if running >= want {
                    Ok(())
                } else {
                    Err(format!("{running} of {want}"))
                }
            },
        )
        .await?;

        let apps: Vec<Application> = (0..self.config.apps)
            .map(|j| {
                application(
                    &format!("bench-apps-{}", j % lattices),
                    &format!("app-{j:04}"),
                    AppKind::of(j),
                    None,
                )
            })
            .collect();
        let what = format!("applications (Deployed + Service), {lattices} lattices");
        let trackers = &self.trackers;
        let convergence = self
            .converge(&what, apps, move |key, sent, deadline| async move {
                let deployed = trackers
                    .apps
                    .first(&key, sent, |v| v == "Deployed", deadline)
                    .await?;
                let index: usize = key.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let kind = AppKind::of(index);
                let mut done = deployed;
                if kind.has_service() {
                    done = done.max(
                        trackers
                            .services
                            .first(&key, sent, |v| v == "present", deadline)
                            .await?,
                    );
                }
                if kind.has_slices() {
                    let slice = format!("{key}-ipv4");
                    done = done.max(
                        trackers
                            .slices
                            .first(&slice, sent, |v| !v.is_empty(), deadline)
                            .await?,
                    );
                }
                Ok(done)
            })
            .await?;
        self.report.convergence.push(convergence);
        Ok(())
    }

    /// The deliberate measurement window: requests and new NATS connections of each binary while
    /// nothing changes in the cluster.
    async fn idle_window(&mut self) -> anyhow::Result<()> {
        let binaries = self.binaries()?;
        let (quiesce, quiet) = binaries.quiesce(QUIESCE_LIMIT).await?;
        let before = binaries.requests().await?;
        let connections_before = measure::nats_connections(&self.env.nats_monitor_url).await?;
        let known: Vec<u64> = connections_before.iter().map(|c| c.cid).collect();
        let end = Instant::now() + self.config.idle;
        eprintln!("[bench] idle window: {} s", self.config.idle.as_secs());
        tokio::time::sleep_until(end).await;
        let requests = binaries.requests_since(&before).await?;
        let after = measure::nats_connections(&self.env.nats_monitor_url).await?;
        let new_nats_connections = NAMES
            .iter()
            .map(|name| {
                let new = after
                    .iter()
                    .filter(|c| c.name == *name && !known.contains(&c.cid))
                    .count();
                ((*name).to_string(), new)
            })
            .collect();
        self.report.idle = super::report::Idle {
            secs: self.config.idle.as_secs(),
            quiesce_s: quiesce.as_secs_f64(),
            quiet_before: quiet,
            requests,
            new_nats_connections,
        };
        Ok(())
    }

    /// Adds unrelated Secrets and ConfigMaps (half each) and reports how much each binary grew.
    async fn unrelated_objects(&mut self) -> anyhow::Result<()> {
        let before = self.binaries()?.rss_mib();
        let namespace = "bench-unrelated";
        ensure_namespace(&self.client, namespace).await?;
        let payload = "x".repeat(512);
        let half = self.config.unrelated / 2;
        let secrets: Vec<Secret> = (0..half)
            .map(|i| {
                objects::from_json(json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("unrelated-{i:05}"), "namespace": namespace},
                    "stringData": {"payload": payload}}))
            })
            .collect();
        let config_maps: Vec<ConfigMap> = (0..self.config.unrelated - half)
            .map(|i| {
                objects::from_json(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("unrelated-{i:05}"), "namespace": namespace},
                    "data": {"payload": payload}}))
            })
            .collect();
        create_all(&self.client, secrets, self.config.in_flight).await?;
        create_all(&self.client, config_maps, self.config.in_flight).await?;
        self.quiesce().await;
        let after = self.binaries()?.rss_mib();
        self.report.unrelated_growth_mib = after
            .iter()
            .map(|(name, mib)| (name.clone(), mib - before.get(name).copied().unwrap_or(0.0)))
            .collect();
        self.memory_point(&format!(
            "+ {} unrelated Secrets/ConfigMaps",
            self.config.unrelated
        ));
        Ok(())
    }

    /// Stops the binaries (SIGTERM) and starts them again with everything in place: the start-up peak,
    /// and the requests a start makes.
    async fn restart(&mut self) -> anyhow::Result<()> {
        let mut settled_before = BTreeMap::new();
        if let Some(binaries) = self.binaries.take() {
            settled_before = binaries.rss_mib();
            binaries.stop().await?;
        }
        let (binaries, mut startup) =
            Binaries::start(&self.env, "restart at scale", Duration::from_secs(90)).await?;
        // The allocator keeps a peak's pages, so the new processes' RSS after settling is the peak
        // again; steady is what the processes before the restart had settled at with the same objects.
        startup.steady_mib = settled_before;
        self.report.startups.push(startup);
        self.binaries = Some(binaries);
        Ok(())
    }

    /// Open NATS connections per binary, from the server's monitoring endpoint.
    async fn nats_connections(&mut self) -> anyhow::Result<()> {
        let connections = measure::nats_connections(&self.env.nats_monitor_url).await?;
        let mut open = BTreeMap::new();
        for name in NAMES {
            let count = connections.iter().filter(|c| c.open && c.name == name).count();
            open.insert(name.to_string(), count);
        }
        self.report.nats_connections = open;
        Ok(())
    }
}
