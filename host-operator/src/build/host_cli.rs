//! The wasmCloud host's command-line contract by 1.x version: which version a pod will run, and whether that
//! version knows a setting and in which form it reads it (flag or env variable, value types, conflicts).
//! Facts from the host's own CLI definition at every 1.x tag. Pure.

use std::fmt;

use wasmcloud_operator_types::WasmCloudHostConfigSpec;

/// A wasmCloud host release, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl HostVersion {
    /// The newest 1.x release whose contract is known; assumed when nothing states a version.
    pub const NEWEST: Self = Self::new(1, 9, 2);

    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch }
    }

    /// `1.4.2`, `v1.4.2` or `1.4.2-<suffix>` (a build variant of that release); anything else is no version.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let release = text.split(['-', '+']).next()?;
        let mut parts = release.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        });
        let version = Self::new(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }

    /// The version the pods of `spec` run. With an `image`: its tag when that is a version, else
    /// `imageVersion` (which states it for a tag such as `latest`, a digest or a name of one's own); `version`
    /// is then ignored, as the old operator documents. Without: `version`. Else the newest 1.x.
    pub fn of(spec: &WasmCloudHostConfigSpec) -> Self {
        let stated = match &spec.image {
            Some(image) => image_tag(image)
                .and_then(Self::parse)
                .or_else(|| spec.image_version.as_deref().and_then(Self::parse)),
            None => spec.version.as_deref().and_then(Self::parse),
        };
        stated.unwrap_or(Self::NEWEST)
    }

    pub fn at_least(self, minimum: Self) -> bool {
        self >= minimum
    }
}

impl fmt::Display for HostVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The tag of an image reference (`repo:tag` or `repo:tag@sha256:…`), if it has one.
fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next()?;
    let last = without_digest.rsplit('/').next()?;
    last.split_once(':').map(|(_, tag)| tag)
}

/// First releases of what the operator writes (the host rejects an unknown flag; it ignores an unknown env
/// variable, which is why a setting it can't honour is refused rather than written).
pub mod since {
    use super::HostVersion;

    /// `--observability-protocol`, `--tls-ca-path`, `WASMCLOUD_OBSERVABILITY_PROTOCOL`, `WASMCLOUD_SECRETS_TOPIC`.
    pub const V1_1_0: HostVersion = HostVersion::new(1, 1, 0);
    /// `WASMCLOUD_MAX_LINEAR_MEMORY` (a u64 until 1.8.x).
    pub const V1_2_0: HostVersion = HostVersion::new(1, 2, 0);
    /// `WASMCLOUD_HTTP_ADMIN`: the host serves `/livez` and `/readyz`.
    pub const V1_5_0: HostVersion = HostVersion::new(1, 5, 0);
    /// `WASMCLOUD_MAX_LINEAR_MEMORY` becomes a u32.
    pub const V1_9_0: HostVersion = HostVersion::new(1, 9, 0);
}

/// The largest `WASMCLOUD_MAX_LINEAR_MEMORY` the host parses at `version`.
pub fn max_linear_memory_limit(version: HostVersion) -> u64 {
    if version.at_least(since::V1_9_0) {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_prefix_and_variant_suffix_only() {
        for (text, want) in [
            ("1.4.2", Some(HostVersion::new(1, 4, 2))),
            ("v1.0.4", Some(HostVersion::new(1, 0, 4))),
            ("1.9.2-wolfi", Some(HostVersion::new(1, 9, 2))),
            ("1.9", None),
            ("latest", None),
            ("1.2.3.4", None),
            ("1.x.0", None),
            ("", None),
        ] {
            assert_eq!(HostVersion::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn image_tags_ignore_registry_ports_and_digests() {
        for (image, tag) in [
            ("ghcr.io/wasmcloud/wasmcloud:1.4.2", Some("1.4.2")),
            ("registry.local:5000/wasmcloud", None),
            ("registry.local:5000/wasmcloud:1.1.0@sha256:abc", Some("1.1.0")),
            ("wasmcloud@sha256:abc", None),
        ] {
            assert_eq!(image_tag(image), tag, "{image}");
        }
    }

    #[test]
    fn a_version_tag_wins_and_image_version_states_what_other_tags_run() {
        let spec = |image: Option<&str>, version: Option<&str>, image_version: Option<&str>| {
            WasmCloudHostConfigSpec {
                image: image.map(str::to_string),
                version: version.map(str::to_string),
                image_version: image_version.map(str::to_string),
                ..serde_json::from_value(serde_json::json!({"lattice": "default"})).expect("a minimal spec")
            }
        };
        let latest = Some("ghcr.io/wasmcloud/wasmcloud:latest");
        for (image, version, image_version, want) in [
            (
                Some("ghcr.io/wasmcloud/wasmcloud:1.4.2"),
                Some("1.0.4"),
                Some("1.1.0"),
                HostVersion::new(1, 4, 2),
            ),
            (latest, Some("1.0.4"), None, HostVersion::NEWEST),
            (latest, Some("1.0.4"), Some("1.1.0"), HostVersion::new(1, 1, 0)),
            (
                Some("wasmcloud@sha256:abc"),
                None,
                Some("1.2.0"),
                HostVersion::new(1, 2, 0),
            ),
            (None, Some("1.2.0"), Some("1.5.0"), HostVersion::new(1, 2, 0)),
            (None, None, None, HostVersion::NEWEST),
        ] {
            assert_eq!(
                HostVersion::of(&spec(image, version, image_version)),
                want,
                "{image:?} {version:?} {image_version:?}"
            );
        }
    }
}
