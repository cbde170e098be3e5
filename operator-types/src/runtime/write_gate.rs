//! Single-writer safety for the kube client: a tower layer that bounds every request but a watch by a
//! timeout and lets a write (create, update, patch, delete) leave this process only while its
//! leadership is current. Touches only requests in flight; leader election moves the deadline.
//!
//! The leader's writes stop `renew deadline` after its last successful renewal began, while another
//! replica may take the lease only `lease duration` after it saw that renewal: a leader whose API
//! connection stalls (or whose process is frozen) is silent before anyone else can lead. What this can't
//! fence is a write that left in time and is held in the network past the margin; the per-request
//! timeout (shorter than the renew deadline) keeps that window small, as in client-go.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request, Response};
use tower::{BoxError, Layer, Service};

/// Until when this process may write. Cloned handles share one deadline.
#[derive(Clone, Debug)]
pub struct Leadership {
    base: Instant,
    /// Nanoseconds after `base`; `u64::MAX`: always (no leader election).
    valid_until: Arc<AtomicU64>,
}

const ALWAYS: u64 = u64::MAX;

impl Leadership {
    /// A process that does not take part in leader election: it may always write.
    pub fn unconditional() -> Self {
        Self {
            base: Instant::now(),
            valid_until: Arc::new(AtomicU64::new(ALWAYS)),
        }
    }

    /// A candidate that does not lead yet: no write until [`Leadership::extend_to`].
    pub fn candidate() -> Self {
        Self {
            base: Instant::now(),
            valid_until: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Lets writes go out until `deadline` (never moves an unconditional leadership).
    pub fn extend_to(&self, deadline: Instant) {
        let nanos =
            u64::try_from(deadline.saturating_duration_since(self.base).as_nanos()).unwrap_or(ALWAYS - 1);
        let _ = self
            .valid_until
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                (current != ALWAYS).then_some(nanos.max(1))
            });
    }

    /// Stops every write from now on (leadership lost or handed over).
    pub fn revoke(&self) {
        let _ = self
            .valid_until
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                (current != ALWAYS).then_some(0)
            });
    }

    /// How much longer writes may go out: `None` once the deadline has passed (or before the first),
    /// `Some(Duration::MAX)` without leader election.
    pub fn remaining(&self) -> Option<Duration> {
        match self.valid_until.load(Ordering::SeqCst) {
            ALWAYS => Some(Duration::MAX),
            0 => None,
            nanos => {
                let deadline = self.base + Duration::from_nanos(nanos);
                let now = Instant::now();
                (now < deadline).then(|| deadline - now)
            }
        }
    }

    /// The current deadline, if there is one in the future (`None` also without leader election).
    pub fn deadline(&self) -> Option<Instant> {
        match self.valid_until.load(Ordering::SeqCst) {
            ALWAYS | 0 => None,
            nanos => Some(self.base + Duration::from_nanos(nanos)),
        }
    }
}

/// Why a request never left this process.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("write refused: this process is not the current leader (its lease may be taken over)")]
    NotLeader,
    #[error("the API request took longer than {0:?}")]
    TimedOut(Duration),
}

/// The tower layer: requests through it are timed out and, if writes, held to [`Leadership`].
#[derive(Clone, Debug)]
pub struct GuardWrites {
    pub leadership: Leadership,
    pub request_timeout: Duration,
}

impl<S> Layer<S> for GuardWrites {
    type Service = Guarded<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service [`GuardWrites`] wraps around the client's stack.
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    guard: GuardWrites,
}

/// What a request is, for the guard. Pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A long-running watch: no timeout, no leadership needed.
    Watch,
    /// A read: the request timeout.
    Read,
    /// A write of the lease itself: the election's own business.
    LeaseWrite,
    /// Any other write: leadership and the request timeout.
    Write,
}

/// Sorts a request by method, path and query. Pure.
pub fn kind_of(method: &Method, path: &str, query: Option<&str>) -> RequestKind {
    let watching = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let lease = path.starts_with("/apis/coordination.k8s.io/") && path.split('/').any(|s| s == "leases");
    match (writes, watching, lease) {
        (false, true, _) => RequestKind::Watch,
        (false, false, _) => RequestKind::Read,
        (true, _, true) => RequestKind::LeaseWrite,
        (true, _, false) => RequestKind::Write,
    }
}

