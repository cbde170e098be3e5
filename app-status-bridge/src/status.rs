//! The status an Application should show, from what wadm reported and whether the bridge could put the
//! manifest there. Pure: time is passed in, so an unchanged world gives an unchanged status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;
use wasmcloud_operator_types::ApplicationStatus;
use wasmcloud_operator_types::application::{ApplicationPhase, ComponentStatus, TraitStatus};
use wasmcloud_operator_types::conditions::{ConditionUpdate, set_condition};
use wasmcloud_operator_types::contract::{condition_types as types, reasons};

/// Whether the object's manifest is in wadm as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sync {
    /// Stored and deployed at this version.
    Deployed { version: String },
    /// Not synced, for this reason (a contract reason) and message.
    Failed { reason: &'static str, message: String },
}

/// The new status. `wadm_status` is wadm's status object for the app (or null when unknown).
pub fn compute(
    current: Option<&ApplicationStatus>,
    generation: Option<i64>,
    lattice: Option<&str>,
    sync: &Sync,
    wadm_status: &Value,
    now: &Time,
) -> ApplicationStatus {
    let mut status = current.cloned().unwrap_or_default();
    status.lattice = lattice.map(str::to_string);
    status.observed_generation = generation;
    let wadm_phase = phase_of(wadm_status.pointer("/status/type"));
    let wadm_message = text(wadm_status.pointer("/status/message"));
    match sync {
        Sync::Deployed { version } => {
            status.deployed_version = Some(version.clone());
            status.phase = wadm_phase.or(Some(ApplicationPhase::Reconciling));
            status.message = wadm_message;
            status.components = components(wadm_status);
            set_condition(
                &mut status.conditions,
                ConditionUpdate::new(
                    types::SYNCED,
                    true,
                    reasons::DEPLOYED,
                    format!("version {version} is deployed in wadm"),
                ),
                generation,
                now,
            );
        }
        Sync::Failed { reason, message } => {
            set_condition(
                &mut status.conditions,
                ConditionUpdate::new(types::SYNCED, false, reason, message.clone()),
                generation,
                now,
            );
        }
    }
    let ready = matches!(sync, Sync::Deployed { .. }) && status.phase == Some(ApplicationPhase::Deployed);
    let (reason, message) = match (sync, status.phase) {
        (Sync::Failed { reason, message }, _) => (*reason, message.clone()),
        (_, Some(ApplicationPhase::Deployed)) => (
            reasons::DEPLOYED,
            "wadm reports the application deployed".to_string(),
        ),
        (_, phase) => (
            reasons::NOT_DEPLOYED,
            status.message.clone().unwrap_or_else(|| {
                format!(
                    "wadm reports {}",
                    phase.map_or("nothing yet", ApplicationPhase::as_str)
                )
            }),
        ),
    };
    set_condition(
        &mut status.conditions,
        ConditionUpdate::new(types::READY, ready, reason, message),
        generation,
        now,
    );
    status
}

/// A wadm status type as a phase.
pub fn phase_of(value: Option<&Value>) -> Option<ApplicationPhase> {
    value
        .and_then(Value::as_str)
        .and_then(ApplicationPhase::from_wadm)
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Per-component detail, when wadm reports it.
fn components(wadm_status: &Value) -> Vec<ComponentStatus> {
    let Some(list) = wadm_status.get("components").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|component| {
            Some(ComponentStatus {
                name: component.get("name")?.as_str()?.to_string(),
                type_: text(component.get("componentType").or_else(|| component.get("type"))),
                phase: phase_of(component.pointer("/status/type"))?,
                message: text(component.pointer("/status/message")),
                traits: component
                    .get("traits")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| {
                        Some(TraitStatus {
                            type_: t.get("type")?.as_str()?.to_string(),
                            phase: phase_of(t.pointer("/status/type"))?,
                            message: text(t.pointer("/status/message")),
                        })
                    })
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;
    use wasmcloud_operator_types::conditions::is_true;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("time"))
    }

    fn deployed(version: &str) -> Sync {
        Sync::Deployed {
            version: version.into(),
        }
    }

    #[test]
    fn every_wadm_status_becomes_its_phase_and_only_deployed_is_ready() {
        let table = [
            ("waiting", ApplicationPhase::Waiting, false),
            ("undeployed", ApplicationPhase::Undeployed, false),
            ("reconciling", ApplicationPhase::Reconciling, false),
            ("deployed", ApplicationPhase::Deployed, true),
            ("failed", ApplicationPhase::Failed, false),
            ("unhealthy", ApplicationPhase::Unhealthy, false),
        ];
        for (wire, phase, ready) in table {
            let wadm = json!({"status": {"type": wire, "message": format!("wadm says {wire}")}});
            let status = compute(None, Some(2), Some("blue"), &deployed("v1"), &wadm, &at(1));
            assert_eq!(status.phase, Some(phase), "{wire}");
            assert_eq!(is_true(&status.conditions, "Ready"), ready, "{wire}");
            assert!(is_true(&status.conditions, "Synced"));
            assert_eq!(
                status.message.as_deref(),
                Some(format!("wadm says {wire}").as_str())
            );
            assert_eq!(
                (status.deployed_version.as_deref(), status.lattice.as_deref()),
                (Some("v1"), Some("blue"))
            );
        }
    }

    #[test]
    fn a_sync_failure_is_named_and_keeps_the_last_phase() {
        let first = compute(
            None,
            Some(1),
            Some("blue"),
            &deployed("v1"),
            &json!({"status": {"type": "deployed"}}),
            &at(1),
        );
        let failed = Sync::Failed {
            reason: "VersionNotBumped",
            message: "bump the version".into(),
        };
        let status = compute(Some(&first), Some(2), Some("blue"), &failed, &Value::Null, &at(2));
        assert_eq!(
            status.phase,
            Some(ApplicationPhase::Deployed),
            "what wadm runs is unchanged"
        );
        assert!(!is_true(&status.conditions, "Synced"));
        assert!(!is_true(&status.conditions, "Ready"));
        let synced = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Synced")
            .expect("synced");
        assert_eq!(
            (synced.reason.as_str(), synced.message.as_str()),
            ("VersionNotBumped", "bump the version")
        );
    }

    #[test]
    fn the_same_report_twice_gives_the_same_status() {
        let wadm = json!({"status": {"type": "deployed"}});
        let one = compute(None, Some(1), Some("blue"), &deployed("v1"), &wadm, &at(1));
        let two = compute(Some(&one), Some(1), Some("blue"), &deployed("v1"), &wadm, &at(50));
        assert_eq!(one, two);
    }
}
