//! The wasmCloud 1.9.x host's command line, as `../shared/reference/wasmcloud-host.md` states it: every flag and
//! env variable with the type clap parses it as, its default, its conflicts and requirements. A pod the real 1.9
//! host would refuse to start is refused here with clap's own error. Touches nothing; parsing only.

use std::path::PathBuf;

use clap::Parser;

/// The host version whose command line this follows; reported to the lattice as the host's version.
pub const CONTRACT_VERSION: &str = "1.9.2";

#[derive(Debug, Parser)]
#[command(
    name = "wasmcloud",
    version = CONTRACT_VERSION,
    about = "wasmCloud host (the crates.io wasmcloud-host 0.27.1 runtime behind the 1.9.x host command line)"
)]
pub struct Args {
    /// Controls the verbosity of logs from the host
    #[arg(long = "log-level", env = "WASMCLOUD_LOG_LEVEL", default_value = "info", value_parser = level)]
    pub log_level: tracing::Level,
    /// Controls the verbosity of traces emitted from the host
    #[arg(long = "trace-level", env = "WASMCLOUD_TRACE_LEVEL", default_value = "info", value_parser = level)]
    pub trace_level: tracing::Level,

    /// NATS server host to connect to
    #[arg(long = "nats-host", env = "WASMCLOUD_NATS_HOST", default_value = "127.0.0.1")]
    pub nats_host: String,
    /// NATS server port to connect to
    #[arg(long = "nats-port", env = "WASMCLOUD_NATS_PORT", default_value_t = 4222)]
    pub nats_port: u16,
    /// A user JWT to use to authenticate to NATS
    #[arg(
        long = "nats-jwt",
        env = "WASMCLOUD_NATS_JWT",
        requires = "nats_seed",
        conflicts_with = "nats_creds"
    )]
    pub nats_jwt: Option<String>,
    /// A seed nkey to use to authenticate to NATS
    #[arg(
        long = "nats-seed",
        env = "WASMCLOUD_NATS_SEED",
        requires = "nats_jwt",
        conflicts_with = "nats_creds"
    )]
    pub nats_seed: Option<String>,
    /// A NATS credentials file with the JWT and seed to authenticate with
    #[arg(long = "nats-creds", env = "WASMCLOUD_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,

    /// The lattice the host belongs to
    #[arg(
        short = 'x',
        long = "lattice",
        env = "WASMCLOUD_LATTICE",
        default_value = "default"
    )]
    pub lattice: String,
    /// The seed key (a printable 256-bit Ed25519 private key) used by this host to sign its invocations
    #[arg(long = "host-seed", env = "WASMCLOUD_HOST_SEED")]
    pub host_seed: Option<String>,
    /// The JetStream domain of the host's NATS
    #[arg(long = "js-domain", env = "WASMCLOUD_JS_DOMAIN")]
    pub js_domain: Option<String>,

    /// Allow pulling OCI artifacts tagged `latest`
    #[arg(long = "allow-latest", env = "WASMCLOUD_OCI_ALLOW_LATEST")]
    pub allow_latest: bool,
    /// OCI registries that may be reached over plain HTTP
    #[arg(
        long = "allowed-insecure",
        env = "WASMCLOUD_OCI_ALLOWED_INSECURE",
        value_delimiter = ','
    )]
    pub allowed_insecure: Vec<String>,
    /// A registry whose credentials are given by --oci-user and --oci-password
    #[arg(long = "oci-registry", env = "WASMCLOUD_OCI_REGISTRY", requires = "oci_user")]
    pub oci_registry: Option<String>,
    /// The user for --oci-registry
    #[arg(
        long = "oci-user",
        env = "WASMCLOUD_OCI_REGISTRY_USER",
        requires = "oci_registry"
    )]
    pub oci_user: Option<String>,
    /// The password for --oci-registry
    #[arg(
        long = "oci-password",
        env = "WASMCLOUD_OCI_REGISTRY_PASSWORD",
        requires = "oci_registry"
    )]
    pub oci_password: Option<String>,

    /// Ask the lattice's config service for supplemental configuration at start
    #[arg(long = "config-service-enabled", env = "WASMCLOUD_CONFIG_SERVICE")]
    pub config_service_enabled: bool,
    /// Allow components and providers to be started from `file://` references
    #[arg(long = "allow-file-load", env = "WASMCLOUD_ALLOW_FILE_LOAD")]
    pub allow_file_load: bool,
    /// Log as JSON
    #[arg(
        long = "enable-structured-logging",
        env = "WASMCLOUD_STRUCTURED_LOGGING_ENABLED"
    )]
    pub enable_structured_logging: bool,
    /// The prefix of the control interface's topics
    #[arg(
        long = "ctl-topic-prefix",
        env = "WASMCLOUD_CTL_TOPIC_PREFIX",
        default_value = "wasmbus.ctl"
    )]
    pub ctl_topic_prefix: String,
    /// Timeout of RPC calls, in milliseconds
    #[arg(
        long = "rpc-timeout-ms",
        env = "WASMCLOUD_RPC_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub rpc_timeout_ms: u64,

    /// The topic to ask for policy decisions on
    #[arg(long = "policy-topic", env = "WASMCLOUD_POLICY_TOPIC", value_parser = subject)]
    pub policy_topic: Option<String>,
    /// The topic policy changes arrive on
    #[arg(long = "policy-changes-topic", env = "WASMCLOUD_POLICY_CHANGES_TOPIC", requires = "policy_topic", value_parser = subject)]
    pub policy_changes_topic: Option<String>,
    /// Timeout of policy requests, in milliseconds
    #[arg(
        long = "policy-timeout-ms",
        env = "WASMCLOUD_POLICY_TIMEOUT",
        requires = "policy_topic"
    )]
    pub policy_timeout_ms: Option<u64>,
    /// The topic prefix of the secrets backend
    #[arg(long = "secrets-topic", env = "WASMCLOUD_SECRETS_TOPIC", value_parser = subject)]
    pub secrets_topic: Option<String>,

    /// Turn on every OpenTelemetry signal
    #[arg(long = "enable-observability", env = "WASMCLOUD_OBSERVABILITY_ENABLED",
          conflicts_with_all = ["enable_traces", "enable_metrics", "enable_logs"])]
    pub enable_observability: bool,
    /// Turn OpenTelemetry traces on or off
    #[arg(long = "enable-traces", env = "WASMCLOUD_TRACES_ENABLED")]
    pub enable_traces: Option<bool>,
    /// Turn OpenTelemetry metrics on or off
    #[arg(long = "enable-metrics", env = "WASMCLOUD_METRICS_ENABLED")]
    pub enable_metrics: Option<bool>,
    /// Turn OpenTelemetry logs on or off
    #[arg(long = "enable-logs", env = "WASMCLOUD_LOGS_ENABLED")]
    pub enable_logs: Option<bool>,
    /// The OTLP endpoint of every signal
    #[arg(long = "override-observability-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub observability_endpoint: Option<String>,
    /// The OTLP endpoint of traces
    #[arg(long = "override-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub traces_endpoint: Option<String>,
    /// The OTLP endpoint of metrics
    #[arg(
        long = "override-metrics-endpoint",
        env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
    )]
    pub metrics_endpoint: Option<String>,
    /// The OTLP endpoint of logs
    #[arg(long = "override-logs-endpoint", env = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")]
    pub logs_endpoint: Option<String>,
    /// The OTLP protocol: `grpc` or `http`
    #[arg(long = "observability-protocol", env = "WASMCLOUD_OBSERVABILITY_PROTOCOL", value_parser = ["grpc", "http"])]
    pub observability_protocol: Option<String>,
    /// Additional CA certificates (PEM files) for OCI and OTLP clients
    #[arg(long = "tls-ca-path", env = "WASMCLOUD_TLS_CA_PATH", value_delimiter = ',', value_parser = pem_file)]
    pub tls_ca_path: Vec<PathBuf>,

    /// Longest a component invocation may run, in milliseconds
    #[arg(
        long = "max-execution-time-ms",
        env = "WASMCLOUD_MAX_EXECUTION_TIME_MS",
        default_value_t = 600_000
    )]
    pub max_execution_time_ms: u64,
    /// How long a provider gets to stop gracefully, in milliseconds
    #[arg(long = "provider-shutdown-delay-ms", env = "WASMCLOUD_PROV_SHUTDOWN_DELAY_MS")]
    pub provider_shutdown_delay_ms: Option<u64>,
    /// Seconds between heartbeats
    #[arg(long = "heartbeat-interval-seconds", env = "WASMCLOUD_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval_seconds: Option<u64>,
    /// Largest linear memory a component instance may allocate, in bytes (a u32 from 1.9.0)
    #[arg(long = "max-linear-memory-bytes", env = "WASMCLOUD_MAX_LINEAR_MEMORY")]
    pub max_linear_memory_bytes: Option<u32>,
    /// Largest component binary the host loads, in bytes
    #[arg(long = "max-component-size-bytes", env = "WASMCLOUD_MAX_COMPONENT_SIZE")]
    pub max_component_size_bytes: Option<u64>,
    /// Most components the host runs at once
    #[arg(long = "max-components", env = "WASMCLOUD_MAX_COMPONENTS")]
    pub max_components: Option<u32>,
    /// Most core instances in one component
    #[arg(
        long = "max-core-instances-per-component",
        env = "WASMCLOUD_MAX_CORE_INSTANCES_PER_COMPONENT"
    )]
    pub max_core_instances_per_component: Option<u32>,

    /// Experimental features, e.g. `builtin-http-server`
    #[arg(
        long = "feature",
        env = "WASMCLOUD_EXPERIMENTAL_FEATURES",
        value_delimiter = ','
    )]
    pub features: Vec<String>,
    /// Address of the admin HTTP server (`/livez`, `/readyz`)
    #[arg(long = "http-admin", env = "WASMCLOUD_HTTP_ADMIN")]
    pub http_admin: Option<std::net::SocketAddr>,
    /// Take part in component auctions
    #[arg(
        long = "enable-component-auction",
        env = "WASMCLOUD_COMPONENT_AUCTION_ENABLED"
    )]
    pub enable_component_auction: Option<bool>,
    /// Take part in provider auctions
    #[arg(long = "enable-provider-auction", env = "WASMCLOUD_PROVIDER_AUCTION_ENABLED")]
    pub enable_provider_auction: Option<bool>,

    /// A label `key=value` (repeatable); env `WASMCLOUD_LABEL_<key>=<value>` adds labels too
    #[arg(short = 'l', long = "label", value_parser = label)]
    pub labels: Vec<(String, String)>,
}

