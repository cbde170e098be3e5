//! `FakeWadm`: an in-memory stand-in for wadm's model API (`wadm.api.<lattice>.model.*`), carried by
//! `wadm::Transport`, for the mock tier's tests. It keeps models by lattice and name, answers put, list,
//! get, versions, deploy, del and status with the reply shapes real wadm sends (reference/wadm-nats.md),
//! records every request, and can stop answering as a wadm that is away would. It is not wadm: no
//! validation beyond the version rule, no scalers, no status stream. Built only with the `fake-api`
//! feature; touches nothing outside its own memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::wadm::{Transport, Wadm};

/// One request as the fake saw it: the operation (`put`, `versions`, `deploy`, ...), lattice and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WadmRequest {
    pub operation: String,
    pub lattice: String,
    /// The model's name; for a put, the name in the manifest; none for a list.
    pub name: Option<String>,
}

impl WadmRequest {
    /// Whether the request changes what wadm holds or runs.
    pub fn is_write(&self) -> bool {
        matches!(self.operation.as_str(), "put" | "deploy" | "undeploy" | "del")
    }
}

impl std::fmt::Display for WadmRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.operation,
            self.lattice,
            self.name.as_deref().unwrap_or("")
        )
    }
}

/// A stored model: its versions (oldest first) and which one is deployed.
#[derive(Debug, Default, Clone)]
struct Model {
    versions: Vec<(String, Value)>,
    deployed: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// (lattice, name) → model.
    models: BTreeMap<(String, String), Model>,
    requests: Vec<WadmRequest>,
    away: bool,
}

/// The fake; clones share one state.
#[derive(Clone, Debug, Default)]
pub struct FakeWadm {
    state: Arc<Mutex<State>>,
}

impl FakeWadm {
    pub fn new() -> Self {
        Self::default()
    }

    /// A `Wadm` whose every request this fake answers.
    pub fn wadm(&self) -> Wadm {
        Wadm::over(Arc::new(self.clone()))
    }

    /// Stores `manifest` as a version of its model, as another client's put would.
    pub fn insert(&self, lattice: &str, manifest: &Value, deployed: bool) {
        let (name, version) = name_and_version(manifest);
        let mut state = self.lock();
        let model = state.models.entry((lattice.into(), name)).or_default();
        model.versions.push((version.clone(), manifest.clone()));
        if deployed {
            model.deployed = Some(version);
        }
    }

    /// The deployed version of `name` in `lattice`, if any.
    pub fn deployed(&self, lattice: &str, name: &str) -> Option<String> {
        self.lock().models.get(&key(lattice, name))?.deployed.clone()
    }

    /// Whether `lattice` holds a model called `name`.
    pub fn holds(&self, lattice: &str, name: &str) -> bool {
        self.lock().models.contains_key(&key(lattice, name))
    }

    /// From now on (`true`) every request fails at once with "no responders", as NATS answers when no
    /// wadm listens.
    pub fn set_away(&self, away: bool) {
        self.lock().away = away;
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<WadmRequest> {
        self.lock().requests.clone()
    }

    /// The requests so far that change what wadm holds or runs.
    pub fn writes(&self) -> Vec<WadmRequest> {
        self.requests()
            .into_iter()
            .filter(WadmRequest::is_write)
            .collect()
    }

    /// Forgets the requests so far (the models stay).
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn answer(&self, subject: &str, body: &[u8]) -> Result<Value, String> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let ["wadm", "api", lattice, "model", operation, rest @ ..] = tokens.as_slice() else {
            return Err(format!("no responders for {subject}"));
        };
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let name = rest.first().map(|name| (*name).to_string());
        let mut state = self.lock();
        let recorded_name = match *operation {
            "put" => Some(name_and_version(&body).0),
            _ => name.clone(),
        };
        state.requests.push(WadmRequest {
            operation: (*operation).to_string(),
            lattice: (*lattice).to_string(),
            name: recorded_name,
        });
        if state.away {
            return Err("no responders".into());
        }
        let wanted = body.get("version").and_then(Value::as_str).map(str::to_string);
        Ok(match (*operation, name.as_deref()) {
            ("put", None) => put(&mut state, lattice, body),
            ("get", None) => list(&state, lattice),
            ("get", Some(name)) => get(&state, lattice, name, wanted.as_deref()),
            ("versions", Some(name)) => versions(&state, lattice, name),
            ("deploy", Some(name)) => deploy(&mut state, lattice, name, wanted),
            ("del", Some(name)) => match state.models.remove(&key(lattice, name)) {
                Some(_) => {
                    json!({"result": "deleted", "message": format!("Successfully deleted application {name}"), "undeploy": true})
                }
                None => {
                    json!({"result": "noop", "message": format!("Application {name} doesn't exist or was already deleted"), "undeploy": false})
                }
            },
            ("status", Some(name)) => status(&state, lattice, name),
            _ => json!({"result": "error", "message": format!("Unsupported subject: {subject}")}),
        })
    }
}

