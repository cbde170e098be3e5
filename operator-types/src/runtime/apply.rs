//! The one way a controller here writes or removes a child: server-side apply only when the object in
//! the cluster lacks a field of the desired one (a steady state writes nothing), never onto an object
//! that the desired object's controller does not control, and deletion only of what the owner
//! controls. Touches only the objects it is handed, through the `Api` it is handed.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::controller::delete_if_present;
use super::drift::difference;
use super::ownership;

/// What [`apply_if_drifted`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Written,
}

/// What the caller already knows about the object in the cluster.
#[derive(Debug, Clone, Copy)]
pub enum Current<'a, K> {
    /// Nothing: it is read first.
    Unknown,
    /// A watch delivered it (or its absence): no read.
    Known(Option<&'a K>),
}

/// Why a child was not written or removed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// An object of that kind and name exists and the owner does not control it: left untouched.
    #[error("{kind} {name} already exists and {holder}")]
    NotOurs {
        kind: String,
        name: String,
        holder: String,
    },
    #[error("failed to read {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to serialize {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to apply {what}: {source}")]
    Apply {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete {what}: {source}")]
    Delete {
        what: String,
        #[source]
        source: kube::Error,
    },
}

impl super::controller::ReconcileError for ApplyError {
    fn category(&self) -> &'static str {
        match self {
            Self::NotOurs { .. } => "not_ours",
            Self::Read { .. } => "read",
            Self::Serialize { .. } => "serialize",
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
        }
    }
}

fn describe<K: Resource>(name: &str) -> String
where
    K::DynamicType: Default,
{
    format!("{} {name}", K::kind(&K::DynamicType::default()))
}

/// Makes the object in the cluster carry every field of `desired` under `field_manager`; returns it as it
/// now is. When `desired` names a controller, an existing object that controller does not control is
/// never written: [`ApplyError::NotOurs`].
pub async fn apply_if_drifted<K>(
    api: &Api<K>,
    desired: &K,
    current: Current<'_, K>,
    field_manager: &str,
) -> Result<(K, Applied), ApplyError>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let name = desired.name_any();
    let read;
    let existing = match current {
        Current::Known(existing) => existing,
        Current::Unknown => {
            read = api.get_opt(&name).await.map_err(|source| ApplyError::Read {
                what: describe::<K>(&name),
                source,
            })?;
            read.as_ref()
        }
    };
    if let Some(existing) = existing {
        if let Some(owner) = ownership::controller(desired.meta())
            && !ownership::controlled_by(existing.meta(), &owner.uid)
        {
            return Err(ApplyError::NotOurs {
                kind: K::kind(&K::DynamicType::default()).to_string(),
                name,
                holder: ownership::holder(existing.meta()),
            });
        }
        let serialize = |value: &K| {
            serde_json::to_value(value).map_err(|source| ApplyError::Serialize {
                what: describe::<K>(&name),
                source,
            })
        };
        match difference(&serialize(existing)?, &serialize(desired)?) {
            None => return Ok((existing.clone(), Applied::Unchanged)),
            Some(path) => {
                tracing::debug!(object = %describe::<K>(&name), %path, "differs from the cluster; applying");
            }
        }
    }
    let params = PatchParams::apply(field_manager).force();
    let applied = api
        .patch(&name, &params, &Patch::Apply(desired))
        .await
        .map_err(|source| ApplyError::Apply {
            what: describe::<K>(&name),
            source,
        })?;
    Ok((applied, Applied::Written))
}

