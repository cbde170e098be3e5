//! Entry point of wasmcloud-service-syncer.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = wasmcloud_service_syncer::Args::parse();
    wasmcloud_operator_types::runtime::app::main(
        "wasmcloud-service-syncer",
        wasmcloud_service_syncer::run(args),
    )
}
