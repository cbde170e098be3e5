//! What /readyz reports: a set of named checks, each flipped by the part of the binary that owns it
//! (cache sync, NATS connection). Shared state only; no I/O.

use std::sync::{Arc, Mutex};

/// Named readiness checks; ready when every registered check is true.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<Vec<(&'static str, bool)>>>,
}

impl Readiness {
    /// Registers a check that starts out not ready and returns the handle that flips it.
    pub fn register(&self, name: &'static str) -> ReadinessCheck {
        self.lock().push((name, false));
        ReadinessCheck {
            readiness: self.clone(),
            name,
        }
    }

    /// The checks that are not ready yet (empty when ready).
    pub fn failing(&self) -> Vec<&'static str> {
        self.lock()
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| *name)
            .collect()
    }

    fn set(&self, name: &'static str, ok: bool) {
        for check in self.lock().iter_mut().filter(|(n, _)| *n == name) {
            check.1 = ok;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, bool)>> {
        // A panic while holding this lock can't leave the list inconsistent; keep serving.
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Flips one readiness check.
#[derive(Clone, Debug)]
pub struct ReadinessCheck {
    readiness: Readiness,
    name: &'static str,
}

impl ReadinessCheck {
    pub fn set(&self, ok: bool) {
        self.readiness.set(self.name, ok);
    }
}

/// Flips `check` once `store` has its first full list. kube's store wakes only the last task that waited
/// on it (its readiness is a one-shot channel with a single waker), and the controller waits on it too,
/// so this re-polls every 250 ms instead of waiting once.
pub async fn when_store_ready<K>(store: kube::runtime::reflector::Store<K>, check: ReadinessCheck)
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(250), store.wait_until_ready()).await {
            Ok(Ok(())) => {
                check.set(true);
                return;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "a cache never filled");
                return;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_is() {
        let readiness = Readiness::default();
        assert!(readiness.failing().is_empty());
        let caches = readiness.register("caches");
        let nats = readiness.register("nats");
        assert_eq!(readiness.failing(), vec!["caches", "nats"]);
        caches.set(true);
        assert_eq!(readiness.failing(), vec!["nats"]);
        nats.set(true);
        assert!(readiness.failing().is_empty());
        nats.set(false);
        assert_eq!(readiness.failing(), vec!["nats"]);
    }
}
