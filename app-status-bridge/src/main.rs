//! Entry point of wasmcloud-app-status-bridge: parse arguments, run, report a failure as one line.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = wasmcloud_app_status_bridge::Args::parse();
    match wasmcloud_app_status_bridge::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wasmcloud-app-status-bridge: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
