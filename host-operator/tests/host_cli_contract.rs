//! The host pods' `wasmcloud-host` container against the real wasmCloud host's CLI contract, version row by
//! version row (the host's own clap definition at every 1.x tag: names, value types, conflicts, requirements).
//! Every fixture × every row either builds a container that version parses, or is refused with the setting and
//! the version named — a pod the real host would reject is never built. Pure: no cluster.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Container;
use wasmcloud_host_operator::build::host_cli::HostVersion;
use wasmcloud_host_operator::build::{self, Workload};
use wasmcloud_host_operator::errors::InputError;
use wasmcloud_host_operator::inputs::Inputs;
use wasmcloud_operator_types::WasmCloudHostConfig;

#[path = "support/fixture_hosts.rs"]
mod fixture_hosts;
use fixture_hosts::inputs;

/// One row per range of the contract that differs for what the operator writes.
const ROWS: [HostVersion; 6] = [
    HostVersion::new(1, 0, 4),
    HostVersion::new(1, 1, 0),
    HostVersion::new(1, 2, 0),
    HostVersion::new(1, 5, 0),
    HostVersion::new(1, 8, 0),
    HostVersion::new(1, 9, 2),
];

/// How the host parses a value.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `bool`: a flag without a value; the env variable takes true/false.
    Switch,
    /// `Option<bool>`: the flag needs a value.
    OptionBool,
    Text,
    U16,
    U64,
    Level,
    Protocol,
}

struct Setting {
    flag: &'static str,
    env: Option<&'static str>,
    kind: Kind,
    since: HostVersion,
    /// The env variable is read only from this version (None: as `since`).
    env_since: Option<HostVersion>,
}

const fn v(major: u64, minor: u64, patch: u64) -> HostVersion {
    HostVersion::new(major, minor, patch)
}

const fn s(flag: &'static str, env: &'static str, kind: Kind, since: HostVersion) -> Setting {
    Setting {
        flag,
        env: Some(env),
        kind,
        since,
        env_since: None,
    }
}

