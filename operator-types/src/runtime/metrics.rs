//! Prometheus metrics every binary exports, in a registry of its own (never the global one), named like
//! controller-runtime's so stock dashboards work. Labels are bounded: never an object name.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The shared metrics; binaries register their own extra metrics in [`Metrics::registry`].
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// `controller_runtime_reconcile_total{controller, result}`; result is success, error or requeue.
    pub reconcile_total: IntCounterVec,
    /// `controller_runtime_reconcile_errors_total{controller, reason}`; reason is an error category.
    pub reconcile_errors_total: IntCounterVec,
    /// `controller_runtime_reconcile_time_seconds{controller}`.
    pub reconcile_time_seconds: HistogramVec,
    /// `rest_client_requests_total{verb, resource, code}`: every Kubernetes API request this process made.
    pub rest_client_requests_total: IntCounterVec,
    /// `leader_election_master_status`: 1 while this process is the leader (or leader election is off).
    pub leader: IntGauge,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let reconcile_total = IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_total",
                "Reconciliations by controller and result.",
            ),
            &["controller", "result"],
        )?;
        let reconcile_errors_total = IntCounterVec::new(
            Opts::new(
                "controller_runtime_reconcile_errors_total",
                "Failed reconciliations by error category.",
            ),
            &["controller", "reason"],
        )?;
        let reconcile_time_seconds = HistogramVec::new(
            HistogramOpts::new(
                "controller_runtime_reconcile_time_seconds",
                "Time spent in one reconciliation.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["controller"],
        )?;
        let rest_client_requests_total = IntCounterVec::new(
            Opts::new(
                "rest_client_requests_total",
                "Kubernetes API requests by verb, resource and status code.",
            ),
            &["verb", "resource", "code"],
        )?;
        let leader = IntGauge::new(
            "leader_election_master_status",
            "Whether this process leads (1) or stands by (0).",
        )?;
        registry.register(Box::new(reconcile_total.clone()))?;
        registry.register(Box::new(reconcile_errors_total.clone()))?;
        registry.register(Box::new(reconcile_time_seconds.clone()))?;
        registry.register(Box::new(rest_client_requests_total.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            reconcile_total,
            reconcile_errors_total,
            reconcile_time_seconds,
            rest_client_requests_total,
            leader,
        })
    }

    /// The registry, for a binary's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec can only fail on invalid metric families, which registration already rejects.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "failed to encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_the_ones_dashboards_expect() {
        let metrics = Metrics::new().expect("metrics register");
        metrics
            .reconcile_total
            .with_label_values(&["host-config", "success"])
            .inc();
        metrics
            .reconcile_errors_total
            .with_label_values(&["host-config", "kube"])
            .inc();
        metrics
            .reconcile_time_seconds
            .with_label_values(&["host-config"])
            .observe(0.1);
        metrics
            .rest_client_requests_total
            .with_label_values(&["list", "pods", "200"])
            .inc();
        metrics.leader.set(1);
        let text = metrics.render();
        for line in [
            r#"controller_runtime_reconcile_total{controller="host-config",result="success"} 1"#,
            r#"controller_runtime_reconcile_errors_total{controller="host-config",reason="kube"} 1"#,
            r#"controller_runtime_reconcile_time_seconds_count{controller="host-config"} 1"#,
            r#"rest_client_requests_total{code="200",resource="pods",verb="list"} 1"#,
            "leader_election_master_status 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }
}
