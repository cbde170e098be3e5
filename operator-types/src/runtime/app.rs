//! The life cycle every binary shares: logging, metrics, client, CRD checks, admin server, leader
//! election, then the binary's controllers until SIGTERM or lost leadership.

use std::future::Future;

use kube::Client;

use super::{
    admin, cli::CommonArgs, client, crd_check, leader::LeaderElection, metrics::Metrics,
    readiness::Readiness, shutdown, telemetry,
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

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("readiness", &self.readiness)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Runs a binary: `controllers` is started once this process may reconcile (at once, or when it becomes
/// leader) and is dropped on SIGTERM or when leadership is lost.
pub async fn run<F, Fut>(
    binary: &'static str,
    version: &'static str,
    common: CommonArgs,
    required_crds: &[RequiredCrd],
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
        leader_election,
    } = common;
    telemetry::init(log_format, &log_level)?;
    tracing::info!(
        binary,
        version,
        revision = option_env!("WASMCLOUD_OPERATOR_REVISION").unwrap_or("unknown"),
        "starting"
    );

    let metrics = Metrics::new()?;
    let client = client::build(kubeconfig.as_deref(), &metrics).await?;
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

    let context = Context {
        client: client.clone(),
        metrics: metrics.clone(),
        readiness,
        namespace,
    };
    let outcome = if leader_election.enabled {
        let election = LeaderElection::new(client, &leader_election, binary);
        tracing::info!(identity = election.identity(), "waiting for leadership");
        let mut guard = tokio::select! {
            guard = election.acquire() => guard,
            () = shutdown::signal() => return finish(stop_admin, admin_task, Ok(())).await,
        };
        metrics.leader.set(1);
        let outcome = tokio::select! {
            result = controllers(context) => result,
            () = shutdown::signal() => Ok(()),
            () = guard.lost() => Err(anyhow::anyhow!("lost leadership; exiting so a fresh process can stand again")),
        };
        metrics.leader.set(0);
        guard.release().await;
        outcome
    } else {
        metrics.leader.set(1);
        tokio::select! {
            result = controllers(context) => result,
            () = shutdown::signal() => Ok(()),
        }
    };
    finish(stop_admin, admin_task, outcome).await
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
