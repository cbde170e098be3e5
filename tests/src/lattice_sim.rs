//! TEST DOUBLE — a lattice-host simulator, not a wasmCloud host. Touches only NATS.
//!
//! Containers can't run on the development machines, so tests can't start real wasmCloud hosts. This
//! simulator speaks the host side of the wasmCloud control interface well enough for a real wadm to
//! drive applications: each simulated host announces itself (`host_started`, heartbeats with its labels
//! and inventory), answers scale/start/stop requests for its own host id and publishes the matching
//! events; the lattice-wide requests (links, config, claims) are answered once per lattice. It runs no
//! Wasm and pulls no images.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Heartbeat period of simulated hosts (wadm reaps a host after about two cleanup intervals without one).
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// A lattice's simulated hosts and the lattice-wide state they share (links and named config).
pub struct SimulatedLattice {
    handle: LatticeHandle,
    responder: JoinHandle<()>,
}

/// What starting a host in a simulated lattice takes; cheap to clone.
#[derive(Clone)]
pub struct LatticeHandle {
    nats: async_nats::Client,
    lattice: String,
    shared: Arc<Mutex<LatticeState>>,
}

impl std::fmt::Debug for SimulatedLattice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedLattice")
            .field("lattice", &self.handle.lattice)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LatticeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatticeHandle")
            .field("lattice", &self.lattice)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct LatticeState {
    links: Vec<Value>,
    configs: BTreeMap<String, Value>,
    event_source: String,
}

/// One simulated host; dropping it without [`SimulatedHost::stop`] makes it vanish like a crashed host.
pub struct SimulatedHost {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    inventory: Arc<Mutex<Inventory>>,
    nats: async_nats::Client,
    lattice: String,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SimulatedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedHost")
            .field("id", &self.id)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inventory {
    components: BTreeMap<String, Value>,
    providers: BTreeMap<String, Value>,
}

impl SimulatedLattice {
    /// Starts answering the lattice-wide control subjects of `lattice`.
    pub async fn start(nats: async_nats::Client, lattice: &str) -> anyhow::Result<Self> {
        let shared = Arc::new(Mutex::new(LatticeState::default()));
        let subject = format!("wasmbus.ctl.v1.{lattice}.>");
        let mut requests = nats
            .queue_subscribe(subject, format!("lattice-sim-{lattice}"))
            .await?;
        let (nats2, lattice2, shared2) = (nats.clone(), lattice.to_string(), shared.clone());
        let responder = tokio::spawn(async move {
            while let Some(message) = requests.next().await {
                if let Err(error) = answer_lattice_request(&nats2, &lattice2, &shared2, &message).await {
                    tracing::warn!(%error, subject = %message.subject, "simulated lattice failed to answer");
                }
            }
        });
        nats.flush().await?;
        Ok(Self {
            handle: LatticeHandle {
                nats,
                lattice: lattice.to_string(),
                shared,
            },
            responder,
        })
    }

    pub fn lattice(&self) -> &str {
        &self.handle.lattice
    }

    /// A handle that starts hosts in this lattice.
    pub fn handle(&self) -> LatticeHandle {
        self.handle.clone()
    }

    /// Starts a host with these labels (plus the usual `hostcore.*` ones) and announces it.
    pub async fn start_host(
        &self,
        friendly_name: &str,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<SimulatedHost> {
        self.handle.start_host(friendly_name, labels).await
    }
}

impl LatticeHandle {
    /// Starts a host with these labels (plus the usual `hostcore.*` ones) and announces it.
    pub async fn start_host(
        &self,
        friendly_name: &str,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<SimulatedHost> {
        let id = host_id();
        let mut all_labels: BTreeMap<String, String> = [
            ("hostcore.os", "linux"),
            ("hostcore.arch", "x86_64"),
            ("hostcore.osfamily", "unix"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        all_labels.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        {
            let mut shared = lock(&self.shared);
            if shared.event_source.is_empty() {
                shared.event_source.clone_from(&id);
            }
        }
        let inventory = Arc::new(Mutex::new(Inventory::default()));
        let mut host = SimulatedHost {
            id: id.clone(),
            labels: all_labels.clone(),
            inventory: inventory.clone(),
            nats: self.nats.clone(),
            lattice: self.lattice.clone(),
            tasks: Vec::new(),
        };
        // Requests addressed to this host: <category>.<operation>.<host id>, and the lattice-wide ping.
        let mut own = self
            .nats
            .subscribe(format!("wasmbus.ctl.v1.{}.*.*.{id}", self.lattice))
            .await?;
        let mut ping = self
            .nats
            .subscribe(format!("wasmbus.ctl.v1.{}.host.ping", self.lattice))
            .await?;
        self.nats.flush().await?;
        let started = Instant::now();
        let context = HostContext {
            nats: self.nats.clone(),
            lattice: self.lattice.clone(),
            id: id.clone(),
            friendly_name: friendly_name.to_string(),
            labels: all_labels,
            inventory,
            started,
        };
        let requests = context.clone();
        host.tasks.push(tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    Some(m) = own.next() => m,
                    Some(m) = ping.next() => m,
                    else => return,
                };
                if let Err(error) = requests.answer(&message).await {
                    tracing::warn!(%error, subject = %message.subject, "simulated host failed to answer");
                }
            }
        }));
        context
            .emit(
                "host_started",
                json!({"labels": context.labels, "friendly_name": friendly_name}),
            )
            .await?;
        let beats = context.clone();
        host.tasks.push(tokio::spawn(async move {
            loop {
                if let Err(error) = beats.emit("host_heartbeat", beats.heartbeat()).await {
                    tracing::warn!(%error, "simulated host failed to send a heartbeat");
                }
                tokio::time::sleep(HEARTBEAT).await;
            }
        }));
        Ok(host)
    }
}

impl Drop for SimulatedLattice {
    fn drop(&mut self) {
        self.responder.abort();
    }
}

impl SimulatedHost {
    /// Stops the host the way a real one shuts down: it says `host_stopped` and goes quiet.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.abort_tasks();
        let context = HostContext {
            nats: self.nats.clone(),
            lattice: self.lattice.clone(),
            id: self.id.clone(),
            friendly_name: String::new(),
            labels: self.labels.clone(),
            inventory: self.inventory.clone(),
            started: Instant::now(),
        };
        context
            .emit(
                "host_stopped",
                json!({"labels": self.labels, "reason": "simulator stopped"}),
            )
            .await?;
        self.nats.flush().await?;
        Ok(())
    }

