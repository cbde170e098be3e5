//! Entry point of wasmcloud-app-status-bridge.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = wasmcloud_app_status_bridge::Args::parse();
    wasmcloud_operator_types::runtime::app::main(
        "wasmcloud-app-status-bridge",
        wasmcloud_app_status_bridge::run(args),
    )
}
