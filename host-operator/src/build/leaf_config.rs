//! The NATS leaf-node configuration (`nats.conf`) each host pod's sidecar runs with. Pure.

use std::fmt::Write as _;

use wasmcloud_operator_types::WasmCloudHostConfigSpec;

use crate::inputs::Inputs;

/// Client port of the leaf, on 127.0.0.1 only: the host in the same pod connects there, and nothing that
/// reaches the pod can use the hub credentials through the leaf.
pub const LEAF_CLIENT_PORT: i32 = 4222;
/// HTTP monitoring port of the leaf (readiness probe), on every address (the kubelet probes the pod IP; a bare
/// `http_port` would follow `listen` onto 127.0.0.1). It serves read-only state, never the hub credentials.
pub const LEAF_MONITOR_PORT: i32 = 8222;
/// Where the config and the credentials are mounted (the old operator's paths).
pub const CONFIG_PATH: &str = "/nats/nats.conf";
pub const CREDS_PATH: &str = "/nats/nats.creds";
/// The certificate authorities of `certificates.authorities`, as one PEM bundle, for a TLS remote.
pub const CA_BUNDLE_PATH: &str = "/nats/ca.pem";
/// The ConfigMap keys of the config and of the bundle.
pub const CONFIG_KEY: &str = "nats.conf";
pub const CA_BUNDLE_KEY: &str = "ca.pem";
/// JetStream's store, on an emptyDir (the root filesystem is read-only).
pub const STORE_DIR: &str = "/data/jetstream";

/// The leaf's remote: `natsAddress` with a scheme (`nats://` if none) and a port (`natsLeafnodePort` if
/// the address has none).
pub fn remote_url(address: &str, leaf_port: u16) -> String {
    let address = address.trim().trim_end_matches('/');
    let (scheme, rest) = match address.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("nats", address),
    };
    let has_port = rest
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    if has_port {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}:{leaf_port}")
    }
}

/// A double-quoted string in NATS' config format: `"` and `\` escaped, control characters as `\t`, `\n`,
/// `\r` or `\xXX` — NATS' own escapes (JSON's `\u00XX`, `\b`, `\f` are parse errors there). Double-quoted
/// strings are not variable-expanded, so `$` needs nothing.
pub fn nats_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\t' => quoted.push_str("\\t"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// What the leaf's remote uses besides its URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteFiles {
    /// `secretName` holds credentials: mounted at [`CREDS_PATH`].
    pub creds: bool,
    /// `certificates.authorities` hold certificates: bundled at [`CA_BUNDLE_PATH`].
    pub ca_bundle: bool,
}

impl RemoteFiles {
    /// The files the leaf of `spec` gets from `inputs`: the authorities' bundle only for a TLS remote.
    pub fn of(spec: &WasmCloudHostConfigSpec, inputs: &Inputs) -> Self {
        Self {
            creds: inputs.nats_creds,
            ca_bundle: remote_uses_tls(spec) && !inputs.ca_bundle.is_empty(),
        }
    }
}

/// Whether the remote must use TLS: a `tls://` address. A `tls://` URL alone does not make nats-server use
/// TLS on a leaf remote; a `tls` block does.
pub fn remote_uses_tls(spec: &WasmCloudHostConfigSpec) -> bool {
    remote_url(&spec.nats_address, spec.nats_leafnode_port).starts_with("tls://")
}

