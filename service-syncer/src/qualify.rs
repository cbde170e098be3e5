//! Which deployed applications get a Service, on which port, under which name, and whether a selector
//! can say which pods serve them. Pure: a wadm manifest (JSON) in, a decision out.
//!
//! An application qualifies when a capability provider whose image matches one of the configured
//! patterns (default: the wasmCloud HTTP server) has a `link` trait exporting `wasi:http/incoming-handler`
//! whose source config carries an `address`. The provider's scaler decides the target pods. A selector is
//! used only where it is exact: a `daemonscaler` runs on every host of the lattice, or on every host that
//! matches its single spread's requirements. A `spreadscaler` places a number of instances on some of the
//! matching hosts, so no selector can say which; like several spreads, it gets EndpointSlices listing
//! exactly the hosts that run the provider (which wadm placed by the spreads' requirements).

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The wasmCloud HTTP server: the provider's image (any tag), and the host's built-in server (hosts from 1.5.0
/// with the `builtin-http-server` feature).
pub const DEFAULT_HTTP_SERVER_IMAGES: &[&str] =
    &["ghcr.io/wasmcloud/http-server", "wasmcloud+builtin://http-server"];

/// How the Service finds its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every host pod of the lattice.
    Lattice,
    /// Host pods whose host labels match these (mapped onto `host-label.k8s.wasmcloud.dev/<key>`).
    HostLabels(BTreeMap<String, String>),
    /// No selector can say it: EndpointSlices list the hosts that run the provider.
    Endpoints,
}

/// An application that gets a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApp {
    /// The wadm application name.
    pub app: String,
    /// The provider component that serves HTTP.
    pub provider: String,
    /// The provider's image, as wadm starts it on hosts (how a host's inventory names it).
    pub image: String,
    pub port: u16,
    pub target: Target,
}

/// Why an application that has an HTTP server provider still gets no Service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unqualified {
    #[error("the HTTP server {provider} has address {address:?}, which has no usable port")]
    BadAddress { provider: String, address: String },
}

/// The decision for one deployed manifest: `Ok(None)` when it serves no HTTP at all.
pub fn qualify(manifest: &Value, image_patterns: &[String]) -> Result<Option<HttpApp>, Unqualified> {
    let app = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let components = manifest
        .pointer("/spec/components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for component in &components {
        let is_provider = component.get("type").and_then(Value::as_str) == Some("capability");
        let image = component
            .pointer("/properties/image")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !is_provider || !image_patterns.iter().any(|pattern| image_matches(image, pattern)) {
            continue;
        }
        let provider = component
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let traits = component
            .get("traits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(address) = traits
            .iter()
            .filter(|t| is_http_export(t))
            .find_map(source_address)
        else {
            continue;
        };
        let port = port_of(&address).ok_or_else(|| Unqualified::BadAddress {
            provider: provider.clone(),
            address,
        })?;
        let target = target_of(&traits);
        return Ok(Some(HttpApp {
            app,
            provider,
            image: image.to_string(),
            port,
            target,
        }));
    }
    Ok(None)
}

/// `pattern` is an image without tag (`ghcr.io/wasmcloud/http-server`), or ends in `*` for a prefix.
fn image_matches(image: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => image.starts_with(prefix),
        None => {
            image == pattern
                || image
                    .strip_prefix(pattern)
                    .is_some_and(|rest| rest.starts_with([':', '@']))
        }
    }
}

fn is_http_export(link: &Value) -> bool {
    let field = |name: &str| {
        link.pointer(&format!("/properties/{name}"))
            .and_then(Value::as_str)
    };
    link.get("type").and_then(Value::as_str) == Some("link")
        && field("namespace") == Some("wasi")
        && field("package") == Some("http")
        && link
            .pointer("/properties/interfaces")
            .and_then(Value::as_array)
            .is_some_and(|i| i.iter().any(|i| i.as_str() == Some("incoming-handler")))
}

