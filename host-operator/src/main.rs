//! Entry point of wasmcloud-host-operator: parse arguments, run, report a failure as one line.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = wasmcloud_host_operator::Args::parse();
    match wasmcloud_host_operator::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wasmcloud-host-operator: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
