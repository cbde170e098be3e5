//! Entry point of wasmcloud-service-syncer: parse arguments, run, report a failure as one line.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = wasmcloud_service_syncer::Args::parse();
    match wasmcloud_service_syncer::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wasmcloud-service-syncer: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
