//! wasmcloud-host-operator: turns WasmCloudHostConfig objects into wasmCloud host pods with a NATS leaf
//! sidecar. This module holds the command line and start-up; `controller` wires the watches,
//! `reconcile` is the pipeline, `build` the pure builders.

pub mod app_index;
pub mod apply;
pub mod build;
pub mod confirmed;
pub mod context;
pub mod controller;
pub mod errors;
pub mod gather;
pub mod inputs;
pub mod leaf_link;
pub mod reconcile;
pub mod status;

use wasmcloud_operator_types::contract::binaries;
use wasmcloud_operator_types::runtime::app::{self, RequiredCrd};
use wasmcloud_operator_types::runtime::cli::CommonArgs;

/// Every readiness check this binary's controllers register (declared before they start).
const READINESS_CHECKS: &[&str] = &["caches", "applications"];

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
    /// Image of the host pods' `leaf-link` sidecar (this binary's own image: the chart sets it), whose
    /// readiness covers the NATS leaf's connection to the hub. Unset: no sidecar, and the pods' readiness
    /// covers the leaf itself but not its link.
    #[arg(long, env = "WASMCLOUD_LEAF_LINK_IMAGE")]
    pub leaf_link_image: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary runs instead of the operator.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The host pods' leaf-link probe (see `leaf_link`).
    LeafLink(leaf_link::LeafLinkArgs),
}

/// Runs until SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        common,
        leaf_link_image,
        command: _,
    } = args;
    app::run(
        binaries::HOST_OPERATOR,
        env!("CARGO_PKG_VERSION"),
        common,
        REQUIRED_CRDS,
        READINESS_CHECKS,
        |shared| controller::run(shared, leaf_link_image),
    )
    .await
}
