//! TEST DOUBLE — runs simulated wasmCloud hosts (see `lattice_sim`) until SIGINT/SIGTERM, for `make demo`
//! and manual experiments. It is not a wasmCloud host: it runs no Wasm.
//!
//! lattice-host-simulator --nats-url nats://127.0.0.1:4222 --lattice default --host east:zone=east --host west
//! lattice-host-simulator --follow-pods [--namespace NS]   (one host per running host pod; uses KUBECONFIG)
//! wasmcloud [ARGS...]   (as the `wasmcloud-host` container of a host pod on the real node: one host, set up
//!                        from the WASMCLOUD_* environment the host operator gives the real host; ARGS ignored)

use wasmcloud_operator_tests::lattice_sim::SimulatedLattice;
use wasmcloud_operator_tests::pod_hosts::PodHosts;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let invoked_as = std::env::args().next().unwrap_or_default();
    if std::path::Path::new(&invoked_as).file_name() == Some(std::ffi::OsStr::new("wasmcloud")) {
        return one_host_from_env().await;
    }
    let mut nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let mut lattice = "default".to_string();
    let mut hosts: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut follow_pods = false;
    let mut namespace: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow::anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--nats-url" => nats_url = value()?,
            "--lattice" => lattice = value()?,
            "--follow-pods" => follow_pods = true,
            "--namespace" => namespace = Some(value()?),
            "--host" => {
                let spec = value()?;
                let (name, labels) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
                let labels = labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| anyhow::anyhow!("labels in --host {spec} must be key=value"))?;
                hosts.push((name.to_string(), labels));
            }
            _ => anyhow::bail!(
                "usage: lattice-host-simulator [--nats-url URL] [--lattice ID] --host NAME[:k=v,...]... | --follow-pods [--namespace NS]"
            ),
        }
    }
    let nats = async_nats::connect(&nats_url).await?;
    if follow_pods {
        let client = kube::Client::try_default().await?;
        let followed = PodHosts::start(client, nats, namespace.as_deref());
        eprintln!("simulating one host per running host pod");
        wait_for_signal().await?;
        return followed.stop().await;
    }
    anyhow::ensure!(!hosts.is_empty(), "give at least one --host, or --follow-pods");
    let simulated = SimulatedLattice::start(nats, &lattice).await?;
    let mut running = Vec::new();
    for (name, labels) in &hosts {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let host = simulated.start_host(name, &labels).await?;
        eprintln!("simulated host {name} ({}) joined lattice {lattice}", host.id);
        running.push(host);
    }
    wait_for_signal().await?;
    for host in running {
        host.stop().await?;
    }
    Ok(())
}

/// One simulated host configured the way the real host reads its settings: NATS at
/// WASMCLOUD_NATS_HOST:WASMCLOUD_NATS_PORT (the pod's leaf), lattice WASMCLOUD_LATTICE, labels from
/// WASMCLOUD_LABEL_*, named after the pod (HOSTNAME).
async fn one_host_from_env() -> anyhow::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let url = format!(
        "nats://{}:{}",
        var("WASMCLOUD_NATS_HOST", "127.0.0.1"),
        var("WASMCLOUD_NATS_PORT", "4222")
    );
    let lattice = var("WASMCLOUD_LATTICE", "default");
    let name = var("HOSTNAME", "simulated-host");
    let ignored: Vec<String> = std::env::args().skip(1).collect();
    if !ignored.is_empty() {
        eprintln!("simulated host: ignoring the real host's arguments {ignored:?}");
    }
    let labels: Vec<(String, String)> = std::env::vars()
        .filter_map(|(key, value)| Some((key.strip_prefix("WASMCLOUD_LABEL_")?.to_string(), value)))
        .collect();
    let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The leaf may start after this container: retry the first connection.
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&url)
        .await?;
    let simulated = SimulatedLattice::start(nats, &lattice).await?;
    let host = simulated.start_host(&name, &pairs).await?;
    eprintln!(
        "simulated host {name} ({}) joined lattice {lattice} through {url}",
        host.id
    );
    // Hosts from 1.5 serve /livez and /readyz on WASMCLOUD_HTTP_ADMIN; the pod's readiness probe asks it.
    if let Ok(address) = std::env::var("WASMCLOUD_HTTP_ADMIN") {
        let listener = tokio::net::TcpListener::bind(&address).await?;
        eprintln!("simulated host: /livez and /readyz on {address}");
        tokio::spawn(serve_health(listener));
    }
    wait_for_signal().await?;
    host.stop().await
}

/// Answers every request with 200: the simulated host is up once it has joined the lattice.
async fn serve_health(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut request = [0_u8; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
                .await;
        });
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
