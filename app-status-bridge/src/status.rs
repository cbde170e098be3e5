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
    app_name: &str,
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
            status.components = components(wadm_status, app_name);
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

/// Per-component detail: wadm's `components` when it fills them, otherwise derived from its scalers (one
/// trait each: a spread or daemon scaler for `<app>-<component>`, a link scaler named after its source).
fn components(wadm_status: &Value, app: &str) -> Vec<ComponentStatus> {
    let reported = wadm_status
        .get("components")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty());
    let Some(list) = reported else {
        return from_scalers(wadm_status, app);
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

fn from_scalers(wadm_status: &Value, app: &str) -> Vec<ComponentStatus> {
    // wadm names things `<app with '-' as '_'>-<component>`.
    let prefix = format!("{}-", app.replace('-', "_"));
    let mut components: Vec<ComponentStatus> = Vec::new();
    for scaler in wadm_status
        .get("scalers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(kind), Some(name), Some(phase)) = (
            scaler.get("kind").and_then(Value::as_str),
            scaler.get("name").and_then(Value::as_str),
            phase_of(scaler.pointer("/status/type")),
        ) else {
            continue;
        };
        let trait_type = match kind {
            "SpreadScaler" => "spreadscaler",
            "DaemonScaler" => "daemonscaler",
            "LinkScaler" => "link",
            other => other,
        };
        // A link scaler is named `<source> -(<interface>)-> <target>`; it belongs to its source.
        let owner = name.split(" -(").next().unwrap_or(name);
        let component = owner.strip_prefix(&prefix).unwrap_or(owner).to_string();
        let detail = TraitStatus {
            type_: trait_type.to_string(),
            phase,
            message: text(scaler.pointer("/status/message")),
        };
        match components.iter_mut().find(|c| c.name == component) {
            Some(existing) => existing.traits.push(detail),
            None => components.push(ComponentStatus {
                name: component,
                type_: None,
                phase,
                message: None,
                traits: vec![detail],
            }),
        }
    }
    for component in &mut components {
        component.phase = worst(component.traits.iter().map(|t| t.phase));
    }
    components.sort_by(|a, b| a.name.cmp(&b.name));
    components
}

/// wadm's precedence when it sums statuses: failed > undeployed > waiting > reconciling > unhealthy > deployed.
fn worst(phases: impl Iterator<Item = ApplicationPhase>) -> ApplicationPhase {
    let rank = |p: ApplicationPhase| match p {
        ApplicationPhase::Failed => 5,
        ApplicationPhase::Undeployed => 4,
        ApplicationPhase::Waiting => 3,
        ApplicationPhase::Reconciling => 2,
        ApplicationPhase::Unhealthy => 1,
        ApplicationPhase::Deployed => 0,
    };
    phases
        .max_by_key(|p| rank(*p))
        .unwrap_or(ApplicationPhase::Deployed)
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
            let status = compute(
                "hello-world",
                None,
                Some(2),
                Some("blue"),
                &deployed("v1"),
                &wadm,
                &at(1),
            );
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
            "hello-world",
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
        let status = compute(
            "hello-world",
            Some(&first),
            Some(2),
            Some("blue"),
            &failed,
            &Value::Null,
            &at(2),
        );
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
    fn components_and_traits_come_from_wadms_scalers() {
        let wadm = json!({"status": {"type": "reconciling"}, "components": [], "scalers": [
            {"kind": "SpreadScaler", "name": "hello_world-http_component", "status": {"type": "deployed"}},
            {"kind": "DaemonScaler", "name": "hello_world-httpserver", "status": {"type": "reconciling", "message": "Scaling provider on 1 host(s)"}},
            {"kind": "LinkScaler", "name": "hello_world-httpserver -(wasi:http)-> hello_world-http_component", "status": {"type": "deployed"}}
        ]});
        let status = compute(
            "hello-world",
            None,
            Some(1),
            Some("blue"),
            &deployed("v1"),
            &wadm,
            &at(1),
        );
        let names: Vec<&str> = status.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["http_component", "httpserver"]);
        let server = &status.components[1];
        assert_eq!(
            server.phase,
            ApplicationPhase::Reconciling,
            "the worst of its traits"
        );
        let traits: Vec<&str> = server.traits.iter().map(|t| t.type_.as_str()).collect();
        assert_eq!(traits, ["daemonscaler", "link"]);
        assert_eq!(
            server.traits[0].message.as_deref(),
            Some("Scaling provider on 1 host(s)")
        );
    }

    #[test]
    fn the_same_report_twice_gives_the_same_status() {
        let wadm = json!({"status": {"type": "deployed"}});
        let one = compute(
            "hello-world",
            None,
            Some(1),
            Some("blue"),
            &deployed("v1"),
            &wadm,
            &at(1),
        );
        let two = compute(
            "hello-world",
            Some(&one),
            Some(1),
            Some("blue"),
            &deployed("v1"),
            &wadm,
            &at(50),
        );
        assert_eq!(one, two);
    }
}
