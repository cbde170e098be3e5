//! What the syncer knows about one lattice: what wadm's deployed manifests come to (qualified as they
//! arrive; the manifests themselves are not kept) and which hosts run which providers. Pure: wadm and
//! host events (CloudEvents) and resync results go in, a view comes out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmcloud_operator_types::contract::host_labels;

use crate::qualify::{self, HttpApp, Unqualified};

/// The annotation wadm puts on everything it starts, naming the application.
pub const APP_ANNOTATION: &str = "wasmcloud.dev/appspec";

/// A host that has not been heard from for this long is forgotten (real hosts beat every 30 s).
pub const HOST_SILENCE_LIMIT: Duration = Duration::from_secs(300);

/// After the first full read of a lattice, how long until every running host has beaten at least once
/// (30 s heartbeats, plus margin): until then a host missing from the view may simply not have been
/// heard yet, and the pods it runs in keep the endpoints they have.
pub const HOSTS_SETTLE: Duration = Duration::from_secs(35);

/// One lattice as seen from NATS.
#[derive(Debug, Clone, Default)]
pub struct LatticeView {
    /// True once a full resync from wadm succeeded: until then the app list may be incomplete, and nothing
    /// is deleted on its account.
    pub synced: bool,
    /// Deployed applications with an HTTP server provider, by name: how each is served, or why it can't
    /// be. Applications without one are not kept.
    pub apps: BTreeMap<String, Decision>,
    /// Hosts by id.
    pub hosts: BTreeMap<String, Host>,
    /// When every running host will have been heard from: [`HOSTS_SETTLE`] after the first full read.
    pub hosts_settle_at: Option<Instant>,
}

/// What a deployed manifest with an HTTP server provider comes to.
pub type Decision = Result<HttpApp, Unqualified>;

/// What `manifest` comes to: `None` when it serves no HTTP at all.
pub fn decide(manifest: &Value, image_patterns: &[String]) -> Option<Decision> {
    qualify::qualify(manifest, image_patterns).transpose()
}

/// A lattice host: its labels and the providers it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub labels: BTreeMap<String, String>,
    /// Providers by id.
    pub providers: BTreeMap<String, Provider>,
    pub last_seen: Instant,
}

/// A provider running on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub image: String,
    /// The wadm application that started it, if any.
    pub app: Option<String>,
}

impl Host {
    fn new(labels: BTreeMap<String, String>, now: Instant) -> Self {
        Self {
            labels,
            providers: BTreeMap::new(),
            last_seen: now,
        }
    }

    /// The pod this host runs in, from the host labels the host-operator gives every host.
    pub fn pod(&self) -> Option<(&str, Option<&str>)> {
        let name = self.labels.get(host_labels::POD_NAME)?;
        Some((
            name.as_str(),
            self.labels.get(host_labels::POD_NAMESPACE).map(String::as_str),
        ))
    }

    /// Whether this host runs the provider `image` for application `app`. A host names a built-in provider
    /// (`wasmcloud+builtin://http-server` in the manifest) by its name alone (`http-server`).
    pub fn serves(&self, app: &str, image: &str) -> bool {
        let builtin = image.strip_prefix(BUILTIN_SCHEME);
        self.providers
            .values()
            .any(|p| (p.image == image || builtin == Some(p.image.as_str())) && p.app.as_deref() == Some(app))
    }

    /// Same labels and providers (the time it was last seen aside).
    fn same_as(&self, other: &Self) -> bool {
        self.labels == other.labels && self.providers == other.providers
    }
}

