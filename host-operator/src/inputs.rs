//! What a WasmCloudHostConfig refers to (Secrets, ConfigMaps), checked and turned into the values the
//! builders need. Pure: takes what `gather` read, never a client.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use sha2::{Digest, Sha256};
use wasmcloud_operator_types::{WasmCloudHostConfigSpec, redact};

use crate::errors::InputError;

/// Key of the NATS credentials in `secretName`.
pub const NATS_CREDS_KEY: &str = "nats.creds";
/// Key of the registry credentials in `registryCredentialsSecret`.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// The referenced objects as read from the API (`None` when missing).
#[derive(Debug, Default, Clone)]
pub struct Referenced {
    pub nats_secret: Option<Secret>,
    pub registry_secret: Option<Secret>,
    /// One entry per `certificates.authorities` item, in order.
    pub authorities: Vec<ReferencedAuthority>,
}

/// A certificate authority volume and the object it names.
#[derive(Debug, Clone)]
pub enum ReferencedAuthority {
    Secret {
        volume: String,
        name: String,
        object: Option<Secret>,
    },
    ConfigMap {
        volume: String,
        name: String,
        object: Option<ConfigMap>,
    },
}

/// Everything the builders need from the referenced objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inputs {
    /// `secretName` holds NATS credentials for the leaf.
    pub nats_creds: bool,
    pub registry: Option<RegistryCredentials>,
    pub authorities: Vec<Authority>,
    /// Every authority's `*.crt` values, in order, as one PEM bundle (certificates are public; only the
    /// `*.crt` keys are read) for the leaf's TLS remote.
    pub ca_bundle: String,
    /// Hash of every referenced object's data; a change rolls the hosts.
    pub checksum: String,
    /// The image of the leaf-link sidecar (the operator's `--leaf-link-image`, not read from the cluster);
    /// none: the pods get no sidecar.
    pub leaf_link_image: Option<String>,
}

/// The one registry the hosts pull from, decoded from a dockerconfigjson Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    pub registry: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password (or the user name) anywhere.
        f.debug_struct("RegistryCredentials")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// A certificate authority the hosts trust: the volume to mount and the `*.crt` keys in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub volume: String,
    pub source: AuthoritySource,
    pub crt_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthoritySource {
    Secret(String),
    ConfigMap(String),
}

/// Checks the referenced objects against the spec and extracts what the builders need.
pub fn resolve(spec: &WasmCloudHostConfigSpec, referenced: &Referenced) -> Result<Inputs, InputError> {
    let mut hasher = Sha256::new();
    let nats_creds = match &spec.secret_name {
        None => false,
        Some(name) => {
            let secret = referenced
                .nats_secret
                .as_ref()
                .ok_or_else(|| secret_not_found(name))?;
            // A Secret without the key means no credentials ("only required if using a NATS creds file", as
            // the old operator documents and behaves); a present key must hold a credentials file.
            match secret_value(secret, name, NATS_CREDS_KEY) {
                Ok(creds) => {
                    check_nats_creds(name, creds)?;
                    hash_part(&mut hasher, "nats", creds);
                    true
                }
                Err(InputError::SecretKeyMissing { .. }) => {
                    hash_part(&mut hasher, "nats", b"");
                    false
                }
                Err(other) => return Err(other),
            }
        }
    };
    let registry = match &spec.registry_credentials_secret {
        None => None,
        Some(name) => {
            let secret = referenced
                .registry_secret
                .as_ref()
                .ok_or_else(|| secret_not_found(name))?;
            let config = secret_value(secret, name, DOCKER_CONFIG_KEY)?;
            hash_part(&mut hasher, "registry", config);
            Some(parse_docker_config(name, config)?)
        }
    };
    let mut authorities = Vec::new();
    let mut ca_bundle = String::new();
    for authority in &referenced.authorities {
        let (volume, source, data) = match authority {
            ReferencedAuthority::Secret { volume, name, object } => {
                let secret = object.as_ref().ok_or_else(|| secret_not_found(name))?;
                let data: BTreeMap<String, Vec<u8>> = secret
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect();
                (volume, AuthoritySource::Secret(name.clone()), data)
            }
            ReferencedAuthority::ConfigMap { volume, name, object } => {
                let config_map = object
                    .as_ref()
                    .ok_or_else(|| InputError::ConfigMapNotFound { name: name.clone() })?;
                let data: BTreeMap<String, Vec<u8>> = config_map
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect();
                (volume, AuthoritySource::ConfigMap(name.clone()), data)
            }
        };
        let crt_keys: Vec<String> = data.keys().filter(|k| is_certificate(k)).cloned().collect();
        if crt_keys.is_empty() {
            let (kind, name) = match &source {
                AuthoritySource::Secret(n) => ("Secret", n),
                AuthoritySource::ConfigMap(n) => ("ConfigMap", n),
            };
            return Err(InputError::Conflict {
                field: format!("certificates.authorities[{volume}]"),
                problem: format!("{kind} {name} has no key ending in .crt"),
            });
        }
        for key in &crt_keys {
            hash_part(&mut hasher, &format!("ca/{volume}/{key}"), &data[key]);
            ca_bundle.push_str(String::from_utf8_lossy(&data[key]).trim_end());
            ca_bundle.push('\n');
        }
        authorities.push(Authority {
            volume: volume.clone(),
            source,
            crt_keys,
        });
    }
    let checksum = format!("{:x}", hasher.finalize());
    Ok(Inputs {
        nats_creds,
        registry,
        authorities,
        ca_bundle,
        checksum: checksum[..16].to_string(),
        leaf_link_image: None,
    })
}

