//! The one NATS connection per process for the binaries that talk to wadm: flags, connecting (with
//! credentials and a CA if given), readiness that follows the connection, and a signal on every
//! (re)connect so callers can resync. Touches only NATS.

use std::path::PathBuf;

use tokio::sync::watch;

use super::readiness::ReadinessCheck;

/// How to reach the lattice's NATS.
#[derive(clap::Args, Clone)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// NATS credentials file (JWT and seed).
    #[arg(long, env = "NATS_CREDS_FILE")]
    pub nats_creds_file: Option<PathBuf>,

    /// PEM file with the CA that signed the NATS server's certificate.
    #[arg(long, env = "NATS_TLS_CA_FILE")]
    pub nats_tls_ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for NatsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry `user:password@`.
        f.debug_struct("NatsArgs")
            .field("nats_url", &crate::redact::url_credentials(&self.nats_url))
            .field("nats_creds_file", &self.nats_creds_file)
            .field("nats_tls_ca_file", &self.nats_tls_ca_file)
            .finish()
    }
}

/// A connected client and the count of (re)connections so far, which moves on every reconnect.
#[derive(Debug, Clone)]
pub struct Nats {
    pub client: async_nats::Client,
    pub connections: watch::Receiver<u64>,
}

/// Connects (retrying until the server answers) and keeps `ready` in step with the connection.
pub async fn connect(args: &NatsArgs, name: &str, ready: ReadinessCheck) -> anyhow::Result<Nats> {
    let NatsArgs {
        nats_url,
        nats_creds_file,
        nats_tls_ca_file,
    } = args;
    let (connected_tx, connections) = watch::channel(0u64);
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .event_callback(move |event| {
            let (ready, connected_tx) = (ready.clone(), connected_tx.clone());
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!("connected to NATS");
                        ready.set(true);
                        connected_tx.send_modify(|n| *n += 1);
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!("disconnected from NATS; reconnecting");
                        ready.set(false);
                    }
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            }
        });
    if let Some(path) = nats_creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| anyhow::anyhow!("failed to read NATS credentials {}: {e}", path.display()))?;
    }
    if let Some(path) = nats_tls_ca_file {
        options = options.add_root_certificates(path.clone()).require_tls(true);
    }
    let client = options.connect(nats_url.as_str()).await.map_err(|e| {
        anyhow::anyhow!(
            "failed to connect to NATS at {}: {e}",
            crate::redact::url_credentials(nats_url)
        )
    })?;
    Ok(Nats { client, connections })
}
