//! Wires the Application controller: Applications (with their finalizer), the WasmCloudHostConfigs that
//! decide lattices, wadm's status stream for every lattice (`wadm.status.*.*`), and a full resync after
//! every NATS (re)connect. Touches the API through watches and NATS through one subscription.

use std::sync::Arc;

use futures::{StreamExt, stream};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use wasmcloud_operator_types::contract::binaries;
use wasmcloud_operator_types::runtime::backoff::{log_errors, watch_backoff};
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::runtime::nats::Nats;
use wasmcloud_operator_types::runtime::readiness::CacheGate;
use wasmcloud_operator_types::runtime::watch_config;
use wasmcloud_operator_types::runtime::{app, readiness};
use wasmcloud_operator_types::{Application, WasmCloudHostConfig};

use crate::mirror::{self, Mirror, MirrorArgs, Trigger};
use crate::reconcile::{Context, Error, reconcile};
use crate::wadm::Wadm;

/// Runs the controller until the stream ends.
pub async fn run(
    shared: app::Context,
    nats: Nats,
    default_lattice: Option<String>,
    mirror_args: MirrorArgs,
) -> anyhow::Result<()> {
    let client = shared.client.clone();
    let caches = shared.readiness.register("caches");
    let (apps, writer) = reflector::store();
    let (host_configs, host_config_writer) = reflector::store::<WasmCloudHostConfig>();
    let (mirror_trigger, mirror_triggers) = tokio::sync::mpsc::unbounded_channel();
    let mirror_trigger = mirror_args.mirror_wadm_models.then_some(mirror_trigger);
    let application_trigger = mirror_trigger.clone();
    let (mirrors_of, configs_of) = (apps.clone(), host_configs.clone());
    let configured = mirror_args.mirror_namespace.clone();
    let applications = reflector::reflector(
        writer,
        watcher(shared.api::<Application>(), watch_config::all())
            .backoff(watch_backoff())
            .modify(watch_config::slim),
    )
    .inspect(move |event| {
        if let (Some(trigger), Ok(event)) = (&application_trigger, event) {
            mirror::on_application_event(event, &mirrors_of, &configs_of, configured.as_deref(), trigger);
        }
    })
    .applied_objects();
    let controller = shared.graceful(
        Controller::for_stream(log_errors(applications, "Applications"), apps.clone()),
        16,
    );

    let host_config_changes = log_errors(
        reflector::reflector(
            host_config_writer,
            watcher(shared.api::<WasmCloudHostConfig>(), watch_config::all())
                .backoff(watch_backoff())
                .modify(WasmCloudHostConfig::keep_identity_and_lattice),
        )
        .touched_objects(),
        "WasmCloudHostConfigs",
    );
    let same_namespace = apps.clone();
    let status_apps = apps.clone();
    let subscription = nats.client.subscribe("wadm.status.*.*").await?;
    let reconnect_trigger = mirror_trigger.clone();
    let reconnects = each_connect(nats.connections.clone()).inspect(move |()| {
        if let Some(trigger) = &reconnect_trigger {
            let _ = trigger.send(None);
        }
    });

    let reporter = runner::reporter(binaries::APP_STATUS_BRIDGE);
    let context = Arc::new(Context::new(
        client.clone(),
        Wadm::new(nats.client.clone()),
        shared.metrics.clone(),
        Recorder::new(client.clone(), reporter.clone()),
        (apps.clone(), host_configs.clone()),
        default_lattice,
        CacheGate::new(&shared.readiness, &["caches", "host-configs"]),
    ));
    if let Some(trigger) = &mirror_trigger {
        spawn_mirror(
            Mirror {
                client: client.clone(),
                wadm: Wadm::new(nats.client.clone()),
                recorder: Recorder::new(client.clone(), reporter),
                apps: apps.clone(),
                host_configs: host_configs.clone(),
                namespace: mirror_args.mirror_namespace.clone(),
            },
            (trigger.clone(), mirror_triggers),
            nats.client.clone(),
            context.listed.clone(),
        );
    }
    tokio::spawn(readiness::when_store_ready(apps.clone(), caches));
    tokio::spawn(readiness::when_store_ready(
        host_configs,
        shared.readiness.register("host-configs"),
    ));

    let results = controller
        // A host config's lattice decides the lattice of the Applications in its namespace.
        .watches_stream(host_config_changes, move |config| {
            if let Some(trigger) = &mirror_trigger {
                let _ = trigger.send(Some(config.spec.lattice.clone()));
            }
            let namespace = config.namespace();
            same_namespace
                .state()
                .iter()
                .filter(|app| app.namespace() == namespace)
                .map(|app| ObjectRef::from_obj(app.as_ref()))
                .collect::<Vec<_>>()
        })
        // wadm pushes every status change; map wadm.status.<lattice>.<app> back to its object.
        .reconcile_on(subscription.flat_map(move |message| {
            let tokens: Vec<&str> = message.subject.split('.').collect();
            let targets = match tokens.as_slice() {
                ["wadm", "status", lattice, name] => matching(&status_apps, lattice, name),
                _ => Vec::new(),
            };
            stream::iter(targets)
        }))
        // After every (re)connect, everything is read again: status pushed while away is not replayed.
        .reconcile_all_on(reconnects)
        .run(timed_reconcile, error_policy, context);
    runner::drain(results).await;
    Ok(())
}

/// Starts the mirror (once the caches have listed) and the watch of wadm's manifest bucket that feeds it.
fn spawn_mirror(
    mirror: Mirror,
    (trigger, triggers): (Trigger, tokio::sync::mpsc::UnboundedReceiver<Option<String>>),
    nats: async_nats::Client,
    listed: CacheGate,
) {
    let host_configs = mirror.host_configs.clone();
    tokio::spawn(async move {
        listed.open().await;
        mirror.run(triggers).await;
    });
    tokio::spawn(mirror::follow_manifests(nats, host_configs, trigger));
}

/// The Applications named `name` whose status says they live in `lattice`.
fn matching(apps: &Store<Application>, lattice: &str, name: &str) -> Vec<ObjectRef<Application>> {
    apps.state()
        .iter()
        .filter(|app| app.name_any() == name)
        .filter(|app| app.status.as_ref().and_then(|s| s.lattice.as_deref()) == Some(lattice))
        .map(|app| ObjectRef::from_obj(app.as_ref()))
        .collect()
}

/// One item per NATS (re)connect.
fn each_connect(connections: tokio::sync::watch::Receiver<u64>) -> impl futures::Stream<Item = ()> + Send {
    stream::unfold(connections, |mut connections| async move {
        connections.changed().await.ok()?;
        Some(((), connections))
    })
}

/// The reconcile, recorded by the tracker once the caches have listed.
async fn timed_reconcile(app: Arc<Application>, ctx: Arc<Context>) -> Result<Action, Error> {
    runner::timed(
        &app,
        &ctx.tracker,
        &ctx.listed,
        Box::pin(reconcile(app.clone(), ctx.clone())),
    )
    .await
}

#[allow(clippy::needless_pass_by_value)] // the signature is kube's `Controller::run`
fn error_policy(app: Arc<Application>, error: &Error, ctx: Arc<Context>) -> Action {
    runner::error_policy(app.as_ref(), error, &ctx.tracker)
}