impl<S, B, RB> Service<Request<B>> for Guarded<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let kind = kind_of(request.method(), request.uri().path(), request.uri().query());
        let limit = match kind {
            RequestKind::Watch => None,
            RequestKind::Read | RequestKind::LeaseWrite => Some(self.guard.request_timeout),
            RequestKind::Write => match self.guard.leadership.remaining() {
                // A write may not outlive the leadership it was sent under.
                Some(remaining) => Some(remaining.min(self.guard.request_timeout)),
                None => {
                    tracing::warn!(method = %request.method(), path = request.uri().path(), "{}", Refused::NotLeader);
                    return Box::pin(async { Err(Refused::NotLeader.into()) });
                }
            },
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            match limit {
                None => response.await.map_err(Into::into),
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(result) => result.map_err(Into::into),
                    Err(_) => Err(Refused::TimedOut(limit).into()),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_sorted_into_watches_reads_and_writes() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/a/pods",
                Some("watch=true&resourceVersion=1"),
                RequestKind::Watch,
            ),
            (
                Method::GET,
                "/api/v1/namespaces/a/pods",
                Some("limit=500"),
                RequestKind::Read,
            ),
            (
                Method::PATCH,
                "/api/v1/namespaces/a/services/web",
                None,
                RequestKind::Write,
            ),
            (
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/a/events",
                None,
                RequestKind::Write,
            ),
            (
                Method::DELETE,
                "/apis/apps/v1/namespaces/a/deployments/x",
                None,
                RequestKind::Write,
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/op",
                None,
                RequestKind::LeaseWrite,
            ),
            (
                Method::POST,
                "/apis/coordination.k8s.io/v1/namespaces/a/leases",
                None,
                RequestKind::LeaseWrite,
            ),
            (
                Method::GET,
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/op",
                None,
                RequestKind::Read,
            ),
        ];
        for (method, path, query, want) in cases {
            assert_eq!(kind_of(&method, path, query), want, "{method} {path}");
        }
    }

    #[test]
    fn leadership_lets_writes_out_only_until_its_deadline() {
        let always = Leadership::unconditional();
        always.revoke();
        assert_eq!(always.remaining(), Some(Duration::MAX), "no election: always");

        let leader = Leadership::candidate();
        assert_eq!(leader.remaining(), None, "a candidate writes nothing");
        leader.extend_to(Instant::now() + Duration::from_secs(10));
        let left = leader.remaining().expect("leads");
        assert!(left > Duration::from_secs(9) && left <= Duration::from_secs(10));
        leader.extend_to(Instant::now());
        assert_eq!(leader.remaining(), None, "a passed deadline stops writes");
        leader.extend_to(Instant::now() + Duration::from_secs(5));
        leader.revoke();
        assert_eq!(leader.remaining(), None, "revoked");
    }
}

#[cfg(test)]
mod through_a_client {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Patch, PatchParams};

    use super::*;
    use crate::runtime::fake_api::FakeApi;

    fn guarded(fake: &FakeApi, leadership: &Leadership) -> kube::Client {
        let fake = fake.clone();
        let service = tower::ServiceBuilder::new()
            .layer(GuardWrites {
                leadership: leadership.clone(),
                request_timeout: Duration::from_secs(5),
            })
            .service(tower::service_fn(move |request| {
                let client = fake.client();
                async move { client.send(request).await }
            }));
        kube::Client::new(service, "default")
    }

    #[tokio::test]
    async fn without_current_leadership_no_write_reaches_the_api_server() {
        let fake = FakeApi::new();
        let leadership = Leadership::candidate();
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(guarded(&fake, &leadership), "east");
        let patch = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
        let params = PatchParams::apply("test");

        let refused = api.patch("x", &params, &Patch::Apply(&patch)).await;
        assert!(refused.is_err(), "a candidate's write is refused");
        assert!(api.get_opt("x").await.expect("reads pass").is_none());
        assert_eq!(fake.writes(), [], "nothing was written");

        leadership.extend_to(Instant::now() + Duration::from_secs(10));
        api.patch("x", &params, &Patch::Apply(&patch))
            .await
            .expect("the leader writes");
        leadership.revoke();
        assert!(
            api.delete("x", &kube::api::DeleteParams::default())
                .await
                .is_err(),
            "revoked: refused again"
        );
        let writes: Vec<String> = fake.writes().iter().map(ToString::to_string).collect();
        assert_eq!(writes, ["patch configmaps/x"]);
    }
}