    /// Components and providers wadm has placed on this host (ids).
    pub fn running(&self) -> (Vec<String>, Vec<String>) {
        let inventory = lock(&self.inventory);
        (
            inventory.components.keys().cloned().collect(),
            inventory.providers.keys().cloned().collect(),
        )
    }

    fn abort_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for SimulatedHost {
    fn drop(&mut self) {
        self.abort_tasks();
    }
}

#[derive(Clone)]
struct HostContext {
    nats: async_nats::Client,
    lattice: String,
    id: String,
    friendly_name: String,
    labels: BTreeMap<String, String>,
    inventory: Arc<Mutex<Inventory>>,
    started: Instant,
}

impl HostContext {
    async fn emit(&self, kind: &str, data: Value) -> anyhow::Result<()> {
        publish_event(&self.nats, &self.lattice, &self.id, kind, data).await
    }

    fn heartbeat(&self) -> Value {
        let mut beat = self.host_summary();
        // wadm reads `id` as an alias of `host_id`: a heartbeat carrying both fails to deserialize
        // ("duplicate field"), wadm ignores it and reaps the host two cleanup intervals after it started.
        if let Some(fields) = beat.as_object_mut() {
            fields.remove("id");
        }
        let inventory = lock(&self.inventory);
        beat["components"] = Value::Array(inventory.components.values().cloned().collect());
        beat["providers"] = Value::Array(inventory.providers.values().cloned().collect());
        beat["issuer"] = json!("CSIMULATEDISSUER");
        beat
    }

    fn host_summary(&self) -> Value {
        let up = self.started.elapsed().as_secs();
        json!({
            "host_id": self.id, "id": self.id, "friendly_name": self.friendly_name, "labels": self.labels,
            "lattice": self.lattice, "version": "1.8.0", "uptime_human": format!("{up}s"), "uptime_seconds": up
        })
    }

    async fn answer(&self, message: &async_nats::Message) -> anyhow::Result<()> {
        let tokens: Vec<&str> = message.subject.split('.').collect();
        let (category, operation) = (tokens.get(4).copied(), tokens.get(5).copied());
        let body: Value = if message.payload.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&message.payload)?
        };
        let annotations = body.get("annotations").cloned().unwrap_or_else(|| json!({}));
        match (category, operation) {
            (Some("component"), Some("scale")) => {
                let id = text(&body, "component_id");
                let count = body.get("count").and_then(Value::as_u64).unwrap_or(0);
                let image = text(&body, "component_ref");
                {
                    let mut inventory = lock(&self.inventory);
                    if count == 0 {
                        inventory.components.remove(&id);
                    } else {
                        inventory.components.insert(
                            id.clone(),
                            json!({"id": id, "image_ref": image, "name": id, "annotations": annotations,
                                   "revision": 0, "max_instances": count}),
                        );
                    }
                }
                respond(&self.nats, message, ok(None)).await?;
                self.emit(
                    "component_scaled",
                    json!({"annotations": annotations, "claims": null, "image_ref": image,
                           "max_instances": count, "component_id": id, "host_id": self.id}),
                )
                .await
            }
            (Some("provider"), Some("start")) => {
                let id = text(&body, "provider_id");
                let image = text(&body, "provider_ref");
                lock(&self.inventory).providers.insert(
                    id.clone(),
                    json!({"id": id, "image_ref": image, "name": id, "revision": 0, "annotations": annotations}),
                );
                respond(&self.nats, message, ok(None)).await?;
                self.emit(
                    "provider_started",
                    json!({"annotations": annotations, "claims": null, "image_ref": image,
                           "provider_id": id, "host_id": self.id}),
                )
                .await?;
                self.emit(
                    "health_check_passed",
                    json!({"provider_id": id, "host_id": self.id}),
                )
                .await
            }
            (Some("provider"), Some("stop")) => {
                let id = text(&body, "provider_id");
                let removed = lock(&self.inventory).providers.remove(&id);
                respond(&self.nats, message, ok(None)).await?;
                let annotations = removed
                    .and_then(|p| p.get("annotations").cloned())
                    .unwrap_or_else(|| json!({}));
                self.emit(
                    "provider_stopped",
                    json!({"annotations": annotations, "provider_id": id, "reason": "stop requested",
                           "host_id": self.id}),
                )
                .await
            }
            (Some("host"), Some("get")) => respond(&self.nats, message, ok(Some(self.heartbeat()))).await,
            (Some("host"), Some("ping")) => respond(&self.nats, message, ok(Some(self.host_summary()))).await,
            _ => respond(&self.nats, message, ok(None)).await,
        }
    }
}

