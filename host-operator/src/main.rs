//! Entry point of wasmcloud-host-operator: parse arguments, run, report a failure as one line.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = wasmcloud_host_operator::Args::parse();
    // Kubernetes objects (PodSpec and friends) deserialize through deep serde code: give workers room.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(wasmcloud_host_operator::run(args)),
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wasmcloud-host-operator: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
