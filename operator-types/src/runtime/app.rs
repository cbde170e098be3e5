//! The life cycle every binary shares: logging, metrics, client, CRD checks, admin server, leader
//! election, then the binary's controllers until SIGTERM or lost leadership.

use std::future::Future;

use kube::Client;

use super::{
    admin,
    cli::CommonArgs,
    client, crd_check,
    leader::LeaderElection,
    metrics::Metrics,
    readiness::Readiness,
    shutdown::{self, Shutdown},
    telemetry,
    write_gate::{GuardWrites, Leadership},
};

/// A CRD a binary can't work without, and the chart that installs it.
#[derive(Debug, Clone, Copy)]
pub struct RequiredCrd {
    pub name: &'static str,
    pub chart: &'static str,
}

/// What a binary's controllers get.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub metrics: Metrics,
    pub readiness: Readiness,
    /// The one namespace to work in, or `None` for all.
    pub namespace: Option<String>,
    /// Fires on SIGTERM: controllers stop taking work and finish what runs ([`Context::graceful`]).
    pub shutdown: Shutdown,
}

impl Context {
    /// An API for `K` in the watched namespace, or across all namespaces.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match &self.namespace {
            Some(namespace) => kube::Api::namespaced(self.client.clone(), namespace),
            None => kube::Api::all(self.client.clone()),
        }
    }
}

impl Context {
    /// `controller` set up the way every controller here runs: per-object trigger backoff on watch
    /// errors, `concurrency` reconciles at once, and graceful shutdown on SIGTERM.
    pub fn graceful<K>(
        &self,
        controller: kube::runtime::Controller<K>,
        concurrency: u16,
    ) -> kube::runtime::Controller<K>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        controller
            .trigger_backoff(super::backoff::watch_backoff())
            .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
            .graceful_shutdown_on(self.shutdown.requested())
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("readiness", &self.readiness)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Runs a binary: `controllers` is started once this process may reconcile (at once, or when it becomes
/// leader), with `checks` (every readiness check it registers) declared not ready just before, so /readyz
/// never answers ready while the controllers are still setting up. On SIGTERM it is told to stop
/// ([`Context::shutdown`]) and gets [`shutdown::GRACE`] to finish the reconciles in flight; when leadership is lost it is dropped at once (its writes are already
/// refused by the write gate).
pub async fn run<F, Fut>(
    binary: &'static str,
    version: &'static str,
    common: CommonArgs,
    required_crds: &[RequiredCrd],
    checks: &[&'static str],
    controllers: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let CommonArgs {
        kubeconfig,
        namespace,
        log_format,
        log_level,
        metrics_bind_address,
        health_probe_bind_address,
        request_timeout,
        leader_election,
    } = common;
    let request_timeout = leader_election
        .request_timeout(request_timeout)
        .map_err(anyhow::Error::msg)?;
    telemetry::init(log_format, &log_level)?;
    tracing::info!(
        binary,
        version,
        revision = option_env!("WASMCLOUD_OPERATOR_REVISION").unwrap_or("unknown"),
        "starting"
    );

    let metrics = Metrics::new()?;
    let identity = LeaderElection::new_identity();
    let leadership = if leader_election.enabled {
        Leadership::candidate()
    } else {
        Leadership::unconditional()
    };
    let client = client::build(
        kubeconfig.as_deref(),
        &metrics,
        &client::Identity {
            user_agent: format!("{binary}/{version} ({identity})"),
        },
        GuardWrites {
            leadership: leadership.clone(),
            request_timeout,
        },
    )
    .await?;
    for crd in required_crds {
        crd_check::require(&client, crd.name, crd.chart).await?;
    }

    let readiness = Readiness::default();
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let (_, admin_task) = admin::serve(
        metrics_bind_address.0,
        health_probe_bind_address.0,
        metrics.clone(),
        readiness.clone(),
        async {
            let _ = admin_stopped.await;
        },
    )
    .await?;

    let start = move |context: Context| {
        context.readiness.declare(checks);
        controllers(context)
    };
    let (stop, shutdown) = Shutdown::new();
    let context = Context {
        client: client.clone(),
        metrics: metrics.clone(),
        readiness,
        namespace,
        shutdown,
    };
    let outcome = if leader_election.enabled {
        let election = LeaderElection::new(client, &leader_election, binary, identity, leadership);
        tracing::info!(identity = election.identity(), "waiting for leadership");
        let mut guard = tokio::select! {
            guard = election.acquire() => guard,
            () = shutdown::signal() => return finish(stop_admin, admin_task, Ok(())).await,
        };
        metrics.leader.set(1);
        let running = start(context);
        tokio::pin!(running);
        let outcome = tokio::select! {
            result = &mut running => result,
            () = shutdown::signal() => wind_down(&stop, running).await,
            () = guard.lost() => Err(anyhow::anyhow!("lost leadership; exiting so a fresh process can stand again")),
        };
        metrics.leader.set(0);
        // Handing the lease over saves the standby a lease duration; it may not hold up the exit.
        if tokio::time::timeout(shutdown::RELEASE, guard.release())
            .await
            .is_err()
        {
            tracing::warn!("could not hand the lease over in time; it expires on its own");
        }
        outcome
    } else {
        metrics.leader.set(1);
        let running = start(context);
        tokio::pin!(running);
        tokio::select! {
            result = &mut running => result,
            () = shutdown::signal() => wind_down(&stop, running).await,
        }
    };
    finish(stop_admin, admin_task, outcome).await
}

/// Tells the controllers to stop and gives the reconciles in flight [`shutdown::GRACE`] to finish.
async fn wind_down<Fut>(stop: &shutdown::Trigger, running: std::pin::Pin<&mut Fut>) -> anyhow::Result<()>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    stop.fire();
    match tokio::time::timeout(shutdown::GRACE, running).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(grace = ?shutdown::GRACE, "reconciles still running after the grace period; stopping anyway");
            Ok(())
        }
    }
}

