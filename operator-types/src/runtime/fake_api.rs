//! `FakeApi`: an in-memory stand-in for the Kubernetes API server, for the test tier between the pure
//! unit tests and the real environment. It keeps objects by URL, answers get, list, create, server-side
//! apply (a simplified merge: maps merge, everything else is replaced), JSON patches (RFC 6902, as
//! kube's finalizer helper sends), status apply and delete, and
//! records every request, so a test can check a reconcile's request sequence (e.g. a steady state makes
//! no write). It is not an API server: no validation, no defaulting, no watch, no garbage collection.
//! Built only with the `fake-api` feature; touches nothing outside its own memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::Resource;
use kube::client::Body;
use serde::Serialize;
use serde_json::{Value, json};

use super::client::classify;

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Kubernetes verb: get, list, create, patch, update, delete, ...
    pub verb: &'static str,
    /// `pods`, `wasmcloudhostconfigs/status`, ...
    pub resource: String,
    /// The object's name, when the request names one.
    pub name: Option<String>,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.verb,
            self.resource,
            self.name.as_deref().unwrap_or("")
        )
    }
}

#[derive(Debug, Default)]
struct State {
    /// Object URL (`/api/v1/namespaces/a/configmaps/x`) → object.
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    next_version: u64,
    /// (verb, resource) → the code every such request gets instead of an answer.
    refusals: BTreeMap<(String, String), u16>,
}

/// The fake; clones share one state.
#[derive(Clone, Debug, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    pub fn new() -> Self {
        Self::default()
    }

    /// A kube client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let fake = fake.clone();
            async move { Ok::<_, std::convert::Infallible>(fake.answer(request).await) }
        });
        kube::Client::new(service, "default")
    }

    /// Stores `object` as if it had been created (a uid and resourceVersion are added when missing).
    pub fn insert<K>(&self, object: &K)
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let mut value = serde_json::to_value(object).unwrap_or_default();
        value["apiVersion"] = json!(K::api_version(&()));
        value["kind"] = json!(K::kind(&()));
        let url = format!(
            "{}/{}",
            K::url_path(&(), object.meta().namespace.as_deref()),
            object.meta().name.clone().unwrap_or_default()
        );
        let mut state = self.lock();
        let created = Self::stamp(&mut state, &url, value);
        state.objects.insert(url, created);
    }

    /// The stored object of kind `K`, if any.
    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + serde::de::DeserializeOwned,
    {
        let url = format!("{}/{name}", K::url_path(&(), namespace));
        let value = self.lock().objects.get(&url).cloned()?;
        serde_json::from_value(value).ok()
    }

    /// From now on answers every `verb` request on `resource` (e.g. `patch`, `deployments`) with `code`,
    /// as an API server that refuses or fails it would.
    pub fn refuse(&self, verb: &str, resource: &str, code: u16) {
        self.lock()
            .refusals
            .insert((verb.to_string(), resource.to_string()), code);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The writes so far, in order.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_write).collect()
    }

    /// Forgets the requests so far (the objects stay).
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stamp(state: &mut State, url: &str, mut value: Value) -> Value {
        state.next_version += 1;
        let metadata = &mut value["metadata"];
        if metadata.get("uid").is_none_or(Value::is_null) {
            metadata["uid"] = json!(format!("uid-{}", url.rsplit('/').next().unwrap_or_default()));
        }
        if metadata.get("creationTimestamp").is_none_or(Value::is_null) {
            metadata["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        metadata["resourceVersion"] = json!(state.next_version.to_string());
        value
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let classified = classify(&method, &path, request.uri().query());
        let name = object_name(&path);
        let json_patch = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes() == b"application/json-patch+json");
        let body = request.into_body().collect_bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut state = self.lock();
        state.requests.push(Recorded {
            verb: classified.verb,
            resource: classified.resource.clone(),
            name: name.clone(),
        });
        let refusal = state
            .refusals
            .get(&(classified.verb.to_string(), classified.resource.clone()))
            .copied();
        if let Some(code) = refusal {
            return respond(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": "Refused",
                        "message": format!("refused by the fake with the value s3cret-value in it")}),
            );
        }
        let status_subresource = classified.resource.ends_with("/status");
        let url = if status_subresource {
            path.trim_end_matches("/status").to_string()
        } else {
            path.clone()
        };
        match (method, classified.verb) {
            (Method::GET, "get") => match state.objects.get(&url) {
                Some(object) => respond(StatusCode::OK, object),
                None => not_found(&url),
            },
            (Method::GET, "list") => {
                let prefix = format!("{url}/");
                let items: Vec<&Value> = state
                    .objects
                    .iter()
                    .filter(|(key, _)| key.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/')))
                    .map(|(_, object)| object)
                    .collect();
                respond(
                    StatusCode::OK,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
                )
            }
            (Method::POST, _) => {
                let name = body["metadata"]["name"]
                    .as_str()
                    .unwrap_or("generated")
                    .to_string();
                let url = format!("{url}/{name}");
                let created = Self::stamp(&mut state, &url, body);
                state.objects.insert(url, created.clone());
                respond(StatusCode::CREATED, &created)
            }
            (Method::PATCH, _) => {
                let existing = state.objects.get(&url).cloned();
                let merged = match (existing, status_subresource) {
                    (None, _) if json_patch => return not_found(&url),
                    (Some(mut existing), _) if json_patch => {
                        let applied = serde_json::from_value::<json_patch::Patch>(body)
                            .map_err(|e| e.to_string())
                            .and_then(|operations| {
                                let operations = missing_is_null(&existing, operations);
                                json_patch::patch(&mut existing, &operations).map_err(|e| e.to_string())
                            });
                        if let Err(message) = applied {
                            return respond(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422,
                                        "reason": "Invalid", "message": message}),
                            );
                        }
                        existing
                    }
                    (None, true) => return not_found(&url),
                    (None, false) => body,
                    (Some(mut existing), true) => {
                        existing["status"] = body["status"].clone();
                        existing
                    }
                    (Some(mut existing), false) => {
                        merge(&mut existing, &body);
                        existing
                    }
                };
                let stored = Self::stamp(&mut state, &url, merged);
                state.objects.insert(url, stored.clone());
                respond(StatusCode::OK, &stored)
            }
            (Method::DELETE, "delete") => match state.objects.remove(&url) {
                Some(_) => respond(
                    StatusCode::OK,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                ),
                None => not_found(&url),
            },
            _ => respond(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 405, "message": "the fake API does not do this", "reason": "MethodNotAllowed"}),
            ),
        }
    }
}

