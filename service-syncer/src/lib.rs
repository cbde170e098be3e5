//! wasmcloud-service-syncer: Gives every deployed wasmCloud HTTP application a Service that reaches exactly the host pods serving it.
//! This module holds the command line and the start-up wiring; the controller lives in its own modules.

pub mod build;
pub mod controller;
pub mod inventory;
pub mod lattices;
pub mod plan;
pub mod qualify;
pub mod reconcile;
pub mod slices;

use std::time::Duration;

use wasmcloud_operator_types::contract::binaries;
use wasmcloud_operator_types::runtime::app::{self, RequiredCrd};
use wasmcloud_operator_types::runtime::cli::CommonArgs;
use wasmcloud_operator_types::runtime::nats::{self, NatsArgs};

/// Every readiness check this binary's controllers register (declared before they start).
const READINESS_CHECKS: &[&str] = &[
    "nats",
    "wadm",
    "host-configs",
    "pods",
    "services",
    "endpointslices",
];

/// CRDs this binary can't work without.
const REQUIRED_CRDS: &[RequiredCrd] = &[RequiredCrd {
    name: "wasmcloudhostconfigs.k8s.wasmcloud.dev",
    chart: "host-operator",
}];

/// Gives every deployed wasmCloud HTTP application a Service that reaches exactly the host pods serving it.
#[derive(clap::Parser, Debug)]
#[command(name = "wasmcloud-service-syncer", version, about)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub nats: NatsArgs,

    /// Images of HTTP server providers whose apps get a Service: an image without tag, or a prefix ending
    /// in `*`. Comma-separated or repeated.
    #[arg(long = "http-server-image", env = "HTTP_SERVER_IMAGES", value_delimiter = ',',
          default_values_t = qualify::DEFAULT_HTTP_SERVER_IMAGES.iter().map(|i| (*i).to_string()).collect::<Vec<_>>())]
    pub http_server_images: Vec<String>,

    /// How long hosts get to answer the ping of a lattice resync, in milliseconds.
    #[arg(long, env = "HOST_PING_WINDOW_MS", default_value_t = 1000)]
    pub host_ping_window_ms: u64,
}

/// Runs until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        common,
        nats: nats_args,
        http_server_images,
        host_ping_window_ms,
    } = args;
    anyhow::ensure!(
        http_server_images.iter().any(|i| !i.trim().is_empty()),
        "--http-server-image needs at least one image"
    );
    Box::pin(app::run(
        binaries::SERVICE_SYNCER,
        env!("CARGO_PKG_VERSION"),
        common,
        REQUIRED_CRDS,
        READINESS_CHECKS,
        |context| async move {
            let connected = context.readiness.register("nats");
            let nats = nats::connect(&nats_args, binaries::SERVICE_SYNCER, connected).await?;
            let ping_window = Duration::from_millis(host_ping_window_ms);
            Box::pin(controller::run(context, nats, http_server_images, ping_window)).await
        },
    ))
    .await
}
