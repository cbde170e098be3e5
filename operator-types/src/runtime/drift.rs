//! Drift detection for server-side apply: does the object in the cluster already carry every field we
//! would write? Pure; touches nothing.

use serde_json::Value;

/// Whether `have` carries every field of `want` with the same value (lists element by element). Fields
/// only in `have` (defaults, status, other managers' fields) don't matter. Pure.
pub fn contains(have: &Value, want: &Value) -> bool {
    difference(have, want).is_none()
}

/// The path of the first field of `want` that `have` lacks or holds differently (`None`: no drift).
pub fn difference(have: &Value, want: &Value) -> Option<String> {
    difference_at(have, want, String::new())
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

fn difference_at(have: &Value, want: &Value, path: String) -> Option<String> {
    match (have, want) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().find_map(|(key, value)| match have.get(key) {
                Some(h) => difference_at(h, value, format!("{path}.{key}")),
                // The API server drops empty lists and maps (omitempty): absent is the same as empty.
                None if is_empty(value) => None,
                None => Some(format!("{path}.{key}")),
            })
        }
        (Value::Array(have), Value::Array(want)) if have.len() == want.len() => have
            .iter()
            .zip(want)
            .enumerate()
            .find_map(|(i, (h, w))| difference_at(h, w, format!("{path}[{i}]"))),
        (have, want) if have == want => None,
        _ => Some(path),
    }
}

#[cfg(test)]
mod tests {
    use super::contains;
    use serde_json::json;

    #[test]
    fn defaults_and_extra_fields_in_the_cluster_do_not_count_as_drift() {
        let want =
            json!({"spec": {"replicas": 2, "template": {"containers": [{"name": "a", "image": "x"}]}}});
        let have = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10,
            "template": {"containers": [{"name": "a", "image": "x", "terminationMessagePath": "/dev/termination-log"}]}},
            "status": {"readyReplicas": 2}});
        assert!(contains(&have, &want));
    }

    #[test]
    fn an_empty_list_we_want_matches_one_the_server_left_out() {
        assert!(contains(
            &json!({"spec": {"name": "a"}}),
            &json!({"spec": {"name": "a", "args": []}})
        ));
        assert!(!contains(
            &json!({"spec": {"name": "a"}}),
            &json!({"spec": {"name": "a", "args": ["x"]}})
        ));
    }

    #[test]
    fn changed_missing_or_extra_list_items_are_drift() {
        let want = json!({"spec": {"replicas": 2, "containers": [{"name": "a"}]}});
        assert!(!contains(
            &json!({"spec": {"replicas": 3, "containers": [{"name": "a"}]}}),
            &want
        ));
        assert!(!contains(
            &json!({"spec": {"containers": [{"name": "a"}]}}),
            &want
        ));
        assert!(!contains(
            &json!({"spec": {"replicas": 2, "containers": [{"name": "a"}, {"name": "b"}]}}),
            &want
        ));
    }
}