/// A reflector store holding exactly `objects`, as a watch that has listed them leaves it (ready), for
/// reconciles that read caches.
pub fn listed_store<K>(objects: Vec<K>) -> kube::runtime::reflector::Store<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    use kube::runtime::{reflector, watcher};
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(object));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    store
}

/// The name segment of an object URL (`.../<resource>/<name>[/<subresource>]`), none for a collection.
fn object_name(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (["api", _, rest @ ..] | ["apis", _, _, rest @ ..]) = segments.as_slice() else {
        return None;
    };
    let name = match rest {
        ["namespaces", _, _] => return None,
        ["namespaces", _, _, name, ..] | [_, name, ..] => name,
        _ => return None,
    };
    Some((*name).to_string())
}

/// The API server's JSON patches treat a missing field as null, so a `test` for null passes there;
/// the json-patch crate would fail it. Such tests are dropped.
fn missing_is_null(object: &Value, patch: json_patch::Patch) -> json_patch::Patch {
    let kept = patch
        .0
        .into_iter()
        .filter(|operation| match operation {
            json_patch::PatchOperation::Test(test) => {
                !(test.value.is_null() && object.pointer(test.path.as_str()).is_none())
            }
            _ => true,
        })
        .collect();
    json_patch::Patch(kept)
}

/// Server-side apply, simplified: maps merge key by key, everything else is replaced.
fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(into.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (into, patch) => *into = patch.clone(),
    }
}

fn respond(code: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = code;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn not_found(url: &str) -> Response<Body> {
    respond(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound",
                "message": format!("{url} not found")}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_object_urls_only() {
        assert_eq!(object_name("/api/v1/namespaces/a/configmaps/x"), Some("x".into()));
        assert_eq!(object_name("/api/v1/namespaces/a/configmaps"), None);
        assert_eq!(
            object_name("/apis/k8s.wasmcloud.dev/v1alpha1/namespaces/a/wasmcloudhostconfigs/h/status"),
            Some("h".into())
        );
        assert_eq!(object_name("/api/v1/namespaces/a"), Some("a".into()));
        assert_eq!(object_name("/api/v1/nodes/n1"), Some("n1".into()));
    }
}
