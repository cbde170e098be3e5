//! Waiting for a condition with a deadline (never a fixed sleep). Pure timing helpers.

use std::future::Future;
use std::time::Duration;

use kube::runtime::wait::{Condition, await_condition};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Waits, through a watch, until the named object satisfies `condition`; fails after `timeout`.
pub async fn for_object<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    condition: impl Condition<K>,
) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    // Boxed: the watch future holds whole objects, too big to keep in every caller's future.
    match tokio::time::timeout(timeout, Box::pin(await_condition(api.clone(), name, condition))).await {
        Ok(Ok(Some(object))) => Ok(object),
        Ok(Ok(None)) => anyhow::bail!("{name} was deleted while waiting"),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => anyhow::bail!("{name} did not reach the expected state within {timeout:?}"),
    }
}

/// Polls `probe` every 200 ms until it returns `Some`; for state outside Kubernetes (NATS, wadm) that
/// has no watch. Fails after `timeout` with the last observation.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `client` (re)connected to NATS and the server answered a flush; for a test that
/// restarts NATS and must know when a client is back before going on.
pub async fn until_nats_connected(
    what: &str,
    client: &async_nats::Client,
    timeout: Duration,
) -> anyhow::Result<()> {
    until(&format!("{what} to be connected to NATS"), timeout, || async {
        match client.connection_state() {
            async_nats::connection::State::Connected => client.flush().await.map_err(|e| e.to_string()),
            other => Err(other.to_string()),
        }
    })
    .await
}

/// Waits, through a watch, until the named object no longer exists; fails after `timeout`.
pub async fn until_gone<K>(api: &Api<K>, name: &str, timeout: Duration) -> anyhow::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let gone = |object: Option<&K>| object.is_none();
    match tokio::time::timeout(timeout, Box::pin(await_condition(api.clone(), name, gone))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => anyhow::bail!("{name} still exists after {timeout:?}"),
    }
}
