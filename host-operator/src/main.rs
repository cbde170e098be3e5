//! Entry point of wasmcloud-host-operator.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = wasmcloud_host_operator::Args::parse();
    if let Some(wasmcloud_host_operator::Command::LeafLink(link)) = &args.command {
        return wasmcloud_host_operator::leaf_link::main(link);
    }
    wasmcloud_operator_types::runtime::app::main(
        "wasmcloud-host-operator",
        wasmcloud_host_operator::run(args),
    )
}
