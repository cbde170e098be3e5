//! The read-only view of wadm (`--mirror-wadm-models`, off by default): every model in a lattice that a
//! WasmCloudHostConfig names, and that no Application owns, shows as an Application marked as a mirror
//! (label, annotations), like the old operator's aggregated API listed them. The bridge never writes to
//! wadm for a mirror; an edited mirror is set back; a deleted one comes back while the model exists.
//! Touches only Application objects that carry the mirror label (creates, sets back and deletes them),
//! and reads wadm (model list, manifests) and its manifest bucket's changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wasmcloud_operator_types::contract::{annotations, binaries, labels, reasons};
use wasmcloud_operator_types::runtime::announce;
use wasmcloud_operator_types::{Application, ApplicationSpec, WasmCloudHostConfig};

use crate::wadm::{ModelSummary, Wadm, WadmError};

/// The KV bucket in which wadm stores manifests (keys `<lattice>` and `<lattice>-<model>`).
const MANIFEST_BUCKET: &str = "wadm_manifests";

/// How long to wait before opening the manifest bucket's watch again after it failed or ended.
const REWATCH: Duration = Duration::from_secs(2);

/// What a mirror says about itself.
pub const NOTE: &str = "read-only mirror of a wadm model that no Application owns; the bridge never writes it to \
                        wadm. To manage the model from this object, remove the label k8s.wasmcloud.dev/mirror and \
                        set the annotation k8s.wasmcloud.dev/adopt-model=\"true\"";

/// The mirror's settings.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MirrorArgs {
    /// Show every wadm model that no Application owns as a read-only Application (in the namespace of the
    /// lattice's WasmCloudHostConfig, or `--mirror-namespace`).
    #[arg(long, env = "MIRROR_WADM_MODELS", default_value_t = false)]
    pub mirror_wadm_models: bool,
    /// Put every mirror into this namespace instead.
    #[arg(long, env = "MIRROR_NAMESPACE")]
    pub mirror_namespace: Option<String>,
}

/// Whether `app` is a mirror: the label and the annotation naming its model, both set by the bridge.
pub fn is_mirror(app: &Application) -> bool {
    app.labels().get(labels::MIRROR).is_some_and(|v| v == "true") && mirror_of(app).is_some()
}

/// The lattice and model a mirror shows.
pub fn mirror_of(app: &Application) -> Option<(String, String)> {
    let (lattice, name) = app.annotations().get(annotations::MIRROR_OF)?.split_once('/')?;
    Some((lattice.to_string(), name.to_string()))
}

/// Whether `name` can be an Application's name (an RFC 1123 subdomain without '.', which admission
/// refuses for Applications); wadm also takes '_' and capitals.
fn valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The lattice a change to the manifest bucket's `key` concerns, among `known` ones (the longest that
/// fits, as lattices may contain '-').
fn lattice_of_key<'a>(key: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known
        .iter()
        .filter(|lattice| {
            key == lattice.as_str()
                || key
                    .strip_prefix(lattice.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|lattice| lattice.len())
        .map(String::as_str)
}

/// Lattice → the namespace its mirrors live in: the configured one, or the first (by name) namespace
/// whose WasmCloudHostConfig names it.
fn homes(configs: &[Arc<WasmCloudHostConfig>], configured: Option<&str>) -> BTreeMap<String, String> {
    let mut homes = BTreeMap::new();
    for config in configs {
        let namespace = configured.map_or_else(|| config.namespace().unwrap_or_default(), str::to_string);
        homes
            .entry(config.spec.lattice.clone())
            .and_modify(|home: &mut String| {
                if namespace < *home {
                    home.clone_from(&namespace);
                }
            })
            .or_insert(namespace);
    }
    homes
}

/// Triggers a sync of the lattice whose mirrors an Application change may change: a deleted mirror (it
/// comes back) or a deleted owner (its model may now need one), and an Application that claims a model a
/// mirror shows (the mirror goes). Looks up one object, never scans the store.
pub fn on_application_event(
    event: &watcher::Event<Application>,
    apps: &Store<Application>,
    configs: &Store<WasmCloudHostConfig>,
    configured: Option<&str>,
    trigger: &Trigger,
) {
    match event {
        watcher::Event::Delete(app) => {
            let lattice = mirror_of(app)
                .map(|(lattice, _)| lattice)
                .or_else(|| app.status.as_ref().and_then(|s| s.lattice.clone()));
            if let Some(lattice) = lattice {
                let _ = trigger.send(Some(lattice));
            }
        }
        watcher::Event::Apply(app) if !is_mirror(app) => {
            let claimed = app
                .status
                .as_ref()
                .and_then(|s| s.lattice.clone())
                .or_else(|| app.annotations().get(annotations::LATTICE).cloned());
            let Some(lattice) = claimed else { return };
            let Some(home) = homes(&configs.state(), configured).remove(&lattice) else {
                return;
            };
            let name = app.name_any();
            let shown = apps
                .get(&ObjectRef::new(&name).within(&home))
                .is_some_and(|other| {
                    is_mirror(&other) && mirror_of(&other) == Some((lattice.clone(), name.clone()))
                });
            if shown && app.namespace().as_deref() != Some(home.as_str()) {
                let _ = trigger.send(Some(lattice));
            }
        }
        _ => {}
    }
}

/// What one lattice's mirrors need. Pure.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// Models to mirror that have no mirror yet.
    create: Vec<String>,
    /// Mirrors (name, uid) whose model is gone, is owned, or that live in the wrong namespace.
    delete: Vec<(String, String, String)>,
}