/// The complete `nats.conf`; every string through [`nats_quote`].
pub fn nats_conf(spec: &WasmCloudHostConfigSpec, files: RemoteFiles) -> String {
    let quote = |s: &str| nats_quote(s);
    let url = remote_url(&spec.nats_address, spec.nats_leafnode_port);
    let mut remote = format!("url: {}", quote(&url));
    if files.creds {
        let _ = write!(remote, "\n      credentials: {}", quote(CREDS_PATH));
    }
    if remote_uses_tls(spec) {
        // The hub's certificate is checked against the authorities when there are any, else the system's.
        let ca = if files.ca_bundle {
            format!(" ca_file: {} ", quote(CA_BUNDLE_PATH))
        } else {
            String::new()
        };
        let _ = write!(remote, "\n      tls {{{ca}}}");
    }
    format!(
        "# Written by wasmcloud-host-operator; changes here are overwritten.\n\
         listen: \"127.0.0.1:{LEAF_CLIENT_PORT}\"\n\
         http: \"0.0.0.0:{LEAF_MONITOR_PORT}\"\n\
         jetstream {{\n  domain: {domain}\n  store_dir: {store}\n}}\n\
         leafnodes {{\n  remotes: [\n    {{\n      {remote}\n    }}\n  ]\n}}\n",
        domain = quote(&spec.leaf_node_domain),
        store = quote(STORE_DIR),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_nats_escapes_not_json_ones() {
        assert_eq!(nats_quote("leaf"), "\"leaf\"");
        assert_eq!(nats_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(nats_quote("x\ny\tz\r"), "\"x\\ny\\tz\\r\"");
        assert_eq!(nats_quote("bell\u{7}del\u{7f}"), "\"bell\\x07del\\x7f\"");
        assert_eq!(nats_quote("$HOME é"), "\"$HOME é\"");
    }

    #[test]
    fn remote_url_for_each_address_form() {
        let table = [
            (
                "nats://nats.default.svc.cluster.local",
                "nats://nats.default.svc.cluster.local:7422",
            ),
            ("nats://hub.nats.svc:7433", "nats://hub.nats.svc:7433"),
            ("hub.nats.svc", "nats://hub.nats.svc:7422"),
            ("hub.nats.svc:7500", "nats://hub.nats.svc:7500"),
            ("tls://hub.example.com", "tls://hub.example.com:7422"),
            ("nats-leaf://hub/", "nats-leaf://hub:7422"),
        ];
        for (address, url) in table {
            assert_eq!(remote_url(address, 7422), url, "{address}");
        }
    }

    fn spec(extra: &serde_json::Value) -> WasmCloudHostConfigSpec {
        let mut value = serde_json::json!({"lattice": "blue", "version": "1.4.2"});
        value
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        serde_json::from_value(value).expect("spec")
    }

    #[test]
    fn config_carries_domain_remote_and_creds_only_when_present() {
        let spec =
            spec(&serde_json::json!({"leafNodeDomain": "east-leaf", "natsAddress": "nats://hub:7433"}));
        let without = nats_conf(&spec, RemoteFiles::default());
        assert!(without.contains("domain: \"east-leaf\""), "{without}");
        assert!(without.contains("url: \"nats://hub:7433\""), "{without}");
        assert!(
            without.contains("http: \"0.0.0.0:8222\""),
            "the kubelet probes the pod IP: {without}"
        );
        assert!(
            without.contains("listen: \"127.0.0.1:4222\""),
            "clients only from inside the pod: {without}"
        );
        assert!(!without.contains("credentials"));
        assert!(!without.contains("tls"), "{without}");
        let with = nats_conf(
            &spec,
            RemoteFiles {
                creds: true,
                ca_bundle: true,
            },
        );
        assert!(with.contains("credentials: \"/nats/nats.creds\""), "{with}");
        assert!(!with.contains("ca_file"), "a nats:// remote uses no TLS: {with}");
    }

    #[test]
    fn a_tls_address_makes_the_remote_use_tls_with_the_authorities() {
        let spec = spec(&serde_json::json!({"natsAddress": "tls://hub.example.com"}));
        let system = nats_conf(&spec, RemoteFiles::default());
        assert!(system.contains("tls {}"), "{system}");
        let private = nats_conf(
            &spec,
            RemoteFiles {
                creds: false,
                ca_bundle: true,
            },
        );
        assert!(private.contains("tls { ca_file: \"/nats/ca.pem\" }"), "{private}");
    }

    #[test]
    fn odd_characters_cannot_break_out_of_a_string() {
        let spec = spec(&serde_json::json!({"leafNodeDomain": "a\"}\nhack {"}));
        assert!(nats_conf(&spec, RemoteFiles::default()).contains(r#"domain: "a\"}\nhack {""#));
    }
}
