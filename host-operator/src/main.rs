//! Entry point of wasmcloud-host-operator.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = wasmcloud_host_operator::Args::parse();
    wasmcloud_operator_types::runtime::app::main(
        "wasmcloud-host-operator",
        wasmcloud_host_operator::run(args),
    )
}