/// Compares wadm's models in `lattice` with the Applications: a model gets a mirror in `home` when no
/// Application owns it (claims it by its status' lattice or its lattice annotation) and its name is
/// free there; every other mirror of the lattice goes.
fn plan(lattice: &str, home: Option<&str>, models: &[ModelSummary], apps: &[Arc<Application>]) -> Plan {
    let claims = |app: &Application| {
        app.status.as_ref().and_then(|s| s.lattice.as_deref()) == Some(lattice)
            || app.annotations().get(annotations::LATTICE).map(String::as_str) == Some(lattice)
    };
    let owned: BTreeSet<String> = apps
        .iter()
        .filter(|app| !is_mirror(app) && claims(app))
        .map(|app| app.name_any())
        .collect();
    let taken: BTreeSet<String> = apps
        .iter()
        .filter(|app| !is_mirror(app) && app.namespace().as_deref() == home)
        .map(|app| app.name_any())
        .collect();
    let wanted: BTreeSet<&str> = match home {
        Some(_) => models
            .iter()
            .map(|m| m.name.as_str())
            .filter(|name| valid_object_name(name) && !owned.contains(*name) && !taken.contains(*name))
            .collect(),
        None => BTreeSet::new(),
    };
    let mut mirrored = BTreeSet::new();
    let mut delete = Vec::new();
    for app in apps.iter().filter(|app| is_mirror(app)) {
        let Some((of_lattice, name)) = mirror_of(app) else {
            continue;
        };
        if of_lattice != lattice {
            continue;
        }
        if wanted.contains(name.as_str()) && app.namespace().as_deref() == home && app.name_any() == name {
            mirrored.insert(name);
        } else {
            delete.push((
                app.namespace().unwrap_or_default(),
                app.name_any(),
                app.uid().unwrap_or_default(),
            ));
        }
    }
    Plan {
        create: wanted
            .into_iter()
            .filter(|name| !mirrored.contains(*name))
            .map(str::to_string)
            .collect(),
        delete,
    }
}

/// The mirror object for `model` of `lattice` in `namespace`, with the manifest's spec.
fn mirror_object(
    lattice: &str,
    namespace: &str,
    model: &str,
    manifest: &Value,
) -> Result<Application, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
        "metadata": {
            "name": model, "namespace": namespace,
            "labels": {labels::MIRROR: "true", labels::MANAGED_BY: binaries::APP_STATUS_BRIDGE},
            "annotations": {
                annotations::MIRROR_OF: format!("{lattice}/{model}"),
                annotations::LATTICE: lattice,
                annotations::MIRROR_NOTE: NOTE,
                annotations::ARGOCD_COMPARE_OPTIONS: "IgnoreExtraneous",
            },
        },
        "spec": manifest.get("spec").cloned().unwrap_or(Value::Null),
    }))
}

/// The version a mirror shows: the deployed one, else the newest.
fn shown_version(model: &ModelSummary) -> &str {
    model.deployed_version.as_deref().unwrap_or(&model.version)
}

/// What the mirror task works with.
#[derive(Clone)]
pub struct Mirror {
    pub client: Client,
    pub wadm: Wadm,
    pub recorder: Recorder,
    pub apps: Store<Application>,
    pub host_configs: Store<WasmCloudHostConfig>,
    pub namespace: Option<String>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// A request to bring one lattice's mirrors in line (`None`: every known lattice).
pub type Trigger = mpsc::UnboundedSender<Option<String>>;

impl Mirror {
    /// Brings the mirrors of every lattice named in a trigger in line, coalescing triggers that arrive
    /// while it works. Runs until the trigger side is gone.
    pub async fn run(self, mut triggers: mpsc::UnboundedReceiver<Option<String>>) {
        while let Some(first) = triggers.recv().await {
            let mut lattices = BTreeSet::new();
            let mut all = false;
            for trigger in std::iter::once(first).chain(std::iter::from_fn(|| triggers.try_recv().ok())) {
                match trigger {
                    Some(lattice) => {
                        lattices.insert(lattice);
                    }
                    None => all = true,
                }
            }
            let homes = homes(&self.host_configs.state(), self.namespace.as_deref());
            if all {
                lattices.extend(homes.keys().cloned());
            }
            // Mirrors of lattices no host config names any more go too.
            for lattice in lattices {
                if let Err(error) = self.sync(&lattice, homes.get(&lattice).map(String::as_str)).await {
                    tracing::warn!(%lattice, %error, "could not bring the mirrors of a lattice in line; retried on its next change");
                }
            }
        }
    }

