//! Writes children with server-side apply under the host-operator's field manager, but only when they
//! differ from what is in the cluster, so a reconcile that finds nothing new writes nothing; and only
//! objects the WasmCloudHostConfig controls (its UID in their controller ownerReference): one of the same
//! name that it does not control is never written or deleted. Touches the children of one WasmCloudHostConfig.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmcloud_operator_types::contract::field_manager;
use wasmcloud_operator_types::runtime::controller as runner;
use wasmcloud_operator_types::runtime::drift::difference;
use wasmcloud_operator_types::runtime::ownership;

use crate::errors::{Error, InputError};

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Written,
}

/// Makes the object in the cluster carry every field of `desired`; returns the object as it now is. An
/// existing object that `desired`'s controller does not control is left alone: `Error::NotOurs`.
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
        if let Some(owner) = ownership::controller(desired.meta())
            && !ownership::controlled_by(existing.meta(), &owner.uid)
        {
            return Err(Error::NotOurs(InputError::ChildConflict {
                kind: K::kind(&Default::default()).to_string(),
                name,
                holder: ownership::holder(existing.meta()),
            }));
        }
        let want =
            serde_json::to_value(desired).map_err(|source| Error::Serialize { what: what(), source })?;
        let have =
            serde_json::to_value(&existing).map_err(|source| Error::Serialize { what: what(), source })?;
        match difference(&have, &want) {
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

/// Deletes the named object if it exists and the owner with `owner_uid` controls it (e.g. the Deployment
/// after a switch to a DaemonSet). Returns whether it deleted anything.
pub async fn remove_if_ours<K>(api: &Api<K>, name: &str, owner_uid: &str) -> Result<bool, Error>
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
    let ours = ownership::controlled_by(existing.meta(), owner_uid);
    if !ours || existing.meta().deletion_timestamp.is_some() {
        return Ok(false);
    }
    runner::delete_if_present(api, name)
        .await
        .map_err(|source| Error::Delete { what: what(), source })
}
