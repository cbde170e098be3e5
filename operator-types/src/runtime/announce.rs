//! Events, written once for every controller: which condition flipped (status or reason; a message
//! alone is no news), and publishing an Event without ever failing the reconcile over it. Touches only
//! Events, through the recorder it is handed.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::{Event, EventType, Recorder};

/// The condition `type_` in `after` when its status or reason differs from `before`'s (or it is new).
/// Pure.
pub fn flipped<'a>(
    before: Option<&[Condition]>,
    after: &'a [Condition],
    type_: &str,
) -> Option<&'a Condition> {
    let now = after.iter().find(|c| c.type_ == type_)?;
    let was = before.and_then(|conditions| conditions.iter().find(|c| c.type_ == type_));
    let same = was.is_some_and(|was| was.status == now.status && was.reason == now.reason);
    (!same).then_some(now)
}

/// Publishes one Event about `reference`; a failure is logged, never returned (an Event is a courtesy,
/// the status is the record).
pub async fn publish(
    recorder: &Recorder,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
    action: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, reference).await {
        tracing::warn!(%error, reason, "failed to publish an Event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
            observed_generation: None,
        }
    }

    #[test]
    fn only_a_new_status_or_reason_is_news() {
        let ready = [condition("True", "Ready", "3 of 3")];
        assert!(
            flipped(None, &ready, "Ready").is_some(),
            "a first condition is announced"
        );
        let reworded = [condition("True", "Ready", "3 of 3 hosts")];
        assert!(
            flipped(Some(&ready), &reworded, "Ready").is_none(),
            "a message alone is not"
        );
        let degraded = [condition("False", "Progressing", "1 of 3")];
        assert_eq!(
            flipped(Some(&ready), &degraded, "Ready").map(|c| c.reason.as_str()),
            Some("Progressing")
        );
        assert!(
            flipped(Some(&ready), &[], "Ready").is_none(),
            "a removed condition says nothing"
        );
    }
}
