//! What every controller records about its reconciles: duration and outcome metrics, error categories,
//! and a per-object exponential backoff for transient failures. Shared state only; no I/O.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::Resource;
use kube::runtime::reflector::ObjectRef;

use super::metrics::Metrics;

/// Reconcile bookkeeping for one controller.
#[derive(Debug)]
pub struct ReconcileTracker<K: Resource<DynamicType = ()>> {
    controller: &'static str,
    metrics: Metrics,
    failures: Mutex<HashMap<ObjectRef<K>, u32>>,
}

impl<K: Resource<DynamicType = ()>> ReconcileTracker<K> {
    pub fn new(controller: &'static str, metrics: Metrics) -> Self {
        Self {
            controller,
            metrics,
            failures: Mutex::default(),
        }
    }

    /// The delay before retrying an object that failed `failures` times in a row: 1 s doubling to 5 min.
    pub fn backoff(failures: u32) -> Duration {
        Duration::from_secs(1u64 << failures.min(8)).min(Duration::from_secs(300))
    }

    /// Records one finished reconcile; a success forgets the object's earlier failures.
    pub fn finished(&self, object: &K, elapsed: Duration, ok: bool) {
        let labels = [self.controller];
        self.metrics
            .reconcile_time_seconds
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
        let outcome = if ok { "success" } else { "error" };
        self.metrics
            .reconcile_total
            .with_label_values(&[self.controller, outcome])
            .inc();
        if ok {
            self.lock().remove(&ObjectRef::from_obj(object));
        }
    }

    /// Records a failure in `category`; returns how long to wait before retrying the object.
    pub fn failed(&self, object: &K, category: &str) -> Duration {
        self.metrics
            .reconcile_errors_total
            .with_label_values(&[self.controller, category])
            .inc();
        let mut failures = self.lock();
        let count = failures.entry(ObjectRef::from_obj(object)).or_insert(0);
        let delay = Self::backoff(*count);
        *count = count.saturating_add(1);
        delay
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<K>, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn object(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_five_minutes_and_reset_on_success() {
        let tracker = ReconcileTracker::<ConfigMap>::new("test", Metrics::new().expect("metrics"));
        let blue = object("blue");
        let delays: Vec<Duration> = (0..12).map(|_| tracker.failed(&blue, "kube")).collect();
        assert_eq!(
            delays[..3],
            [
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4)
            ]
        );
        assert_eq!(delays[11], Duration::from_secs(256));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(300)));
        assert_eq!(
            tracker.failed(&object("red"), "kube"),
            Duration::from_secs(1),
            "per object"
        );
        tracker.finished(&blue, Duration::from_millis(5), true);
        assert_eq!(
            tracker.failed(&blue, "kube"),
            Duration::from_secs(1),
            "a success resets"
        );
        let text = tracker.metrics.render();
        assert!(
            text.contains(r#"controller_runtime_reconcile_errors_total{controller="test",reason="kube"} 14"#),
            "{text}"
        );
        assert!(text.contains(r#"controller_runtime_reconcile_total{controller="test",result="success"} 1"#));
    }
}