impl Transport for FakeWadm {
    fn request(&self, subject: String, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        let reply = self
            .answer(&subject, &body)
            .map(|reply| serde_json::to_vec(&reply).unwrap_or_default());
        Box::pin(async move { reply })
    }
}

fn name_and_version(manifest: &Value) -> (String, String) {
    let text = |pointer: &str| {
        manifest
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (text("/metadata/name"), text("/metadata/annotations/version"))
}

fn key(lattice: &str, name: &str) -> (String, String) {
    (lattice.to_string(), name.to_string())
}

fn put(state: &mut State, lattice: &str, manifest: Value) -> Value {
    let (name, version) = name_and_version(&manifest);
    let model = state.models.entry(key(lattice, &name)).or_default();
    if model.versions.iter().any(|(stored, _)| *stored == version) {
        return json!({"result": "error", "message": format!("Manifest version {version} already exists")});
    }
    let result = if model.versions.is_empty() {
        "created"
    } else {
        "newversion"
    };
    model.versions.push((version.clone(), manifest));
    json!({"result": result, "total_versions": model.versions.len(), "current_version": version,
           "message": format!("Successfully put manifest {name}"), "name": name})
}

fn list(state: &State, lattice: &str) -> Value {
    let models: Vec<Value> = state
        .models
        .iter()
        .filter(|((stored, _), _)| stored == lattice)
        .map(|((_, name), model)| {
            json!({"name": name, "version": model.versions.last().map(|(v, _)| v.clone()),
                   "deployed_version": model.deployed})
        })
        .collect();
    json!({"result": "success", "message": "Successfully fetched list of applications", "models": models})
}

fn get(state: &State, lattice: &str, name: &str, version: Option<&str>) -> Value {
    let manifest = state.models.get(&key(lattice, name)).and_then(|model| {
        let found = match version {
            Some(version) => model.versions.iter().find(|(stored, _)| stored == version),
            None => model.versions.last(),
        };
        found.map(|(_, manifest)| manifest.clone())
    });
    match manifest {
        Some(manifest) => {
            json!({"result": "success", "message": format!("Successfully fetched application {name}"), "manifest": manifest})
        }
        None => {
            json!({"result": "notfound", "message": format!("Application with the name {name} not found")})
        }
    }
}

fn versions(state: &State, lattice: &str, name: &str) -> Value {
    let Some(model) = state.models.get(&key(lattice, name)) else {
        return json!({"result": "notfound", "message": format!("Application with the name {name} not found")});
    };
    let versions: Vec<Value> = model
        .versions
        .iter()
        .map(|(version, _)| json!({"version": version, "deployed": model.deployed.as_ref() == Some(version)}))
        .collect();
    json!({"result": "success", "message": format!("Successfully fetched versions for {name}"), "versions": versions})
}

fn deploy(state: &mut State, lattice: &str, name: &str, version: Option<String>) -> Value {
    let Some(model) = state.models.get_mut(&key(lattice, name)) else {
        return json!({"result": "notfound", "message": format!("Application with the name {name} not found"), "version": null});
    };
    let version = version.or_else(|| model.versions.last().map(|(v, _)| v.clone()));
    if !model
        .versions
        .iter()
        .any(|(stored, _)| Some(stored) == version.as_ref())
    {
        return json!({"result": "error", "message": format!("Version {} of {name} not found", version.unwrap_or_default())});
    }
    model.deployed.clone_from(&version);
    json!({"result": "acknowledged", "message": format!("Successfully deployed application {name}"), "name": name, "version": version})
}

fn status(state: &State, lattice: &str, name: &str) -> Value {
    let phase = match state.models.get(&key(lattice, name)) {
        Some(Model {
            deployed: Some(_), ..
        }) => "deployed",
        _ => "undeployed",
    };
    json!({"result": "ok", "message": format!("Successfully fetched status for application {name}"),
           "status": {"status": {"type": phase, "message": ""}, "scalers": [], "version": "", "components": []}})
}
