//! The admin HTTP server: /metrics (Prometheus text), /healthz (the process runs) and /readyz (every
//! readiness check passes). Touches only its listening sockets.

use std::future::Future;
use std::net::SocketAddr;

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use tokio::net::TcpListener;

use super::{metrics::Metrics, readiness::Readiness};

#[derive(Clone)]
struct AdminState {
    metrics: Metrics,
    readiness: Readiness,
}

/// Where the admin endpoints actually listen (ports resolved, for `:0` in tests).
#[derive(Debug, Clone, Copy)]
pub struct AdminAddresses {
    pub metrics: Option<SocketAddr>,
    pub probes: Option<SocketAddr>,
}

/// Binds the metrics and probe addresses (one listener if they are equal) and serves until `shutdown`
/// resolves. Binding happens before this returns, so a port in use is reported at start-up.
pub async fn serve(
    metrics_addr: Option<SocketAddr>,
    probe_addr: Option<SocketAddr>,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(AdminAddresses, tokio::task::JoinHandle<()>)> {
    let state = AdminState { metrics, readiness };
    let metrics_routes = Router::new().route("/metrics", get(render_metrics));
    let probe_routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready));

    let mut servers = Vec::new();
    let addresses = if metrics_addr.is_some() && metrics_addr == probe_addr {
        let (listener, addr) = bind(metrics_addr).await?;
        servers.push((listener, metrics_routes.merge(probe_routes).with_state(state)));
        AdminAddresses {
            metrics: addr,
            probes: addr,
        }
    } else {
        let (metrics_listener, metrics_bound) = bind(metrics_addr).await?;
        let (probe_listener, probe_bound) = bind(probe_addr).await?;
        servers.push((metrics_listener, metrics_routes.with_state(state.clone())));
        servers.push((probe_listener, probe_routes.with_state(state)));
        AdminAddresses {
            metrics: metrics_bound,
            probes: probe_bound,
        }
    };

    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for (listener, router) in servers {
        let Some(listener) = listener else { continue };
        let mut stop = stop_tx.subscribe();
        tasks.push(tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.recv().await;
                })
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "admin server failed");
            }
        }));
    }
    let handle = tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
        for task in tasks {
            let _ = task.await;
        }
    });
    tracing::info!(metrics = ?addresses.metrics, probes = ?addresses.probes, "admin server listening");
    Ok((addresses, handle))
}

async fn bind(addr: Option<SocketAddr>) -> anyhow::Result<(Option<TcpListener>, Option<SocketAddr>)> {
    let Some(addr) = addr else { return Ok((None, None)) };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("failed to listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    Ok((Some(listener), Some(bound)))
}

async fn render_metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    let failing = state.readiness.failing();
    if failing.is_empty() {
        (StatusCode::OK, "ok".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", failing.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn http_get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn readyz_follows_the_checks_and_metrics_are_served() {
        let metrics = Metrics::new().expect("metrics");
        let readiness = Readiness::default();
        let caches = readiness.register("caches");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let local = Some("127.0.0.1:0".parse().expect("addr"));
        let (addrs, handle) = serve(local, local, metrics.clone(), readiness, async {
            let _ = stop_rx.await;
        })
        .await
        .expect("serves");
        let addr = addrs.probes.expect("probe address");
        assert!(http_get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        let not_ready = http_get(addr, "/readyz").await;
        assert!(
            not_ready.starts_with("HTTP/1.1 503") && not_ready.contains("caches"),
            "{not_ready}"
        );
        caches.set(true);
        assert!(http_get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        metrics.leader.set(1);
        assert!(
            http_get(addr, "/metrics")
                .await
                .contains("leader_election_master_status 1")
        );
        let _ = stop_tx.send(());
        handle.await.expect("server stops");
    }
}