fn level(value: &str) -> Result<tracing::Level, String> {
    value
        .parse()
        .map_err(|_| format!("invalid log level '{value}' (trace, debug, info, warn or error)"))
}

/// 1.9.x accepts only plain NATS subjects for the policy and secrets topics.
fn subject(value: &str) -> Result<String, String> {
    let token_ok = |token: &str| {
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if value.split('.').all(token_ok) {
        Ok(value.to_string())
    } else {
        Err(format!("'{value}' is not a valid NATS subject"))
    }
}

/// 1.9.x refuses a CA file without a PEM certificate.
fn pem_file(value: &str) -> Result<PathBuf, String> {
    let text =
        std::fs::read_to_string(value).map_err(|error| format!("failed to read '{value}': {error}"))?;
    if text.contains("-----BEGIN CERTIFICATE-----") {
        Ok(PathBuf::from(value))
    } else {
        Err(format!("'{value}' contains no PEM certificate"))
    }
}

fn label(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("invalid label '{value}': expected key=value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::try_parse_from(std::iter::once("wasmcloud").chain(args.iter().copied()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn option_bool_flags_need_a_value() {
        let error = parse(&["--enable-traces"]).unwrap_err();
        assert!(
            error.contains("a value is required for '--enable-traces"),
            "{error}"
        );
        assert_eq!(
            parse(&["--enable-traces=true"]).unwrap().enable_traces,
            Some(true)
        );
    }

    #[test]
    fn observability_switch_conflicts_with_per_signal_switches() {
        let error = parse(&["--enable-observability", "--enable-metrics=true"]).unwrap_err();
        assert!(error.contains("cannot be used with"), "{error}");
    }

    #[test]
    fn unknown_flags_and_out_of_range_memory_are_refused() {
        assert!(parse(&["--lattice-prefix", "x"]).is_err());
        assert!(parse(&["--max-linear-memory-bytes", "4294967296"]).is_err());
        assert_eq!(
            parse(&["--max-linear-memory-bytes", "4294967295"])
                .unwrap()
                .max_linear_memory_bytes,
            Some(u32::MAX)
        );
    }

    #[test]
    fn requirements_and_subjects() {
        assert!(parse(&["--policy-changes-topic", "a.b"]).is_err());
        assert!(parse(&["--oci-user", "u"]).is_err());
        assert!(parse(&["--secrets-topic", "a.*"]).is_err());
        assert!(parse(&["--secrets-topic", "wasmcloud.secrets"]).is_ok());
        assert!(parse(&["--observability-protocol", "GRPC"]).is_err());
        assert_eq!(
            parse(&["--log-level", "INFO"]).unwrap().log_level,
            tracing::Level::INFO
        );
    }
}
