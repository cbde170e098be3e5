//! Writes children with server-side apply under the host-operator's field manager, but only when they
//! differ from what is in the cluster, so a reconcile that finds nothing new writes nothing. Touches
//! the children of one WasmCloudHostConfig.

use std::fmt::Debug;

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasmcloud_operator_types::contract::{binaries, field_manager, labels};

use crate::errors::Error;

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Written,
}

/// Makes the object in the cluster carry every field of `desired`; returns the object as it now is.
pub async fn ensure<K>(api: &Api<K>, desired: &K) -> Result<(K, Applied), Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let name = desired.name_any();
    let what = || format!("{} {name}", K::kind(&Default::default()));
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|source| Error::Read { what: what(), source })?;
    if let Some(existing) = existing {
        let want =
            serde_json::to_value(desired).map_err(|source| Error::Serialize { what: what(), source })?;
        let have =
            serde_json::to_value(&existing).map_err(|source| Error::Serialize { what: what(), source })?;
        match difference(&have, &want, String::new()) {
            None => return Ok((existing, Applied::Unchanged)),
            Some(path) => tracing::debug!(object = %what(), %path, "differs from the cluster; applying"),
        }
    }
    let params = PatchParams::apply(field_manager::HOST_OPERATOR).force();
    let applied = api
        .patch(&name, &params, &Patch::Apply(desired))
        .await
        .map_err(|source| Error::Apply { what: what(), source })?;
    Ok((applied, Applied::Written))
}

/// Deletes the named object if it exists and this operator manages it (e.g. the Deployment after a switch
/// to a DaemonSet). Returns whether it deleted anything.
pub async fn remove_if_ours<K>(api: &Api<K>, name: &str) -> Result<bool, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let what = || format!("{} {name}", K::kind(&Default::default()));
    let Some(existing) = api
        .get_opt(name)
        .await
        .map_err(|source| Error::Read { what: what(), source })?
    else {
        return Ok(false);
    };
    let ours = existing.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(binaries::HOST_OPERATOR);
    if !ours || existing.meta().deletion_timestamp.is_some() {
        return Ok(false);
    }
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(Error::Delete { what: what(), source }),
    }
}

/// Whether `have` carries every field of `want` with the same value (lists element by element). Fields
/// only in `have` (defaults, status, other managers' fields) don't matter. Pure.
pub fn contains(have: &Value, want: &Value) -> bool {
    difference(have, want, String::new()).is_none()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// The path of the first field of `want` that `have` lacks or holds differently.
fn difference(have: &Value, want: &Value, path: String) -> Option<String> {
    match (have, want) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().find_map(|(key, value)| match have.get(key) {
                Some(h) => difference(h, value, format!("{path}.{key}")),
                // The API server drops empty lists and maps (omitempty): absent is the same as empty.
                None if is_empty(value) => None,
                None => Some(format!("{path}.{key}")),
            })
        }
        (Value::Array(have), Value::Array(want)) if have.len() == want.len() => have
            .iter()
            .zip(want)
            .enumerate()
            .find_map(|(i, (h, w))| difference(h, w, format!("{path}[{i}]"))),
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
