//! A small client for wadm's NATS API (`wadm.api.<lattice>.model.*`), for tests. Touches only NATS.

use std::time::Duration;

use serde_json::{Value, json};

/// wadm's API for one lattice.
#[derive(Clone, Debug)]
pub struct WadmApi {
    nats: async_nats::Client,
    lattice: String,
}

impl WadmApi {
    pub fn new(nats: async_nats::Client, lattice: &str) -> Self {
        Self {
            nats,
            lattice: lattice.to_string(),
        }
    }

    /// Sends one request and returns wadm's JSON reply.
    pub async fn call(&self, operation: &str, name: Option<&str>, body: Vec<u8>) -> anyhow::Result<Value> {
        let subject = match name {
            Some(name) => format!("wadm.api.{}.model.{operation}.{name}", self.lattice),
            None => format!("wadm.api.{}.model.{operation}", self.lattice),
        };
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            self.nats.request(subject.clone(), body.into()),
        )
        .await
        .map_err(|_| anyhow::anyhow!("wadm did not answer {subject} within 10s"))??;
        Ok(serde_json::from_slice(&reply.payload)?)
    }

    /// Puts a manifest (YAML or JSON text); returns the reply (`result` is created, newversion or error).
    pub async fn put(&self, manifest: &str) -> anyhow::Result<Value> {
        self.call("put", None, manifest.as_bytes().to_vec()).await
    }

    pub async fn deploy(&self, name: &str, version: Option<&str>) -> anyhow::Result<Value> {
        let body = version
            .map(|v| serde_json::to_vec(&json!({"version": v})))
            .transpose()?
            .unwrap_or_default();
        self.call("deploy", Some(name), body).await
    }

    pub async fn undeploy(&self, name: &str) -> anyhow::Result<Value> {
        self.call("undeploy", Some(name), Vec::new()).await
    }

    pub async fn delete(&self, name: &str) -> anyhow::Result<Value> {
        self.call("del", Some(name), Vec::new()).await
    }

    pub async fn list(&self) -> anyhow::Result<Value> {
        self.call("get", None, Vec::new()).await
    }

    /// The aggregate status type (`deployed`, `reconciling`, ...) of an application.
    pub async fn status_type(&self, name: &str) -> anyhow::Result<String> {
        let reply = self.call("status", Some(name), Vec::new()).await?;
        reply
            .pointer("/status/status/type")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("status reply without a type: {reply}"))
    }
}
