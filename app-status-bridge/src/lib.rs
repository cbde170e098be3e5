//! wasmcloud-app-status-bridge: Puts Application objects into wadm and mirrors wadm's status back into status.phase.
//! This module holds the command line and the start-up wiring; reconcilers live in their own modules.

pub mod controller;
pub mod group_check;
pub mod manifest;
pub mod mirror;
pub mod provenance;
pub mod reconcile;
pub mod status;
pub use wasmcloud_operator_types::runtime::wadm;

use wasmcloud_operator_types::contract::binaries;
use wasmcloud_operator_types::runtime::app::{self, RequiredCrd};
use wasmcloud_operator_types::runtime::cli::CommonArgs;
use wasmcloud_operator_types::runtime::nats::{self, NatsArgs};

/// Every readiness check this binary's controllers register (declared before they start).
const READINESS_CHECKS: &[&str] = &["nats", "caches", "host-configs"];

/// CRDs this binary can't work without.
const REQUIRED_CRDS: &[RequiredCrd] = &[
    RequiredCrd {
        name: "applications.core.oam.dev",
        chart: "app-status-bridge",
    },
    RequiredCrd {
        name: "wasmcloudhostconfigs.k8s.wasmcloud.dev",
        chart: "host-operator",
    },
];

/// Puts Application objects into wadm and mirrors wadm's status back into status.phase.
#[derive(clap::Parser, Debug)]
#[command(name = "wasmcloud-app-status-bridge", version, about)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub nats: NatsArgs,

    /// Lattice for Applications that have no `k8s.wasmcloud.dev/lattice` annotation and no single lattice
    /// from the WasmCloudHostConfigs in their namespace.
    #[arg(long, env = "DEFAULT_LATTICE")]
    pub default_lattice: Option<String>,

    #[command(flatten)]
    pub mirror: mirror::MirrorArgs,
}

/// Runs until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        common,
        nats: nats_args,
        default_lattice,
        mirror,
    } = args;
    Box::pin(app::run(
        binaries::APP_STATUS_BRIDGE,
        env!("CARGO_PKG_VERSION"),
        common,
        REQUIRED_CRDS,
        READINESS_CHECKS,
        |context| async move {
            group_check::check(&context.client).await?;
            let connected = context.readiness.register("nats");
            let nats = nats::connect(&nats_args, binaries::APP_STATUS_BRIDGE, connected).await?;
            Box::pin(controller::run(context, nats, default_lattice, mirror)).await
        },
    ))
    .await
}
