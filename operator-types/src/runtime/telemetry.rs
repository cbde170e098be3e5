//! Logging setup (text or JSON on stderr). Touches only the global tracing subscriber.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use super::cli::LogFormat;

/// Installs the global subscriber. An invalid filter is an error, so a typo doesn't silence the logs.
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| anyhow::anyhow!("invalid --log-level '{filter}': {e}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let colours = std::io::stderr().is_terminal();
    match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_ansi(colours).with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    }
    .map_err(|e| anyhow::anyhow!("failed to install the log subscriber: {e}"))
}
