//! Writes and removes the children of one WasmCloudHostConfig through the shared apply helper
//! (`runtime::apply`: apply only what drifted, never onto or away from an object the host config does
//! not control), under the host-operator's field manager. Touches the children of one host config.

use std::fmt::Debug;

use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmcloud_operator_types::contract::field_manager;
pub use wasmcloud_operator_types::runtime::apply::Applied;
use wasmcloud_operator_types::runtime::apply::{self as shared, ApplyError, Current};

use crate::errors::{Error, InputError};

/// Makes the object in the cluster carry every field of `desired`; returns the object as it now is. An
/// existing object that `desired`'s controller does not control is left alone: `Error::NotOurs`.
pub async fn ensure<K>(api: &Api<K>, desired: &K) -> Result<(K, Applied), Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    shared::apply_if_drifted(api, desired, Current::Unknown, field_manager::HOST_OPERATOR)
        .await
        .map_err(Error::from)
}

/// Deletes the named object if it exists and the owner with `owner_uid` controls it. Returns whether it
/// deleted anything.
pub async fn remove_if_ours<K>(api: &Api<K>, name: &str, owner_uid: &str) -> Result<bool, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    shared::delete_if_ours(api, name, owner_uid)
        .await
        .map_err(Error::from)
}

impl From<ApplyError> for Error {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::NotOurs { kind, name, holder } => {
                Self::NotOurs(InputError::ChildConflict { kind, name, holder })
            }
            ApplyError::Read { what, source } => Self::Read { what, source },
            ApplyError::Serialize { what, source } => Self::Serialize { what, source },
            ApplyError::Apply { what, source } => Self::Apply { what, source },
            ApplyError::Delete { what, source } => Self::Delete { what, source },
        }
    }
}
