//! A real wasmCloud host for the local environment: the crates.io host runtime (`wasmcloud-host` 0.27.1, the
//! library the 1.9.x host binary is built on) started from the 1.9.x host command line (`cli`). It runs
//! components with wasmtime and serves `wasmcloud+builtin://http-server`; it exits on SIGINT/SIGTERM or a stop
//! from the lattice. Test tool only; touches NATS and the local files it is pointed at.

mod cli;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser as _;
use nkeys::KeyPair;
use wasmcloud_core::{logging::Level, OtelConfig};
use wasmcloud_host::wasmbus::{Features, Host, HostConfig};
use wasmcloud_host::OciConfig;

use crate::cli::{Args, CONTRACT_VERSION};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(&args);
    let config = host_config(args)?;
    let (host, shutdown) = Host::new(config).await.context("failed to start the host")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        stopped = host.stopped() => { stopped.context("the host's stop channel closed")?; }
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    shutdown.await.context("failed to stop the host cleanly")
}

fn init_logging(args: &Args) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.log_level.as_str().to_lowercase()));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if args.enable_structured_logging {
        logs.json().init();
    } else {
        logs.init();
    }
}

fn host_config(args: Args) -> anyhow::Result<HostConfig> {
    let nats_url = wasmcloud_host::url::Url::parse(&format!("nats://{}:{}", args.nats_host, args.nats_port))
        .context("invalid --nats-host or --nats-port")?;
    let (jwt, key) = match (&args.nats_creds, args.nats_jwt, args.nats_seed) {
        (Some(path), _, _) => {
            let (jwt, key) = read_creds(path)?;
            (Some(jwt), Some(key))
        }
        (None, Some(jwt), Some(seed)) => (
            Some(jwt),
            Some(Arc::new(
                KeyPair::from_seed(&seed).context("invalid --nats-seed")?,
            )),
        ),
        _ => (None, None),
    };
    let host_key = args
        .host_seed
        .as_deref()
        .map(|seed| {
            KeyPair::from_seed(seed)
                .context("invalid --host-seed")
                .map(Arc::new)
        })
        .transpose()?;
    let mut labels: HashMap<String, String> = std::env::vars()
        .filter_map(|(name, value)| Some((name.strip_prefix("WASMCLOUD_LABEL_")?.to_string(), value)))
        .collect();
    labels.extend(args.labels);
    let otel_config = OtelConfig {
        enable_observability: args.enable_observability,
        enable_traces: args.enable_traces,
        enable_metrics: args.enable_metrics,
        enable_logs: args.enable_logs,
        observability_endpoint: args.observability_endpoint,
        traces_endpoint: args.traces_endpoint,
        metrics_endpoint: args.metrics_endpoint,
        logs_endpoint: args.logs_endpoint,
        protocol: args
            .observability_protocol
            .as_deref()
            .unwrap_or("http")
            .parse()
            .context("invalid --observability-protocol")?,
        additional_ca_paths: args.tls_ca_path.clone(),
        trace_level: Level::from(args.trace_level),
        ..OtelConfig::default()
    };
    let defaults = HostConfig::default();
    Ok(HostConfig {
        ctl_nats_url: nats_url.clone(),
        ctl_jwt: jwt.clone(),
        ctl_key: key.clone(),
        ctl_topic_prefix: args.ctl_topic_prefix,
        rpc_nats_url: nats_url,
        rpc_timeout: Duration::from_millis(args.rpc_timeout_ms),
        rpc_jwt: jwt,
        rpc_key: key,
        lattice: args.lattice.into(),
        js_domain: args.js_domain,
        labels,
        host_key,
        provider_shutdown_delay: args.provider_shutdown_delay_ms.map(Duration::from_millis),
        oci_opts: OciConfig {
            additional_ca_paths: args.tls_ca_path,
            allow_latest: args.allow_latest,
            allowed_insecure: args.allowed_insecure,
            oci_registry: args.oci_registry,
            oci_user: args.oci_user,
            oci_password: args.oci_password,
        },
        allow_file_load: args.allow_file_load,
        enable_structured_logging: args.enable_structured_logging,
        log_level: Level::from(args.log_level),
        config_service_enabled: args.config_service_enabled,
        otel_config,
        policy_service_config: wasmcloud_host::wasmbus::host_config::PolicyService {
            policy_topic: args.policy_topic,
            policy_changes_topic: args.policy_changes_topic,
            policy_timeout_ms: args.policy_timeout_ms.map(Duration::from_millis),
        },
        secrets_topic_prefix: args.secrets_topic,
        version: CONTRACT_VERSION.to_string(),
        max_execution_time: Duration::from_millis(args.max_execution_time_ms),
        max_linear_memory: args.max_linear_memory_bytes.unwrap_or(defaults.max_linear_memory),
        max_component_size: args
            .max_component_size_bytes
            .unwrap_or(defaults.max_component_size),
        max_components: args.max_components.unwrap_or(defaults.max_components),
        max_core_instances_per_component: args
            .max_core_instances_per_component
            .unwrap_or(defaults.max_core_instances_per_component),
        heartbeat_interval: args.heartbeat_interval_seconds.map(Duration::from_secs),
        experimental_features: args
            .features
            .iter()
            .map(|name| Features::from(name.as_str()))
            .sum(),
        http_admin: args.http_admin,
        enable_component_auction: args.enable_component_auction.unwrap_or(true),
        enable_provider_auction: args.enable_provider_auction.unwrap_or(true),
        ..defaults
    })
}

/// The JWT and the key pair of a NATS credentials file (`nsc`'s format: a user JWT block and a seed block).
fn read_creds(path: &Path) -> anyhow::Result<(String, Arc<KeyPair>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the NATS credentials file {}", path.display()))?;
    let block = |kind: &str| {
        text.lines()
            .skip_while(|line| !(line.starts_with("-----BEGIN") && line.contains(kind)))
            .nth(1)
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("-----"))
    };
    let (Some(jwt), Some(seed)) = (block("JWT"), block("SEED")) else {
        bail!(
            "{} is not a NATS credentials file (a JWT and a seed block)",
            path.display()
        );
    };
    let key = KeyPair::from_seed(seed).context("the credentials file's seed is not a valid nkey seed")?;
    Ok((jwt.to_string(), Arc::new(key)))
}
