//! TEST DOUBLE — runs simulated wasmCloud hosts (see `lattice_sim`) until SIGINT/SIGTERM, for `make demo`
//! and manual experiments. It is not a wasmCloud host: it runs no Wasm.
//!
//! lattice-host-simulator --nats-url nats://127.0.0.1:4222 --lattice default --host east:zone=east --host west
//! lattice-host-simulator --follow-pods [--namespace NS]   (one host per running host pod; uses KUBECONFIG)

use wasmcloud_operator_tests::lattice_sim::SimulatedLattice;
use wasmcloud_operator_tests::pod_hosts::PodHosts;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
