//! What /readyz reports: a set of named checks, each flipped by the part of the binary that owns it
//! (cache sync, NATS connection); and the gate that holds reconciles until the caches they read have
//! listed once. Shared state only; no I/O.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Named readiness checks; ready when every registered check is true.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<Vec<(&'static str, bool)>>>,
    /// Woken on every change of a check.
    changed: Arc<Notify>,
}

impl Readiness {
    /// Registers a check that starts out not ready and returns the handle that flips it; a check already
    /// declared ([`Readiness::declare`]) is handed out as it is.
    pub fn register(&self, name: &'static str) -> ReadinessCheck {
        let mut checks = self.lock();
        if !checks.iter().any(|(n, _)| *n == name) {
            checks.push((name, false));
        }
        drop(checks);
        ReadinessCheck {
            readiness: self.clone(),
            name,
        }
    }

    /// Registers `names`, not ready, before the parts of the binary that own them start: /readyz can't
    /// answer ready in the moment between the admin server starting and a check's owner registering it.
    pub fn declare(&self, names: &[&'static str]) {
        for name in names {
            self.register(name);
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
        self.changed.notify_waiters();
    }

    /// Whether every check named in `names` is registered and true.
    fn all(&self, names: &[&'static str]) -> bool {
        let checks = self.lock();
        names
            .iter()
            .all(|name| checks.iter().any(|(n, ok)| n == name && *ok))
    }

    /// Waits until every check named in `names` is true.
    pub async fn until(&self, names: &[&'static str]) {
        loop {
            // Registered before the look, so a change in between is not missed.
            let changed = self.changed.notified();
            if self.all(names) {
                return;
            }
            changed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, bool)>> {
        // A panic while holding this lock can't leave the list inconsistent; keep serving.
        self.checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Holds reconciles until the caches they read have each listed once (their readiness checks, flipped by
/// [`when_store_ready`] or the owner of the cache): a reconcile that read a half-filled cache would act on a
/// world with objects missing from it — deploy into a default lattice, drop endpoints, write a shorter list.
#[derive(Clone, Debug)]
pub struct CacheGate {
    readiness: Readiness,
    caches: Vec<&'static str>,
}

impl CacheGate {
    /// A gate on the checks named `caches` of `readiness`.
    pub fn new(readiness: &Readiness, caches: &[&'static str]) -> Self {
        Self {
            readiness: readiness.clone(),
            caches: caches.to_vec(),
        }
    }

    /// Returns once every cache has listed (at once after that).
    pub async fn open(&self) {
        self.readiness.until(&self.caches).await;
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

    #[test]
    fn declared_checks_are_not_ready_before_their_owner_registers_them() {
        let readiness = Readiness::default();
        readiness.declare(&["nats", "caches"]);
        assert_eq!(
            readiness.failing(),
            vec!["nats", "caches"],
            "declared, nobody has them yet"
        );
        let nats = readiness.register("nats");
        nats.set(true);
        assert_eq!(
            readiness.failing(),
            vec!["caches"],
            "the owner's handle is the declared check"
        );
        readiness.register("caches").set(true);
        assert!(readiness.failing().is_empty());
    }

    #[tokio::test]
    async fn the_gate_opens_when_its_caches_have_listed_and_ignores_other_checks() {
        let readiness = Readiness::default();
        let pods = readiness.register("pods");
        let services = readiness.register("services");
        let _nats = readiness.register("nats");
        let gate = CacheGate::new(&readiness, &["pods", "services"]);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.open().await }
        });
        pods.set(true);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one cache has not listed");
        services.set(true);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("opens once both have listed")
            .expect("no panic");
        // Open from then on, whatever NATS does.
        tokio::time::timeout(std::time::Duration::from_secs(1), gate.open())
            .await
            .expect("stays open");
    }
}