/// The part of the contract the operator can write (the rest of the host's flags are never generated).
fn contract() -> Vec<Setting> {
    use Kind::*;
    let mut table = vec![
        s("log-level", "WASMCLOUD_LOG_LEVEL", Level, v(1, 0, 0)),
        s("nats-host", "WASMCLOUD_NATS_HOST", Text, v(1, 0, 0)),
        s("nats-port", "WASMCLOUD_NATS_PORT", U16, v(1, 0, 0)),
        s("lattice", "WASMCLOUD_LATTICE", Text, v(1, 0, 0)),
        s("js-domain", "WASMCLOUD_JS_DOMAIN", Text, v(1, 0, 0)),
        s("allow-latest", "WASMCLOUD_OCI_ALLOW_LATEST", Switch, v(1, 0, 0)),
        s(
            "allowed-insecure",
            "WASMCLOUD_OCI_ALLOWED_INSECURE",
            Text,
            v(1, 0, 0),
        ),
        s("oci-registry", "WASMCLOUD_OCI_REGISTRY", Text, v(1, 0, 0)),
        s("oci-user", "WASMCLOUD_OCI_REGISTRY_USER", Text, v(1, 0, 0)),
        s(
            "oci-password",
            "WASMCLOUD_OCI_REGISTRY_PASSWORD",
            Text,
            v(1, 0, 0),
        ),
        s(
            "config-service-enabled",
            "WASMCLOUD_CONFIG_SERVICE",
            Switch,
            v(1, 0, 0),
        ),
        s(
            "enable-structured-logging",
            "WASMCLOUD_STRUCTURED_LOGGING_ENABLED",
            Switch,
            v(1, 0, 0),
        ),
        s("ctl-topic-prefix", "WASMCLOUD_CTL_TOPIC_PREFIX", Text, v(1, 0, 0)),
        s("rpc-timeout-ms", "WASMCLOUD_RPC_TIMEOUT_MS", U64, v(1, 0, 0)),
        s("policy-topic", "WASMCLOUD_POLICY_TOPIC", Text, v(1, 0, 0)),
        s(
            "policy-changes-topic",
            "WASMCLOUD_POLICY_CHANGES_TOPIC",
            Text,
            v(1, 0, 0),
        ),
        s("policy-timeout-ms", "WASMCLOUD_POLICY_TIMEOUT", U64, v(1, 0, 0)),
        s("secrets-topic", "WASMCLOUD_SECRETS_TOPIC", Text, v(1, 1, 0)),
        s(
            "enable-observability",
            "WASMCLOUD_OBSERVABILITY_ENABLED",
            Switch,
            v(1, 0, 0),
        ),
        s(
            "enable-traces",
            "WASMCLOUD_TRACES_ENABLED",
            OptionBool,
            v(1, 0, 0),
        ),
        s(
            "enable-metrics",
            "WASMCLOUD_METRICS_ENABLED",
            OptionBool,
            v(1, 0, 0),
        ),
        s("enable-logs", "WASMCLOUD_LOGS_ENABLED", OptionBool, v(1, 0, 0)),
        s(
            "observability-protocol",
            "WASMCLOUD_OBSERVABILITY_PROTOCOL",
            Protocol,
            v(1, 1, 0),
        ),
        s("http-admin", "WASMCLOUD_HTTP_ADMIN", Text, v(1, 5, 0)),
    ];
    for (flag, env) in [
        ("override-observability-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ("override-traces-endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ("override-metrics-endpoint", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
        ("override-logs-endpoint", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
    ] {
        table.push(Setting {
            env_since: Some(v(1, 3, 0)),
            ..s(flag, env, Text, v(1, 0, 0))
        });
    }
    table.push(Setting {
        env_since: Some(v(1, 6, 2)),
        ..s("tls-ca-path", "WASMCLOUD_TLS_CA_PATH", Text, v(1, 1, 0))
    });
    table
}

/// What the host at `version` would say about `args` and `env` (env values from a Secret or the downward
/// API are `None`): `Ok` when it starts, else the parse error it would exit with.
fn host_accepts(
    version: HostVersion,
    args: &[String],
    env: &BTreeMap<String, Option<String>>,
) -> Result<(), String> {
    let table = contract();
    let mut present: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut tokens = args.iter().peekable();
    while let Some(token) = tokens.next() {
        let name = token
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument '{token}'"))?;
        let (name, inline) = match name.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (name, None),
        };
        let setting = table
            .iter()
            .find(|s| s.flag == name && version.at_least(s.since))
            .ok_or_else(|| format!("unexpected argument '--{name}' found (host {version})"))?;
        let value = match (setting.kind, inline) {
            (Kind::Switch, None) => None,
            (Kind::Switch, Some(value)) => return Err(format!("--{name} takes no value, got '{value}'")),
            (_, Some(value)) => Some(value),
            (_, None) => match tokens.next_if(|next| !next.starts_with("--")) {
                Some(value) => Some(value.clone()),
                None => {
                    return Err(format!(
                        "a value is required for '--{name} <{}>'",
                        name.to_uppercase()
                    ));
                }
            },
        };
        check_value(setting, value.as_deref())?;
        present.insert(setting.flag, value);
    }
    for (name, value) in env {
        if name.starts_with("WASMCLOUD_LABEL_")
            || !(name.starts_with("WASMCLOUD_") || name.starts_with("OTEL_"))
        {
            continue;
        }
        // Read by no 1.x host; the operator keeps writing it for pre-1.0 images (documented, harmless).
        // The linear memory limit has a row of its own (its type changes): max_linear_memory_accepted.
        if name == "WASMCLOUD_LATTICE_PREFIX" || name == "WASMCLOUD_MAX_LINEAR_MEMORY" {
            continue;
        }
        let setting = table
            .iter()
            .find(|s| s.env == Some(name.as_str()) && version.at_least(s.env_since.unwrap_or(s.since)))
            .ok_or_else(|| {
                format!("{name} is not read by host {version}: the setting would be silently lost")
            })?;
        if let Some(value) = value {
            check_value(setting, Some(value))?;
        }
        present.insert(setting.flag, value.clone());
    }
    for signal in ["enable-traces", "enable-metrics", "enable-logs"] {
        if present.contains_key("enable-observability") && present.contains_key(signal) {
            return Err(format!(
                "the argument '--enable-observability' cannot be used with '--{signal}'"
            ));
        }
    }
    for (needs, what) in [
        ("policy-changes-topic", "policy-topic"),
        ("policy-timeout-ms", "policy-topic"),
        ("oci-user", "oci-registry"),
        ("oci-password", "oci-registry"),
        ("oci-registry", "oci-user"),
    ] {
        if present.contains_key(needs) && !present.contains_key(what) {
            return Err(format!("--{needs} requires --{what}"));
        }
    }
    Ok(())
}

fn check_value(setting: &Setting, value: Option<&str>) -> Result<(), String> {
    let Some(value) = value else { return Ok(()) };
    let bad = |why: &str| Err(format!("invalid value '{value}' for '--{}': {why}", setting.flag));
    match setting.kind {
        Kind::Switch | Kind::OptionBool if !matches!(value, "true" | "false") => bad("not true or false"),
        Kind::U16 if value.parse::<u16>().is_err() => bad("not a u16"),
        Kind::U64 if value.parse::<u64>().is_err() => bad("not a u64"),
        Kind::Level
            if !["trace", "debug", "info", "warn", "error", "critical"]
                .contains(&value.to_lowercase().as_str()) =>
        {
            bad("not a log level")
        }
        Kind::Protocol if !matches!(value, "grpc" | "http") => bad("not grpc or http"),
        _ => Ok(()),
    }
}

/// `WASMCLOUD_MAX_LINEAR_MEMORY` is its own row: a u64 in 1.2–1.8, a u32 from 1.9.0.
fn max_linear_memory_accepted(
    version: HostVersion,
    env: &BTreeMap<String, Option<String>>,
) -> Result<(), String> {
    let Some(Some(value)) = env.get("WASMCLOUD_MAX_LINEAR_MEMORY") else {
        return Ok(());
    };
    if !version.at_least(v(1, 2, 0)) {
        return Err(format!(
            "WASMCLOUD_MAX_LINEAR_MEMORY is not read by host {version}"
        ));
    }
    let parses = if version.at_least(v(1, 9, 0)) {
        value.parse::<u32>().is_ok()
    } else {
        value.parse::<u64>().is_ok()
    };
    if parses {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{value}' for max linear memory on {version}"
        ))
    }
}

