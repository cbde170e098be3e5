//! wasmcloud-service-syncer: Gives every deployed wasmCloud HTTP application a Service that reaches exactly the host pods serving it.
//! This module holds the command line and the start-up wiring; reconcilers live in their own modules.

pub mod build;
pub mod qualify;

use wasmcloud_operator_types::contract::binaries;
use wasmcloud_operator_types::runtime::app::{self, RequiredCrd};
use wasmcloud_operator_types::runtime::cli::CommonArgs;

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
}

/// Runs until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args { common } = args;
    app::run(
        binaries::SERVICE_SYNCER,
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