impl LatticeView {
    /// Applies a wadm event (`wadm.evt.<lattice>.<kind>`), qualifying a published manifest with
    /// `image_patterns`; returns whether the app list changed.
    pub fn apply_wadm_event(&mut self, kind: &str, event: &Value, image_patterns: &[String]) -> bool {
        let data = event.get("data").unwrap_or(&Value::Null);
        match kind {
            "manifest_published" => {
                let Some(name) = data.pointer("/metadata/name").and_then(Value::as_str) else {
                    return false;
                };
                match decide(data, image_patterns) {
                    Some(decision) => self.apps.insert(name.to_string(), decision.clone()) != Some(decision),
                    None => self.apps.remove(name).is_some(),
                }
            }
            "manifest_unpublished" => data
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| self.apps.remove(name).is_some()),
            _ => false,
        }
    }

    /// Applies a host event (`wasmbus.evt.<lattice>.<kind>`); returns whether which hosts run which
    /// providers, or their labels, changed.
    pub fn apply_host_event(&mut self, kind: &str, event: &Value, now: Instant) -> bool {
        let data = event.get("data").unwrap_or(&Value::Null);
        let Some(host_id) = data
            .get("host_id")
            .or_else(|| event.get("source"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
        else {
            return false;
        };
        match kind {
            "host_started" => {
                let host = Host::new(labels_of(data), now);
                self.replace_restarted(&host_id, &host);
                self.put_host(host_id, host)
            }
            "host_heartbeat" => {
                let host = host_of_inventory(data, now);
                self.put_host(host_id, host)
            }
            "host_stopped" => self.hosts.remove(&host_id).is_some(),
            "provider_started" => {
                let provider_id = text(data, "provider_id");
                let provider = Provider {
                    image: text(data, "image_ref"),
                    app: app_of(data),
                };
                let host = self
                    .hosts
                    .entry(host_id)
                    .or_insert_with(|| Host::new(BTreeMap::new(), now));
                host.last_seen = now;
                host.providers.insert(provider_id, provider.clone()) != Some(provider)
            }
            "provider_stopped" => {
                let provider_id = text(data, "provider_id");
                self.hosts
                    .get_mut(&host_id)
                    .is_some_and(|host| host.providers.remove(&provider_id).is_some())
            }
            _ => false,
        }
    }

    /// Replaces the app list with a full read from wadm and marks the view synced.
    pub fn replace_apps(&mut self, apps: BTreeMap<String, Decision>) -> bool {
        let changed = !self.synced || self.apps != apps;
        self.apps = apps;
        self.synced = true;
        changed
    }

    /// Takes in what the hosts that answered a ping said about themselves. Hosts that didn't answer are
    /// kept: right after a reconnect they may simply not be back yet, and their pods still serve.
    pub fn merge_hosts(&mut self, answered: BTreeMap<String, Host>) -> bool {
        let now = Instant::now();
        self.hosts_settle_at.get_or_insert(now + HOSTS_SETTLE);
        let mut changed = false;
        for (id, host) in answered {
            changed |= self.put_host(id, host);
        }
        changed
    }

    /// Forgets hosts not heard from for [`HOST_SILENCE_LIMIT`]; returns whether any went.
    pub fn forget_silent_hosts(&mut self, now: Instant) -> bool {
        let before = self.hosts.len();
        self.hosts
            .retain(|_, host| now.saturating_duration_since(host.last_seen) < HOST_SILENCE_LIMIT);
        self.hosts.len() != before
    }

    /// How long until the host list is complete (`None`: it is, or no full read happened yet).
    pub fn hosts_settling(&self, now: Instant) -> Option<Duration> {
        self.hosts_settle_at
            .and_then(|at| at.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Whether any known host says it runs in `pod` (in `namespace`, when the host names one).
    pub fn knows_pod(&self, pod: &str, namespace: Option<&str>) -> bool {
        self.hosts.values().any(|host| {
            host.pod().is_some_and(|(name, host_namespace)| {
                name == pod && host_namespace.is_none_or(|ns| Some(ns) == namespace)
            })
        })
    }

    fn put_host(&mut self, id: String, host: Host) -> bool {
        match self.hosts.get_mut(&id) {
            Some(known) if known.same_as(&host) => {
                known.last_seen = host.last_seen;
                false
            }
            _ => {
                self.hosts.insert(id, host);
                true
            }
        }
    }

    /// A host that starts in a pod replaces the host that ran there before (a restarted container).
    fn replace_restarted(&mut self, id: &str, host: &Host) {
        let Some(pod) = host.pod() else { return };
        let pod = (pod.0.to_string(), pod.1.map(str::to_string));
        self.hosts.retain(|other_id, other| {
            other_id == id
                || other.pod().map(|(n, ns)| (n.to_string(), ns.map(str::to_string))) != Some(pod.clone())
        });
    }
}

/// A host from a heartbeat or a `host.get` inventory.
pub fn host_of_inventory(data: &Value, now: Instant) -> Host {
    let mut host = Host::new(labels_of(data), now);
    for provider in data
        .get("providers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        host.providers.insert(
            text(provider, "id"),
            Provider {
                image: text(provider, "image_ref"),
                app: app_of(provider),
            },
        );
    }
    host
}

/// How a manifest names a provider built into the host.
const BUILTIN_SCHEME: &str = "wasmcloud+builtin://";

fn labels_of(data: &Value) -> BTreeMap<String, String> {
    data.get("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

fn app_of(data: &Value) -> Option<String> {
    data.pointer("/annotations")
        .and_then(|a| a.get(APP_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn text(data: &Value, key: &str) -> String {
    data.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMAGE: &str = "ghcr.io/wasmcloud/http-server:0.23.0";

    fn event(source: &str, data: &Value) -> Value {
        json!({"specversion": "1.0", "source": source, "data": data})
    }

    fn provider(app: &str) -> Value {
        json!({"id": "shop-httpserver", "image_ref": IMAGE, "annotations": {APP_ANNOTATION: app}})
    }

    fn http_manifest(address: &str) -> Value {
        json!({"metadata": {"name": "shop"}, "spec": {"components": [
            {"name": "httpserver", "type": "capability", "properties": {"image": IMAGE}, "traits": [
              {"type": "daemonscaler", "properties": {"instances": 1}},
              {"type": "link", "properties": {"namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"],
               "source": {"config": [{"name": "c", "properties": {"address": address}}]}}}]}]}})
    }

    #[test]
    fn a_builtin_provider_is_named_without_its_scheme_in_a_hosts_inventory() {
        // As a real 1.9 host (wasmcloud-host 0.27.1) reports the built-in HTTP server in its heartbeat.
        let heartbeat = json!({"host_id": "N1", "labels": {}, "providers": [{
            "id": "shop-httpserver", "image_ref": "http-server", "annotations": {APP_ANNOTATION: "shop"}}]});
        let host = host_of_inventory(&heartbeat, Instant::now());
        assert!(host.serves("shop", "wasmcloud+builtin://http-server"));
        assert!(!host.serves("shop", "wasmcloud+builtin://messaging-nats"));
        assert!(!host.serves("other", "wasmcloud+builtin://http-server"));
        assert!(
            !host.serves("shop", "http-server:1"),
            "only the builtin scheme is stripped"
        );
    }

    #[test]
    fn manifests_come_and_go_with_wadm_events_and_only_their_decision_is_kept() {
        let patterns = ["ghcr.io/wasmcloud/http-server".to_string()];
        let publish = |view: &mut LatticeView, manifest: &Value| {
            view.apply_wadm_event("manifest_published", &event("wadm", manifest), &patterns)
        };
        let unpublish = |view: &mut LatticeView| {
            view.apply_wadm_event(
                "manifest_unpublished",
                &event("wadm", &json!({"name": "shop"})),
                &patterns,
            )
        };
        let mut view = LatticeView::default();
        assert!(publish(&mut view, &http_manifest("0.0.0.0:8080")));
        assert!(
            !publish(&mut view, &http_manifest("0.0.0.0:8080")),
            "same decision, no change"
        );
        assert_eq!(view.apps["shop"].as_ref().map(|app| app.port), Ok(8080));
        assert!(
            publish(&mut view, &http_manifest("0.0.0.0:9090")),
            "a new port is a change"
        );
        assert!(publish(&mut view, &http_manifest("nowhere")));
        assert!(view.apps["shop"].is_err(), "a bad address is kept as the reason");
        assert!(unpublish(&mut view));
        assert!(view.apps.is_empty());
        assert!(!unpublish(&mut view));

        let no_http = json!({"metadata": {"name": "shop"}, "spec": {"components": []}});
        assert!(
            !publish(&mut view, &no_http),
            "an app that serves no HTTP is not kept"
        );
        assert!(publish(&mut view, &http_manifest(":80")));
        assert!(
            publish(&mut view, &no_http),
            "dropping its HTTP server removes it"
        );
        assert!(view.apps.is_empty());
    }

    #[test]
    fn heartbeats_say_which_hosts_run_which_providers_and_repeats_change_nothing() {
        let now = Instant::now();
        let mut view = LatticeView::default();
        let beat = json!({"host_id": "H1", "labels": {"kubernetes.pod.name": "hosts-0", "zone": "east"},
            "providers": [provider("shop")]});
        assert!(view.apply_host_event("host_heartbeat", &event("H1", &beat), now));
        assert!(!view.apply_host_event(
            "host_heartbeat",
            &event("H1", &beat),
            now + Duration::from_secs(30)
        ));
        let host = &view.hosts["H1"];
        assert!(host.serves("shop", IMAGE));
        assert!(!host.serves("other", IMAGE));
        assert_eq!(host.pod(), Some(("hosts-0", None)));

        let stopped = json!({"host_id": "H1", "provider_id": "shop-httpserver"});
        assert!(view.apply_host_event("provider_stopped", &event("H1", &stopped), now));
        assert!(!view.hosts["H1"].serves("shop", IMAGE));
        let started = json!({"host_id": "H1", "provider_id": "shop-httpserver", "image_ref": IMAGE,
            "annotations": {APP_ANNOTATION: "shop"}});
        assert!(view.apply_host_event("provider_started", &event("H1", &started), now));
        assert!(view.hosts["H1"].serves("shop", IMAGE));
        assert!(view.apply_host_event("host_stopped", &event("H1", &json!({})), now));
        assert!(view.hosts.is_empty());
    }

    #[test]
    fn a_host_restarting_in_the_same_pod_replaces_the_old_one() {
        let now = Instant::now();
        let mut view = LatticeView::default();
        let labels = json!({"kubernetes.pod.name": "hosts-0", "kubernetes.pod.namespace": "east"});
        view.apply_host_event(
            "host_heartbeat",
            &event("OLD", &json!({"labels": labels, "providers": [provider("shop")]})),
            now,
        );
        assert!(view.apply_host_event("host_started", &event("NEW", &json!({"labels": labels})), now));
        assert_eq!(view.hosts.keys().collect::<Vec<_>>(), ["NEW"]);
    }

    #[test]
    fn a_resync_keeps_hosts_that_did_not_answer_and_silence_forgets_them() {
        let now = Instant::now();
        let mut view = LatticeView::default();
        view.apply_host_event("host_started", &event("QUIET", &json!({"labels": {}})), now);
        let answered = BTreeMap::from([(
            "LOUD".to_string(),
            host_of_inventory(&json!({"labels": {}, "providers": [provider("shop")]}), now),
        )]);
        assert!(view.merge_hosts(answered));
        assert_eq!(view.hosts.len(), 2);
        assert!(!view.forget_silent_hosts(now + Duration::from_secs(10)));
        assert!(view.forget_silent_hosts(now + HOST_SILENCE_LIMIT));
        assert!(view.hosts.is_empty());
    }

    #[test]
    fn a_full_app_read_marks_the_view_synced() {
        let mut view = LatticeView::default();
        assert!(view.replace_apps(BTreeMap::new()));
        assert!(view.synced);
        assert!(!view.replace_apps(BTreeMap::new()));
    }
}