/// The `address` (any case) in the link's source config.
fn source_address(link: &Value) -> Option<String> {
    let configs = link
        .pointer("/properties/source/config")
        .and_then(Value::as_array)?;
    configs.iter().find_map(|config| {
        let properties = config.get("properties")?.as_object()?;
        properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("address"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    })
}

/// The port of `host:port`, `[v6]:port` or `:port`.
pub fn port_of(address: &str) -> Option<u16> {
    let (_, port) = address.trim().rsplit_once(':')?;
    port.parse::<u16>().ok().filter(|p| *p != 0)
}

/// What the provider's scaler says about where it runs.
fn target_of(traits: &[Value]) -> Target {
    for scaler in traits {
        match scaler.get("type").and_then(Value::as_str) {
            Some("daemonscaler") => {
                let spreads = scaler.pointer("/properties/spread").and_then(Value::as_array);
                return match spreads.map(Vec::as_slice) {
                    None | Some([]) => Target::Lattice,
                    Some([only]) => match only.get("requirements").and_then(Value::as_object) {
                        None => Target::Lattice,
                        Some(required) if required.is_empty() => Target::Lattice,
                        Some(_) => requirements(only).map_or(Target::Endpoints, Target::HostLabels),
                    },
                    Some(_) => Target::Endpoints,
                };
            }
            // Some of the matching hosts run it, which only the lattice's inventory can tell.
            Some("spreadscaler") => return Target::Endpoints,
            _ => {}
        }
    }
    Target::Endpoints
}

/// A spread's requirements, when every one of them is a label the host pods carry too. The host's own
/// `hostcore.*` labels are not pod labels, and a key or value that is not a valid label part can't be
/// one either: such requirements need EndpointSlices.
fn requirements(spread: &Value) -> Option<BTreeMap<String, String>> {
    let map = spread.get("requirements")?.as_object()?;
    let mut labels = BTreeMap::new();
    for (key, value) in map {
        let value = value.as_str()?;
        if key.starts_with("hostcore.") || !is_label_part(key) || !(value.is_empty() || is_label_part(value))
        {
            return None;
        }
        labels.insert(key.clone(), value.to_string());
    }
    (!labels.is_empty()).then_some(labels)
}

/// A label value, or the name part of a label key: at most 63 characters, alphanumeric at both ends,
/// `-`, `_` and `.` inside.
fn is_label_part(text: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.len() <= 63
        && edge(text.chars().next())
        && edge(text.chars().last())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A valid Service name (RFC 1035 label, at most 63 characters) for an application name: the name itself
/// when valid, otherwise a lowercase, dash-separated form with a short hash of the original, so two
/// different names never map to the same Service.
pub fn service_name(app: &str) -> String {
    let valid = app.len() <= 63
        && app.starts_with(|c: char| c.is_ascii_lowercase())
        && !app.ends_with('-')
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        return app.to_string();
    }
    let mut cleaned: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if !cleaned.starts_with(|c: char| c.is_ascii_lowercase()) {
        cleaned.insert_str(0, "app-");
    }
    let hash = format!("{:x}", Sha256::digest(app.as_bytes()));
    cleaned.truncate(63 - 9);
    format!("{}-{}", cleaned.trim_end_matches('-'), &hash[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patterns() -> Vec<String> {
        DEFAULT_HTTP_SERVER_IMAGES
            .iter()
            .map(|p| (*p).to_string())
            .collect()
    }

    fn manifest(provider_traits: &Value, image: &str) -> Value {
        json!({"metadata": {"name": "shop"}, "spec": {"components": [
            {"name": "web", "type": "component", "properties": {"image": "r/web:1"}},
            {"name": "httpserver", "type": "capability", "properties": {"image": image}, "traits": provider_traits}
        ]}})
    }

    #[test]
    fn the_hosts_builtin_http_server_qualifies_by_default() {
        let app = qualify(
            &manifest(&json!([link("0.0.0.0:8080")]), "wasmcloud+builtin://http-server"),
            &patterns(),
        )
        .expect("qualifies")
        .expect("serves HTTP");
        assert_eq!(
            (app.port, app.image.as_str()),
            (8080, "wasmcloud+builtin://http-server")
        );
    }

    fn link(address: &str) -> Value {
        json!({"type": "link", "properties": {"target": {"name": "web"}, "namespace": "wasi", "package": "http",
            "interfaces": ["incoming-handler"], "source": {"config": [{"name": "c", "properties": {"ADDRESS": address}}]}}})
    }

    /// (case, provider traits, provider image, expected port and target)
    type Case<'a> = (&'a str, Value, &'a str, Option<(u16, Target)>);

    #[test]
    fn qualification_table() {
        let image = "ghcr.io/wasmcloud/http-server:0.23.0";
        let daemon = json!({"type": "daemonscaler", "properties": {"instances": 1}});
        let spread_one = json!({"type": "spreadscaler", "properties": {"instances": 2,
            "spread": [{"name": "east", "requirements": {"zone": "east"}}]}});
        let spread_two = json!({"type": "spreadscaler", "properties": {"instances": 2,
            "spread": [{"name": "east", "requirements": {"zone": "east"}}, {"name": "west", "requirements": {"zone": "west"}}]}});
        let spread_plain = json!({"type": "spreadscaler", "properties": {"instances": 1}});
        let daemon_east = json!({"type": "daemonscaler", "properties": {"instances": 1,
            "spread": [{"name": "east", "requirements": {"zone": "east"}}]}});
        let daemon_two = json!({"type": "daemonscaler", "properties": {"instances": 1,
            "spread": [{"name": "east", "requirements": {"zone": "east"}}, {"name": "west", "requirements": {"zone": "west"}}]}});
        let east = Target::HostLabels(BTreeMap::from([("zone".to_string(), "east".to_string())]));
        let table: Vec<Case<'_>> = vec![
            (
                "daemonscaler over the lattice",
                json!([daemon, link("0.0.0.0:8080")]),
                image,
                Some((8080, Target::Lattice)),
            ),
            (
                "a spreadscaler, even with one spread's requirements",
                json!([spread_one, link("127.0.0.1:9000")]),
                image,
                Some((9000, Target::Endpoints)),
            ),
            (
                "a daemonscaler on one spread's requirements",
                json!([daemon_east, link("0.0.0.0:8080")]),
                image,
                Some((8080, east)),
            ),
            (
                "requirements that are no valid pod label",
                json!([{"type": "daemonscaler", "properties": {"spread": [{"name": "x", "requirements": {"zone": "east side"}}]}},
                       link("0.0.0.0:8080")]),
                image,
                Some((8080, Target::Endpoints)),
            ),
            (
                "a daemonscaler over several spreads",
                json!([daemon_two, link("0.0.0.0:8080")]),
                image,
                Some((8080, Target::Endpoints)),
            ),
            (
                "several spreads",
                json!([spread_two, link("[::]:8081")]),
                image,
                Some((8081, Target::Endpoints)),
            ),
            (
                "spread without requirements",
                json!([spread_plain, link(":80")]),
                image,
                Some((80, Target::Endpoints)),
            ),
            ("no link", json!([daemon]), image, None),
            (
                "requirements on a host's own label",
                json!([{"type": "daemonscaler", "properties": {"spread": [{"name": "x", "requirements": {"hostcore.os": "linux"}}]}},
                       link("0.0.0.0:8080")]),
                image,
                Some((8080, Target::Endpoints)),
            ),
            (
                "another provider",
                json!([daemon, link("0.0.0.0:8080")]),
                "ghcr.io/wasmcloud/keyvalue-redis:0.1",
                None,
            ),
            (
                "a look-alike image",
                json!([daemon, link("0.0.0.0:8080")]),
                "ghcr.io/wasmcloud/http-server-fork:1",
                None,
            ),
        ];
        for (case, traits, image, expected) in table {
            let decision = qualify(&manifest(&traits, image), &patterns()).expect(case);
            assert_eq!(decision.map(|d| (d.port, d.target)), expected, "{case}");
        }
    }

    #[test]
    fn a_bad_address_is_reported_not_skipped() {
        let traits = json!([{"type": "daemonscaler", "properties": {}}, link("0.0.0.0:http")]);
        let error = qualify(
            &manifest(&traits, "ghcr.io/wasmcloud/http-server:0.23.0"),
            &patterns(),
        )
        .expect_err("bad");
        assert_eq!(
            error.to_string(),
            "the HTTP server httpserver has address \"0.0.0.0:http\", which has no usable port"
        );
    }

    #[test]
    fn image_patterns_are_configurable_with_prefixes() {
        let traits = json!([{"type": "daemonscaler", "properties": {}}, link("0.0.0.0:8080")]);
        let mine = vec!["registry.local/http-*".to_string()];
        assert!(
            qualify(&manifest(&traits, "registry.local/http-server:2"), &mine)
                .expect("ok")
                .is_some()
        );
        assert!(
            qualify(&manifest(&traits, "ghcr.io/wasmcloud/http-server:0.23.0"), &mine)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn the_wadm_hello_world_example_qualifies_on_port_8080() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../operator-types/tests/fixtures/wadm-oam/hello.yaml");
        let manifest: Value =
            serde_yaml::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("yaml");
        let app = qualify(&manifest, &patterns()).expect("ok").expect("qualifies");
        assert_eq!(
            (app.app.as_str(), app.provider.as_str(), app.port),
            ("hello-world", "httpserver", 8080)
        );
    }

    #[test]
    fn service_names_are_valid_deterministic_and_distinct() {
        assert_eq!(service_name("hello-world"), "hello-world");
        let mapped = service_name("Hello_World");
        assert!(
            mapped.starts_with("hello-world-") && mapped.len() == "hello-world-".len() + 8,
            "{mapped}"
        );
        assert_eq!(mapped, service_name("Hello_World"));
        assert_ne!(mapped, service_name("hello_world"));
        assert!(service_name("9lives").starts_with("app-9lives-"));
        let long = service_name(&"a_".repeat(60));
        assert!(long.len() <= 63 && !long.contains("--"), "{long}");
    }
}
