//! Kubernetes-style conditions on our status objects. Pure: no client, time is passed in.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// What a binary wants a condition to say; [`set_condition`] turns it into a [`Condition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

impl<'a> ConditionUpdate<'a> {
    pub fn new(type_: &'a str, status: bool, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Sets one condition in a list keyed by type. `lastTransitionTime` moves only when the status flips, so
/// a reconcile that finds nothing new produces the same list (and writes nothing).
/// Returns whether anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    update: ConditionUpdate<'_>,
    observed_generation: Option<i64>,
    now: &Time,
) -> bool {
    let status = if update.status { "True" } else { "False" };
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let flipped = existing.status != status;
            let changed = flipped
                || existing.reason != update.reason
                || existing.message != update.message
                || existing.observed_generation != observed_generation;
            if flipped {
                existing.last_transition_time = now.clone();
            }
            existing.status = status.to_string();
            existing.reason = update.reason.to_string();
            existing.message = update.message;
            existing.observed_generation = observed_generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_string(),
                status: status.to_string(),
                reason: update.reason.to_string(),
                message: update.message,
                observed_generation,
                last_transition_time: now.clone(),
            });
            true
        }
    }
}

/// Whether the condition of this type is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn first_set_adds_the_condition() {
        let mut list = Vec::new();
        assert!(set_condition(
            &mut list,
            ConditionUpdate::new("Ready", true, "HostsReady", "2/2"),
            Some(3),
            &at(10)
        ));
        assert_eq!(list[0].status, "True");
        assert_eq!(list[0].observed_generation, Some(3));
        assert_eq!(list[0].last_transition_time, at(10));
    }

    #[test]
    fn same_condition_again_changes_nothing() {
        let mut list = Vec::new();
        set_condition(
            &mut list,
            ConditionUpdate::new("Ready", true, "HostsReady", "2/2"),
            Some(3),
            &at(10),
        );
        let before = list.clone();
        assert!(!set_condition(
            &mut list,
            ConditionUpdate::new("Ready", true, "HostsReady", "2/2"),
            Some(3),
            &at(99)
        ));
        assert_eq!(list, before);
    }

    #[test]
    fn new_message_keeps_transition_time_but_a_flip_moves_it() {
        let mut list = Vec::new();
        set_condition(
            &mut list,
            ConditionUpdate::new("Ready", true, "HostsReady", "2/2"),
            Some(3),
            &at(10),
        );
        assert!(set_condition(
            &mut list,
            ConditionUpdate::new("Ready", true, "HostsReady", "3/3"),
            Some(4),
            &at(20)
        ));
        assert_eq!(list[0].last_transition_time, at(10));
        assert!(set_condition(
            &mut list,
            ConditionUpdate::new("Ready", false, "HostsUnavailable", "0/3"),
            Some(4),
            &at(30)
        ));
        assert_eq!(list[0].last_transition_time, at(30));
        assert!(!is_true(&list, "Ready"));
    }
}