    async fn sync(&self, lattice: &str, home: Option<&str>) -> Result<(), WadmError> {
        let models = match home {
            Some(_) => self.wadm.models(lattice).await?,
            None => Vec::new(),
        };
        let plan = plan(lattice, home, &models, &self.apps.state());
        for (namespace, name, uid) in plan.delete {
            let api: Api<Application> = Api::namespaced(self.client.clone(), &namespace);
            let only_that_one = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &only_that_one).await {
                // Gone already, or no longer that object (the uid precondition): nothing of ours to delete.
                Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {}
                Ok(_) => {}
                Err(error) => tracing::warn!(%namespace, %name, %error, "could not delete a mirror"),
            }
        }
        let Some(home) = home else { return Ok(()) };
        for name in plan.create {
            let Some(model) = models.iter().find(|m| m.name == name) else {
                continue;
            };
            let Some(manifest) = self.wadm.manifest(lattice, &name, shown_version(model)).await? else {
                continue;
            };
            let object = match mirror_object(lattice, home, &name, &manifest) {
                Ok(object) => object,
                Err(error) => {
                    tracing::warn!(%lattice, model = %name, %error, "a model whose spec is not an Application spec is not mirrored");
                    continue;
                }
            };
            let api: Api<Application> = Api::namespaced(self.client.clone(), home);
            // A create, never an apply: an object of that name that appeared meanwhile is not touched.
            match api.create(&PostParams::default(), &object).await {
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(namespace = %home, model = %name, %error, "could not create a mirror");
                }
            }
        }
        Ok(())
    }
}

