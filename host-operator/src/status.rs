//! The status a WasmCloudHostConfig should show, computed from what the reconcile found. Pure: time
//! is passed in, so the same inputs give the same status and an unchanged world writes nothing.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wasmcloud_operator_types::WasmCloudHostConfigStatus;
use wasmcloud_operator_types::conditions::{ConditionUpdate, set_condition};
use wasmcloud_operator_types::contract::{condition_types as types, reasons};
use wasmcloud_operator_types::host_config::{LatticeApp, WorkloadKind};

use crate::errors::InputError;

/// How the hosts' workload is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadState {
    pub kind: WorkloadKind,
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    /// The workload controller has seen the latest spec.
    pub observed: bool,
    /// The Deployment reports that its rollout stopped making progress.
    pub stalled: bool,
}

impl WorkloadState {
    pub fn of_deployment(deployment: &Deployment) -> Self {
        let status = deployment.status.clone().unwrap_or_default();
        let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let stalled = status.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        Self {
            kind: WorkloadKind::Deployment,
            desired,
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            observed: status.observed_generation >= deployment.metadata.generation,
            stalled,
        }
    }

    pub fn of_daemon_set(daemon_set: &DaemonSet) -> Self {
        let status = daemon_set.status.clone().unwrap_or_default();
        Self {
            kind: WorkloadKind::DaemonSet,
            desired: status.desired_number_scheduled,
            ready: status.number_ready,
            updated: status.updated_number_scheduled.unwrap_or(0),
            observed: status.observed_generation >= daemon_set.metadata.generation,
            stalled: false,
        }
    }

    fn rolled_out(&self) -> bool {
        self.observed && self.updated >= self.desired && self.ready >= self.desired
    }
}

/// What the reconcile came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The input is wrong; nothing was created or changed.
    Invalid(InputError),
    /// The children are applied; this is how the workload is doing.
    Applied(WorkloadState),
    /// Writing the children failed part way (retried with backoff): what failed, without the API
    /// server's message (it may quote a value).
    Failed(String),
}

