//! wasmcloud-host-operator: Turns WasmCloudHostConfig objects into wasmCloud host pods with a NATS leaf sidecar.
//! This module holds the command line and the start-up wiring; reconcilers live in their own modules.

use wasmcloud_operator_types::contract::binaries;
use wasmcloud_operator_types::runtime::app::{self, RequiredCrd};
use wasmcloud_operator_types::runtime::cli::CommonArgs;

/// CRDs this binary can't work without.
const REQUIRED_CRDS: &[RequiredCrd] = &[
    RequiredCrd {
        name: "wasmcloudhostconfigs.k8s.wasmcloud.dev",
        chart: "host-operator",
    },
    RequiredCrd {
        name: "applications.core.oam.dev",
        chart: "app-status-bridge",
    },
];

/// Turns WasmCloudHostConfig objects into wasmCloud host pods with a NATS leaf sidecar.
#[derive(clap::Parser, Debug)]
#[command(name = "wasmcloud-host-operator", version, about)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args { common } = args;
    app::run(
        binaries::HOST_OPERATOR,
        env!("CARGO_PKG_VERSION"),
        common,
        REQUIRED_CRDS,
        |_context| async {
            // The reconcilers arrive with their own issues; until then the binary only serves its admin
            // endpoints and holds leadership.
            std::future::pending::<()>().await;
            Ok(())
        },
    )
    .await
}
