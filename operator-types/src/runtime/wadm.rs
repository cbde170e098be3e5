//! wadm's NATS API (`wadm.api.<lattice>.model.*`) as typed calls, for the binaries that talk to wadm.
//! Touches only NATS.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

/// How long wadm gets to answer one request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait before trying an unreachable wadm again. wadm being away is transient, and probing
/// it is cheap (NATS answers "no responders" at once), so the usual backoff (up to 5 minutes) would only
/// delay recovery: everything must converge within seconds of wadm returning.
pub const UNREACHABLE_RETRY_CAP: Duration = Duration::from_secs(4);

/// A failure talking to wadm.
#[derive(Debug, thiserror::Error)]
pub enum WadmError {
    /// Nothing answered (NATS down, no wadm, or too slow): retried with backoff.
    #[error("wadm did not answer {subject}: {reason}")]
    Unreachable { subject: String, reason: String },
    /// wadm answered with an error: the input is wrong, wait for a change.
    #[error("wadm rejected the request: {0}")]
    Rejected(String),
    #[error("wadm sent a reply that is not JSON: {0}")]
    BadReply(#[from] serde_json::Error),
}

impl WadmError {
    /// How long to wait before retrying, given the usual backoff `delay`: capped when wadm is unreachable.
    pub fn retry_after(&self, delay: Duration) -> Duration {
        match self {
            Self::Unreachable { .. } => delay.min(UNREACHABLE_RETRY_CAP),
            _ => delay,
        }
    }

    pub fn category(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "wadm-unreachable",
            Self::Rejected(_) => "wadm-rejected",
            Self::BadReply(_) => "wadm-bad-reply",
        }
    }
}

/// One version of a model and whether it is the deployed one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ModelVersion {
    pub version: String,
    #[serde(default)]
    pub deployed: bool,
}

/// Carries one request of wadm's API: a subject and a body out, the reply's payload back, or why no
/// reply came. NATS in production; `fake_wadm::FakeWadm` in the mock tier's tests.
pub trait Transport: Send + Sync + std::fmt::Debug {
    fn request(&self, subject: String, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, String>>;
}

/// wadm over NATS request/reply.
#[derive(Debug, Clone)]
struct OverNats(async_nats::Client);

impl Transport for OverNats {
    fn request(&self, subject: String, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.0
                .request(subject, body.into())
                .await
                .map(|reply| reply.payload.to_vec())
                .map_err(|e| e.to_string())
        })
    }
}

/// One model of a lattice, as wadm lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ModelSummary {
    pub name: String,
    /// The newest stored version.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub deployed_version: Option<String>,
}

/// wadm's API.
#[derive(Debug, Clone)]
pub struct Wadm {
    transport: Arc<dyn Transport>,
}

impl Wadm {
    pub fn new(nats: async_nats::Client) -> Self {
        Self::over(Arc::new(OverNats(nats)))
    }

    /// wadm's API carried by `transport`.
    pub fn over(transport: Arc<dyn Transport>) -> Self {
        Self { transport }
    }

    async fn call(&self, lattice: &str, operation: &str, body: Vec<u8>) -> Result<Value, WadmError> {
        let subject = format!("wadm.api.{lattice}.model.{operation}");
        let unreachable = |reason: String| WadmError::Unreachable {
            subject: subject.clone(),
            reason,
        };
        let reply = tokio::time::timeout(TIMEOUT, self.transport.request(subject.clone(), body))
            .await
            .map_err(|_| unreachable(format!("no reply within {TIMEOUT:?}")))?
            .map_err(unreachable)?;
        Ok(serde_json::from_slice(&reply)?)
    }

    /// Stores a manifest; an already stored version is not an error (the caller compares content).
    pub async fn put(&self, lattice: &str, manifest: &Value) -> Result<(), WadmError> {
        let reply = self.call(lattice, "put", serde_json::to_vec(manifest)?).await?;
        match result(&reply) {
            "created" | "newversion" => Ok(()),
            _ => Err(WadmError::Rejected(message(&reply))),
        }
    }