fn fixtures() -> Vec<(String, WasmCloudHostConfig)> {
    fixture_hosts::fixtures(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn host_container(whc: &WasmCloudHostConfig, inputs: &Inputs) -> Result<Container, InputError> {
    let desired = build::build(whc, inputs)?;
    let template = match desired.workload {
        Workload::Deployment(d) => d.spec.map(|s| s.template),
        Workload::DaemonSet(d) => d.spec.map(|s| s.template),
    };
    let pod = template.and_then(|t| t.spec).expect("pod spec");
    Ok(pod
        .containers
        .into_iter()
        .find(|c| c.name == "wasmcloud-host")
        .expect("host container"))
}

/// The fixture with its host pinned to `version`: through the image's tag when it names an image (then
/// `spec.version` is ignored), else through `spec.version`.
fn on_version(whc: &WasmCloudHostConfig, version: HostVersion) -> WasmCloudHostConfig {
    let mut whc = whc.clone();
    match &whc.spec.image {
        Some(image) => {
            let repository = image.split('@').next().unwrap_or_default();
            let repository = match repository.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
                _ => repository.to_string(),
            };
            whc.spec.image = Some(format!("{repository}:{version}"));
        }
        None => whc.spec.version = Some(version.to_string()),
    }
    whc
}

fn env_of(container: &Container) -> BTreeMap<String, Option<String>> {
    container
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

#[test]
fn every_fixture_on_every_version_row_builds_a_host_the_version_accepts_or_is_refused_by_name() {
    let mut built = 0;
    let mut refused = Vec::new();
    for (path, fixture) in fixtures() {
        for with_ca in [false, true] {
            for version in ROWS {
                let whc = on_version(&fixture, version);
                match host_container(&whc, &inputs(with_ca)) {
                    Ok(host) => {
                        let args = host.args.clone().unwrap_or_default();
                        let env = env_of(&host);
                        host_accepts(version, &args, &env)
                            .and_then(|()| max_linear_memory_accepted(version, &env))
                            .unwrap_or_else(|error| {
                                panic!("{path} (CA {with_ca}) on {version}: the host would exit: {error}\nargs {args:?}\nenv {env:?}")
                            });
                        built += 1;
                    }
                    Err(error @ InputError::NotSupportedByHost { .. }) => {
                        let message = error.to_string();
                        assert!(message.contains(&version.to_string()), "{message}");
                        refused.push(format!("{path} on {version}: {message}"));
                    }
                    Err(other) => panic!("{path} on {version}: {other}"),
                }
            }
        }
    }
    assert!(
        built > 0 && !refused.is_empty(),
        "built {built}, refused {refused:#?}"
    );
}

#[test]
fn settings_older_hosts_do_not_know_are_refused_naming_the_setting_and_the_version() {
    let (_, east) = fixtures()
        .into_iter()
        .find(|(p, _)| p.ends_with("east-hosts.yaml"))
        .expect("east");
    let mut whc = on_version(&east, v(1, 0, 4));
    whc.spec.secrets_topic_prefix = None;
    whc.spec.max_linear_memory_bytes = None;
    let error = host_container(&whc, &inputs(false)).expect_err("protocol on 1.0.4");
    assert_eq!(
        error.to_string(),
        "spec.observability.protocol: needs wasmCloud host 1.1.0 or later (the pods run wasmCloud host 1.0.4)"
    );

    let mut whc = fixtures()
        .into_iter()
        .find(|(p, _)| p.ends_with("east-hosts.yaml"))
        .expect("east")
        .1;
    whc.spec.version = Some("1.9.2".into());
    whc.spec.max_linear_memory_bytes = Some(4 * 1024 * 1024 * 1024);
    let error = host_container(&whc, &inputs(false)).expect_err("4 GiB on 1.9");
    assert_eq!(
        error.to_string(),
        "spec.maxLinearMemoryBytes: 4294967296 is more than the host accepts (4294967295) (the pods run wasmCloud host 1.9.2)"
    );
    let whc = WasmCloudHostConfig {
        spec: on_version(&whc, v(1, 8, 0)).spec,
        ..whc
    };
    host_container(&whc, &inputs(false)).expect("4 GiB is a u64 on 1.8");
}

#[test]
fn observability_is_written_as_env_the_host_parses_never_as_conflicting_or_valueless_flags() {
    let mut whc = fixtures()
        .into_iter()
        .find(|(p, _)| p.ends_with("east-hosts.yaml"))
        .expect("east")
        .1;
    whc.spec.version = Some("1.4.2".into());
    let observability = whc.spec.observability.as_mut().expect("east has observability");
    observability.enable = true;
    let host = host_container(&whc, &inputs(false)).expect("builds");
    let env = env_of(&host);
    let args = host.args.clone().unwrap_or_default();
    host_accepts(HostVersion::new(1, 4, 2), &args, &env).expect("accepted");
    assert!(args.iter().all(|a| !a.starts_with("--enable-")), "{args:?}");

    // One signal turned off while the rest are on: each wanted signal on its own, never both kinds.
    let o = whc.spec.observability.as_mut().expect("observability");
    o.metrics.get_or_insert_with(Default::default).enable = Some(false);
    let env = env_of(&host_container(&whc, &inputs(false)).expect("builds"));
    assert_eq!(env.get("WASMCLOUD_OBSERVABILITY_ENABLED"), None);
    assert_eq!(env.get("WASMCLOUD_TRACES_ENABLED"), Some(&Some("true".into())));
    assert_eq!(env.get("WASMCLOUD_LOGS_ENABLED"), Some(&Some("true".into())));
    assert_eq!(env.get("WASMCLOUD_METRICS_ENABLED"), None);
}

#[test]
fn hosts_from_1_5_are_probed_on_their_own_readyz_and_older_ones_not() {
    let mut east = fixtures()
        .into_iter()
        .find(|(p, _)| p.ends_with("east-hosts.yaml"))
        .expect("east")
        .1;
    // 5 GiB: more than a 1.9 host accepts, which is another test's subject.
    east.spec.max_linear_memory_bytes = None;
    for (version, probed) in [(v(1, 4, 2), false), (v(1, 5, 0), true), (v(1, 9, 2), true)] {
        let host = host_container(&on_version(&east, version), &inputs(false)).expect("builds");
        let path = host
            .readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|g| g.path.clone());
        assert_eq!(path.is_some(), probed, "{version}");
        assert_eq!(
            env_of(&host).contains_key("WASMCLOUD_HTTP_ADMIN"),
            probed,
            "{version}"
        );
        if probed {
            assert_eq!(path.as_deref(), Some("/readyz"));
        }
    }
}

#[test]
fn the_contract_checker_rejects_what_the_real_host_rejects() {
    let none = BTreeMap::new();
    let newest = HostVersion::NEWEST;
    let args = |list: &[&str]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert!(
        host_accepts(newest, &args(&["--enable-traces"]), &none).is_err(),
        "Option<bool> without a value"
    );
    assert!(host_accepts(newest, &args(&["--enable-traces=true"]), &none).is_ok());
    assert!(
        host_accepts(
            newest,
            &args(&["--enable-observability", "--enable-logs=true"]),
            &none
        )
        .is_err()
    );
    assert!(host_accepts(v(1, 0, 4), &args(&["--observability-protocol=grpc"]), &none).is_err());
    assert!(host_accepts(v(1, 0, 4), &args(&["--tls-ca-path", "/ca.crt"]), &none).is_err());
    let env = BTreeMap::from([("WASMCLOUD_POLICY_TIMEOUT".to_string(), Some("100".to_string()))]);
    assert!(
        host_accepts(newest, &[], &env).is_err(),
        "timeout without a topic"
    );
    let memory = BTreeMap::from([(
        "WASMCLOUD_MAX_LINEAR_MEMORY".to_string(),
        Some("4294967296".to_string()),
    )]);
    assert!(max_linear_memory_accepted(v(1, 9, 0), &memory).is_err());
    assert!(max_linear_memory_accepted(v(1, 8, 0), &memory).is_ok());
}
