//! The kube client every binary uses: the usual config inference, a User-Agent naming the process, the
//! write gate and a tower layer that counts each API request by verb, resource and status code (a
//! refused write counts as `error`). Touches only the Kubernetes API connection.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use prometheus::IntCounterVec;
use tower::{Layer, Service};

use super::metrics::Metrics;
use super::write_gate::GuardWrites;

/// Who this process is to the API server (its audit log and request metrics).
#[derive(Clone, Debug)]
pub struct Identity {
    /// Sent as the User-Agent: `<binary>/<version> (<leader election identity>)`.
    pub user_agent: String,
}

/// Builds a client from `kubeconfig` (or the usual inference when `None`) that counts its requests,
/// times out every one but a watch after `guard.request_timeout` and sends writes only while
/// `guard.leadership` is current.
pub async fn build(
    kubeconfig: Option<&Path>,
    metrics: &Metrics,
    identity: &Identity,
    guard: GuardWrites,
) -> anyhow::Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("failed to read kubeconfig {}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer()
            .await
            .map_err(|e| anyhow::anyhow!("failed to find a Kubernetes config: {e}"))?,
    };
    let mut config = config;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&identity.user_agent)?,
    ));
    let layer = CountRequests {
        counter: metrics.rest_client_requests_total.clone(),
    };
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&guard)
        .with_layer(&layer)
        .build())
}

/// Tower layer that counts requests in `rest_client_requests_total`.
#[derive(Clone, Debug)]
pub struct CountRequests {
    counter: IntCounterVec,
}

impl<S> Layer<S> for CountRequests {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            counter: self.counter.clone(),
        }
    }
}

/// The service [`CountRequests`] wraps around the client's stack.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    counter: IntCounterVec,
}

impl<S, B, RB> Service<Request<B>> for Counted<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let classified = classify(request.method(), request.uri().path(), request.uri().query());
        let counter = self.counter.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            counter
                .with_label_values(&[classified.verb, &classified.resource, &code])
                .inc();
            result
        })
    }
}

/// A request in Kubernetes terms.
#[derive(Debug, PartialEq, Eq)]
pub struct Classified {
    pub verb: &'static str,
    pub resource: String,
}

/// Maps an HTTP request to the Kubernetes verb and resource (`pods`, `pods/status`, ...). Pure.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> Classified {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest: &[&str] = match segments.as_slice() {
        ["api", _version, rest @ ..] | ["apis", _, _version, rest @ ..] => rest,
        _ => {
            return Classified {
                verb: "other",
                resource: "nonresource".into(),
            };
        }
    };
    let (resource, name, subresource) = match rest {
        ["namespaces", _ns, resource, tail @ ..] => (*resource, tail.first().copied(), tail.get(1).copied()),
        ["namespaces", name] => ("namespaces", Some(*name), None),
        [resource, tail @ ..] => (*resource, tail.first().copied(), tail.get(1).copied()),
        [] => ("discovery", None, None),
    };
    let watching = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", _) if watching => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "other",
    };
    let resource = match subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    Classified { verb, resource }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: &Method, path: &str, query: Option<&str>) -> (&'static str, String) {
        let classified = classify(method, path, query);
        (classified.verb, classified.resource)
    }

    #[test]
    fn requests_map_to_kubernetes_verbs() {
        let table = [
            (
                c(&Method::GET, "/api/v1/namespaces/east/pods", None),
                ("list", "pods"),
            ),
            (
                c(&Method::GET, "/api/v1/pods", Some("watch=true&resourceVersion=5")),
                ("watch", "pods"),
            ),
            (
                c(&Method::GET, "/api/v1/namespaces/east/secrets/creds", None),
                ("get", "secrets"),
            ),
            (
                c(
                    &Method::PATCH,
                    "/apis/k8s.wasmcloud.dev/v1alpha1/namespaces/east/wasmcloudhostconfigs/blue/status",
                    None,
                ),
                ("patch", "wasmcloudhostconfigs/status"),
            ),
            (
                c(
                    &Method::POST,
                    "/apis/coordination.k8s.io/v1/namespaces/east/leases",
                    None,
                ),
                ("create", "leases"),
            ),
            (
                c(
                    &Method::PUT,
                    "/apis/coordination.k8s.io/v1/namespaces/east/leases/x",
                    None,
                ),
                ("update", "leases"),
            ),
            (
                c(&Method::DELETE, "/api/v1/namespaces/east/services/web", None),
                ("delete", "services"),
            ),
            (
                c(&Method::DELETE, "/api/v1/namespaces/east/services", None),
                ("deletecollection", "services"),
            ),
            (
                c(&Method::GET, "/api/v1/namespaces/east", None),
                ("get", "namespaces"),
            ),
            (
                c(
                    &Method::GET,
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y",
                    None,
                ),
                ("get", "customresourcedefinitions"),
            ),
            (c(&Method::GET, "/version", None), ("other", "nonresource")),
        ];
        for (got, (verb, resource)) in table {
            assert_eq!(got, (verb, resource.to_string()));
        }
    }
}