async fn answer_lattice_request(
    nats: &async_nats::Client,
    lattice: &str,
    shared: &Arc<Mutex<LatticeState>>,
    message: &async_nats::Message,
) -> anyhow::Result<()> {
    let tokens: Vec<&str> = message.subject.split('.').collect();
    let (category, operation, argument) = (
        tokens.get(4).copied(),
        tokens.get(5).copied(),
        tokens.get(6).copied(),
    );
    let body: Value = if message.payload.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&message.payload)?
    };
    let source = lock(shared).event_source.clone();
    let same_link = |a: &Value, b: &Value| {
        ["source_id", "name", "wit_namespace", "wit_package"]
            .iter()
            .all(|k| a.get(k) == b.get(k))
    };
    match (category, operation, argument) {
        (Some("link"), Some("get"), _) => {
            let links = lock(shared).links.clone();
            respond(nats, message, ok(Some(Value::Array(links)))).await
        }
        (Some("link"), Some("put"), _) => {
            {
                let mut state = lock(shared);
                state.links.retain(|l| !same_link(l, &body));
                state.links.push(body.clone());
            }
            respond(nats, message, ok(None)).await?;
            publish_event(nats, lattice, &source, "linkdef_set", body).await
        }
        (Some("link"), Some("del"), _) => {
            lock(shared).links.retain(|l| !same_link(l, &body));
            respond(nats, message, ok(None)).await?;
            publish_event(nats, lattice, &source, "linkdef_deleted", body).await
        }
        (Some("config"), Some("get"), Some(name)) => {
            let found = lock(shared).configs.get(name).cloned();
            let reply = match found {
                Some(config) => ok(Some(config)),
                None => json!({"success": true, "message": "Configuration not found"}),
            };
            respond(nats, message, reply).await
        }
        (Some("config"), Some("put"), Some(name)) => {
            lock(shared).configs.insert(name.to_string(), body);
            respond(nats, message, ok(None)).await?;
            publish_event(nats, lattice, &source, "config_set", json!({"config_name": name})).await
        }
        (Some("config"), Some("del"), Some(name)) => {
            lock(shared).configs.remove(name);
            respond(nats, message, ok(None)).await?;
            publish_event(
                nats,
                lattice,
                &source,
                "config_deleted",
                json!({"config_name": name}),
            )
            .await
        }
        (Some("claims"), Some("get"), _) => respond(nats, message, ok(Some(json!([])))).await,
        // Host-addressed and ping requests are answered by the hosts themselves.
        _ => Ok(()),
    }
}

async fn publish_event(
    nats: &async_nats::Client,
    lattice: &str,
    source: &str,
    kind: &str,
    data: Value,
) -> anyhow::Result<()> {
    let event = json!({
        "specversion": "1.0",
        "id": format!("{:032x}", rand_u128()),
        "type": format!("com.wasmcloud.lattice.{kind}"),
        "source": source,
        "datacontenttype": "application/json",
        "time": k8s_openapi::jiff::Timestamp::now().to_string(),
        "data": data,
    });
    nats.publish(
        format!("wasmbus.evt.{lattice}.{kind}"),
        serde_json::to_vec(&event)?.into(),
    )
    .await?;
    Ok(())
}

async fn respond(
    nats: &async_nats::Client,
    message: &async_nats::Message,
    reply: Value,
) -> anyhow::Result<()> {
    if let Some(reply_to) = &message.reply {
        nats.publish(reply_to.clone(), serde_json::to_vec(&reply)?.into())
            .await?;
    }
    Ok(())
}

fn ok(response: Option<Value>) -> Value {
    match response {
        Some(response) => json!({"success": true, "message": "", "response": response}),
        None => json!({"success": true, "message": ""}),
    }
}

fn text(body: &Value, key: &str) -> String {
    body.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A host id shaped like a real one (56 characters, `N` first, like a server nkey).
fn host_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::from("N");
    let mut bits = rand_u128();
    for i in 0..55 {
        if i % 24 == 0 {
            bits = rand_u128();
        }
        id.push(char::from(ALPHABET[usize::try_from(bits & 31).unwrap_or(0)]));
        bits >>= 5;
    }
    id
}

fn rand_u128() -> u128 {
    rand::random()
}