async fn finish(
    stop_admin: tokio::sync::oneshot::Sender<()>,
    admin_task: tokio::task::JoinHandle<()>,
    outcome: anyhow::Result<()>,
) -> anyhow::Result<()> {
    let _ = stop_admin.send(());
    let _ = admin_task.await;
    tracing::info!(ok = outcome.is_ok(), "stopped");
    outcome
}

/// The body of every binary's `main`: runs `run` on a multi-threaded runtime and turns a failure into
/// one line on stderr and a failing exit code.
pub fn main<F>(binary: &str, run: F) -> std::process::ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    // Kubernetes objects (PodSpec and friends) deserialize through deep serde code: give workers room.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(run),
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{binary}: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Patch, PatchParams};
    use kube::runtime::controller::Action;
    use kube::runtime::{Controller, reflector, watcher};

    use super::*;
    use crate::runtime::fake_api::FakeApi;

    /// A reconcile that is in flight when SIGTERM arrives finishes (its last write included) before the
    /// controller stops, well within the grace period; nothing new starts after the request.
    #[tokio::test]
    async fn a_reconcile_in_flight_at_shutdown_finishes_its_writes() {
        let fake = FakeApi::new();
        let (stop, shutdown) = Shutdown::new();
        let context = Context {
            client: fake.client(),
            metrics: Metrics::new().expect("metrics"),
            readiness: Readiness::default(),
            namespace: None,
            shutdown,
        };
        let object: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x", "namespace": "east"}}))
        .expect("config map");
        let (store, mut writer) = reflector::store();
        // Listed, as a watch would: the controller reconciles only from a store that is ready.
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(object.clone()));
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
        let objects =
            futures::stream::iter([Ok::<_, watcher::Error>(object)]).chain(futures::stream::pending());
        let controller = context.graceful(Controller::for_stream(objects, store), 1);
        let client = context.client.clone();
        let reconcile = move |object: Arc<ConfigMap>, _: Arc<()>| {
            let (client, started) = (client.clone(), started_tx.clone());
            async move {
                let _ = started.send(());
                // Between "the wadm call" and "the status write": the shutdown request lands here.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "east");
                let patch = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": object.metadata.name}, "data": {"done": "yes"}});
                api.patch("x", &PatchParams::apply("test"), &Patch::Apply(&patch))
                    .await?;
                Ok::<_, kube::Error>(Action::await_change())
            }
        };
        let running = tokio::spawn(
            controller
                .run(
                    reconcile,
                    |_, _: &kube::Error, _| Action::await_change(),
                    Arc::new(()),
                )
                .for_each(|_| futures::future::ready(())),
        );
        tokio::time::timeout(Duration::from_secs(10), started.recv())
            .await
            .expect("the reconcile starts")
            .expect("the reconcile started");
        stop.fire();
        tokio::time::timeout(shutdown::GRACE, running)
            .await
            .expect("the controller stops within the grace period")
            .expect("no panic");
        let sent: Vec<String> = fake.writes().iter().map(ToString::to_string).collect();
        assert_eq!(
            sent,
            ["patch configmaps/x"],
            "the write after the shutdown request went out"
        );
    }
}