/// The new status, starting from the current one (so unchanged conditions keep their times).
pub fn compute(
    current: Option<&WasmCloudHostConfigStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    (apps, app_count): (Vec<LatticeApp>, usize),
    now: &Time,
) -> WasmCloudHostConfigStatus {
    let mut status = current.cloned().unwrap_or_default();
    let has_ready = status.conditions.iter().any(|c| c.type_ == types::READY);
    let mut set = |update: ConditionUpdate<'_>| {
        set_condition(&mut status.conditions, update, generation, now);
    };
    match outcome {
        Outcome::Invalid(error) => {
            let message = error.to_string();
            set(ConditionUpdate::new(
                types::READY,
                false,
                error.reason(),
                message.clone(),
            ));
            set(ConditionUpdate::new(
                types::DEGRADED,
                true,
                error.reason(),
                message,
            ));
            set(ConditionUpdate::new(
                types::PROGRESSING,
                false,
                error.reason(),
                "waiting for the problem to be fixed; the hosts are left as they were",
            ));
        }
        Outcome::Failed(what) => {
            let message = format!("{what}; children before it may already be applied; retrying with backoff");
            // Ready says how the hosts are doing, which one failed write doesn't change; a first one does.
            if !has_ready {
                set(ConditionUpdate::new(
                    types::READY,
                    false,
                    reasons::APPLY_FAILED,
                    message.clone(),
                ));
            }
            set(ConditionUpdate::new(
                types::DEGRADED,
                true,
                reasons::APPLY_FAILED,
                message,
            ));
            set(ConditionUpdate::new(
                types::PROGRESSING,
                true,
                reasons::APPLY_FAILED,
                "retrying the failed write",
            ));
            // The generation was not brought in line: observedGeneration stays where it was.
            status.app_count = u32::try_from(app_count).unwrap_or(u32::MAX);
            status.apps = apps;
            return status;
        }
        Outcome::Applied(state) => {
            let hosts = format!("{}/{} hosts ready", state.ready, state.desired);
            let ready = state.rolled_out();
            let (reason, message) = if ready {
                (reasons::HOSTS_READY, hosts.clone())
            } else {
                (reasons::HOSTS_UNAVAILABLE, hosts.clone())
            };
            set(ConditionUpdate::new(types::READY, ready, reason, message));
            if ready {
                set(ConditionUpdate::new(
                    types::PROGRESSING,
                    false,
                    reasons::RECONCILED,
                    "rollout complete",
                ));
            } else {
                let message = format!("{} of {} hosts updated, {hosts}", state.updated, state.desired);
                set(ConditionUpdate::new(
                    types::PROGRESSING,
                    true,
                    reasons::ROLLING_OUT,
                    message,
                ));
            }
            if state.stalled {
                set(ConditionUpdate::new(
                    types::DEGRADED,
                    true,
                    reasons::HOSTS_UNAVAILABLE,
                    "the rollout stopped making progress",
                ));
            } else {
                set(ConditionUpdate::new(
                    types::DEGRADED,
                    false,
                    reasons::RECONCILED,
                    "no problems",
                ));
            }
            status.workload_kind = Some(state.kind);
            status.replicas = Some(state.desired);
            status.ready_replicas = Some(state.ready);
            status.updated_replicas = Some(state.updated);
            status.ready_hosts = Some(format!("{}/{}", state.ready, state.desired));
        }
    }
    status.observed_generation = generation;
    status.app_count = u32::try_from(app_count).unwrap_or(u32::MAX);
    status.apps = apps;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use wasmcloud_operator_types::conditions::is_true;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("time"))
    }

    fn state(desired: i32, ready: i32, updated: i32) -> WorkloadState {
        WorkloadState {
            kind: WorkloadKind::Deployment,
            desired,
            ready,
            updated,
            observed: true,
            stalled: false,
        }
    }

    fn reason(status: &WasmCloudHostConfigStatus, type_: &str) -> String {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn all_hosts_ready_is_ready_and_not_progressing() {
        let status = compute(
            None,
            Some(4),
            &Outcome::Applied(state(3, 3, 3)),
            (Vec::new(), 0),
            &at(1),
        );
        assert!(is_true(&status.conditions, "Ready"));
        assert!(!is_true(&status.conditions, "Progressing"));
        assert!(!is_true(&status.conditions, "Degraded"));
        assert_eq!(status.ready_hosts.as_deref(), Some("3/3"));
        assert_eq!(status.observed_generation, Some(4));
        assert_eq!(status.workload_kind, Some(WorkloadKind::Deployment));
    }

    #[test]
    fn a_rollout_under_way_is_progressing_and_not_ready() {
        let status = compute(
            None,
            Some(1),
            &Outcome::Applied(state(3, 2, 1)),
            (Vec::new(), 0),
            &at(1),
        );
        assert!(!is_true(&status.conditions, "Ready"));
        assert!(is_true(&status.conditions, "Progressing"));
        assert_eq!(reason(&status, "Progressing"), "RollingOut");
    }

    #[test]
    fn a_workload_that_has_not_seen_the_new_spec_is_not_ready() {
        let mut lagging = state(3, 3, 3);
        lagging.observed = false;
        let status = compute(None, Some(2), &Outcome::Applied(lagging), (Vec::new(), 0), &at(1));
        assert!(!is_true(&status.conditions, "Ready"));
    }

    #[test]
    fn bad_input_names_the_object_and_keeps_the_last_replica_counts() {
        let healthy = compute(
            None,
            Some(1),
            &Outcome::Applied(state(2, 2, 2)),
            (Vec::new(), 0),
            &at(1),
        );
        let error = InputError::SecretKeyMissing {
            name: "east-nats".into(),
            key: "nats.creds".into(),
        };
        let status = compute(
            Some(&healthy),
            Some(2),
            &Outcome::Invalid(error),
            (Vec::new(), 0),
            &at(2),
        );
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "SecretInvalid")
        );
        assert_eq!(ready.message, "Secret east-nats has no key nats.creds");
        assert!(is_true(&status.conditions, "Degraded"));
        assert_eq!(status.ready_hosts.as_deref(), Some("2/2"));
    }

    #[test]
    fn recomputing_an_unchanged_world_gives_the_same_status() {
        let apps = vec![LatticeApp {
            name: "shop".into(),
            namespace: Some("east".into()),
            version: String::new(),
            phase: None,
        }];
        let first = compute(
            None,
            Some(1),
            &Outcome::Applied(state(1, 1, 1)),
            (apps.clone(), apps.len()),
            &at(1),
        );
        let second = compute(
            Some(&first),
            Some(1),
            &Outcome::Applied(state(1, 1, 1)),
            (apps.clone(), apps.len()),
            &at(99),
        );
        assert_eq!(first, second);
        assert_eq!(second.app_count, 1);
    }
}
