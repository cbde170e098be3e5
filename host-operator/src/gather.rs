//! Reads what a WasmCloudHostConfig refers to (its Secrets and ConfigMaps). Touches the API with GETs
//! in the object's namespace only.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use wasmcloud_operator_types::WasmCloudHostConfigSpec;

use crate::errors::Error;
use crate::inputs::{Referenced, ReferencedAuthority};

/// Reads every object the spec names; a missing object is `None`, not an error.
pub async fn referenced(
    client: &Client,
    namespace: &str,
    spec: &WasmCloudHostConfigSpec,
) -> Result<Referenced, Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let get_secret = |name: String| {
        let secrets = secrets.clone();
        async move {
            secrets.get_opt(&name).await.map_err(|source| Error::Read {
                what: format!("Secret {name}"),
                source,
            })
        }
    };
    let mut referenced = Referenced::default();
    if let Some(name) = &spec.secret_name {
        referenced.nats_secret = get_secret(name.clone()).await?;
    }
    if let Some(name) = &spec.registry_credentials_secret {
        referenced.registry_secret = get_secret(name.clone()).await?;
    }
    let authorities = spec.certificates.as_ref().and_then(|c| c.authorities.as_ref());
    for volume in authorities.into_iter().flatten() {
        let from_secret = volume.secret.as_ref().and_then(|s| s.secret_name.clone());
        let from_config_map = volume.config_map.as_ref().map(|c| c.name.clone());
        let authority = match (from_secret, from_config_map) {
            (Some(name), _) => ReferencedAuthority::Secret {
                volume: volume.name.clone(),
                object: get_secret(name.clone()).await?,
                name,
            },
            (None, Some(name)) => ReferencedAuthority::ConfigMap {
                volume: volume.name.clone(),
                object: config_maps.get_opt(&name).await.map_err(|source| Error::Read {
                    what: format!("ConfigMap {name}"),
                    source,
                })?,
                name,
            },
            // The CRD's rules require one of the two; nothing to read otherwise.
            (None, None) => continue,
        };
        referenced.authorities.push(authority);
    }
    Ok(referenced)
}

/// The names of the Secrets and ConfigMaps a spec refers to, for mapping their changes back to it.
pub fn referenced_names(spec: &WasmCloudHostConfigSpec) -> (Vec<String>, Vec<String>) {
    let mut secrets: Vec<String> = spec
        .secret_name
        .iter()
        .chain(&spec.registry_credentials_secret)
        .cloned()
        .collect();
    let mut config_maps = Vec::new();
    let authorities = spec.certificates.as_ref().and_then(|c| c.authorities.as_ref());
    for volume in authorities.into_iter().flatten() {
        secrets.extend(volume.secret.as_ref().and_then(|s| s.secret_name.clone()));
        config_maps.extend(volume.config_map.as_ref().map(|c| c.name.clone()));
    }
    (secrets, config_maps)
}