/// A `*.crt` key (any case), as the old operator recognised certificates.
fn is_certificate(key: &str) -> bool {
    std::path::Path::new(key)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("crt"))
}

fn hash_part(hasher: &mut Sha256, label: &str, data: &[u8]) {
    hasher.update(label.as_bytes());
    hasher.update([0]);
    hasher.update(u64::try_from(data.len()).unwrap_or(u64::MAX).to_be_bytes());
    hasher.update(data);
}

fn secret_not_found(name: &str) -> InputError {
    InputError::SecretNotFound {
        name: name.to_string(),
    }
}

fn secret_value<'a>(secret: &'a Secret, name: &str, key: &str) -> Result<&'a [u8], InputError> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.as_slice())
        .ok_or_else(|| InputError::SecretKeyMissing {
            name: name.to_string(),
            key: key.to_string(),
        })
}

fn invalid(name: &str, key: &str, problem: impl Into<String>) -> InputError {
    InputError::SecretInvalid {
        name: name.to_string(),
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// A NATS credentials file holds a user JWT and an nkey seed, each between marker lines.
fn check_nats_creds(name: &str, creds: &[u8]) -> Result<(), InputError> {
    let text = std::str::from_utf8(creds).map_err(|_| invalid(name, NATS_CREDS_KEY, "is not UTF-8 text"))?;
    if !text.contains("BEGIN NATS USER JWT") || !text.contains("BEGIN USER NKEY SEED") {
        return Err(invalid(
            name,
            NATS_CREDS_KEY,
            "is not a NATS credentials file (it needs a USER JWT and a USER NKEY SEED section)",
        ));
    }
    Ok(())
}

/// Reads the one registry of a `.dockerconfigjson`: `username`/`password`, or `auth` (base64 of
/// `user:password`) alone.
fn parse_docker_config(name: &str, config: &[u8]) -> Result<RegistryCredentials, InputError> {
    #[derive(serde::Deserialize)]
    struct DockerConfig {
        auths: Option<BTreeMap<String, Entry>>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        username: Option<String>,
        password: Option<String>,
        auth: Option<String>,
    }
    let key = DOCKER_CONFIG_KEY;
    // By position only: serde_json's own message quotes the offending value, which may be the password.
    let parsed: DockerConfig = serde_json::from_slice(config).map_err(|e| {
        invalid(
            name,
            key,
            format!(
                "{} (a .dockerconfigjson is {{\"auths\": {{\"<registry>\": {{\"username\", \"password\" or \"auth\" strings}}}}}})",
                redact::json_error(&e)
            ),
        )
    })?;
    let auths = parsed.auths.unwrap_or_default();
    let mut entries = auths.into_iter();
    let (registry, entry) = match (entries.next(), entries.len()) {
        (None, _) => return Err(invalid(name, key, "names no registry under \"auths\"")),
        (Some(first), 0) => first,
        (Some(_), more) => {
            return Err(invalid(
                name,
                key,
                format!(
                    "names {} registries; wasmCloud hosts take one: keep a single entry under \"auths\"",
                    more + 1
                ),
            ));
        }
    };
    let (username, password) = match (entry.username, entry.password, entry.auth) {
        (Some(user), Some(password), _) if !user.is_empty() => (user, password),
        (_, _, Some(auth)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| invalid(name, key, format!("the \"auth\" of {registry} is not base64")))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| invalid(name, key, format!("the \"auth\" of {registry} is not UTF-8")))?;
            let (user, password) = decoded.split_once(':').ok_or_else(|| {
                invalid(
                    name,
                    key,
                    format!("the \"auth\" of {registry} is not user:password"),
                )
            })?;
            (user.to_string(), password.to_string())
        }
        _ => {
            return Err(invalid(
                name,
                key,
                format!("the entry for {registry} has neither username and password nor auth"),
            ));
        }
    };
    Ok(RegistryCredentials {
        registry,
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    const CREDS: &str = "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n\
                         -----BEGIN USER NKEY SEED-----\nSUAM\n------END USER NKEY SEED------\n";

    fn spec(extra: &serde_json::Value) -> WasmCloudHostConfigSpec {
        let mut value = serde_json::json!({"lattice": "blue", "version": "1.4.2"});
        if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
            v.extend(e.clone());
        }
        serde_json::from_value(value).expect("spec")
    }

    fn secret(entries: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                entries
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    fn registry(config: &str) -> Result<Inputs, InputError> {
        let referenced = Referenced {
            registry_secret: Some(secret(&[(DOCKER_CONFIG_KEY, config)])),
            ..Referenced::default()
        };
        resolve(
            &spec(&serde_json::json!({"registryCredentialsSecret": "east-registry"})),
            &referenced,
        )
    }

    #[test]
    fn nothing_referenced_means_no_inputs() {
        let inputs = resolve(&spec(&serde_json::json!({})), &Referenced::default()).expect("ok");
        assert!(!inputs.nats_creds && inputs.registry.is_none() && inputs.authorities.is_empty());
    }

    #[test]
    fn a_missing_creds_secret_is_named_and_one_without_the_key_means_no_credentials() {
        let with_secret = spec(&serde_json::json!({"secretName": "east-nats"}));
        assert_eq!(
            resolve(&with_secret, &Referenced::default()),
            Err(InputError::SecretNotFound {
                name: "east-nats".into()
            })
        );
        let referenced = Referenced {
            nats_secret: Some(secret(&[("other", "x")])),
            ..Referenced::default()
        };
        let inputs = resolve(&with_secret, &referenced).expect("no key: no credentials");
        assert!(!inputs.nats_creds);
    }

    #[test]
    fn creds_must_look_like_a_creds_file() {
        let with_secret = spec(&serde_json::json!({"secretName": "east-nats"}));
        let bad = Referenced {
            nats_secret: Some(secret(&[(NATS_CREDS_KEY, "hello")])),
            ..Referenced::default()
        };
        assert!(matches!(
            resolve(&with_secret, &bad),
            Err(InputError::SecretInvalid { .. })
        ));
        let good = Referenced {
            nats_secret: Some(secret(&[(NATS_CREDS_KEY, CREDS)])),
            ..Referenced::default()
        };
        assert!(resolve(&with_secret, &good).expect("valid").nats_creds);
    }

    #[test]
    fn registry_credentials_from_username_and_password_or_auth_alone() {
        let full =
            registry(r#"{"auths":{"ghcr.io":{"username":"octo","password":"pw","auth":"x"}}}"#).expect("ok");
        assert_eq!(
            full.registry
                .as_ref()
                .map(|r| (r.registry.as_str(), r.username.as_str())),
            Some(("ghcr.io", "octo"))
        );
        let auth_only = registry(r#"{"auths":{"reg.local":{"auth":"b2N0bzpzM2NyZXQ="}}}"#).expect("ok");
        let creds = auth_only.registry.expect("registry");
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("octo", "s3cret")
        );
        assert!(
            !format!("{creds:?}").contains("s3cret"),
            "Debug never shows the password"
        );
    }

    #[test]
    fn bad_registry_configs_say_what_is_wrong() {
        let table = [
            ("{not json", "is not valid JSON"),
            (r#"{"auths":{}}"#, "names no registry"),
            (r"{}", "names no registry"),
            (
                r#"{"auths":{"a.io":{"auth":"eA=="},"b.io":{"auth":"eA=="}}}"#,
                "names 2 registries",
            ),
            (r#"{"auths":{"a.io":{"auth":"!!"}}}"#, "is not base64"),
            (
                r#"{"auths":{"a.io":{"auth":"bm9jb2xvbg=="}}}"#,
                "is not user:password",
            ),
            (
                r#"{"auths":{"a.io":{"username":"u"}}}"#,
                "neither username and password nor auth",
            ),
        ];
        for (config, expected) in table {
            let message = registry(config).expect_err(config).to_string();
            assert!(
                message.starts_with("Secret east-registry key .dockerconfigjson: "),
                "{message}"
            );
            assert!(message.contains(expected), "{config}: {message}");
        }
    }

    #[test]
    fn authorities_need_crt_keys_and_change_the_checksum() {
        let spec = spec(&serde_json::json!({}));
        let ca = |pem: &str| Referenced {
            authorities: vec![ReferencedAuthority::ConfigMap {
                volume: "corp".into(),
                name: "corp-ca".into(),
                object: Some(ConfigMap {
                    data: Some(
                        [
                            ("ca.crt".to_string(), pem.to_string()),
                            ("notes".into(), "x".into()),
                        ]
                        .into(),
                    ),
                    ..ConfigMap::default()
                }),
            }],
            ..Referenced::default()
        };
        let one = resolve(&spec, &ca("PEM-1")).expect("ok");
        assert_eq!(one.authorities[0].crt_keys, vec!["ca.crt".to_string()]);
        let two = resolve(&spec, &ca("PEM-2")).expect("ok");
        assert_ne!(one.checksum, two.checksum);
        let missing = Referenced {
            authorities: vec![ReferencedAuthority::Secret {
                volume: "corp".into(),
                name: "gone".into(),
                object: None,
            }],
            ..Referenced::default()
        };
        assert_eq!(
            resolve(&spec, &missing),
            Err(InputError::SecretNotFound { name: "gone".into() })
        );
    }
}
