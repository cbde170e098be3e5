//! A small in-memory view of the Application objects in the cluster: for each one only its lattice,
//! deployed version and phase, so WasmCloudHostConfig status can list the apps on its lattice without
//! caching whole manifests. Fed by a watch; shared state only, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use wasmcloud_operator_types::Application;
use wasmcloud_operator_types::contract::annotations;
use wasmcloud_operator_types::host_config::LatticeApp;

/// At most this many apps are listed in a host config's status (`app_count` has them all), so the status
/// stays small whatever a namespace deploys.
pub const MAX_LISTED: usize = 100;

/// What the index keeps of one Application.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Where the app-status-bridge deployed it, else the lattice its annotation names.
    lattice: Option<String>,
    version: Option<String>,
    phase: Option<String>,
}

/// (namespace, name) of Applications.
type Keys = BTreeSet<(String, String)>;

/// Applications by (namespace, name).
#[derive(Debug, Clone, Default)]
pub struct AppIndex {
    entries: Arc<RwLock<BTreeMap<(String, String), Entry>>>,
    /// During a re-list, the keys seen so far.
    seen: Arc<std::sync::Mutex<Option<Keys>>>,
}

impl AppIndex {
    /// Records an Application; returns the lattices whose app list changed.
    pub fn apply(&self, app: &Application) -> BTreeSet<String> {
        let status = app.status.as_ref();
        let entry = Entry {
            lattice: status
                .and_then(|s| s.lattice.clone())
                .or_else(|| app.annotations().get(annotations::LATTICE).cloned()),
            version: status.and_then(|s| s.deployed_version.clone()),
            phase: status.and_then(|s| s.phase).map(|p| p.to_string()),
        };
        let key = (app.namespace().unwrap_or_default(), app.name_any());
        if let Some(seen) = self.resync_seen().as_mut() {
            seen.insert(key.clone());
        }
        let previous = self.write().insert(key, entry.clone());
        changed_lattices(previous.as_ref(), Some(&entry))
    }

    /// Forgets an Application; returns the lattice whose app list changed.
    pub fn delete(&self, app: &Application) -> BTreeSet<String> {
        let key = (app.namespace().unwrap_or_default(), app.name_any());
        let previous = self.write().remove(&key);
        changed_lattices(previous.as_ref(), None)
    }

    /// Starts a re-list: entries not seen again before [`AppIndex::end_resync`] are dropped then.
    pub fn begin_resync(&self) {
        self.resync_seen().replace(BTreeSet::new());
    }

    /// Ends a re-list; returns the lattices of the entries that disappeared.
    pub fn end_resync(&self) -> BTreeSet<String> {
        let Some(seen) = self.resync_seen().take() else {
            return BTreeSet::new();
        };
        let mut entries = self.write();
        let gone: Vec<(String, String)> = entries.keys().filter(|k| !seen.contains(*k)).cloned().collect();
        gone.iter()
            .filter_map(|key| entries.remove(key).and_then(|e| e.lattice))
            .collect()
    }

    fn resync_seen(&self) -> std::sync::MutexGuard<'_, Option<Keys>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The apps of `namespace` on `lattice`, sorted by name, and how many there are: at most
    /// [`MAX_LISTED`] are listed. An Application elsewhere that names the lattice never reaches this
    /// namespace's host config status.
    pub fn on_lattice(&self, namespace: &str, lattice: &str) -> (Vec<LatticeApp>, usize) {
        let entries = self.read();
        let matching = entries
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .filter(|(_, e)| e.lattice.as_deref() == Some(lattice));
        let count = matching.clone().count();
        let listed = matching
            .take(MAX_LISTED)
            .map(|((namespace, name), e)| LatticeApp {
                name: name.clone(),
                namespace: Some(namespace.clone()),
                version: e.version.clone().unwrap_or_default(),
                phase: e.phase.clone(),
            })
            .collect();
        (listed, count)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, String), Entry>> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<(String, String), Entry>> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn changed_lattices(before: Option<&Entry>, after: Option<&Entry>) -> BTreeSet<String> {
    if before == after {
        return BTreeSet::new();
    }
    before
        .and_then(|e| e.lattice.clone())
        .into_iter()
        .chain(after.and_then(|e| e.lattice.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(namespace: &str, name: &str, lattice: &str, phase: &str) -> Application {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"components": []},
            "status": {"lattice": lattice, "phase": phase, "deployedVersion": "v1"}
        }))
        .expect("app")
    }

    #[test]
    fn lists_apps_per_lattice_and_reports_only_real_changes() {
        let index = AppIndex::default();
        assert_eq!(
            index.apply(&app("east", "shop", "blue", "Deployed")),
            BTreeSet::from(["blue".to_string()])
        );
        assert!(
            index.apply(&app("east", "shop", "blue", "Deployed")).is_empty(),
            "same again: nothing changed"
        );
        index.apply(&app("west", "cart", "red", "Waiting"));
        assert_eq!(index.on_lattice("east", "blue").0.len(), 1);
        assert_eq!(
            index.on_lattice("east", "blue").0[0].phase.as_deref(),
            Some("Deployed")
        );
        let moved = index.apply(&app("east", "shop", "red", "Deployed"));
        assert_eq!(moved, BTreeSet::from(["blue".to_string(), "red".to_string()]));
        assert_eq!(
            index.on_lattice("east", "red").0.len(),
            1,
            "west's cart is not east's"
        );
        assert_eq!(index.on_lattice("west", "red").0.len(), 1);
        assert_eq!(
            index.delete(&app("west", "cart", "red", "Waiting")),
            BTreeSet::from(["red".to_string()])
        );
    }

    #[test]
    fn the_list_is_bounded_and_the_count_is_not() {
        let index = AppIndex::default();
        for n in 0..MAX_LISTED + 5 {
            index.apply(&app("east", &format!("app-{n:03}"), "blue", "Deployed"));
        }
        let (listed, count) = index.on_lattice("east", "blue");
        assert_eq!((listed.len(), count), (MAX_LISTED, MAX_LISTED + 5));
        assert_eq!(listed[0].name, "app-000");
    }

    #[test]
    fn a_relist_drops_what_was_deleted_meanwhile() {
        let index = AppIndex::default();
        index.apply(&app("east", "shop", "blue", "Deployed"));
        index.apply(&app("west", "cart", "red", "Deployed"));
        index.begin_resync();
        index.apply(&app("east", "shop", "blue", "Deployed"));
        assert_eq!(index.end_resync(), BTreeSet::from(["red".to_string()]));
        assert!(index.on_lattice("west", "red").0.is_empty());
        assert_eq!(index.on_lattice("east", "blue").0.len(), 1);
    }
}