    /// Every stored version of `name` (empty when wadm doesn't know it).
    pub async fn versions(&self, lattice: &str, name: &str) -> Result<Vec<ModelVersion>, WadmError> {
        let reply = self
            .call(lattice, &format!("versions.{name}"), Vec::new())
            .await?;
        match result(&reply) {
            "success" => Ok(serde_json::from_value(
                reply.get("versions").cloned().unwrap_or(json!([])),
            )?),
            "notfound" => Ok(Vec::new()),
            _ => Err(WadmError::Rejected(message(&reply))),
        }
    }

    /// Every model stored in `lattice`.
    pub async fn models(&self, lattice: &str) -> Result<Vec<ModelSummary>, WadmError> {
        let reply = self.call(lattice, "get", Vec::new()).await?;
        if result(&reply) != "success" {
            return Err(WadmError::Rejected(message(&reply)));
        }
        Ok(serde_json::from_value(
            reply.get("models").cloned().unwrap_or(json!([])),
        )?)
    }

    /// The deployed version of every deployed model in `lattice`, by name.
    pub async fn deployed(&self, lattice: &str) -> Result<Vec<(String, String)>, WadmError> {
        Ok(self
            .models(lattice)
            .await?
            .into_iter()
            .filter_map(|model| Some((model.name, model.deployed_version?)))
            .collect())
    }

    /// The manifest stored as `version` of `name`, if any.
    pub async fn manifest(
        &self,
        lattice: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<Value>, WadmError> {
        let body = serde_json::to_vec(&json!({"version": version}))?;
        let reply = self.call(lattice, &format!("get.{name}"), body).await?;
        match result(&reply) {
            "success" => Ok(reply.get("manifest").cloned()),
            "notfound" => Ok(None),
            _ => Err(WadmError::Rejected(message(&reply))),
        }
    }

    pub async fn deploy(&self, lattice: &str, name: &str, version: &str) -> Result<(), WadmError> {
        let body = serde_json::to_vec(&json!({"version": version}))?;
        let reply = self.call(lattice, &format!("deploy.{name}"), body).await?;
        match result(&reply) {
            "acknowledged" => Ok(()),
            _ => Err(WadmError::Rejected(message(&reply))),
        }
    }

    /// Undeploys and deletes every version of `name`; a model wadm doesn't know is already gone.
    pub async fn delete(&self, lattice: &str, name: &str) -> Result<(), WadmError> {
        let reply = self.call(lattice, &format!("del.{name}"), Vec::new()).await?;
        match result(&reply) {
            "deleted" | "noop" => Ok(()),
            _ => Err(WadmError::Rejected(message(&reply))),
        }
    }

    /// The status object of `name` (`{"status": {"type", "message"}, "scalers": [...], ...}`).
    pub async fn status(&self, lattice: &str, name: &str) -> Result<Value, WadmError> {
        let reply = self.call(lattice, &format!("status.{name}"), Vec::new()).await?;
        match result(&reply) {
            "ok" => Ok(reply.get("status").cloned().unwrap_or(Value::Null)),
            "notfound" => Ok(Value::Null),
            _ => Err(WadmError::Rejected(message(&reply))),
        }
    }
}

fn result(reply: &Value) -> &str {
    reply.get("result").and_then(Value::as_str).unwrap_or_default()
}

fn message(reply: &Value) -> String {
    reply
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_string()
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn an_unreachable_wadm_is_retried_within_seconds_and_a_rejection_waits_as_usual() {
        let long = Duration::from_secs(64);
        let unreachable = WadmError::Unreachable {
            subject: "wadm.api.x.model.get".into(),
            reason: "no responders".into(),
        };
        assert_eq!(unreachable.retry_after(long), UNREACHABLE_RETRY_CAP);
        assert_eq!(
            unreachable.retry_after(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(WadmError::Rejected("bad".into()).retry_after(long), long);
    }
}
