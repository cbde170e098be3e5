//! Runs wadm (the wasmCloud deployment manager) from its crates.io library, with wadm's own flags.
//! Used by the local environment only; exits on SIGINT/SIGTERM or when a wadm task ends.

use anyhow::Context as _;
use clap::Parser;
use wadm::{config::WadmConfig, start_wadm};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = WadmConfig::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut tasks = start_wadm(config).await.context("failed to start wadm")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        finished = tasks.join_next() => match finished {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(error))) => Err(error.context("a wadm task failed")),
            Some(Err(error)) => Err(anyhow::anyhow!("a wadm task panicked: {error}")),
        },
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    }
}
