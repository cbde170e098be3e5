//! Which host configs' children were last found in line with the spec, so a reconcile that only has
//! new apps to report (or follows its own status write) skips reading every child again. Touches
//! nothing but memory.
//!
//! A confirmation holds the outcome of a full reconcile (gather → build → apply) for one generation of
//! one object. It is dropped by anything that could change that outcome: a change to one of the
//! object's children or to a Secret/ConfigMap it refers to (both arrive through the controller's
//! watches, including the re-list after a watch is lost), a new generation, a new uid, or age (the
//! hourly safety-net resync always reads the cluster). A change that lands while a full reconcile is
//! running invalidates what that reconcile found: each object has an epoch, bumped by every change,
//! and a confirmation is only kept if the epoch is still the one the reconcile started with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::status::Outcome;

/// How long a confirmation is trusted at most; shorter than the resync, so the resync reads the cluster.
const TRUSTED_FOR: Duration = Duration::from_secs(30 * 60);

/// Namespace and name of a WasmCloudHostConfig.
pub type Key = (String, String);

/// The confirmations of every host config, shared by the reconciles and the watches that invalidate them.
#[derive(Clone, Default, Debug)]
pub struct Confirmed {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

#[derive(Default, Debug)]
struct Entry {
    epoch: u64,
    confirmation: Option<Confirmation>,
}

#[derive(Debug)]
struct Confirmation {
    uid: String,
    generation: Option<i64>,
    at: Instant,
    outcome: Outcome,
}

impl Confirmed {
    fn entries(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object's epoch now: pass it to [`Self::confirm`] after reading the cluster.
    pub fn epoch(&self, key: &Key) -> u64 {
        self.entries().get(key).map_or(0, |entry| entry.epoch)
    }

    /// Something the object's outcome depends on changed: forget what was confirmed.
    pub fn changed(&self, key: Key) {
        let mut entries = self.entries();
        let entry = entries.entry(key).or_default();
        entry.epoch += 1;
        entry.confirmation = None;
    }

    /// The object is gone: forget it entirely.
    pub fn forget(&self, key: &Key) {
        self.entries().remove(key);
    }

    /// Records the outcome of a full reconcile that began at `epoch`, unless something changed since.
    pub fn confirm(&self, key: Key, epoch: u64, uid: &str, generation: Option<i64>, outcome: Outcome) {
        let mut entries = self.entries();
        let entry = entries.entry(key).or_default();
        if entry.epoch == epoch {
            entry.confirmation = Some(Confirmation {
                uid: uid.to_string(),
                generation,
                at: Instant::now(),
                outcome,
            });
        }
    }

    /// The outcome confirmed for exactly this object and generation, if nothing changed since.
    pub fn outcome(&self, key: &Key, uid: &str, generation: Option<i64>) -> Option<Outcome> {
        let entries = self.entries();
        let confirmation = entries.get(key)?.confirmation.as_ref()?;
        let current = confirmation.uid == uid
            && confirmation.generation == generation
            && confirmation.at.elapsed() < TRUSTED_FOR;
        current.then(|| confirmation.outcome.clone())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    use crate::status::WorkloadState;

    fn key() -> Key {
        ("ns".into(), "hosts".into())
    }

    fn applied() -> Outcome {
        Outcome::Applied(WorkloadState::of_deployment(&Deployment::default()))
    }

    #[test]
    fn a_confirmation_holds_for_its_uid_and_generation_only() {
        let confirmed = Confirmed::default();
        let epoch = confirmed.epoch(&key());
        confirmed.confirm(key(), epoch, "uid-1", Some(2), applied());
        assert!(confirmed.outcome(&key(), "uid-1", Some(2)).is_some());
        assert!(
            confirmed.outcome(&key(), "uid-1", Some(3)).is_none(),
            "new generation"
        );
        assert!(
            confirmed.outcome(&key(), "uid-2", Some(2)).is_none(),
            "recreated object"
        );
    }

    #[test]
    fn a_change_forgets_the_confirmation() {
        let confirmed = Confirmed::default();
        confirmed.confirm(key(), 0, "uid", Some(1), applied());
        confirmed.changed(key());
        assert!(confirmed.outcome(&key(), "uid", Some(1)).is_none());
    }

    #[test]
    fn a_change_during_the_reconcile_keeps_its_result_from_being_confirmed() {
        let confirmed = Confirmed::default();
        let epoch = confirmed.epoch(&key());
        confirmed.changed(key()); // e.g. the Deployment's status moved while we were reading it
        confirmed.confirm(key(), epoch, "uid", Some(1), applied());
        assert!(confirmed.outcome(&key(), "uid", Some(1)).is_none());
        let epoch = confirmed.epoch(&key());
        confirmed.confirm(key(), epoch, "uid", Some(1), applied());
        assert!(confirmed.outcome(&key(), "uid", Some(1)).is_some());
    }

    #[test]
    fn forgetting_removes_the_entry() {
        let confirmed = Confirmed::default();
        confirmed.confirm(key(), 0, "uid", Some(1), applied());
        assert_eq!(confirmed.len(), 1);
        confirmed.forget(&key());
        assert_eq!(confirmed.len(), 0);
    }
}