/// Deletes `name` if it exists, is not already going and the owner with `owner_uid` controls it (e.g.
/// the Deployment after a switch to a DaemonSet). Returns whether it deleted anything.
pub async fn delete_if_ours<K>(api: &Api<K>, name: &str, owner_uid: &str) -> Result<bool, ApplyError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let Some(existing) = api.get_opt(name).await.map_err(|source| ApplyError::Read {
        what: describe::<K>(name),
        source,
    })?
    else {
        return Ok(false);
    };
    if !ownership::controlled_by(existing.meta(), owner_uid) || existing.meta().deletion_timestamp.is_some() {
        return Ok(false);
    }
    delete_if_present(api, name)
        .await
        .map_err(|source| ApplyError::Delete {
            what: describe::<K>(name),
            source,
        })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;
    use crate::runtime::fake_api::FakeApi;

    fn owned_by(uid: &str, data: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("hosts".into()),
                namespace: Some("east".into()),
                owner_references: Some(vec![OwnerReference {
                    api_version: "k8s.wasmcloud.dev/v1alpha1".into(),
                    kind: "WasmCloudHostConfig".into(),
                    name: "blue".into(),
                    uid: uid.into(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            data: Some([("nats.conf".to_string(), data.to_string())].into()),
            ..ConfigMap::default()
        }
    }

    fn requests(fake: &FakeApi) -> Vec<String> {
        fake.requests().iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn an_object_already_in_line_is_read_once_and_never_written() {
        let fake = FakeApi::new();
        fake.insert(&owned_by("uid-blue", "a"));
        let api: Api<ConfigMap> = Api::namespaced(fake.client(), "east");
        let (_, applied) = apply_if_drifted(&api, &owned_by("uid-blue", "a"), Current::Unknown, "test")
            .await
            .expect("applies");
        assert_eq!(applied, Applied::Unchanged);
        assert_eq!(requests(&fake), ["get configmaps/hosts"]);

        let known = fake.get::<ConfigMap>(Some("east"), "hosts").expect("stored");
        fake.clear_requests();
        apply_if_drifted(
            &api,
            &owned_by("uid-blue", "a"),
            Current::Known(Some(&known)),
            "test",
        )
        .await
        .expect("applies");
        assert!(
            fake.requests().is_empty(),
            "what a watch delivered is not read again"
        );
    }

    #[tokio::test]
    async fn a_drifted_or_missing_object_is_applied_once() {
        let fake = FakeApi::new();
        let api: Api<ConfigMap> = Api::namespaced(fake.client(), "east");
        let (_, applied) = apply_if_drifted(&api, &owned_by("uid-blue", "a"), Current::Unknown, "test")
            .await
            .expect("applies");
        assert_eq!(applied, Applied::Written);
        fake.clear_requests();
        let (object, applied) = apply_if_drifted(&api, &owned_by("uid-blue", "b"), Current::Unknown, "test")
            .await
            .expect("applies");
        assert_eq!(applied, Applied::Written);
        assert_eq!(
            requests(&fake),
            ["get configmaps/hosts", "patch configmaps/hosts"]
        );
        assert_eq!(
            object.data.and_then(|d| d.get("nats.conf").cloned()).as_deref(),
            Some("b")
        );
    }

    #[tokio::test]
    async fn a_foreign_object_of_the_same_name_is_never_written_or_deleted() {
        let fake = FakeApi::new();
        fake.insert(&owned_by("uid-someone-else", "theirs"));
        let api: Api<ConfigMap> = Api::namespaced(fake.client(), "east");
        let error = apply_if_drifted(&api, &owned_by("uid-blue", "ours"), Current::Unknown, "test")
            .await
            .expect_err("not ours");
        assert!(matches!(error, ApplyError::NotOurs { .. }), "{error}");
        assert!(fake.writes().is_empty(), "{:?}", requests(&fake));

        let deleted = delete_if_ours(&api, "hosts", "uid-blue").await.expect("reads");
        assert!(!deleted);
        assert!(fake.writes().is_empty(), "{:?}", requests(&fake));
        let kept = fake.get::<ConfigMap>(Some("east"), "hosts").expect("still there");
        assert_eq!(
            kept.data.and_then(|d| d.get("nats.conf").cloned()).as_deref(),
            Some("theirs")
        );

        let mine = FakeApi::new();
        mine.insert(&owned_by("uid-blue", "ours"));
        let api: Api<ConfigMap> = Api::namespaced(mine.client(), "east");
        assert!(delete_if_ours(&api, "hosts", "uid-blue").await.expect("deletes"));
        assert_eq!(
            requests(&mine),
            ["get configmaps/hosts", "delete configmaps/hosts"]
        );
    }
}
