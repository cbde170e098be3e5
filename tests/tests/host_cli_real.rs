//! The host container the host-operator writes, run through the real host's command line: the environment's
//! wasmCloud host (tests/host-runner: the crates.io runtime behind the 1.9.x CLI, clap's own parsing) gets
//! each fixture's args and env for 1.9.2 and must get past parsing — it then fails only to reach NATS, at a
//! closed port. Settings the 1.9 host refuses (a switch without its value, both kinds of observability switch,
//! a 4 GiB linear memory) make it exit with clap's usage error. Runs the binary; touches nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::Container;
use wasmcloud_host_operator::build::{self, Workload};
use wasmcloud_host_operator::errors::InputError;
use wasmcloud_host_operator::inputs::Inputs;
use wasmcloud_operator_tests::env::TestEnv;
use wasmcloud_operator_types::WasmCloudHostConfig;

#[path = "../../host-operator/tests/support/fixture_hosts.rs"]
mod fixture_hosts;
use fixture_hosts::inputs;

/// clap's exit status for a command line it refuses.
const USAGE_ERROR: i32 = 2;

fn host_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var("WASMCLOUD_HOST_BIN")
        .map_err(|_| anyhow::anyhow!("WASMCLOUD_HOST_BIN is not set: the environment built no real host"))?;
    Ok(PathBuf::from(path))
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs the host with `args` and `env` only (nothing of this process's environment), its NATS at a closed port.
fn run_host(args: &[String], env: &BTreeMap<String, String>) -> anyhow::Result<Output> {
    let mut command = Command::new(host_binary()?);
    command.env_clear().args(args).envs(env);
    command.env("WASMCLOUD_NATS_HOST", "127.0.0.1");
    command.env("WASMCLOUD_NATS_PORT", closed_port()?.to_string());
    Ok(command.output()?)
}

/// The fixtures, each written for the host the launcher follows: 1.9.2 (an image keeps its repository).
fn fixtures() -> Vec<(String, WasmCloudHostConfig)> {
    let mut found = fixture_hosts::fixtures(&TestEnv::repo_root());
    for (_, whc) in &mut found {
        match &whc.spec.image {
            Some(image) => {
                let repository = image.rsplit_once(':').map_or(image.as_str(), |(repo, _)| repo);
                whc.spec.image = Some(format!("{repository}:1.9.2"));
            }
            None => whc.spec.version = Some("1.9.2".into()),
        }
    }
    found
}

/// The host container, or `None` when the operator refuses the spec for this version (reported on the
/// object, no pod built: what the contract test checks).
fn host_container(whc: &WasmCloudHostConfig, inputs: &Inputs) -> anyhow::Result<Option<Container>> {
    let desired = match build::build(whc, inputs) {
        Ok(desired) => desired,
        Err(InputError::NotSupportedByHost { .. }) => return Ok(None),
        Err(other) => anyhow::bail!("{other}"),
    };
    let template = match desired.workload {
        Workload::Deployment(d) => d.spec.map(|s| s.template),
        Workload::DaemonSet(d) => d.spec.map(|s| s.template),
    };
    template
        .and_then(|t| t.spec)
        .and_then(|p| p.containers.into_iter().find(|c| c.name == "wasmcloud-host"))
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("no host container"))
}

/// The container's args and env as the kubelet would give them: env from a Secret or the downward API gets a
/// stand-in value, and CA paths (mounted volumes in a pod) point at `ca_file`.
fn as_run(container: &Container, ca_file: &Path) -> (Vec<String>, BTreeMap<String, String>) {
    let args = container
        .args
        .iter()
        .flatten()
        .map(|arg| match arg.strip_prefix("--tls-ca-path=") {
            Some(_) => format!("--tls-ca-path={}", ca_file.display()),
            None => arg.clone(),
        })
        .collect();
    let env = container
        .env
        .iter()
        .flatten()
        .map(|e| {
            (
                e.name.clone(),
                e.value.clone().unwrap_or_else(|| "from-the-pod".into()),
            )
        })
        .collect();
    (args, env)
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_fixtures_host_container_gets_past_the_real_hosts_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(
        &ca_file,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )?;
    let mut ran = 0;
    for (path, whc) in fixtures() {
        for with_ca in [false, true] {
            let Some(container) = host_container(&whc, &inputs(with_ca))? else {
                continue;
            };
            let (args, env) = as_run(&container, &ca_file);
            let output = run_host(&args, &env)?;
            let text = describe(&output);
            anyhow::ensure!(
                output.status.code() != Some(USAGE_ERROR) && !output.status.success(),
                "{path} (CA {with_ca}): the host refused its command line, or started without NATS\nargs {args:?}\nenv {env:?}\n{text}"
            );
            anyhow::ensure!(
                text.contains("failed to connect to NATS") || text.contains("failed to start the host"),
                "{path}: the host stopped for another reason than the closed NATS port: {text}"
            );
            ran += 1;
        }
    }
    eprintln!("{ran} host containers parsed by the real host's command line");
    anyhow::ensure!(ran >= 4, "only {ran} fixtures built a host container for 1.9.2");
    Ok(())
}

/// What a case is, its args, its env.
type Refused = (&'static str, Vec<&'static str>, Vec<(&'static str, &'static str)>);

#[test]
fn what_the_1_9_host_refuses_it_refuses_with_a_usage_error() -> anyhow::Result<()> {
    let cases: [Refused; 5] = [
        ("a switch without its value", vec!["--enable-traces"], vec![]),
        (
            "both kinds of observability switch",
            vec!["--enable-observability", "--enable-metrics=true"],
            vec![],
        ),
        (
            "the same through env",
            vec![],
            vec![
                ("WASMCLOUD_OBSERVABILITY_ENABLED", "true"),
                ("WASMCLOUD_TRACES_ENABLED", "false"),
            ],
        ),
        (
            "a linear memory of 4 GiB (a u32 from 1.9.0)",
            vec![],
            vec![("WASMCLOUD_MAX_LINEAR_MEMORY", "4294967296")],
        ),
        ("a flag no 1.x host has", vec!["--lattice-prefix=default"], vec![]),
    ];
    for (what, args, env) in cases {
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        let env: BTreeMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let output = run_host(&args, &env)?;
        anyhow::ensure!(
            output.status.code() == Some(USAGE_ERROR),
            "{what}: {}",
            describe(&output)
        );
    }
    Ok(())
}