/// Triggers a sync of a lattice on every change of wadm's manifest bucket that concerns one the host
/// configs name (and of every lattice once the watch is open: it starts with every key's value).
pub async fn follow_manifests(
    nats: async_nats::Client,
    host_configs: Store<WasmCloudHostConfig>,
    trigger: Trigger,
) {
    let jetstream = async_nats::jetstream::new(nats);
    loop {
        let watch = match jetstream.get_key_value(MANIFEST_BUCKET).await {
            Ok(bucket) => bucket.watch_all().await.map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match watch {
            Ok(mut changes) => {
                let _ = trigger.send(None);
                while let Some(change) = changes.next().await {
                    let Ok(entry) = change else { break };
                    let known: BTreeSet<String> = host_configs
                        .state()
                        .iter()
                        .map(|c| c.spec.lattice.clone())
                        .collect();
                    if let Some(lattice) = lattice_of_key(&entry.key, &known)
                        && trigger.send(Some(lattice.to_string())).is_err()
                    {
                        return;
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "wadm's manifest bucket is not there yet"),
        }
        if trigger.is_closed() {
            return;
        }
        tokio::time::sleep(REWATCH).await;
    }
}

/// One reconcile of a mirror: set its spec back if it was edited, and show wadm's status. Never writes
/// to wadm. Returns what the status should say: the lattice, the sync, wadm's status object.
pub async fn observe(
    app: &Application,
    wadm: &Wadm,
    client: &Client,
    recorder: &Recorder,
) -> Result<Option<(String, crate::status::Sync, Value)>, WadmError> {
    let Some((lattice, name)) = mirror_of(app) else {
        return Ok(None);
    };
    let versions = wadm.versions(&lattice, &name).await?;
    let deployed = versions.iter().find(|v| v.deployed).map(|v| v.version.clone());
    let Some(shown) = deployed
        .clone()
        .or_else(|| versions.last().map(|v| v.version.clone()))
    else {
        // Gone from wadm: the manifest bucket's change removes the mirror.
        return Ok(None);
    };
    let Some(manifest) = wadm.manifest(&lattice, &name, &shown).await? else {
        return Ok(None);
    };
    let spec = manifest.get("spec").cloned().unwrap_or(Value::Null);
    let wanted: Option<ApplicationSpec> = serde_json::from_value(spec.clone()).ok();
    if wanted.as_ref().is_some_and(|wanted| *wanted != app.spec) {
        let api: Api<Application> = Api::namespaced(client.clone(), &app.namespace().unwrap_or_default());
        // A replace of the whole spec (not a merge): keys someone added go too.
        let replace = serde_json::from_value::<json_patch::Patch>(
            json!([{"op": "replace", "path": "/spec", "value": spec}]),
        );
        let outcome = match replace {
            Ok(patch) => api
                .patch(
                    &app.name_any(),
                    &PatchParams::default(),
                    &Patch::<()>::Json(patch),
                )
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "could not set an edited mirror back");
        }
        let note = format!("the spec was edited; set back to model {name} of lattice {lattice}. {NOTE}");
        announce::publish(
            recorder,
            &app.object_ref(&()),
            EventType::Warning,
            reasons::MIRROR_READ_ONLY,
            note,
            "Mirror",
        )
        .await;
    }
    let status = wadm.status(&lattice, &name).await?;
    let sync = match deployed {
        Some(version) => crate::status::Sync::Deployed { version },
        None => crate::status::Sync::Failed {
            reason: reasons::NOT_DEPLOYED,
            message: format!("model {name} is stored in wadm but not deployed"),
        },
    };
    Ok(Some((lattice, sync, status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(
        namespace: &str,
        name: &str,
        lattice_status: Option<&str>,
        mirror: Option<&str>,
    ) -> Arc<Application> {
        let mut value = json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}")},
            "spec": {"components": []},
            "status": {"lattice": lattice_status},
        });
        if let Some(of) = mirror {
            value["metadata"]["labels"] = json!({labels::MIRROR: "true"});
            value["metadata"]["annotations"] = json!({annotations::MIRROR_OF: of});
        }
        Arc::new(serde_json::from_value(value).expect("application"))
    }

    fn models(names: &[&str]) -> Vec<ModelSummary> {
        names
            .iter()
            .map(|name| ModelSummary {
                name: (*name).into(),
                version: "v1".into(),
                deployed_version: None,
            })
            .collect()
    }

    #[test]
    fn only_models_nobody_owns_get_a_mirror_and_stale_mirrors_go() {
        let apps = vec![
            app("east", "shop", Some("blue"), None), // owned, elsewhere too
            app("home", "taken", None, None),        // the name is someone's object
            app("home", "old", Some("blue"), Some("blue/old")), // model gone
            app("home", "kept", Some("blue"), Some("blue/kept")), // still wanted
            app("home", "green", Some("green"), Some("green/green")), // another lattice's: not this plan's
        ];
        let plan = plan(
            "blue",
            Some("home"),
            &models(&["shop", "taken", "kept", "new", "Bad_Name"]),
            &apps,
        );
        assert_eq!(plan.create, ["new"]);
        assert_eq!(
            plan.delete,
            [("home".to_string(), "old".to_string(), "uid-home-old".to_string())]
        );
    }

    #[test]
    fn a_lattice_no_host_config_names_keeps_no_mirror() {
        let apps = vec![app("home", "kept", Some("blue"), Some("blue/kept"))];
        let plan = plan("blue", None, &models(&["kept"]), &apps);
        assert!(plan.create.is_empty());
        assert_eq!(plan.delete.len(), 1);
    }

    #[test]
    fn bucket_keys_map_to_the_longest_known_lattice() {
        let known: BTreeSet<String> = ["blue", "blue-east"].map(String::from).into();
        assert_eq!(lattice_of_key("blue", &known), Some("blue"));
        assert_eq!(lattice_of_key("blue-shop", &known), Some("blue"));
        assert_eq!(lattice_of_key("blue-east-shop", &known), Some("blue-east"));
        assert_eq!(lattice_of_key("bluegrass-shop", &known), None);
    }

    #[test]
    fn mirrors_live_with_the_first_host_config_of_their_lattice_or_where_configured() {
        let config = |namespace: &str, lattice: &str| {
            Arc::new(
                serde_json::from_value::<WasmCloudHostConfig>(json!({
                    "apiVersion": "k8s.wasmcloud.dev/v1alpha1", "kind": "WasmCloudHostConfig",
                    "metadata": {"name": "hosts", "namespace": namespace}, "spec": {"lattice": lattice}}))
                .expect("host config"),
            )
        };
        let configs = vec![
            config("west", "blue"),
            config("east", "blue"),
            config("west", "red"),
        ];
        let found = homes(&configs, None);
        assert_eq!(found.get("blue").map(String::as_str), Some("east"));
        assert_eq!(found.get("red").map(String::as_str), Some("west"));
        assert_eq!(
            homes(&configs, Some("mirrors")).get("blue").map(String::as_str),
            Some("mirrors")
        );
    }

    #[test]
    fn object_names_follow_kubernetes_not_wadm() {
        assert!(valid_object_name("hello-world"));
        assert!(!valid_object_name("hello_world"));
        assert!(!valid_object_name("Hello"));
        assert!(!valid_object_name("-x"));
    }
}
